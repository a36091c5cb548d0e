import * as fs from "node:fs";
import * as path from "node:path";
import type { PartitionProducerState } from "../idempotence/producer-state.ts";
import { logger } from "../lib/logger.ts";
import type { PartitionRecord } from "../metadata/records.ts";
import { ErrorCode } from "../protocol/error-codes.ts";
import { batchSizeAt, readBatchHeader, type BatchHeader } from "../protocol/record-batch.ts";
import type { AppendResult, PartitionLog } from "../wal/partition-log.ts";
import type { IsrTracker } from "./isr-tracker.ts";
import { LeaderEpochCache, decodeEpochCheckpoint, encodeEpochCheckpoint } from "./leader-epoch-cache.ts";
import { LowWatermarkWaiters } from "./low-watermark-waiters.ts";

const log = logger("replicas");

export const LEADER_EPOCH_CHECKPOINT_FILE = "leader-epoch-checkpoint";
/** The last high watermark this replica knew, so a restart does not show consumers what was never committed. */
export const HIGH_WATERMARK_CHECKPOINT_FILE = "high-watermark-checkpoint";

interface CommitWaiter {
  readonly endOffset: number;
  readonly resolve: (errorCode: number) => void;
}

/** A bound on acks=all requests parked per partition; past it the produce answers at once with a timeout. */
const MAX_COMMIT_WAITERS = 100_000;
/** A bound on DeleteRecords requests parked per partition; past it one answers at once with a timeout. */
const MAX_DELETE_RECORDS_WAITERS = 10_000;

/** A partition this broker holds a replica of, as leader or follower. */
export class LocalReplica {
  leaderEpoch: number;
  leaderId: number;
  partitionEpoch: number;
  replicas: readonly number[];
  /** The ISR as the metadata holds it. */
  isr: readonly number[];
  logAppendTime = false;
  maxMessageBytes: number;
  minInsyncReplicas = 1;
  producers: PartitionProducerState;
  readonly epochCache: LeaderEpochCache;
  /** Leader only: follower progress and ISR decisions. */
  tracker: IsrTracker | null = null;
  /** Leader only: the end of what this broker's own log holds under the flush policy. */
  localDurableEnd = 0;
  /** Leader only: DeleteRecords requests waiting for every live replica's log start to reach their offset. */
  readonly deleteRecordsWaiters = new LowWatermarkWaiters(MAX_DELETE_RECORDS_WAITERS);
  private readonly commitWaiters: CommitWaiter[] = [];
  private checkpointedHighWatermark = -1;

  constructor(
    readonly topic: string,
    readonly topicId: string,
    readonly partition: number,
    readonly log: PartitionLog,
    producers: PartitionProducerState,
    record: PartitionRecord,
    configs: Record<string, string>,
    private readonly nodeId: number,
  ) {
    this.producers = producers;
    this.leaderEpoch = record.leaderEpoch;
    this.leaderId = record.leader;
    this.partitionEpoch = record.partitionEpoch;
    this.replicas = record.replicas;
    this.isr = record.isr;
    this.maxMessageBytes = Number(configs["max.message.bytes"]);
    this.applyConfigs(configs);
    this.epochCache = loadEpochCache(log.dir, log);
  }

  get isLeader(): boolean {
    return this.leaderId === this.nodeId && this.tracker !== null;
  }

  get highWatermark(): number {
    return this.log.highWatermark;
  }

  get logEndOffset(): number {
    return this.log.logEndOffset;
  }

  get latestEpoch(): number {
    return this.epochCache.latestEpoch;
  }

  /** The ISR that counts for min.insync.replicas: the leader's committed view, or the metadata's. */
  get inSyncReplicas(): readonly number[] {
    return this.tracker?.isr ?? this.isr;
  }

  applyConfigs(configs: Record<string, string>): void {
    this.logAppendTime = configs["message.timestamp.type"] === "LogAppendTime";
    this.maxMessageBytes = Number(configs["max.message.bytes"]);
    this.minInsyncReplicas = Number(configs["min.insync.replicas"] ?? "1");
  }

  /** Records that `epoch` starts at `startOffset` and saves the checkpoint if that changed anything. */
  assignEpoch(epoch: number, startOffset: number): void {
    if (this.epochCache.assign(epoch, startOffset)) this.saveEpochCache();
  }

