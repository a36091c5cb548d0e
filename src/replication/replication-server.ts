import type { Socket, TCPSocketListener } from "bun";
import { logger } from "../lib/logger.ts";
import { FrameDecoder } from "../net/frame-decoder.ts";
import { ErrorCode } from "../protocol/error-codes.ts";
import { batchSizeAt, lastOffsetOf } from "../protocol/record-batch.ts";
import type { PartitionLog } from "../wal/partition-log.ts";
import { SocketWriter } from "./socket-writer.ts";
import { FrameType, decodeFrame, encodeBatchesHeader, encodeDiverging, encodeEnded, encodeHighWatermark, encodeStartAt, type ReplicationFrame } from "./wire.ts";

const log = logger("replication-server");

/** Longest a follower waits to hear a moved high watermark when no batch comes to carry it. */
const HIGH_WATERMARK_DELAY_MS = 5;

/** What the leader side needs from a partition it leads. */
export interface LeaderPartition {
  readonly log: PartitionLog;
  readonly highWatermark: number;
}

export type SubscribeAnswer =
  | { kind: "stream"; partition: LeaderPartition }
  | { kind: "diverging"; epoch: number; endOffset: number }
  | { kind: "start-at"; logStartOffset: number }
  | { kind: "refused"; errorCode: number };

/** The replica manager's side of the protocol. */
export interface LeaderSide {
  subscribe(followerId: number, frame: ReplicationFrame & { type: typeof FrameType.SUBSCRIBE }): SubscribeAnswer;
  /** A follower holds everything below endOffset (under its flush policy), and its log starts at logStartOffset. */
  followerReport(followerId: number, topic: string, partition: number, endOffset: number, logStartOffset: number): void;
}

export interface ReplicationServerOptions {
  host: string;
  port: number;
  maxFrameBytes: number;
  /** Per connection: the pump stops reading segments at this many unsent bytes. */
  maxQueuedBytes: number;
  /** Largest read per BATCHES frame (one batch more if it is bigger). */
  maxSendBytes: number;
}

interface Stream {
  readonly id: number;
  readonly topic: string;
  readonly partitionIndex: number;
  readonly partition: LeaderPartition;
  nextOffset: number;
  sentHighWatermark: number;
  sentLogStartOffset: number;
  pumpScheduled: boolean;
  highWatermarkTimer: Timer | undefined;
  unlisten: () => void;
}

interface Connection {
  readonly decoder: FrameDecoder;
  writer: SocketWriter | null;
  followerId: number;
  readonly streams: Map<number, Stream>;
  closed: boolean;
}

/**
 * The leader end of replication: accepts follower connections on the replication port and pushes each
 * subscribed partition's batches as they are appended, copied from the mapped segments with their stored bytes.
 */
export class ReplicationServer {
  private listener: TCPSocketListener<Connection> | null = null;
  private readonly connections = new Set<Connection>();

  constructor(
    private readonly options: ReplicationServerOptions,
    private readonly side: LeaderSide,
  ) {}

  get port(): number {
    if (this.listener === null) throw new Error("replication server not listening");
    return this.listener.port;
  }

  listen(): void {
    this.listener = Bun.listen<Connection>({
      hostname: this.options.host,
      port: this.options.port,
      socket: {
        open: (socket) => {
          // Acks and high watermarks are small frames that must not wait for Nagle's algorithm.
          socket.setNoDelay(true);
          const connection: Connection = { decoder: new FrameDecoder(this.options.maxFrameBytes), writer: null, followerId: -1, streams: new Map(), closed: false };
          connection.writer = new SocketWriter(socket, this.options.maxQueuedBytes);
          socket.data = connection;
          this.connections.add(connection);
        },
        data: (socket, chunk) => this.onData(socket, chunk),
        drain: (socket) => {
          const connection = socket.data;
          connection.writer!.drain();
          for (const stream of connection.streams.values()) this.pump(connection, stream);
        },
        close: (socket) => this.onClose(socket.data),
        error: (socket, error) => {
          log.warn("replication connection error", { followerId: socket.data?.followerId, error: String(error) });
        },
      },
    });
  }

