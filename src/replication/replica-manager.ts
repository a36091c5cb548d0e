import type { Database } from "lmdb";
import { PartitionProducerState } from "../idempotence/producer-state.ts";
import { logger } from "../lib/logger.ts";
import type { MetadataCommand, TopicRecord } from "../metadata/records.ts";
import type { MetadataState } from "../metadata/state.ts";
import { effectiveTopicConfigs } from "../metadata/effective-configs.ts";
import { ErrorCode } from "../protocol/error-codes.ts";
import { batchSizeAt, isTransactional, readBatchHeader, validateBatches, type BatchError, type BatchHeader } from "../protocol/record-batch.ts";
import type { LogManager } from "../wal/log-manager.ts";
import type { PartitionLog } from "../wal/partition-log.ts";
import { fromTopicConfigs } from "../wal/log-config.ts";
import { FetchWaiters } from "./fetch-waiters.ts";

const log = logger("replicas");

/** A partition this broker holds a replica of. */
export class LocalReplica {
  leaderEpoch: number;
  logAppendTime = false;
  maxMessageBytes: number;

  constructor(
    readonly topic: string,
    readonly topicId: string,
    readonly partition: number,
    readonly log: PartitionLog,
    readonly producers: PartitionProducerState,
    leaderEpoch: number,
    readonly isLeader: boolean,
    configs: Record<string, string>,
  ) {
    this.leaderEpoch = leaderEpoch;
    this.maxMessageBytes = Number(configs["max.message.bytes"]);
    this.applyConfigs(configs);
  }

  applyConfigs(configs: Record<string, string>): void {
    this.logAppendTime = configs["message.timestamp.type"] === "LogAppendTime";
    this.maxMessageBytes = Number(configs["max.message.bytes"]);
  }
}

export type ReplicaLookup = { ok: true; replica: LocalReplica } | { ok: false; errorCode: number };

export interface AppendOutcome {
  errorCode: number;
  errorMessage: string | null;
  baseOffset: number;
  logAppendTimeMs: number;
  logStartOffset: number;
  /** Resolves when the append is durable under the flush policy; absent for errors and duplicates already durable. */
  durable?: Promise<void>;
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

/**
 * Owns the partitions this broker holds (Kafka's ReplicaManager): creates and deletes their logs as
 * the metadata changes, appends produced batches with the idempotence checks, serves reads, and
 * wakes long-poll fetches when the high watermark moves.
 */
export class ReplicaManager {
  private readonly replicas = new Map<string, LocalReplica>();
  readonly waiters: FetchWaiters;

  constructor(
    private readonly nodeId: number,
    private readonly logs: LogManager,
    private readonly producerSnapshots: Database<ProducerSnapshot, string>,
    private readonly topicDefaults: Readonly<Record<string, string>>,
    maxParkedFetches: number,
  ) {
    this.waiters = new FetchWaiters(maxParkedFetches);
  }

  /** Opens a replica for every partition the metadata assigns to this broker; removes logs of deleted topics. */
  syncWithMetadata(state: MetadataState): void {
    for (const topic of state.topics()) this.openTopic(topic);
    for (const topic of new Set(this.logs.all().map((l) => l.topic))) {
      if (!state.topic(topic)) {
        log.info("removing logs of a topic that no longer exists", { topic });
        void this.logs.deleteTopic(topic);
      }
    }
  }

  onMetadata(command: MetadataCommand, state: MetadataState): void {
    switch (command.type) {
      case "create-topic":
        this.openTopic(command.topic);
        return;
      case "create-partitions":
      case "alter-topic-configs": {
        const topic = state.topic(command.name)!;
        this.openTopic(topic);
        const configs = effectiveTopicConfigs(this.topicDefaults, topic.configs);
        this.logs.updateConfig(topic.name, fromTopicConfigs(configs));
        for (const replica of this.replicas.values()) if (replica.topic === topic.name) replica.applyConfigs(configs);
        return;
      }
      case "delete-topic":
        this.deleteTopic(command.name);
        return;
      default:
        return;
    }
  }

  private openTopic(topic: TopicRecord): void {
    const configs = effectiveTopicConfigs(this.topicDefaults, topic.configs);
    for (const p of topic.partitions) {
      if (!p.replicas.includes(this.nodeId)) continue;
      const key = FetchWaiters.key(topic.name, p.partition);
      if (this.replicas.has(key)) continue;
      const partitionLog = this.logs.create(topic.name, p.partition, fromTopicConfigs(configs));
      const producers = this.loadProducerState(topic.name, p.partition, partitionLog);
      const replica = new LocalReplica(topic.name, topic.topicId, p.partition, partitionLog, producers, p.leaderEpoch, p.leader === this.nodeId, configs);
      // Single-node: the only in-sync replica's durable end is the high watermark.
      partitionLog.highWatermark = Math.max(partitionLog.highWatermark, partitionLog.logEndOffset);
      this.replicas.set(key, replica);
    }
  }

