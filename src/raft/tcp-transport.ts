/**
 * Raft messages over raw TCP: 4-byte big-endian length, then a msgpackr-encoded message. One outbound connection per
 * peer, reconnected with exponential backoff; bounded per-peer send queues that drop the oldest frame when full (Raft
 * tolerates loss, and the newest message carries the freshest state); partial writes resume on drain.
 */
import type { Socket, TCPSocketListener } from "bun";
import { Packr } from "msgpackr";
import { logger } from "../lib/logger.ts";
import { assert, isWellFormedMessage, type Message, type NodeId } from "./types.ts";

const log = logger("raft-transport");
const FRAME_HEADER_BYTES = 4;

export interface PeerAddress {
  host: string;
  port: number;
}

export interface Timers {
  setTimeout(callback: () => void, delayMs: number): unknown;
  clearTimeout(handle: unknown): void;
}

export interface TcpTransportOptions {
  nodeId: NodeId;
  listenHost: string;
  /** 0 picks a free port; read it back from `port`. */
  listenPort: number;
  peers: Map<NodeId, PeerAddress>;
  onMessage: (message: Message) => void;
  /** A connection to `peer` broke or could not be made: what was sent to it may never arrive. */
  onPeerDisconnected?: (peer: NodeId) => void;
  maxFrameBytes?: number;
  maxQueuedFramesPerPeer?: number;
  maxQueuedBytesPerPeer?: number;
  reconnectInitialBackoffMs?: number;
  reconnectMaxBackoffMs?: number;
  timers?: Timers;
}

export interface PeerStats {
  connected: boolean;
  queuedFrames: number;
  queuedBytes: number;
  droppedFrames: number;
  sentFrames: number;
}

interface InboundState {
  /** Bytes of an incomplete frame carried over from earlier reads. */
  pending: Uint8Array | undefined;
}

class PeerLink {
  socket: Socket<undefined> | undefined;
  connecting = false;
  reconnectTimer: unknown;
  backoffMs: number;
  readonly queue: Uint8Array[] = [];
  queuedBytes = 0;
  /** Bytes of queue[0] already written: that frame must finish before any other goes out. */
  headWrittenBytes = 0;
  droppedFrames = 0;
  sentFrames = 0;

  constructor(
    readonly id: NodeId,
    public address: PeerAddress,
    initialBackoffMs: number,
  ) {
    this.backoffMs = initialBackoffMs;
  }
}

export class TcpTransport {
  private readonly packr = new Packr({ useRecords: false });
  private readonly links = new Map<NodeId, PeerLink>();
  private readonly inbound = new Set<Socket<InboundState>>();
  private readonly maxFrameBytes: number;
  private readonly maxQueuedFrames: number;
  private readonly maxQueuedBytes: number;
  private readonly initialBackoffMs: number;
  private readonly maxBackoffMs: number;
  private readonly timers: Timers;
  private listener: TCPSocketListener<InboundState> | undefined;
  private closed = false;
  receivedFrames = 0;

  private constructor(private readonly options: TcpTransportOptions) {
    this.maxFrameBytes = options.maxFrameBytes ?? 64 << 20;
    this.maxQueuedFrames = options.maxQueuedFramesPerPeer ?? 4096;
    this.maxQueuedBytes = options.maxQueuedBytesPerPeer ?? 256 << 20;
    this.initialBackoffMs = options.reconnectInitialBackoffMs ?? 50;
    this.maxBackoffMs = options.reconnectMaxBackoffMs ?? 2_000;
    this.timers = options.timers ?? { setTimeout: (cb, ms) => setTimeout(cb, ms), clearTimeout: (h) => clearTimeout(h as Timer) };
    for (const [id, address] of options.peers) {
      if (id !== options.nodeId) this.links.set(id, new PeerLink(id, address, this.initialBackoffMs));
    }
  }

  static start(options: TcpTransportOptions): TcpTransport {
    const transport = new TcpTransport(options);
    transport.listen();
    return transport;
  }

  get port(): number {
    assert(this.listener, "transport is not listening");
    return this.listener.port;
  }

