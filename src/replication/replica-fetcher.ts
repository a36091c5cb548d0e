import type { Socket } from "bun";
import { backoffMs } from "../lib/backoff.ts";
import { logger } from "../lib/logger.ts";
import { FrameDecoder } from "../net/frame-decoder.ts";
import { SocketWriter } from "./socket-writer.ts";
import { FrameType, decodeFrame, encodeAck, encodeHello, encodeSubscribe, encodeUnsubscribe, type ReplicationFrame } from "./wire.ts";
import { partitionKey } from "../lib/partition-key.ts";

const log = logger("replica-fetcher");

/** A partition this broker follows: what the fetcher needs from the replica manager. */
export interface FollowerPartition {
  readonly topic: string;
  readonly partition: number;
  /** The leader epoch the metadata gives; the leader refuses other epochs. */
  readonly leaderEpoch: number;
  readonly logEndOffset: number;
  /** Reported to the leader: DeleteRecords waits for every live replica's log start to reach its offset. */
  readonly logStartOffset: number;
  /** The latest epoch in this replica's leader epoch cache, or -1. */
  readonly latestEpoch: number;
  /**
   * Appends the leader's batches (contiguous, starting at logEndOffset); the promise resolves with the end
   * offset now held under the flush policy. Throws, the log unchanged, if the disk refuses them.
   */
  appendReplicated(records: Uint8Array): Promise<number>;
  /** The leader says this log diverged after its epoch `epoch` ended at `endOffset`: truncate as Kafka does. */
  truncateForDivergence(epoch: number, endOffset: number): void;
  /** The leader no longer holds what this log lacks: empty it and continue at the leader's log start. Throws, the log unchanged, if the disk refuses. */
  restartAt(logStartOffset: number): void;
  setLeaderHighWatermark(highWatermark: number): void;
  /**
   * The leader's log start (DeleteRecords, retention): this log drops what the leader dropped, within its high
   * watermark. Throws, the log start unchanged, if the disk refuses to save it.
   */
  setLeaderLogStartOffset(logStartOffset: number): void;
}

export interface ReplicaFetcherOptions {
  nodeId: number;
  maxFrameBytes: number;
  maxQueuedBytes: number;
  /** Where a broker's replication listener is, from the metadata; null while unknown. */
  addressOf: (nodeId: number) => { host: string; port: number } | null;
  initialBackoffMs: number;
  maxBackoffMs: number;
  /**
   * How often every subscribed partition's held end is reported again, new data or not: an idle follower that
   * left the ISR (paused, cut off) has nothing to acknowledge, and without this the leader never hears it caught up.
   */
  reportIntervalMs: number;
}

interface Stream {
  readonly id: number;
  readonly target: FollowerPartition;
  state: "waiting" | "subscribed";
  /** Highest end offset reported to the leader; acks coalesce while an append is being made durable. */
  reportedEndOffset: number;
  reportedLogStartOffset: number;
  /** Frames in a row this replica could not apply (a full disk): the next subscription waits longer. */
  failures: number;
  retryTimer: Timer | undefined;
}

/**
 * The follower end of replication towards one leader broker: a connection (reconnected with backoff) carrying
 * a subscription per partition. Batches are appended as they arrive and acknowledged once held.
 */
class LeaderLink {
  private socket: Socket<undefined> | null = null;
  private writer: SocketWriter | null = null;
  private decoder: FrameDecoder;
  private readonly streams = new Map<number, Stream>();
  private readonly byPartition = new Map<string, Stream>();
  private backoffMs: number;
  private reconnectTimer: Timer | undefined;
  private connecting = false;
  private closed = false;

  constructor(
    readonly leaderId: number,
    private readonly options: ReplicaFetcherOptions,
    private readonly nextStreamId: () => number,
  ) {
    this.decoder = new FrameDecoder(options.maxFrameBytes);
    this.backoffMs = options.initialBackoffMs;
  }

  get isEmpty(): boolean {
    return this.byPartition.size === 0;
  }

  follow(target: FollowerPartition): void {
    const stream = this.addStream(target, 0);
    if (this.writer !== null) this.subscribe(stream);
    else this.connect();
  }