  private onData(socket: Socket<Connection>, chunk: Uint8Array): void {
    const connection = socket.data;
    try {
      for (const body of connection.decoder.push(chunk)) this.onFrame(connection, decodeFrame(body));
    } catch (error) {
      log.warn("closing a replication connection on a bad frame", { followerId: connection.followerId, error: String(error) });
      socket.end();
    }
  }

  private onFrame(connection: Connection, frame: ReplicationFrame): void {
    switch (frame.type) {
      case FrameType.HELLO:
        connection.followerId = frame.followerId;
        return;
      case FrameType.SUBSCRIBE:
        this.subscribe(connection, frame);
        return;
      case FrameType.ACK: {
        const stream = connection.streams.get(frame.streamId);
        if (stream === undefined) return;
        this.side.followerReport(connection.followerId, stream.topic, stream.partitionIndex, frame.endOffset, frame.logStartOffset);
        return;
      }
      case FrameType.UNSUBSCRIBE:
        this.endStream(connection, frame.streamId, null);
        return;
      default:
        throw new Error(`frame type ${frame.type} is sent by leaders, not followers`);
    }
  }

  private subscribe(connection: Connection, frame: ReplicationFrame & { type: typeof FrameType.SUBSCRIBE }): void {
    if (connection.followerId < 0) throw new Error("SUBSCRIBE before HELLO");
    this.endStream(connection, frame.streamId, null);
    const answer = this.side.subscribe(connection.followerId, frame);
    const writer = connection.writer!;
    if (answer.kind === "refused") {
      writer.write([encodeEnded(frame.streamId, answer.errorCode)]);
      return;
    }
    if (answer.kind === "diverging") {
      writer.write([encodeDiverging(frame.streamId, answer.epoch, answer.endOffset)]);
      return;
    }
    if (answer.kind === "start-at") {
      writer.write([encodeStartAt(frame.streamId, answer.logStartOffset)]);
      return;
    }
    const stream: Stream = {
      id: frame.streamId,
      topic: frame.topic,
      partitionIndex: frame.partition,
      partition: answer.partition,
      nextOffset: frame.fetchOffset,
      sentHighWatermark: -1,
      sentLogStartOffset: -1,
      pumpScheduled: false,
      highWatermarkTimer: undefined,
      unlisten: () => {},
    };
    stream.unlisten = answer.partition.log.onAppend(() => this.schedulePump(connection, stream));
    connection.streams.set(stream.id, stream);
    this.side.followerReport(connection.followerId, stream.topic, stream.partitionIndex, frame.fetchOffset, frame.logStartOffset);
    this.pump(connection, stream);
  }

  /** Appends of one produce request (and of concurrent ones) go out together after the current task. */
  private schedulePump(connection: Connection, stream: Stream): void {
    if (stream.pumpScheduled) return;
    stream.pumpScheduled = true;
    queueMicrotask(() => {
      stream.pumpScheduled = false;
      if (connection.streams.get(stream.id) === stream) this.pump(connection, stream);
    });
  }

