import type { Socket, TCPSocketListener } from "bun";
import { logger } from "../lib/logger.ts";
import { FrameDecoder, FrameTooLargeError } from "./frame-decoder.ts";
import { quickAck } from "./quick-ack.ts";
import { ResponseQueue, type Outgoing } from "./response-queue.ts";

const log = logger("net");
const DEFAULT_MAX_QUEUED_RESPONSE_BYTES = 64 * 1024 * 1024;

export interface ConnectionInfo {
  readonly id: number;
  readonly remoteAddress: string;
  /** null when every request before the one holding `ticket` is answered; else resolves once they are. */
  answeredBefore(ticket: number): Promise<void> | null;
}

/** Thrown by a frame handler when the request is so malformed that Kafka would close the connection. */
export class CloseConnection extends Error {}

/** Turns one request frame (its place on the connection is `ticket`) into response chunks (without the size prefix), or null for no response. */
export type FrameHandler = (frame: Uint8Array, connection: ConnectionInfo, ticket: number) => Outgoing | Promise<Outgoing>;

export interface KafkaServerOptions {
  host: string;
  port: number;
  maxFrameBytes: number;
  maxConnections: number;
  maxInflightRequests: number;
  /** Reading pauses while more than this many response bytes wait for the client to read them. */
  maxQueuedResponseBytes?: number;
  /** Reading pauses on every connection while the requests read and not yet answered hold more bytes than this. */
  maxQueuedRequestBytes?: number;
}

interface ConnectionState {
  info: ConnectionInfo;
  decoder: FrameDecoder;
  responses: ResponseQueue;
  /** Bytes to write, and callbacks to run once the bytes before them are written. */
  writeQueue: (Uint8Array | (() => void))[];
  queuedBytes: number;
  paused: boolean;
  closed: boolean;
}

export interface ServerStats {
  connections: number;
  connectionsRejected: number;
  framesRejected: number;
  /** Bytes of the request frames read and not yet answered, over every connection. */
  queuedRequestBytes: number;
}

/** The Kafka listener: framing, per-connection ordering, back-pressure and limits. No protocol knowledge. */
export class KafkaServer {
  private listener: TCPSocketListener<ConnectionState> | null = null;
  private readonly sockets = new Set<Socket<ConnectionState>>();
  private nextConnectionId = 1;
  readonly stats: ServerStats = { connections: 0, connectionsRejected: 0, framesRejected: 0, queuedRequestBytes: 0 };

  constructor(
    private readonly options: KafkaServerOptions,
    private readonly handler: FrameHandler,
  ) {}

  get port(): number {
    if (!this.listener) throw new Error("server not listening");
    return this.listener.port;
  }

  listen(): void {
    const server = this;
    const maxQueuedResponseBytes = this.options.maxQueuedResponseBytes ?? DEFAULT_MAX_QUEUED_RESPONSE_BYTES;
    this.listener = Bun.listen<ConnectionState>({
      hostname: this.options.host,
      port: this.options.port,
      socket: {
        open(socket) {
          if (server.sockets.size >= server.options.maxConnections) {
            server.stats.connectionsRejected++;
            log.warn("connection limit reached, closing new connection", { limit: server.options.maxConnections });
            socket.data = closedState();
            socket.end();
            return;
          }
          socket.setNoDelay(true);
          const responses = new ResponseQueue();
          socket.data = {
            info: { id: server.nextConnectionId++, remoteAddress: socket.remoteAddress, answeredBefore: (ticket) => responses.answeredBefore(ticket) },
            decoder: new FrameDecoder(server.options.maxFrameBytes),
            responses,
            writeQueue: [],
            queuedBytes: 0,
            paused: false,
            closed: false,
          };
          server.sockets.add(socket);
          server.stats.connections = server.sockets.size;
        },
        data(socket, chunk) {
          const state = socket.data;
          if (state.closed) return;
          let frames: Uint8Array[];
          try {
            frames = state.decoder.push(chunk);
          } catch (error) {
            if (!(error instanceof FrameTooLargeError)) throw error;
            server.stats.framesRejected++;
            log.warn("closing connection", { connection: state.info.id, remote: state.info.remoteAddress, reason: error.message });
            server.close(socket);
            return;
          }
          for (const frame of frames) server.dispatch(socket, frame);
          // A response still waits: let the client's next request through now rather than after it. In a
          // microtask, so that work the requests queued (a flush round's fsync) starts first.
          if (state.responses.pending > 0 && !state.closed) {
            queueMicrotask(() => {
              if (!state.closed) quickAck(socketFd(socket));
            });
          }
          server.updatePause(socket, maxQueuedResponseBytes);
        },
        drain(socket) {
          server.flushWrites(socket);
          server.updatePause(socket, maxQueuedResponseBytes);
        },
        close(socket) {
          socket.data.closed = true;
          server.sockets.delete(socket);
          server.stats.connections = server.sockets.size;
        },
        error(socket, error) {
          log.debug("socket error", { connection: socket.data?.info?.id, error });
        },
      },
    });
  }