  /** A stream for the partition, replacing any it had, waiting to be subscribed. */
  private addStream(target: FollowerPartition, failures: number): Stream {
    const key = partitionKey(target.topic, target.partition);
    const existing = this.byPartition.get(key);
    if (existing !== undefined) this.drop(existing);
    const stream: Stream = { id: this.nextStreamId(), target, state: "waiting", reportedEndOffset: -1, reportedLogStartOffset: -1, failures, retryTimer: undefined };
    this.streams.set(stream.id, stream);
    this.byPartition.set(key, stream);
    return stream;
  }

  unfollow(topic: string, partition: number): void {
    const stream = this.byPartition.get(partitionKey(topic, partition));
    if (stream !== undefined) this.drop(stream);
  }

  private drop(stream: Stream): void {
    clearTimeout(stream.retryTimer);
    this.streams.delete(stream.id);
    this.byPartition.delete(partitionKey(stream.target.topic, stream.target.partition));
    if (stream.state === "subscribed") this.writer?.write([encodeUnsubscribe(stream.id)]);
  }

  private subscribe(stream: Stream): void {
    const t = stream.target;
    stream.state = "subscribed";
    stream.reportedEndOffset = t.logEndOffset;
    stream.reportedLogStartOffset = t.logStartOffset;
    this.writer!.write([
      encodeSubscribe({
        streamId: stream.id,
        topic: t.topic,
        partition: t.partition,
        leaderEpoch: t.leaderEpoch,
        lastEpoch: t.latestEpoch,
        fetchOffset: t.logEndOffset,
        logStartOffset: t.logStartOffset,
      }),
    ]);
  }

  private connect(): void {
    if (this.connecting || this.socket !== null || this.closed) return;
    const address = this.options.addressOf(this.leaderId);
    if (address === null) {
      this.scheduleReconnect();
      return;
    }
    this.connecting = true;
    Bun.connect<undefined>({
      hostname: address.host,
      port: address.port,
      socket: {
        open: (socket) => {
          this.connecting = false;
          if (this.closed) {
            socket.end();
            return;
          }
          socket.setNoDelay(true);
          this.socket = socket;
          this.writer = new SocketWriter(socket, this.options.maxQueuedBytes);
          this.decoder = new FrameDecoder(this.options.maxFrameBytes);
          this.backoffMs = this.options.initialBackoffMs;
          this.writer.write([encodeHello(this.options.nodeId)]);
          for (const stream of this.streams.values()) this.subscribe(stream);
        },
        data: (socket, chunk) => {
          try {
            for (const body of this.decoder.push(chunk)) this.onFrame(decodeFrame(body));
          } catch (error) {
            log.warn("closing the link to a leader on a bad frame", { leaderId: this.leaderId, error: String(error) });
            socket.end();
          }
        },
        drain: () => void this.writer?.drain(),
        close: () => this.onClose(),
        error: (_socket, error) => log.debug("replication link error", { leaderId: this.leaderId, error: String(error) }),
        connectError: (_socket, error) => {
          this.connecting = false;
          log.debug("cannot reach leader", { leaderId: this.leaderId, address, error: String(error) });
          this.scheduleReconnect();
        },
      },
    }).catch((error) => {
      this.connecting = false;
      log.debug("cannot reach leader", { leaderId: this.leaderId, address, error: String(error) });
      this.scheduleReconnect();
    });
  }

  private onClose(): void {
    this.socket = null;
    this.writer?.close();
    this.writer = null;
    for (const stream of this.streams.values()) {
      stream.state = "waiting";
      clearTimeout(stream.retryTimer);
    }
    if (!this.closed && this.streams.size > 0) {
      log.info("lost the link to a leader; reconnecting", { leaderId: this.leaderId, backoffMs: this.backoffMs });
      this.scheduleReconnect();
    }
  }