  /**
   * A follower's append of its leader's batches, with the epochs they start and their producer state. Epochs are
   * checkpointed before the batches that start them are appended, as Kafka's follower does: a checkpoint ahead of
   * the log is cut back to the log's end when loaded, but a batch whose epoch the checkpoint lacks would make this
   * replica truncate wrongly after a restart. If the disk refuses either write it throws, and nothing here changed.
   */
  appendReplicated(records: Uint8Array): AppendResult {
    const headers: BatchHeader[] = [];
    for (let pos = 0; pos < records.length; pos += batchSizeAt(records, pos)) headers.push(readBatchHeader(records, pos));
    const latestEpoch = this.latestEpoch;
    if (headers.some((h) => h.partitionLeaderEpoch > latestEpoch)) {
      const withNewEpochs = new LeaderEpochCache(this.epochCache.all);
      for (const h of headers) if (h.partitionLeaderEpoch > withNewEpochs.latestEpoch) withNewEpochs.assign(h.partitionLeaderEpoch, h.baseOffset);
      this.writeEpochCheckpoint(withNewEpochs);
    }
    const result = this.log.appendReplicated(records);
    for (const h of headers) {
      if (h.partitionLeaderEpoch > this.latestEpoch) this.epochCache.assign(h.partitionLeaderEpoch, h.baseOffset);
      this.producers.replay(h);
    }
    return result;
  }

  /** Truncates the log and everything derived from it to `offset`. */
  truncateTo(offset: number): void {
    this.log.truncateTo(offset);
    if (this.epochCache.truncateFromEnd(offset)) this.saveEpochCache();
    this.localDurableEnd = Math.min(this.localDurableEnd, offset);
  }

  /** Empties the log at `offset` (see PartitionLog.restartAt); no epoch is known for the empty log. */
  restartAt(offset: number): void {
    this.log.restartAt(offset);
    if (this.epochCache.truncateFromEnd(0)) this.saveEpochCache();
    this.localDurableEnd = offset;
  }

  /**
   * Saves the checkpoint after the log changed under it (truncated, restarted, a new leader epoch at its end). If
   * the disk refuses (full), the file goes instead, which needs no space: the next start rebuilds the cache from
   * the batches in the log, where a stale checkpoint would disagree with them.
   */
  saveEpochCache(): void {
    try {
      this.writeEpochCheckpoint(this.epochCache);
    } catch (error) {
      log.warn("could not save the leader epoch checkpoint; removing it, so the next start rebuilds it from the log", { topic: this.topic, partition: this.partition, error });
      fs.rmSync(path.join(this.log.dir, LEADER_EPOCH_CHECKPOINT_FILE), { force: true });
    }
  }

  private writeEpochCheckpoint(cache: LeaderEpochCache): void {
    const file = path.join(this.log.dir, LEADER_EPOCH_CHECKPOINT_FILE);
    fs.writeFileSync(`${file}.tmp`, encodeEpochCheckpoint(cache.all));
    fs.renameSync(`${file}.tmp`, file);
  }

  /** Writes the high watermark if it moved since the last checkpoint (Kafka checkpoints it periodically). */
  checkpointHighWatermark(): void {
    const highWatermark = this.log.highWatermark;
    if (highWatermark === this.checkpointedHighWatermark) return;
    const file = path.join(this.log.dir, HIGH_WATERMARK_CHECKPOINT_FILE);
    fs.writeFileSync(`${file}.tmp`, String(highWatermark));
    fs.renameSync(`${file}.tmp`, file);
    this.checkpointedHighWatermark = highWatermark;
  }

  /**
   * A replicated partition reopened: the log recovered everything it holds, but only what was below the saved
   * high watermark is known to be committed; the rest becomes visible once the ISR holds it again.
   */
  restoreHighWatermark(): void {
    let saved = 0;
    try {
      const value = Number(fs.readFileSync(path.join(this.log.dir, HIGH_WATERMARK_CHECKPOINT_FILE), "utf8"));
      if (Number.isSafeInteger(value) && value >= 0) saved = value;
    } catch {
      saved = 0;
    }
    this.log.highWatermark = Math.max(this.log.logStartOffset, Math.min(saved, this.log.logEndOffset));
    this.checkpointedHighWatermark = this.log.highWatermark;
  }