  setPeerAddress(id: NodeId, address: PeerAddress): void {
    const link = this.links.get(id);
    if (link) link.address = address;
    else if (id !== this.options.nodeId) this.links.set(id, new PeerLink(id, address, this.initialBackoffMs));
  }

  stats(): Map<NodeId, PeerStats> {
    const result = new Map<NodeId, PeerStats>();
    for (const [id, link] of this.links) {
      result.set(id, {
        connected: link.socket !== undefined,
        queuedFrames: link.queue.length,
        queuedBytes: link.queuedBytes,
        droppedFrames: link.droppedFrames,
        sentFrames: link.sentFrames,
      });
    }
    return result;
  }

  /** Queues a message for its `to` node. Never blocks; over the queue bound the oldest unsent frame is dropped. */
  send(message: Message): void {
    if (this.closed) return;
    const link = this.links.get(message.to);
    assert(link, `no address for raft peer ${message.to}`);
    const payload = this.packr.pack(message);
    const frameBytes = FRAME_HEADER_BYTES + payload.byteLength;
    if (payload.byteLength > this.maxFrameBytes) {
      log.warn("dropping raft message over the frame limit", { to: message.to, bytes: payload.byteLength });
      link.droppedFrames++;
      return;
    }
    const frame = new Uint8Array(frameBytes);
    new DataView(frame.buffer).setUint32(0, payload.byteLength, false);
    frame.set(payload, FRAME_HEADER_BYTES);
    link.queue.push(frame);
    link.queuedBytes += frameBytes;
    this.enforceQueueBound(link);
    if (link.socket) this.flush(link);
    else this.connect(link);
  }

  private enforceQueueBound(link: PeerLink): void {
    // The head frame may be half written; dropping it would corrupt the stream, so drop the one after it.
    const firstDroppable = link.headWrittenBytes > 0 ? 1 : 0;
    while ((link.queue.length > this.maxQueuedFrames || link.queuedBytes > this.maxQueuedBytes) && link.queue.length > firstDroppable + 1) {
      const [dropped] = link.queue.splice(firstDroppable, 1);
      link.queuedBytes -= dropped!.byteLength;
      link.droppedFrames++;
    }
  }

  private flush(link: PeerLink): void {
    const socket = link.socket;
    if (!socket) return;
    while (link.queue.length > 0) {
      const head = link.queue[0]!;
      const remaining = head.subarray(link.headWrittenBytes);
      const written = socket.write(remaining);
      if (written < remaining.byteLength) {
        // Partial write: keep the rest and resume on drain.
        link.headWrittenBytes += Math.max(0, written);
        return;
      }
      link.queue.shift();
      link.queuedBytes -= head.byteLength;
      link.headWrittenBytes = 0;
      link.sentFrames++;
    }
  }

  private connect(link: PeerLink): void {
    if (this.closed || link.socket || link.connecting || link.reconnectTimer !== undefined) return;
    link.connecting = true;
    const transport = this;
    Bun.connect<undefined>({
      hostname: link.address.host,
      port: link.address.port,
      socket: {
        open(socket) {
          link.connecting = false;
          if (transport.closed) {
            socket.end();
            return;
          }
          link.socket = socket;
          link.backoffMs = transport.initialBackoffMs;
          transport.flush(link);
        },
        drain() {
          transport.flush(link);
        },
        data() {
          // Peers never answer on our outbound connection; they reply over their own.
        },
        close(socket) {
          if (link.socket === socket) transport.disconnected(link);
        },
        error(socket, error) {
          log.debug("raft peer connection error", { peer: link.id, error });
          if (link.socket === socket) transport.disconnected(link);
        },
        connectError(_socket, error) {
          log.debug("raft peer connect failed", { peer: link.id, error });
          link.connecting = false;
          transport.scheduleReconnect(link);
          transport.options.onPeerDisconnected?.(link.id);
        },
      },
    }).catch((error: unknown) => {
      if (!link.connecting) return;
      log.debug("raft peer connect failed", { peer: link.id, error });
      link.connecting = false;
      transport.scheduleReconnect(link);
      transport.options.onPeerDisconnected?.(link.id);
    });
  }

