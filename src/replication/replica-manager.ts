import type { Database } from "lmdb";
import { PartitionProducerState } from "../idempotence/producer-state.ts";
import { logger } from "../lib/logger.ts";
import type { CommandOutcome, MetadataChange, PartitionRecord, TopicRecord } from "../metadata/records.ts";
import type { MetadataState } from "../metadata/state.ts";
import { effectiveTopicConfigs } from "../metadata/effective-configs.ts";
import type { Counter, MetricsRegistry } from "../metrics/registry.ts";
import { ErrorCode } from "../protocol/error-codes.ts";
import { isTransactional, validateBatches, type BatchError } from "../protocol/record-batch.ts";
import type { LogManager } from "../wal/log-manager.ts";
import type { AppendResult, PartitionLog } from "../wal/partition-log.ts";
import { isStorageError } from "../wal/segment.ts";
import { fromTopicConfigs } from "../wal/log-config.ts";
import { batchHeadersFrom, holdsBatch } from "./batch-headers.ts";
import { FetchWaiters } from "./fetch-waiters.ts";
import { IsrTracker, type IsrProposal } from "./isr-tracker.ts";
import { divergence, truncationOffset } from "./leader-epoch-cache.ts";
import { LocalReplica } from "./local-replica.ts";
import type { LowWatermarkOutcome } from "./low-watermark-waiters.ts";
import { ReplicaFetcher, type FollowerPartition } from "./replica-fetcher.ts";
import { registerReplicationMetrics } from "./replication-metrics.ts";
import { ReplicationServer, type SubscribeAnswer } from "./replication-server.ts";
import type { FrameType, ReplicationFrame } from "./wire.ts";
import { partitionKey, partitionKeyPrefix } from "../lib/partition-key.ts";

export { LocalReplica } from "./local-replica.ts";

const log = logger("replicas");

export type ReplicaLookup = { ok: true; replica: LocalReplica } | { ok: false; errorCode: number };

export interface AppendOutcome {
  errorCode: number;
  errorMessage: string | null;
  baseOffset: number;
  /** One past the last offset written: acks=all waits for the high watermark to reach it. */
  endOffset?: number;
  logAppendTimeMs: number;
  logStartOffset: number;
  /** Resolves when the append is durable under the flush policy; absent for errors and duplicates already durable. */
  durable?: Promise<void>;
  /** The leader epoch the batch was written (or, for a duplicate, found) under: acks=all waits for a commit in it. */
  leaderEpoch?: number;
}

/** What the leader proposes to the controller to change a partition's ISR (Kafka's AlterPartition). */
export interface AlterPartitionRequest {
  readonly topic: string;
  readonly partition: number;
  readonly isr: readonly number[];
  readonly leaderEpoch: number;
  readonly partitionEpoch: number;
}

export interface ReplicationSettings {
  host: string;
  /** 0 picks a free port. */
  port: number;
  replicaLagTimeMaxMs: number;
  maxFrameBytes: number;
  /** Unsent bytes per replication connection before the leader stops reading segments for it. */
  replicationQueueMaxBytes: number;
  /** Where another broker's replication listener is, from the metadata. */
  addressOf: (nodeId: number) => { host: string; port: number } | null;
  alterPartition: (request: AlterPartitionRequest) => Promise<CommandOutcome>;
  /** Registered and not fenced: only such brokers may join an ISR. */
  isLiveBroker: (nodeId: number) => boolean;
  /** Whether the controller accepted a heartbeat of this broker within its session: without it, this broker leads nothing. */
  holdsLeaderLease: () => boolean;
  /** Milliseconds on a monotonic clock. */
  nowMs: () => number;
  metrics: MetricsRegistry;
}

const BATCH_ERROR_CODES: Record<BatchError, number> = {
  CORRUPT_MESSAGE: ErrorCode.CORRUPT_MESSAGE,
  UNSUPPORTED_FOR_MESSAGE_FORMAT: ErrorCode.UNSUPPORTED_FOR_MESSAGE_FORMAT,
  MESSAGE_TOO_LARGE: ErrorCode.MESSAGE_TOO_LARGE,
  INVALID_RECORD: ErrorCode.INVALID_RECORD,
};

interface ProducerSnapshot {
  offset: number;
  state: Uint8Array;
}

const REPLICATION_SEND_BYTES = 1 << 20;
const RECONNECT_INITIAL_MS = 50;
const RECONNECT_MAX_MS = 1_000;
/** Kafka's replica.high.watermark.checkpoint.interval.ms. */
const HIGH_WATERMARK_CHECKPOINT_INTERVAL_MS = 5_000;
/** Follower replicas opened per event-loop turn in the background, so a burst of new topics never stalls the broker. */
const FOLLOWER_OPENS_PER_TURN = 32;