  private dispatch(socket: Socket<ConnectionState>, frame: Uint8Array): void {
    const state = socket.data;
    const ticket = state.responses.reserve();
    this.stats.queuedRequestBytes += frame.byteLength;
    let result: Outgoing | Promise<Outgoing>;
    try {
      result = this.handler(frame, state.info, ticket);
    } catch (error) {
      this.requestDone(frame.byteLength);
      this.failRequest(socket, error);
      return;
    }
    if (result instanceof Promise) {
      result.then(
        (outgoing) => {
          this.requestDone(frame.byteLength);
          if (state.closed) outgoing?.onWritten?.();
          else this.complete(socket, ticket, outgoing);
        },
        (error) => {
          this.requestDone(frame.byteLength);
          this.failRequest(socket, error);
        },
      );
    } else {
      this.requestDone(frame.byteLength);
      this.complete(socket, ticket, result);
    }
  }

  /** A request's frame is no longer held: connections paused for the broker-wide bound read again once under it. */
  private requestDone(frameBytes: number): void {
    const wasOver = this.requestBytesOver();
    this.stats.queuedRequestBytes -= frameBytes;
    if (!wasOver || this.requestBytesOver()) return;
    for (const socket of this.sockets) if (socket.data.paused) this.updatePause(socket, this.options.maxQueuedResponseBytes ?? DEFAULT_MAX_QUEUED_RESPONSE_BYTES);
  }

  private requestBytesOver(): boolean {
    return this.stats.queuedRequestBytes > (this.options.maxQueuedRequestBytes ?? Infinity);
  }

  private failRequest(socket: Socket<ConnectionState>, error: unknown): void {
    const state = socket.data;
    if (error instanceof CloseConnection) {
      log.warn("closing connection", { connection: state.info.id, remote: state.info.remoteAddress, reason: error.message });
    } else {
      log.error("frame handler failed, closing connection", { connection: state.info.id, error });
    }
    this.close(socket);
  }

  private complete(socket: Socket<ConnectionState>, ticket: number, outgoing: Outgoing): void {
    const state = socket.data;
    if (state.closed) return;
    const coalescer = new WriteCoalescer(state.writeQueue);
    for (const ready of state.responses.complete(ticket, outgoing)) {
      if (ready === null) continue;
      let byteLength = 0;
      for (const chunk of ready.chunks) byteLength += chunk.byteLength;
      const prefix = new Uint8Array(4);
      new DataView(prefix.buffer).setInt32(0, byteLength);
      coalescer.push(prefix);
      for (const chunk of ready.chunks) coalescer.push(chunk);
      if (ready.onWritten) coalescer.pushCallback(ready.onWritten);
      state.queuedBytes += 4 + byteLength;
    }
    coalescer.end();
    this.flushWrites(socket);
    this.updatePause(socket, this.options.maxQueuedResponseBytes ?? DEFAULT_MAX_QUEUED_RESPONSE_BYTES);
  }

