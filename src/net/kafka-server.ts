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
  /** No further request is taken from a connection while more than this many of its response bytes wait for the client to read them. */
  maxQueuedResponseBytes?: number;
  /** Reading pauses on every connection while the requests read and not yet answered hold more bytes than this. */
  maxQueuedRequestBytes?: number;
}

interface ConnectionState {
  info: ConnectionInfo;
  decoder: FrameDecoder;
  responses: ResponseQueue;
  /**
   * Frames read but not yet handed to the handler because the connection was over a bound when they came: one
   * read can hold hundreds of small requests. Reading pauses while any wait, so they are at most one read's worth.
   */
  heldFrames: Uint8Array[];
  /** Set while handing frames to the handler, so a response completed meanwhile does not start a second pass. */
  dispatching: boolean;
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
  /** Bytes of the request frames handed to the handler and not yet answered, over every connection. */
  queuedRequestBytes: number;
  /** Bytes of responses waiting for their clients to read them, over every connection. */
  queuedResponseBytes: number;
}

/** The Kafka listener: framing, per-connection ordering, back-pressure and limits. No protocol knowledge. */
export class KafkaServer {
  private listener: TCPSocketListener<ConnectionState> | null = null;
  private readonly sockets = new Set<Socket<ConnectionState>>();
  private nextConnectionId = 1;
  readonly stats: ServerStats = { connections: 0, connectionsRejected: 0, framesRejected: 0, queuedRequestBytes: 0, queuedResponseBytes: 0 };
  private readonly maxQueuedResponseBytes: number;

  constructor(
    private readonly options: KafkaServerOptions,
    private readonly handler: FrameHandler,
  ) {
    this.maxQueuedResponseBytes = options.maxQueuedResponseBytes ?? DEFAULT_MAX_QUEUED_RESPONSE_BYTES;
  }

  get port(): number {
    if (!this.listener) throw new Error("server not listening");
    return this.listener.port;
  }

  listen(): void {
    const server = this;
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
            heldFrames: [],
            dispatching: false,
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
          for (const frame of frames) state.heldFrames.push(frame);
          server.serve(socket);
          // A response still waits: let the client's next request through now rather than after it. In a
          // microtask, so that work the requests queued (a flush round's fsync) starts first.
          if (state.responses.pending > 0 && !state.closed) {
            queueMicrotask(() => {
              if (!state.closed) quickAck(socketFd(socket));
            });
          }
        },
        drain(socket) {
          server.flushWrites(socket);
          server.serve(socket);
        },
        close(socket) {
          server.releaseWrites(socket.data);
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

  /**
   * Hands held frames to the handler while the connection is under its own bounds, then pauses reading while
   * frames still wait or a bound is passed. The connection's bounds are checked before each frame, so one read
   * full of small requests cannot start more than maxInflightRequests, nor keep going once the client stopped
   * reading its answers. The bound over all connections only pauses further reads, as before.
   */
  private serve(socket: Socket<ConnectionState>): void {
    const state = socket.data;
    if (state.dispatching) return;
    state.dispatching = true;
    let taken = 0;
    try {
      while (taken < state.heldFrames.length && !state.closed && !this.connectionOverloaded(state)) this.dispatch(socket, state.heldFrames[taken++]!);
    } finally {
      state.dispatching = false;
      state.heldFrames.splice(0, taken);
    }
    if (state.closed) return;
    const pause = state.heldFrames.length > 0 || this.connectionOverloaded(state) || this.requestBytesOver();
    if (pause && !state.paused) {
      socket.pause();
      state.paused = true;
    } else if (!pause && state.paused) {
      socket.resume();
      state.paused = false;
    }
  }

  private connectionOverloaded(state: ConnectionState): boolean {
    return state.responses.pending >= this.options.maxInflightRequests || state.queuedBytes > this.maxQueuedResponseBytes;
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
    for (const socket of this.sockets) if (socket.data.paused) this.serve(socket);
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
      this.stats.queuedResponseBytes += 4 + byteLength;
    }
    coalescer.end();
    this.flushWrites(socket);
    this.serve(socket);
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
      this.stats.queuedResponseBytes -= written;
      if (written < head.byteLength) {
        state.writeQueue[0] = head.subarray(written);
        return;
      }
      state.writeQueue.shift();
    }
  }

  private close(socket: Socket<ConnectionState>): void {
    const state = socket.data;
    if (state.closed) return;
    this.releaseWrites(state);
    state.closed = true;
    socket.end();
  }

  /** The connection is gone: unsent bytes no longer count, and views they borrowed are released. */
  private releaseWrites(state: ConnectionState): void {
    for (const item of state.writeQueue) if (typeof item === "function") item();
    state.writeQueue.length = 0;
    state.heldFrames.length = 0;
    this.stats.queuedResponseBytes -= state.queuedBytes;
    state.queuedBytes = 0;
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
    heldFrames: [],
    dispatching: false,
    writeQueue: [],
    queuedBytes: 0,
    paused: false,
    closed: true,
  };
}