/**
 * Owns the partitions this broker holds (Kafka's ReplicaManager): creates and deletes their logs as the metadata
 * changes, makes each replica leader or follower as the metadata says, appends produced batches with the
 * idempotence checks, keeps the high watermark (the minimum end offset over the ISR) and wakes long-poll fetches
 * and acks=all produces when it moves, and proposes ISR changes to the controller.
 *
 * A new partition's log is not created while its metadata applies: a replica this broker leads opens on first use
 * (a produce, fetch, offset lookup or a follower subscribing), and one it follows opens in the background, since
 * it must start fetching. Until then the partition is empty by definition; if its log cannot be created, it is
 * offline here and answers KAFKA_STORAGE_ERROR.
 */
export class ReplicaManager {
  private readonly replicas = new Map<string, LocalReplica>();
  /** Partitions assigned here whose log could not be opened (out of file descriptors, disk errors): served as storage errors. */
  private readonly offline = new Map<string, string>();
  /** Partitions whose last append the disk refused (full): logged once until one succeeds again. */
  private readonly failingAppends = new Set<string>();
  /** Partitions assigned here whose replica is not open yet: topic name to partition numbers. */
  private readonly unopened = new Map<string, Set<number>>();
  /** Unopened partitions this broker follows, opened a few per turn. */
  private readonly followersToOpen: { topic: string; partition: number }[] = [];
  private followerOpensScheduled = false;
  private state: MetadataState | null = null;
  readonly waiters: FetchWaiters;
  private settings: ReplicationSettings | null = null;
  private server: ReplicationServer | null = null;
  private fetcher: ReplicaFetcher | null = null;
  private isrTimer: Timer | undefined;
  private appendFailures: Counter | null = null;
  private checkpointTimer: Timer | undefined;

  constructor(
    private readonly nodeId: number,
    private readonly logs: LogManager,
    private readonly producerSnapshots: Database<ProducerSnapshot, string>,
    private readonly topicDefaults: Readonly<Record<string, string>>,
    maxParkedFetches: number,
  ) {
    this.waiters = new FetchWaiters(maxParkedFetches);
  }

  /** Starts the replication listener and fetchers; returns the bound replication port. */
  startReplication(settings: ReplicationSettings): number {
    this.settings = settings;
    this.server = new ReplicationServer(
      { host: settings.host, port: settings.port, maxFrameBytes: settings.maxFrameBytes, maxQueuedBytes: settings.replicationQueueMaxBytes, maxSendBytes: REPLICATION_SEND_BYTES },
      {
        subscribe: (followerId, frame) => this.onSubscribe(followerId, frame),
        followerReport: (id, topic, partition, endOffset, logStartOffset) => this.onFollowerReport(id, topic, partition, endOffset, logStartOffset),
      },
    );
    this.server.listen();
    this.fetcher = new ReplicaFetcher({
      nodeId: this.nodeId,
      maxFrameBytes: settings.maxFrameBytes,
      maxQueuedBytes: settings.replicationQueueMaxBytes,
      addressOf: settings.addressOf,
      initialBackoffMs: RECONNECT_INITIAL_MS,
      maxBackoffMs: RECONNECT_MAX_MS,
      // A follower of an idle partition has nothing to acknowledge: it reports its position as often as leaders check the ISR.
      reportIntervalMs: isrCheckIntervalMs(settings.replicaLagTimeMaxMs),
    });
    // Kafka checks for lagging followers every replica.lag.time.max.ms / 2.
    this.isrTimer = setInterval(() => this.checkIsr(), isrCheckIntervalMs(settings.replicaLagTimeMaxMs));
    this.appendFailures = registerReplicationMetrics(settings.metrics, {
      leaders: () => [...this.replicas.values()].filter((r) => r.isLeader),
      failingAppends: () => this.failingAppends.size,
    });
    this.checkpointTimer = setInterval(() => this.checkpointHighWatermarks(), HIGH_WATERMARK_CHECKPOINT_INTERVAL_MS);
    return this.server.port;
  }

  stopReplication(): void {
    clearInterval(this.isrTimer);
    clearInterval(this.checkpointTimer);
    this.checkpointHighWatermarks();
    this.fetcher?.close();
    this.server?.stop();
    for (const replica of this.replicas.values()) replica.failWaiters(ErrorCode.NOT_LEADER_OR_FOLLOWER);
  }

  /** Opens a replica for every partition the metadata assigns to this broker; removes logs of deleted topics. */
  syncWithMetadata(state: MetadataState): void {
    this.state = state;
    this.unopened.clear();
    for (const topic of state.topics()) {
      // A restored snapshot carries leader, epoch and ISR changes this node never applied as commands. Replicas
      // opened below apply their record as they open, so only those already open are brought up to date here.
      for (const p of topic.partitions) {
        const key = partitionKey(topic.name, p.partition);
        const replica = this.replicas.get(key);
        if (replica !== undefined && p.replicas.includes(this.nodeId)) this.guarded(key, topic.name, p.partition, () => this.applyPartitionRecord(replica, p));
      }
      this.openTopic(topic);
    }
    for (const [key, replica] of this.replicas) {
      if (!state.topic(replica.topic)) this.closeReplica(key, replica);
    }
    for (const topic of new Set(this.logs.all().map((l) => l.topic))) {
      if (!state.topic(topic)) {
        log.info("removing logs of a topic that no longer exists", { topic });
        void this.logs.deleteTopic(topic);
      }
    }
  }