  /** Sends what the follower lacks while the connection has room; the high watermark and log start ride along. */
  private pump(connection: Connection, stream: Stream): void {
    const writer = connection.writer!;
    const partitionLog = stream.partition.log;
    while (writer.hasRoom && stream.nextOffset < partitionLog.logEndOffset) {
      const read = partitionLog.read(stream.nextOffset, this.options.maxSendBytes, { minOneBatch: true });
      if ("outOfRange" in read) {
        this.endStream(connection, stream.id, ErrorCode.OFFSET_OUT_OF_RANGE);
        return;
      }
      if (read.bytes === 0) break;
      const lastView = read.batches[read.batches.length - 1]!;
      let position = 0;
      while (position + batchSizeAt(lastView, position) < lastView.length) position += batchSizeAt(lastView, position);
      const nextOffset = lastOffsetOf(lastView, position) + 1;
      const highWatermark = stream.partition.highWatermark;
      const logStartOffset = partitionLog.logStartOffset;
      writer.write([encodeBatchesHeader(stream.id, highWatermark, logStartOffset, read.bytes), ...read.batches], read.release);
      stream.nextOffset = nextOffset;
      stream.sentHighWatermark = highWatermark;
      stream.sentLogStartOffset = logStartOffset;
    }
    const highWatermark = stream.partition.highWatermark;
    const logStartOffset = partitionLog.logStartOffset;
    const moved = highWatermark !== stream.sentHighWatermark || logStartOffset !== stream.sentLogStartOffset;
    if (moved && stream.nextOffset >= partitionLog.logEndOffset) {
      writer.write([encodeHighWatermark(stream.id, highWatermark, logStartOffset)]);
      stream.sentHighWatermark = highWatermark;
      stream.sentLogStartOffset = logStartOffset;
    }
  }

  /**
   * The partition's high watermark moved. Followers need it only for their own high watermark, so it waits for
   * the next batch (under load within a millisecond or two) and goes alone only if none comes within
   * HIGH_WATERMARK_DELAY_MS: not an extra frame to every follower for every commit.
   */
  highWatermarkChanged(topic: string, partition: number): void {
    for (const connection of this.connections) {
      for (const stream of connection.streams.values()) {
        if (stream.topic !== topic || stream.partitionIndex !== partition || stream.highWatermarkTimer !== undefined) continue;
        stream.highWatermarkTimer = setTimeout(() => {
          stream.highWatermarkTimer = undefined;
          if (connection.streams.get(stream.id) === stream) this.pump(connection, stream);
        }, HIGH_WATERMARK_DELAY_MS);
      }
    }
  }

  /**
   * Bytes waiting for each follower's socket, by follower id. A follower that stops reading holds at most
   * maxQueuedBytes and one read of maxSendBytes: the pump reads no further until its socket drains.
   */
  queuedBytesByFollower(): Map<number, number> {
    const bytes = new Map<number, number>();
    for (const connection of this.connections) {
      if (connection.followerId >= 0) bytes.set(connection.followerId, (bytes.get(connection.followerId) ?? 0) + connection.writer!.queuedBytes);
    }
    return bytes;
  }

  /** The partition's log start moved (DeleteRecords): followers hear it at once. */
  logStartChanged(topic: string, partition: number): void {
    for (const connection of this.connections) {
      for (const stream of connection.streams.values()) {
        if (stream.topic === topic && stream.partitionIndex === partition) this.schedulePump(connection, stream);
      }
    }
  }

  /** Leadership moved or the partition went away: its streams end with errorCode and followers re-target. */
  endPartition(topic: string, partition: number, errorCode: number): void {
    for (const connection of this.connections) {
      for (const stream of [...connection.streams.values()]) {
        if (stream.topic === topic && stream.partitionIndex === partition) this.endStream(connection, stream.id, errorCode);
      }
    }
  }

  private endStream(connection: Connection, streamId: number, errorCode: number | null): void {
    const stream = connection.streams.get(streamId);
    if (stream === undefined) return;
    stream.unlisten();
    clearTimeout(stream.highWatermarkTimer);
    connection.streams.delete(streamId);
    if (errorCode !== null && !connection.closed) connection.writer!.write([encodeEnded(streamId, errorCode)]);
  }

  private onClose(connection: Connection | undefined): void {
    if (connection === undefined) return;
    connection.closed = true;
    for (const stream of connection.streams.values()) {
      stream.unlisten();
      clearTimeout(stream.highWatermarkTimer);
    }
    connection.streams.clear();
    connection.writer?.close();
    this.connections.delete(connection);
  }

  stop(): void {
    this.listener?.stop(true);
    this.listener = null;
    for (const connection of [...this.connections]) this.onClose(connection);
  }
}