  private disconnected(link: PeerLink): void {
    link.socket = undefined;
    link.connecting = false;
    if (link.headWrittenBytes > 0) {
      // The receiver discards the torn frame with the connection; the next connection starts on a frame boundary.
      const torn = link.queue.shift()!;
      link.queuedBytes -= torn.byteLength;
      link.headWrittenBytes = 0;
      link.droppedFrames++;
    }
    this.scheduleReconnect(link);
    if (!this.closed) this.options.onPeerDisconnected?.(link.id);
  }

  private scheduleReconnect(link: PeerLink): void {
    if (this.closed || link.reconnectTimer !== undefined) return;
    const delayMs = link.backoffMs;
    link.backoffMs = Math.min(this.maxBackoffMs, link.backoffMs * 2);
    link.reconnectTimer = this.timers.setTimeout(() => {
      link.reconnectTimer = undefined;
      if (link.queue.length > 0) this.connect(link);
    }, delayMs);
  }

  private listen(): void {
    const transport = this;
    this.listener = Bun.listen<InboundState>({
      hostname: this.options.listenHost,
      port: this.options.listenPort,
      socket: {
        open(socket) {
          socket.data = { pending: undefined };
          transport.inbound.add(socket);
        },
        data(socket, data) {
          transport.receive(socket, data);
        },
        close(socket) {
          transport.inbound.delete(socket);
        },
        error(socket, error) {
          log.debug("raft inbound connection error", { error });
          transport.inbound.delete(socket);
        },
      },
    });
  }

  private receive(socket: Socket<InboundState>, chunk: Uint8Array): void {
    const state = socket.data;
    let bytes = chunk;
    if (state.pending) {
      const joined = new Uint8Array(state.pending.byteLength + chunk.byteLength);
      joined.set(state.pending, 0);
      joined.set(chunk, state.pending.byteLength);
      bytes = joined;
      state.pending = undefined;
    }
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    let offset = 0;
    while (bytes.byteLength - offset >= FRAME_HEADER_BYTES) {
      const payloadBytes = view.getUint32(offset, false);
      if (payloadBytes > this.maxFrameBytes) {
        log.warn("closing raft connection: frame over the limit", { bytes: payloadBytes, limit: this.maxFrameBytes });
        socket.end();
        return;
      }
      if (bytes.byteLength - offset - FRAME_HEADER_BYTES < payloadBytes) break;
      // An owned copy: decoded entry data may be views of it, and Bun may reuse the chunk after this callback.
      const payload = new Uint8Array(bytes.subarray(offset + FRAME_HEADER_BYTES, offset + FRAME_HEADER_BYTES + payloadBytes));
      offset += FRAME_HEADER_BYTES + payloadBytes;
      const message = this.decode(payload);
      if (!message) {
        socket.end();
        return;
      }
      this.receivedFrames++;
      this.options.onMessage(message);
    }
    if (offset < bytes.byteLength) state.pending = new Uint8Array(bytes.subarray(offset));
  }

  private decode(payload: Uint8Array): Message | undefined {
    let message: Message;
    try {
      message = this.packr.unpack(payload) as Message;
    } catch (error) {
      log.warn("closing raft connection: undecodable frame", { error });
      return undefined;
    }
    if (!isWellFormedMessage(message) || message.to !== this.options.nodeId || !this.links.has(message.from)) {
      log.warn("closing raft connection: malformed message or unknown peer", { from: (message as Partial<Message> | null)?.from });
      return undefined;
    }
    return message;
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const link of this.links.values()) {
      if (link.reconnectTimer !== undefined) this.timers.clearTimeout(link.reconnectTimer);
      link.reconnectTimer = undefined;
      link.socket?.end();
      link.socket = undefined;
    }
    for (const socket of this.inbound) socket.end();
    this.inbound.clear();
    this.listener?.stop(true);
    this.listener = undefined;
  }
}