  onMetadata(change: MetadataChange, state: MetadataState): void {
    this.state = state;
    switch (change.type) {
      case "create-topic":
        this.openTopic(change.topic);
        return;
      case "create-partitions":
      case "alter-topic-configs": {
        const topic = state.topic(change.name)!;
        this.openTopic(topic);
        const configs = this.configsOf(topic);
        this.logs.updateConfig(topic.name, fromTopicConfigs(configs));
        for (const replica of this.replicas.values()) if (replica.topic === topic.name) replica.applyConfigs(configs);
        return;
      }
      case "partition-leaders": {
        const topic = state.topic(change.name);
        if (!topic) return;
        this.openTopic(topic);
        for (const record of change.partitions) {
          const key = partitionKey(topic.name, record.partition);
          const replica = this.replicas.get(key);
          if (replica) this.guarded(key, topic.name, record.partition, () => this.applyPartitionRecord(replica, record));
        }
        return;
      }
      case "delete-topic":
        this.deleteTopic(change.name);
        return;
      case "broker":
        // A fenced broker's replicas no longer hold back the low watermark; an unfenced one's do again.
        for (const replica of this.replicas.values()) this.releaseDeleteRecords(replica);
        return;
      default:
        return;
    }
  }

  /** The topic's overrides over the broker defaults (min.insync.replicas among them). */
  private configsOf(topic: TopicRecord): Record<string, string> {
    return effectiveTopicConfigs(this.topicDefaults, topic.configs);
  }

  /**
   * Registers the topic's partitions assigned here that have no open replica. One whose log is already on disk (a
   * restart) opens now; one this broker follows is queued to open in the background; one it leads waits for first use.
   */
  private openTopic(topic: TopicRecord): void {
    for (const p of topic.partitions) {
      if (!p.replicas.includes(this.nodeId)) continue;
      if (this.replicas.has(partitionKey(topic.name, p.partition))) continue;
      let partitions = this.unopened.get(topic.name);
      if (partitions === undefined) this.unopened.set(topic.name, (partitions = new Set()));
      partitions.add(p.partition);
      if (this.logs.get(topic.name, p.partition) !== undefined) this.openAssigned(topic.name, p.partition);
      else if (p.leader !== this.nodeId && p.leader !== -1) this.queueFollowerOpen(topic.name, p.partition);
    }
  }

  /** The replica of a partition assigned here, opened (its log created) if this is its first use. */
  private replicaOf(topic: string, partition: number): LocalReplica | undefined {
    return this.replicas.get(partitionKey(topic, partition)) ?? this.openAssigned(topic, partition);
  }

  private openAssigned(topic: string, partition: number): LocalReplica | undefined {
    const partitions = this.unopened.get(topic);
    if (partitions === undefined || !partitions.delete(partition)) return undefined;
    if (partitions.size === 0) this.unopened.delete(topic);
    const record = this.state?.topic(topic);
    const p = record?.partitions[partition];
    if (record === undefined || p === undefined) return undefined;
    const key = partitionKey(topic, partition);
    this.guarded(key, topic, partition, () => {
      const configs = this.configsOf(record);
      const partitionLog = this.logs.create(topic, partition, fromTopicConfigs(configs));
      const producers = this.loadProducerState(topic, partition, partitionLog);
      // A follower role first: applyPartitionRecord below makes the transition the record asks for.
      const replica = new LocalReplica(topic, record.topicId, partition, partitionLog, producers, { ...p, leader: -1 }, configs, this.nodeId);
      // With one replica what is durable is committed; with more, only what the ISR held before the restart.
      if (p.replicas.length > 1) replica.restoreHighWatermark();
      this.replicas.set(key, replica);
      this.applyPartitionRecord(replica, p);
    });
    return this.replicas.get(key);
  }

  private queueFollowerOpen(topic: string, partition: number): void {
    this.followersToOpen.push({ topic, partition });
    if (this.followerOpensScheduled) return;
    this.followerOpensScheduled = true;
    setImmediate(() => this.openQueuedFollowers());
  }

  private openQueuedFollowers(): void {
    this.followerOpensScheduled = false;
    for (const { topic, partition } of this.followersToOpen.splice(0, FOLLOWER_OPENS_PER_TURN)) this.openAssigned(topic, partition);
    if (this.followersToOpen.length > 0 && !this.followerOpensScheduled) {
      this.followerOpensScheduled = true;
      setImmediate(() => this.openQueuedFollowers());
    }
  }

  /** Partitions assigned here whose log is not created yet: they hold nothing. */
  *unopenedPartitions(): Generator<{ topic: string; partition: number }> {
    for (const [topic, partitions] of this.unopened) for (const partition of partitions) yield { topic, partition };
  }