  /** socket.write may take only part of a buffer: keep the rest queued and continue on drain. */
  private flushWrites(socket: Socket<ConnectionState>): void {
    const state = socket.data;
    while (state.writeQueue.length > 0 && !state.closed) {
      const head = state.writeQueue[0]!;
      if (typeof head === "function") {
        state.writeQueue.shift();
        head();
        continue;
      }
      const written = socket.write(head);
      if (written < 0) {
        this.close(socket);
        return;
      }
      state.queuedBytes -= written;
      if (written < head.byteLength) {
        state.writeQueue[0] = head.subarray(written);
        return;
      }
      state.writeQueue.shift();
    }
  }

  private updatePause(socket: Socket<ConnectionState>, maxQueuedResponseBytes: number): void {
    const state = socket.data;
    if (state.closed) return;
    const overloaded = state.responses.pending >= this.options.maxInflightRequests || state.queuedBytes > maxQueuedResponseBytes || this.requestBytesOver();
    if (overloaded && !state.paused) {
      socket.pause();
      state.paused = true;
    } else if (!overloaded && state.paused) {
      socket.resume();
      state.paused = false;
    }
  }

  private close(socket: Socket<ConnectionState>): void {
    const state = socket.data;
    if (state.closed) return;
    state.closed = true;
    for (const item of state.writeQueue) if (typeof item === "function") item();
    state.writeQueue.length = 0;
    socket.end();
  }

  /** Stops accepting and closes every connection. */
  stop(): void {
    this.listener?.stop(true);
    for (const socket of this.sockets) this.close(socket);
    this.sockets.clear();
    this.listener = null;
  }
}

/** Chunks up to this size are copied into one buffer with their neighbours; bigger ones are queued as views. */
const COPY_MAX_CHUNK_BYTES = 4 * 1024;
/** A coalesced buffer is cut at about this size, bounding what one response batch copies. */
const COALESCE_MAX_BYTES = 64 * 1024;

/**
 * Queues response bytes so that small pieces (size prefixes, headers, small bodies) go out in one write: each
 * socket write is a syscall, which costs more than copying a few hundred bytes. Large chunks (record batches
 * viewed in the mapped segments) are queued as they are, uncopied.
 */
class WriteCoalescer {
  private pending: Uint8Array[] = [];
  private pendingBytes = 0;

  constructor(private readonly queue: (Uint8Array | (() => void))[]) {}

  push(chunk: Uint8Array): void {
    if (chunk.byteLength > COPY_MAX_CHUNK_BYTES) {
      this.end();
      this.queue.push(chunk);
      return;
    }
    this.pending.push(chunk);
    this.pendingBytes += chunk.byteLength;
    if (this.pendingBytes >= COALESCE_MAX_BYTES) this.end();
  }

  /** The callback runs once every byte pushed before it is written. */
  pushCallback(callback: () => void): void {
    this.end();
    this.queue.push(callback);
  }

  end(): void {
    if (this.pending.length === 0) return;
    if (this.pending.length === 1) {
      this.queue.push(this.pending[0]!);
    } else {
      const merged = new Uint8Array(this.pendingBytes);
      let at = 0;
      for (const chunk of this.pending) {
        merged.set(chunk, at);
        at += chunk.byteLength;
      }
      this.queue.push(merged);
    }
    this.pending = [];
    this.pendingBytes = 0;
  }
}

/** Bun exposes a TCP socket's descriptor at run time, though its types do not declare it. */
function socketFd(socket: Socket<ConnectionState>): number {
  return (socket as unknown as { fd?: number }).fd ?? -1;
}

function closedState(): ConnectionState {
  return {
    info: { id: 0, remoteAddress: "", answeredBefore: () => null },
    decoder: new FrameDecoder(1),
    responses: new ResponseQueue(),
    writeQueue: [],
    queuedBytes: 0,
    paused: false,
    closed: true,
  };
}