  private deleteTopic(name: string): void {
    for (const [key, replica] of this.replicas) {
      if (replica.topic !== name) continue;
      this.replicas.delete(key);
      this.waiters.wake(key);
      void this.producerSnapshots.remove(key);
    }
    void this.logs.deleteTopic(name);
  }

  /** Producer state = the last snapshot plus the batches appended after it. */
  private loadProducerState(topic: string, partition: number, partitionLog: PartitionLog): PartitionProducerState {
    const snapshot = this.producerSnapshots.get(FetchWaiters.key(topic, partition));
    let state: PartitionProducerState;
    let from: number;
    if (snapshot && snapshot.offset <= partitionLog.logEndOffset && snapshot.offset >= partitionLog.logStartOffset) {
      state = PartitionProducerState.decode(snapshot.state);
      from = snapshot.offset;
    } else {
      state = new PartitionProducerState();
      from = partitionLog.logStartOffset;
    }
    return PartitionProducerState.rebuild(batchHeadersFrom(partitionLog, from), state);
  }

  /** Writes every partition's producer state so the next start replays only what follows. */
  snapshotProducerState(): Promise<unknown> {
    return this.producerSnapshots.transaction(() => {
      for (const [key, replica] of this.replicas) {
        this.producerSnapshots.put(key, { offset: replica.log.logEndOffset, state: replica.producers.encode() });
      }
    });
  }

  lookup(topic: string, partition: number): ReplicaLookup {
    const replica = this.replicas.get(FetchWaiters.key(topic, partition));
    if (!replica) return { ok: false, errorCode: ErrorCode.UNKNOWN_TOPIC_OR_PARTITION };
    if (!replica.isLeader) return { ok: false, errorCode: ErrorCode.NOT_LEADER_OR_FOLLOWER };
    return { ok: true, replica };
  }

  replicasOf(topic: string): LocalReplica[] {
    return [...this.replicas.values()].filter((r) => r.topic === topic);
  }

  allReplicas(): IterableIterator<LocalReplica> {
    return this.replicas.values();
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
      const check = replica.producers.check(first);
      if (check.kind === "error") return fail(check.errorCode, check.message);
      if (check.kind === "duplicate") {
        return {
          errorCode: ErrorCode.NONE,
          errorMessage: null,
          baseOffset: check.baseOffset,
          logAppendTimeMs: replica.logAppendTime ? (check.logAppendTimeMs ?? -1) : -1,
          logStartOffset: partitionLog.logStartOffset,
          // A retry of a batch whose first attempt is not yet durable waits for the flush that covers it.
          durable: check.lastOffset < partitionLog.highWatermark ? undefined : this.logs.flush(),
        };
      }
    }

    const result = partitionLog.append(records, {
      leaderEpoch: replica.leaderEpoch,
      logAppendTimeMs: replica.logAppendTime ? nowMs : undefined,
    });
    if (first.producerId >= 0) replica.producers.onAppended(first, result.baseOffset, result.lastOffset, nowMs);
    const key = FetchWaiters.key(replica.topic, replica.partition);
    const durable = result.durable.then(() => {
      // The single in-sync replica: what is durable is committed.
      if (result.lastOffset + 1 > partitionLog.highWatermark) {
        partitionLog.highWatermark = Math.min(result.lastOffset + 1, partitionLog.logEndOffset);
        this.waiters.wake(key);
      }
    });
    return {
      errorCode: ErrorCode.NONE,
      errorMessage: null,
      baseOffset: result.baseOffset,
      logAppendTimeMs: result.logAppendTimeMs,
      logStartOffset: partitionLog.logStartOffset,
      durable,
    };
  }
}

const RECOVERY_READ_BYTES = 1 << 20;

/** Every batch header from `offset` to the end of the log, read through the mapped segments. */
function* batchHeadersFrom(partitionLog: PartitionLog, offset: number): Generator<BatchHeader> {
  let next = offset;
  while (next < partitionLog.logEndOffset) {
    const read = partitionLog.read(next, RECOVERY_READ_BYTES, { minOneBatch: true });
    if ("outOfRange" in read || read.bytes === 0) return;
    try {
      for (const view of read.batches) {
        for (let pos = 0; pos < view.byteLength; pos += batchSizeAt(view, pos)) {
          const header = readBatchHeader(view, pos);
          if (header.baseOffset + header.lastOffsetDelta < next) continue;
          yield header;
          next = header.baseOffset + header.lastOffsetDelta + 1;
        }
      }
    } finally {
      read.release();
    }
  }
}