  /**
   * Runs one partition's part of applying a metadata change. Metadata is applied alike on every node; a local
   * storage failure (out of file descriptors, a disk error) takes only that partition offline here, never the node.
   */
  private guarded(key: string, topic: string, partition: number, work: () => void): void {
    try {
      work();
      this.offline.delete(key);
    } catch (error) {
      this.takeOffline(key, topic, partition, error);
    }
  }

  private takeOffline(key: string, topic: string, partition: number, error: unknown): void {
    log.error("partition offline on this broker: its log could not be opened or changed", { topic, partition, error });
    this.offline.set(key, String(error));
    const replica = this.replicas.get(key);
    if (replica) this.closeReplica(key, replica);
  }

  /** Makes the replica leader or follower as the record says, or updates the leader's ISR view. */
  private applyPartitionRecord(replica: LocalReplica, record: PartitionRecord): void {
    const nowMs = this.now();
    const wasLeader = replica.isLeader;
    const epochChanged = record.leaderEpoch !== replica.leaderEpoch || record.leader !== replica.leaderId;
    replica.replicas = record.replicas;
    replica.isr = record.isr;
    replica.partitionEpoch = record.partitionEpoch;
    if (record.leader === this.nodeId) {
      if (wasLeader && !epochChanged) {
        replica.tracker!.onPartitionRecord(record.isr, record.partitionEpoch, nowMs);
        this.advanceHighWatermark(replica);
        return;
      }
      this.becomeLeader(replica, record, nowMs);
      return;
    }
    if (!wasLeader && !epochChanged) return;
    this.becomeFollower(replica, record);
  }

  private becomeLeader(replica: LocalReplica, record: PartitionRecord, nowMs: number): void {
    this.fetcher?.unfollow(replica.topic, replica.partition);
    replica.leaderId = record.leader;
    replica.leaderEpoch = record.leaderEpoch;
    const partitionLog = replica.log;
    // This epoch's batches start at the current end: a follower asking for an older epoch truncates to its end.
    replica.assignEpoch(record.leaderEpoch, partitionLog.logEndOffset);
    replica.localDurableEnd = partitionLog.logEndOffset;
    replica.tracker = new IsrTracker({
      leaderId: this.nodeId,
      replicas: record.replicas,
      isr: record.isr.includes(this.nodeId) ? record.isr : [...record.isr, this.nodeId],
      leaderEpoch: record.leaderEpoch,
      partitionEpoch: record.partitionEpoch,
      leaderEpochStartOffset: partitionLog.logEndOffset,
      replicaLagTimeMaxMs: this.settings?.replicaLagTimeMaxMs ?? 30_000,
      nowMs,
    });
    log.info("became leader", { topic: replica.topic, partition: replica.partition, leaderEpoch: record.leaderEpoch, isr: record.isr, logEndOffset: partitionLog.logEndOffset });
    this.advanceHighWatermark(replica);
  }

  private becomeFollower(replica: LocalReplica, record: PartitionRecord): void {
    if (replica.tracker !== null) {
      replica.tracker = null;
      replica.failWaiters(ErrorCode.NOT_LEADER_OR_FOLLOWER);
      this.server?.endPartition(replica.topic, replica.partition, ErrorCode.NOT_LEADER_OR_FOLLOWER);
    }
    replica.leaderId = record.leader;
    replica.leaderEpoch = record.leaderEpoch;
    // Long polls parked on this partition answer now, with NOT_LEADER_OR_FOLLOWER on their next read.
    this.waiters.wake(partitionKey(replica.topic, replica.partition));
    if (record.leader >= 0 && this.fetcher !== null) {
      log.info("following", { topic: replica.topic, partition: replica.partition, leaderId: record.leader, leaderEpoch: record.leaderEpoch });
      this.fetcher.follow(this.followerPartition(replica), record.leader);
    } else {
      this.fetcher?.unfollow(replica.topic, replica.partition);
    }
  }

  /** The fetcher's handle on a followed replica; it stays valid only while the replica follows this epoch. */
  private followerPartition(replica: LocalReplica): FollowerPartition {
    const leaderEpoch = replica.leaderEpoch;
    return {
      topic: replica.topic,
      partition: replica.partition,
      leaderEpoch,
      get logEndOffset() {
        return replica.log.logEndOffset;
      },
      get logStartOffset() {
        return replica.log.logStartOffset;
      },
      get latestEpoch() {
        return replica.latestEpoch;
      },
      appendReplicated: (records) => this.appendReplicated(replica, records),
      truncateForDivergence: (epoch, endOffset) => this.truncateForDivergence(replica, epoch, endOffset),
      restartAt: (logStartOffset) => {
        replica.restartAt(logStartOffset);
        this.rebuildProducerState(replica);
      },
      setLeaderHighWatermark: (highWatermark) => {
        const next = Math.min(highWatermark, replica.log.logEndOffset);
        if (next > replica.log.highWatermark) replica.log.highWatermark = next;
      },
      setLeaderLogStartOffset: (logStartOffset) => {
        // As Kafka's follower: never past what it knows is committed; the rest follows with a later high watermark.
        const next = Math.min(logStartOffset, replica.log.highWatermark);
        if (next > replica.log.logStartOffset) replica.log.deleteRecordsBefore(next);
      },
    };
  }