  private scheduleReconnect(): void {
    if (this.closed || this.reconnectTimer !== undefined) return;
    const delayMs = this.backoffMs;
    this.backoffMs = Math.min(this.options.maxBackoffMs, this.backoffMs * 2);
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      this.connect();
    }, delayMs);
  }

  private onFrame(frame: ReplicationFrame): void {
    if (!("streamId" in frame)) throw new Error(`frame type ${frame.type} is sent by followers, not leaders`);
    const stream = this.streams.get(frame.streamId);
    // Frames of a stream this side dropped are still in flight: ignore them.
    if (stream === undefined || stream.state !== "subscribed") return;
    const target = stream.target;
    switch (frame.type) {
      case FrameType.BATCHES:
        this.onBatches(stream, frame.records, frame.highWatermark, frame.logStartOffset);
        return;
      case FrameType.HWM:
        this.followLeaderOffsets(stream, frame.highWatermark, frame.logStartOffset);
        return;
      case FrameType.DIVERGING:
        log.info("truncating a diverged log", { topic: target.topic, partition: target.partition, leaderId: this.leaderId, epoch: frame.epoch, endOffset: frame.endOffset });
        if (this.applied(stream, () => target.truncateForDivergence(frame.epoch, frame.endOffset))) this.subscribe(stream);
        return;
      case FrameType.START_AT:
        log.warn("the leader's log starts past this replica's end; restarting the log there", {
          topic: target.topic,
          partition: target.partition,
          logEndOffset: target.logEndOffset,
          logStartOffset: frame.logStartOffset,
        });
        if (this.applied(stream, () => target.restartAt(frame.logStartOffset))) this.subscribe(stream);
        return;
      case FrameType.ENDED:
        // Refused or ended (leader moved, epochs differ): try again after a pause; metadata changes re-target sooner.
        log.debug("replication stream ended", { topic: target.topic, partition: target.partition, leaderId: this.leaderId, errorCode: frame.errorCode });
        stream.state = "waiting";
        clearTimeout(stream.retryTimer);
        stream.retryTimer = setTimeout(() => {
          stream.retryTimer = undefined;
          if (this.streams.get(stream.id) === stream && this.writer !== null && stream.state === "waiting") this.subscribe(stream);
        }, this.options.maxBackoffMs);
        return;
      default:
        throw new Error(`frame type ${frame.type} is sent by followers, not leaders`);
    }
  }

  private onBatches(stream: Stream, records: Uint8Array, highWatermark: number, logStartOffset: number): void {
    const target = stream.target;
    const baseOffset = readBaseOffset(records);
    if (baseOffset !== target.logEndOffset) {
      // Not the continuation of this log (the log changed under the stream): start the stream over.
      log.warn("replicated batch does not continue the log; resubscribing", { topic: target.topic, partition: target.partition, baseOffset, logEndOffset: target.logEndOffset });
      this.writer!.write([encodeUnsubscribe(stream.id)]);
      this.streams.delete(stream.id);
      this.byPartition.delete(partitionKey(target.topic, target.partition));
      this.follow(target);
      return;
    }
    let appended: Promise<number>;
    try {
      appended = target.appendReplicated(records);
    } catch (error) {
      this.retryAfterFailure(stream, error);
      return;
    }
    appended
      .then((endOffset) => {
        stream.failures = 0;
        if (this.streams.get(stream.id) !== stream || stream.state !== "subscribed" || endOffset <= stream.reportedEndOffset) return;
        stream.reportedEndOffset = endOffset;
        stream.reportedLogStartOffset = target.logStartOffset;
        this.writer?.write([encodeAck(stream.id, endOffset, target.logStartOffset)]);
      })
      .catch((error) => {
        log.error("replicated append failed", { topic: target.topic, partition: target.partition, error: String(error) });
        this.retryAfterFailure(stream, error);
      });
    this.followLeaderOffsets(stream, highWatermark, logStartOffset);
  }

  /** The leader's high watermark and log start, which this replica follows; a moved log start is reported back. */
  private followLeaderOffsets(stream: Stream, highWatermark: number, logStartOffset: number): void {
    const target = stream.target;
    target.setLeaderHighWatermark(highWatermark);
    if (this.applied(stream, () => target.setLeaderLogStartOffset(logStartOffset))) this.reportMovedLogStart(stream);
  }

  /**
   * Makes a change the leader's frame asks of this replica (truncate, restart, move the log start). If the replica
   * throws (a full disk refused a file), the stream retries as after a refused append, and false is returned.
   */
  private applied(stream: Stream, change: () => void): boolean {
    try {
      change();
      return true;
    } catch (error) {
      const target = stream.target;
      if (stream.failures === 0) log.warn("could not apply the leader's change to this replica; retrying with a backoff", { topic: target.topic, partition: target.partition, error: String(error) });
      this.retryAfterFailure(stream, error);
      return false;
    }
  }

  /**
   * The replica could not store what the leader sent (a full disk): this partition's stream stops and subscribes
   * again at its log end after a backoff that doubles up to maxBackoffMs (Kafka's replica.fetch.backoff.ms). The
   * link and the other partitions on it carry on. Frames of the old stream still in flight are ignored.
   */
  private retryAfterFailure(stream: Stream, error: unknown): void {
    if (this.streams.get(stream.id) !== stream) return;
    const failures = stream.failures + 1;
    const delayMs = backoffMs(failures, this.options.initialBackoffMs, this.options.maxBackoffMs);
    const target = stream.target;
    log.debug("the replica refused the leader's data; subscribing again after a backoff", { topic: target.topic, partition: target.partition, failures, delayMs, error: String(error) });
    const retry = this.addStream(target, failures);
    retry.retryTimer = setTimeout(() => {
      retry.retryTimer = undefined;
      if (this.streams.get(retry.id) === retry && this.writer !== null && retry.state === "waiting") this.subscribe(retry);
    }, delayMs);
  }

  /** The log start moved (it followed the leader's): the leader hears at once, as a DeleteRecords may wait for it. */
  private reportMovedLogStart(stream: Stream): void {
    const logStartOffset = stream.target.logStartOffset;
    if (logStartOffset === stream.reportedLogStartOffset || stream.reportedEndOffset < 0) return;
    stream.reportedLogStartOffset = logStartOffset;
    this.writer?.write([encodeAck(stream.id, stream.reportedEndOffset, logStartOffset)]);
  }

  /** Reports again what every subscribed partition holds, as a Kafka follower's periodic fetch does. */
  reportPositions(): void {
    if (this.writer === null) return;
    const acks: Uint8Array[] = [];
    for (const stream of this.streams.values()) {
      if (stream.state !== "subscribed" || stream.reportedEndOffset < 0) continue;
      stream.reportedLogStartOffset = stream.target.logStartOffset;
      acks.push(encodeAck(stream.id, stream.reportedEndOffset, stream.reportedLogStartOffset));
    }
    if (acks.length > 0) this.writer.write(acks);
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.reconnectTimer);
    for (const stream of this.streams.values()) clearTimeout(stream.retryTimer);
    this.streams.clear();
    this.byPartition.clear();
    this.socket?.end();
  }
}