  /**
   * Resolves with the produce error code once the high watermark reaches endOffset (acks=all). The offsets mean
   * something only in the leader epoch that wrote them: once this broker has lost that leadership (even if it
   * leads again later), another leader's records may sit there, so the write is answered NOT_LEADER_OR_FOLLOWER.
   */
  waitForCommit(endOffset: number, appendLeaderEpoch: number): Promise<number> {
    const now = this.commitOutcome(endOffset, appendLeaderEpoch);
    if (now !== null) return Promise.resolve(now);
    if (this.commitWaiters.length >= MAX_COMMIT_WAITERS) return Promise.resolve(ErrorCode.REQUEST_TIMED_OUT);
    return new Promise((resolve) => this.commitWaiters.push({ endOffset, resolve }));
  }

  /** The produce error code if the write's fate is known now (see waitForCommit), or null while it waits for the ISR. */
  commitOutcome(endOffset: number, appendLeaderEpoch: number): number | null {
    if (!this.isLeader || this.leaderEpoch !== appendLeaderEpoch) return ErrorCode.NOT_LEADER_OR_FOLLOWER;
    if (this.log.highWatermark >= endOffset) return this.commitErrorCode();
    return null;
  }

  /** Releases acks=all requests the high watermark now covers, in append (= offset) order. */
  releaseCommitted(): void {
    const highWatermark = this.log.highWatermark;
    let released = 0;
    while (released < this.commitWaiters.length && this.commitWaiters[released]!.endOffset <= highWatermark) released++;
    if (released === 0) return;
    const errorCode = this.commitErrorCode();
    for (const waiter of this.commitWaiters.splice(0, released)) waiter.resolve(errorCode);
  }

  /** Leadership is gone: nothing waiting here (acks=all, DeleteRecords) can be answered by this broker any more. */
  failWaiters(errorCode: number): void {
    for (const waiter of this.commitWaiters.splice(0)) waiter.resolve(errorCode);
    this.deleteRecordsWaiters.fail(errorCode);
  }

  /** Kafka answers an acks=all write that reached the high watermark with too small an ISR this way. */
  private commitErrorCode(): number {
    return this.inSyncReplicas.length < this.minInsyncReplicas ? ErrorCode.NOT_ENOUGH_REPLICAS_AFTER_APPEND : ErrorCode.NONE;
  }
}

/** The saved checkpoint, cut to what survived log recovery; rebuilt from the batch headers when absent or damaged. */
function loadEpochCache(dir: string, partitionLog: PartitionLog): LeaderEpochCache {
  let entries = null;
  try {
    entries = decodeEpochCheckpoint(fs.readFileSync(path.join(dir, LEADER_EPOCH_CHECKPOINT_FILE), "utf8"));
  } catch {
    entries = null;
  }
  const cache = new LeaderEpochCache(entries ?? []);
  if (entries === null && partitionLog.logEndOffset > partitionLog.logStartOffset) {
    log.info("rebuilding the leader epoch cache from the log", { dir });
    for (const { epoch, baseOffset } of epochStarts(partitionLog)) cache.assign(epoch, baseOffset);
  }
  cache.truncateFromEnd(partitionLog.logEndOffset);
  return cache;
}

const SCAN_READ_BYTES = 1 << 20;

function* epochStarts(partitionLog: PartitionLog): Generator<{ epoch: number; baseOffset: number }> {
  let next = partitionLog.logStartOffset;
  let latest = -1;
  while (next < partitionLog.logEndOffset) {
    const read = partitionLog.read(next, SCAN_READ_BYTES, { minOneBatch: true });
    if ("outOfRange" in read || read.bytes === 0) return;
    try {
      for (const view of read.batches) {
        for (let pos = 0; pos < view.byteLength; pos += batchSizeAt(view, pos)) {
          const header = readBatchHeader(view, pos);
          next = header.baseOffset + header.lastOffsetDelta + 1;
          if (header.partitionLeaderEpoch > latest) {
            latest = header.partitionLeaderEpoch;
            yield { epoch: latest, baseOffset: header.baseOffset };
          }
        }
      }
    } finally {
      read.release();
    }
  }
}