  /**
   * A follower's append: the leader's bytes as they are, with epochs and producer state carried along. Throws if
   * the disk refused it (the log is unchanged): the fetcher retries after a backoff.
   */
  private appendReplicated(replica: LocalReplica, records: Uint8Array): Promise<number> {
    if (replica.isLeader) return Promise.reject(new Error(`${replica.topic}-${replica.partition} is led here; refusing replicated batches`));
    const logEndBefore = replica.log.logEndOffset;
    let result: AppendResult;
    try {
      result = replica.appendReplicated(records);
    } catch (error) {
      if (isStorageError(error)) this.appendRefused(replica, "follower", logEndBefore, error);
      throw error;
    }
    this.appendStored(replica);
    const endOffset = result.lastOffset + 1;
    return result.durable.then(() => endOffset);
  }

  /**
   * The disk refused an append (full): the log is as it was and takes appends again once the disk has room; logged
   * once until one succeeds. If even the undo failed, the log's end is unknown: the partition goes offline here, as
   * Kafka takes a log dir offline.
   */
  private appendRefused(replica: LocalReplica, role: "leader" | "follower", logEndBefore: number, error: unknown): void {
    const key = partitionKey(replica.topic, replica.partition);
    this.appendFailures?.inc({ role });
    if (replica.log.logEndOffset !== logEndBefore) this.takeOffline(key, replica.topic, replica.partition, error);
    else if (!this.failingAppends.has(key)) log.error("appends fail: the disk refused the write", { topic: replica.topic, partition: replica.partition, role, error });
    this.failingAppends.add(key);
  }

  private appendStored(replica: LocalReplica): void {
    if (this.failingAppends.delete(partitionKey(replica.topic, replica.partition))) log.info("appends succeed again", { topic: replica.topic, partition: replica.partition });
  }

  /** Truncates a follower to where the leader's answer says its log stopped agreeing (Kafka's rules). */
  private truncateForDivergence(replica: LocalReplica, leaderEpoch: number, leaderEndOffset: number): void {
    const logEnd = replica.log.logEndOffset;
    const target = truncationOffset(replica.epochCache, logEnd, replica.log.highWatermark, { epoch: leaderEpoch, endOffset: leaderEndOffset });
    if (target >= logEnd) {
      // A leader that lost its epoch before appending keeps that epoch's entry at its log end; drop it (as Kafka's
      // truncateTo does), or this follower keeps offering the epoch and the leader keeps answering divergence.
      if (replica.epochCache.truncateFromEnd(logEnd)) replica.saveEpochCache();
      return;
    }
    log.warn("truncating a follower's diverged tail", { topic: replica.topic, partition: replica.partition, from: logEnd, to: target });
    replica.truncateTo(Math.max(target, replica.log.logStartOffset));
    this.rebuildProducerState(replica);
  }

  /**
   * The log lost its tail: producer state must forget the batches that are gone, or a retry of one would be
   * answered as a duplicate at offsets that now hold other records. A saved snapshot may remember them too.
   */
  private rebuildProducerState(replica: LocalReplica): void {
    const key = partitionKey(replica.topic, replica.partition);
    const snapshot = this.producerSnapshots.get(key);
    if (snapshot !== undefined && snapshot.offset > replica.log.logEndOffset) this.producerSnapshots.removeSync(key);
    replica.producers = PartitionProducerState.rebuild(batchHeadersFrom(replica.log, replica.log.logStartOffset));
  }

  private onSubscribe(followerId: number, frame: ReplicationFrame & { type: typeof FrameType.SUBSCRIBE }): SubscribeAnswer {
    const replica = this.replicaOf(frame.topic, frame.partition);
    if (!replica) return { kind: "refused", errorCode: ErrorCode.UNKNOWN_TOPIC_OR_PARTITION };
    if (!replica.isLeader) return { kind: "refused", errorCode: ErrorCode.NOT_LEADER_OR_FOLLOWER };
    if (frame.leaderEpoch < replica.leaderEpoch) return { kind: "refused", errorCode: ErrorCode.FENCED_LEADER_EPOCH };
    if (frame.leaderEpoch > replica.leaderEpoch) return { kind: "refused", errorCode: ErrorCode.UNKNOWN_LEADER_EPOCH };
    if (!replica.replicas.includes(followerId)) return { kind: "refused", errorCode: ErrorCode.NOT_LEADER_OR_FOLLOWER };
    const partitionLog = replica.log;
    const diverged = divergence(replica.epochCache, partitionLog.logEndOffset, frame.lastEpoch, frame.fetchOffset);
    if (diverged !== null) return { kind: "diverging", ...diverged };
    if (frame.fetchOffset < partitionLog.logStartOffset) return { kind: "start-at", logStartOffset: partitionLog.logStartOffset };
    if (frame.fetchOffset > partitionLog.logEndOffset) return { kind: "refused", errorCode: ErrorCode.OFFSET_OUT_OF_RANGE };
    return { kind: "stream", partition: replica };
  }