/** All links of this broker, one per leader it follows partitions of. */
export class ReplicaFetcher {
  private readonly links = new Map<number, LeaderLink>();
  private readonly leaderOf = new Map<string, number>();
  private streamIds = 0;
  private readonly reportTimer: Timer;

  constructor(private readonly options: ReplicaFetcherOptions) {
    this.reportTimer = setInterval(() => {
      for (const link of this.links.values()) link.reportPositions();
    }, options.reportIntervalMs);
  }

  follow(target: FollowerPartition, leaderId: number): void {
    this.unfollow(target.topic, target.partition);
    let link = this.links.get(leaderId);
    if (link === undefined) {
      link = new LeaderLink(leaderId, this.options, () => ++this.streamIds);
      this.links.set(leaderId, link);
    }
    this.leaderOf.set(partitionKey(target.topic, target.partition), leaderId);
    link.follow(target);
  }

  unfollow(topic: string, partition: number): void {
    const key = partitionKey(topic, partition);
    const leaderId = this.leaderOf.get(key);
    if (leaderId === undefined) return;
    this.leaderOf.delete(key);
    const link = this.links.get(leaderId)!;
    link.unfollow(topic, partition);
    if (link.isEmpty) {
      link.close();
      this.links.delete(leaderId);
    }
  }

  /** Partitions being followed, with their leader: for metrics. */
  followed(): IterableIterator<[string, number]> {
    return this.leaderOf.entries();
  }

  close(): void {
    clearInterval(this.reportTimer);
    for (const link of this.links.values()) link.close();
    this.links.clear();
    this.leaderOf.clear();
  }
}


function readBaseOffset(records: Uint8Array): number {
  if (records.length < 8) return -1;
  const view = new DataView(records.buffer, records.byteOffset, 8);
  return view.getInt32(0) * 0x1_0000_0000 + view.getUint32(4);
}