  private onFollowerReport(followerId: number, topic: string, partition: number, endOffset: number, logStartOffset: number): void {
    const replica = this.replicas.get(partitionKey(topic, partition));
    if (!replica?.isLeader) return;
    const tracker = replica.tracker!;
    const nowMs = this.now();
    tracker.onFollowerReport(followerId, endOffset, replica.log.logEndOffset, nowMs);
    tracker.onFollowerLogStart(followerId, logStartOffset);
    this.advanceHighWatermark(replica);
    this.maybeAlterIsr(replica, nowMs);
    this.releaseDeleteRecords(replica);
  }

  /** The minimum log start offset over the live replicas (see IsrTracker.lowWatermark); leader only. */
  private lowWatermark(replica: LocalReplica): number {
    return replica.tracker!.lowWatermark(replica.log.logStartOffset, this.settings?.isLiveBroker ?? (() => true));
  }

  /** Answers the DeleteRecords requests the low watermark now covers. */
  private releaseDeleteRecords(replica: LocalReplica): void {
    if (replica.isLeader && replica.deleteRecordsWaiters.size > 0) replica.deleteRecordsWaiters.release(this.lowWatermark(replica));
  }

  /**
   * The high watermark follows the ISR's minimum end offset, never back; waiters and followers hear of it. Without
   * the leader lease this broker may have been replaced, so it acknowledges nothing until the lease is back.
   */
  private advanceHighWatermark(replica: LocalReplica): void {
    const tracker = replica.tracker;
    if (tracker === null || !this.holdsLeaderLease()) return;
    const partitionLog = replica.log;
    const candidate = Math.min(tracker.highWatermark(replica.localDurableEnd), partitionLog.logEndOffset);
    if (candidate <= partitionLog.highWatermark) return;
    partitionLog.highWatermark = candidate;
    replica.releaseCommitted();
    this.waiters.wake(partitionKey(replica.topic, replica.partition));
    this.server?.highWatermarkChanged(replica.topic, replica.partition);
  }

  private checkpointHighWatermarks(): void {
    for (const replica of this.replicas.values()) {
      if (replica.replicas.length <= 1) continue;
      try {
        replica.checkpointHighWatermark();
      } catch (error) {
        log.error("cannot checkpoint a high watermark", { topic: replica.topic, partition: replica.partition, error: String(error) });
      }
    }
  }

  private checkIsr(): void {
    const nowMs = this.now();
    for (const replica of this.replicas.values()) {
      if (!replica.isLeader) continue;
      // Commits held back while the leader lease had lapsed move on here, followers or not.
      this.advanceHighWatermark(replica);
      this.maybeAlterIsr(replica, nowMs);
      this.releaseDeleteRecords(replica);
    }
  }

  private maybeAlterIsr(replica: LocalReplica, nowMs: number): void {
    const tracker = replica.tracker!;
    const proposal = tracker.planIsrChange(replica.log.logEndOffset, replica.log.highWatermark, nowMs, this.settings?.isLiveBroker ?? (() => true));
    if (proposal === null || this.settings === null) return;
    this.proposeIsr(replica, tracker, proposal);
  }

  private proposeIsr(replica: LocalReplica, tracker: IsrTracker, proposal: IsrProposal): void {
    log.info("proposing an ISR change", { topic: replica.topic, partition: replica.partition, reason: proposal.reason, from: tracker.isr, to: proposal.isr });
    const request = { topic: replica.topic, partition: replica.partition, isr: proposal.isr, leaderEpoch: proposal.leaderEpoch, partitionEpoch: proposal.partitionEpoch };
    this.settings!.alterPartition(request).then(
      (outcome) => {
        if (outcome.errorCode === ErrorCode.NONE) return;
        log.warn("ISR change refused", { topic: replica.topic, partition: replica.partition, errorCode: outcome.errorCode });
        if (replica.tracker === tracker) tracker.onProposalFailed();
      },
      (error) => {
        log.warn("ISR change not committed", { topic: replica.topic, partition: replica.partition, error: String(error) });
        if (replica.tracker === tracker) tracker.onProposalFailed();
      },
    );
  }

  private now(): number {
    return this.settings?.nowMs() ?? performance.now();
  }

  /** A manager without replication (unit tests of one replica) has no controller to hold a lease from. */
  private holdsLeaderLease(): boolean {
    return this.settings?.holdsLeaderLease() ?? true;
  }

  private closeReplica(key: string, replica: LocalReplica): void {
    this.replicas.delete(key);
    this.fetcher?.unfollow(replica.topic, replica.partition);
    this.server?.endPartition(replica.topic, replica.partition, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION);
    replica.failWaiters(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION);
    this.waiters.wake(key);
  }

  private deleteTopic(name: string): void {
    this.unopened.delete(name);
    for (const key of this.offline.keys()) if (key.startsWith(partitionKeyPrefix(name))) this.offline.delete(key);
    for (const key of this.failingAppends) if (key.startsWith(partitionKeyPrefix(name))) this.failingAppends.delete(key);
    for (const [key, replica] of this.replicas) {
      if (replica.topic !== name) continue;
      this.closeReplica(key, replica);
      void this.producerSnapshots.remove(key);
    }
    void this.logs.deleteTopic(name);
  }

  /** Producer state = the last snapshot plus the batches appended after it. */
  private loadProducerState(topic: string, partition: number, partitionLog: PartitionLog): PartitionProducerState {
    const snapshot = this.producerSnapshots.get(partitionKey(topic, partition));
    if (snapshot && snapshot.offset <= partitionLog.logEndOffset && snapshot.offset >= partitionLog.logStartOffset) {
      try {
        return PartitionProducerState.rebuild(batchHeadersFrom(partitionLog, snapshot.offset), PartitionProducerState.decode(snapshot.state));
      } catch (error) {
        // A snapshot the log no longer continues (its tail was truncated and refilled): the log alone is the truth.
        log.warn("producer state snapshot does not match the log; rebuilding from the log", { topic, partition, snapshotOffset: snapshot.offset, error: String(error) });
      }
    }
    return PartitionProducerState.rebuild(batchHeadersFrom(partitionLog, partitionLog.logStartOffset));
  }

  /** Writes every partition's producer state so the next start replays only what follows. */
  snapshotProducerState(): Promise<unknown> {
    return this.producerSnapshots.transaction(() => {
      for (const [key, replica] of this.replicas) {
        this.producerSnapshots.put(key, { offset: replica.log.logEndOffset, state: replica.producers.encode() });
      }
    });
  }

  /**
   * The leader replica of a partition. Without the leader lease this broker may have been fenced and replaced
   * while its metadata lags: it answers NOT_LEADER_OR_FOLLOWER, so a client asks for metadata and goes to the
   * real leader, rather than OFFSET_OUT_OF_RANGE from a stale log end (which resets clients without KIP-320).
   * A client's currentLeaderEpoch (-1: none given) is checked as Kafka does: older than ours is
   * FENCED_LEADER_EPOCH, newer is UNKNOWN_LEADER_EPOCH (our metadata is behind).
   */
  lookup(topic: string, partition: number, currentLeaderEpoch = -1): ReplicaLookup {
    const key = partitionKey(topic, partition);
    const replica = this.replicaOf(topic, partition);
    if (!replica) return { ok: false, errorCode: this.offline.has(key) ? ErrorCode.KAFKA_STORAGE_ERROR : ErrorCode.UNKNOWN_TOPIC_OR_PARTITION };
    if (!replica.isLeader || !this.holdsLeaderLease()) return { ok: false, errorCode: ErrorCode.NOT_LEADER_OR_FOLLOWER };
    if (currentLeaderEpoch >= 0 && currentLeaderEpoch < replica.leaderEpoch) return { ok: false, errorCode: ErrorCode.FENCED_LEADER_EPOCH };
    if (currentLeaderEpoch > replica.leaderEpoch) return { ok: false, errorCode: ErrorCode.UNKNOWN_LEADER_EPOCH };
    return { ok: true, replica };
  }

  /** The topic's replicas on this broker, opening those not used yet. */
  replicasOf(topic: string): LocalReplica[] {
    for (const partition of [...(this.unopened.get(topic) ?? [])]) this.openAssigned(topic, partition);
    return [...this.replicas.values()].filter((r) => r.topic === topic);
  }

  /** Bytes this leader has queued for each follower that its socket has not taken yet, by follower id. */
  replicationQueuedBytes(): Map<number, number> {
    return this.server?.queuedBytesByFollower() ?? new Map();
  }

  /** The open replicas: a partition not used yet has no replica, and holds nothing. */
  allReplicas(): IterableIterator<LocalReplica> {
    return this.replicas.values();
  }

  /**
   * DeleteRecords on the leader (Kafka's ReplicaManager.deleteRecords): the log start moves to `offset` (at most the
   * high watermark) and followers hear of it with the replication stream. The answer waits until every live
   * replica's log start has reached `offset` (the low watermark), so a later leader does not serve the deleted
   * records again, or until timeoutMs passes: REQUEST_TIMED_OUT with the low watermark reached so far.
   */
  deleteRecords(replica: LocalReplica, offset: number, timeoutMs: number): Promise<LowWatermarkOutcome> {
    try {
      replica.log.deleteRecordsBefore(offset);
    } catch (error) {
      if (!isStorageError(error)) throw error;
      // The log start stays where it was (it moves only once saved): Kafka answers a storage failure this way.
      log.error("DeleteRecords failed: the disk refused to save the log start", { topic: replica.topic, partition: replica.partition, offset, error });
      return Promise.resolve({ errorCode: ErrorCode.KAFKA_STORAGE_ERROR, lowWatermark: -1 });
    }
    this.server?.logStartChanged(replica.topic, replica.partition);
    const lowWatermark = this.lowWatermark(replica);
    if (lowWatermark >= offset) return Promise.resolve({ errorCode: ErrorCode.NONE, lowWatermark });
    return new Promise((resolve) => {
      let timer: Timer | undefined;
      const withdraw = replica.deleteRecordsWaiters.park(offset, (outcome) => {
        clearTimeout(timer);
        resolve(outcome);
      });
      if (withdraw === null) {
        resolve({ errorCode: ErrorCode.REQUEST_TIMED_OUT, lowWatermark });
        return;
      }
      timer = setTimeout(() => {
        withdraw();
        resolve({ errorCode: ErrorCode.REQUEST_TIMED_OUT, lowWatermark: replica.isLeader ? this.lowWatermark(replica) : -1 });
      }, Math.max(timeoutMs, 0));
    });
  }

  /** acks=all: whether the ISR is large enough to accept a write at all (Kafka checks before appending). */
  enoughReplicas(replica: LocalReplica): boolean {
    return replica.inSyncReplicas.length >= replica.minInsyncReplicas;
  }

  /**
   * Validates and appends one partition's produced batches. Synchronous up to the copy into the log,
   * so offsets follow request order; durability is awaited by the caller.
   */
  append(replica: LocalReplica, records: Uint8Array | null, nowMs: number): AppendOutcome {
    const partitionLog = replica.log;
    const fail = (errorCode: number, errorMessage: string | null): AppendOutcome => ({
      errorCode,
      errorMessage,
      baseOffset: -1,
      logAppendTimeMs: -1,
      logStartOffset: partitionLog.logStartOffset,
    });
    if (records === null || records.byteLength === 0) return fail(ErrorCode.CORRUPT_MESSAGE, "empty record set");
    const validation = validateBatches(records, replica.maxMessageBytes);
    if (!validation.ok) return fail(BATCH_ERROR_CODES[validation.error], validation.message);
    const batches = validation.batches;
    if (batches.some((b) => isTransactional(b.attributes))) {
      return fail(ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED, "transactions are not supported by this broker");
    }

    // Clients send one batch per partition; Kafka rejects idempotent requests with more.
    const first = batches[0]!;
    if (first.producerId >= 0) {
      if (batches.length > 1) return fail(ErrorCode.INVALID_RECORD, "an idempotent produce request must hold one batch per partition");
      let check = replica.producers.check(first);
      if (check.kind === "duplicate" && !holdsBatch(partitionLog, check.baseOffset, first)) {
        log.error("producer state names a batch the log does not hold; rebuilding it from the log", {
          topic: replica.topic,
          partition: replica.partition,
          producerId: first.producerId,
          baseSequence: first.baseSequence,
          baseOffset: check.baseOffset,
        });
        this.rebuildProducerState(replica);
        check = replica.producers.check(first);
      }
      if (check.kind === "error") return fail(check.errorCode, check.message);
      // A retry of a batch in the log answers with its first offsets, and for acks=all only once they are
      // committed in this leader epoch (the caller waits for the high watermark as for a new append).
      if (check.kind === "duplicate") {
        return {
          errorCode: ErrorCode.NONE,
          errorMessage: null,
          baseOffset: check.baseOffset,
          endOffset: check.lastOffset + 1,
          logAppendTimeMs: replica.logAppendTime ? (check.logAppendTimeMs ?? -1) : -1,
          logStartOffset: partitionLog.logStartOffset,
          // A retry of a batch whose first attempt is not yet durable waits for the flush that covers it.
          durable: check.lastOffset < partitionLog.highWatermark ? undefined : this.logs.flush(),
          leaderEpoch: replica.leaderEpoch,
        };
      }
    }

    const logEndBefore = partitionLog.logEndOffset;
    let result: AppendResult;
    try {
      result = partitionLog.append(records, {
        leaderEpoch: replica.leaderEpoch,
        logAppendTimeMs: replica.logAppendTime ? nowMs : undefined,
      });
    } catch (error) {
      if (!isStorageError(error)) throw error;
      this.appendRefused(replica, "leader", logEndBefore, error);
      return fail(ErrorCode.KAFKA_STORAGE_ERROR, `the log could not store the batch: ${error instanceof Error ? error.message : String(error)}`);
    }
    this.appendStored(replica);
    if (first.producerId >= 0) replica.producers.onAppended(first, result.baseOffset, result.lastOffset, nowMs);
    const tracker = replica.tracker;
    const durable = result.durable.then(() => {
      if (replica.tracker !== tracker) return;
      replica.localDurableEnd = Math.max(replica.localDurableEnd, result.lastOffset + 1);
      this.advanceHighWatermark(replica);
    });
    return {
      errorCode: ErrorCode.NONE,
      errorMessage: null,
      baseOffset: result.baseOffset,
      endOffset: result.lastOffset + 1,
      logAppendTimeMs: result.logAppendTimeMs,
      logStartOffset: partitionLog.logStartOffset,
      durable,
      leaderEpoch: replica.leaderEpoch,
    };
  }
}

function isrCheckIntervalMs(replicaLagTimeMaxMs: number): number {
  return Math.max(10, Math.floor(replicaLagTimeMaxMs / 2));
}
