/**
 * Idempotent-producer state of one partition, after Kafka's ProducerStateManager and
 * ProducerAppendInfo (client-origin validation, no transactions). Pure: time comes in as arguments.
 *
 * Recovery is "snapshot + replay": encode() at some log end offset X, later decode() and rebuild()
 * with the batches from X on. Batches that end below the state's endOffset are skipped by rebuild(),
 * so replaying from any earlier offset is harmless.
 */
import { addBatch, entryLastSequence, updateEpoch, type BatchMetadata, type ProducerEntry } from "./producer-entry.ts";
import { decodeProducerState, encodeProducerState } from "./producer-state-codec.ts";
import { isNextSequence, lastSequenceOf, MAX_SEQUENCE } from "./sequence.ts";

/** Kafka error codes this module answers with. */
export const ProducerStateError = {
  OUT_OF_ORDER_SEQUENCE_NUMBER: 45,
  INVALID_PRODUCER_EPOCH: 47,
  INVALID_RECORD: 87,
} as const;

/** Kafka's NUM_BATCHES_TO_RETAIN, which matches the client's max.in.flight.requests.per.connection limit of 5. */
export const DEFAULT_MAX_BATCHES_PER_PRODUCER = 5;
/** Kafka's producer.id.expiration.ms default: one day. */
export const DEFAULT_PRODUCER_ID_EXPIRATION_MS = 86_400_000;

const NO_PRODUCER_ID = -1;
const CONTROL_FLAG_MASK = 0x20;

export interface ProducerStateOptions {
  maxBatchesPerProducer?: number;
  producerIdExpirationMs?: number;
}

/** A produced batch as the Produce handler sees it; a BatchHeader fits. lastSequence wins over recordCount. */
export interface ProducedBatch {
  producerId: number;
  producerEpoch: number;
  baseSequence: number;
  recordCount?: number;
  lastSequence?: number;
}

/** A batch read back from the log; a BatchHeader fits. lastOffset wins over baseOffset + lastOffsetDelta. */
export interface LoggedBatch {
  producerId: number;
  producerEpoch: number;
  baseSequence: number;
  recordCount: number;
  baseOffset: number;
  lastOffset?: number;
  lastOffsetDelta?: number;
  maxTimestamp: number;
  isControl?: boolean;
  attributes?: number;
}

export type CheckResult =
  | { kind: "append" }
  | { kind: "duplicate"; baseOffset: number; lastOffset: number; logAppendTimeMs: number }
  | { kind: "error"; errorCode: number; message: string };

const APPEND: CheckResult = { kind: "append" };

export class PartitionProducerState {
  readonly maxBatchesPerProducer: number;
  readonly producerIdExpirationMs: number;
  private readonly producers = new Map<number, ProducerEntry>();
  private endOffsetValue = 0;

  constructor(options: ProducerStateOptions = {}) {
    this.maxBatchesPerProducer = options.maxBatchesPerProducer ?? DEFAULT_MAX_BATCHES_PER_PRODUCER;
    this.producerIdExpirationMs = options.producerIdExpirationMs ?? DEFAULT_PRODUCER_ID_EXPIRATION_MS;
    if (!Number.isInteger(this.maxBatchesPerProducer) || this.maxBatchesPerProducer < 1) {
      throw new RangeError(`maxBatchesPerProducer ${this.maxBatchesPerProducer} must be a positive integer`);
    }
    if (!Number.isFinite(this.producerIdExpirationMs) || this.producerIdExpirationMs < 0) {
      throw new RangeError(`producerIdExpirationMs ${this.producerIdExpirationMs} must be a non-negative number`);
    }
  }

  /** The offset after the last batch this state has seen; a snapshot taken now covers [0, endOffset). */
  get endOffset(): number {
    return this.endOffsetValue;
  }

  get producerCount(): number {
    return this.producers.size;
  }

  producerIds(): number[] {
    return [...this.producers.keys()];
  }

  /** Read-only view for diagnostics and tests. */
  producer(producerId: number): Readonly<{ producerEpoch: number; batches: readonly BatchMetadata[]; lastTimestampMs: number }> | undefined {
    return this.producers.get(producerId);
  }

  /**
   * Decides what to do with a client's batch, in Kafka's order: a retry of a retained batch is a
   * duplicate, then the epoch may not go back, then the sequence must continue (or restart at 0 on a
   * new epoch). A producer with no state here is accepted at any sequence, as Kafka has done since
   * KIP-360 (2.5) instead of answering UNKNOWN_PRODUCER_ID.
   */
  check(batch: ProducedBatch): CheckResult {
    if (batch.producerId === NO_PRODUCER_ID) return APPEND;
    if (batch.producerId < 0) return invalidRecord(`producer id ${batch.producerId} is negative`);
    if (!Number.isInteger(batch.baseSequence) || batch.baseSequence < 0 || batch.baseSequence > MAX_SEQUENCE) {
      return invalidRecord(`invalid sequence number ${batch.baseSequence} for idempotent producer ${batch.producerId}`);
    }
    const lastSequence = producedLastSequence(batch);
    if (lastSequence === null) return invalidRecord(`invalid record count ${batch.recordCount} for producer ${batch.producerId}`);

    const entry = this.producers.get(batch.producerId);
    if (entry === undefined) return APPEND;
    if (batch.producerEpoch === entry.producerEpoch) {
      for (const retained of entry.batches) {
        if (retained.firstSequence === batch.baseSequence && retained.lastSequence === lastSequence) {
          return { kind: "duplicate", baseOffset: retained.firstOffset, lastOffset: retained.lastOffset, logAppendTimeMs: retained.timestampMs };
        }
      }
    }
    if (batch.producerEpoch < entry.producerEpoch) {
      return {
        kind: "error",
        errorCode: ProducerStateError.INVALID_PRODUCER_EPOCH,
        message: `epoch ${batch.producerEpoch} of producer ${batch.producerId} is older than the last seen epoch ${entry.producerEpoch}`,
      };
    }
    if (batch.producerEpoch !== entry.producerEpoch) {
      if (batch.baseSequence === 0) return APPEND;
      return outOfOrder(`sequence ${batch.baseSequence} for new epoch ${batch.producerEpoch} of producer ${batch.producerId} must be 0 (current epoch ${entry.producerEpoch})`);
    }
    const currentLastSequence = entryLastSequence(entry);
    if (isNextSequence(currentLastSequence, batch.baseSequence)) return APPEND;
    return outOfOrder(
      `out of order sequence ${batch.baseSequence} for producer ${batch.producerId} epoch ${batch.producerEpoch}: expected ${currentLastSequence === MAX_SEQUENCE ? 0 : currentLastSequence + 1}`,
    );
  }

  /**
   * Records a batch the caller appended at [baseOffset, lastOffset] after check() said "append".
   * timestampMs should be the batch's maxTimestamp as written (the append time under LogAppendTime),
   * which is what rebuild() reads back; Kafka expires producers and answers duplicates with it.
   */
  onAppended(batch: ProducedBatch, baseOffset: number, lastOffset: number, timestampMs: number): void {
    if (batch.producerId < 0) throw new Error(`onAppended called for non-idempotent batch (producer id ${batch.producerId})`);
    const verdict = this.check(batch);
    if (verdict.kind !== "append") throw new Error(`onAppended for a batch check() rejects: ${JSON.stringify(verdict)}`);
    const lastSequence = producedLastSequence(batch);
    if (lastSequence === null) throw new Error("unreachable: check() accepted a batch without a last sequence");
    this.applyData(batch.producerId, batch.producerEpoch, batch.baseSequence, lastSequence, baseOffset, lastOffset, timestampMs);
  }

  /**
   * Replays batches read from the log, in offset order, without validation (Kafka's recovery and
   * replication origins). Pass the state decoded from a snapshot as `into` to replay only its tail.
   */
  static rebuild(batches: Iterable<LoggedBatch>, into: PartitionProducerState = new PartitionProducerState()): PartitionProducerState {
    for (const batch of batches) into.replay(batch);
    return into;
  }

  /** Applies one logged batch; batches that end below endOffset were already applied and are skipped. */
  replay(batch: LoggedBatch): void {
    const lastOffset = batch.lastOffset ?? (batch.lastOffsetDelta === undefined ? undefined : batch.baseOffset + batch.lastOffsetDelta);
    if (lastOffset === undefined) throw new Error("a logged batch needs lastOffset or lastOffsetDelta");
    if (lastOffset < this.endOffsetValue) return;
    if (batch.baseOffset < this.endOffsetValue) {
      throw new Error(`batch [${batch.baseOffset}, ${lastOffset}] straddles the state's end offset ${this.endOffsetValue}`);
    }
    if (batch.producerId < 0) {
      this.endOffsetValue = lastOffset + 1;
      return;
    }
    const isControl = batch.isControl ?? ((batch.attributes ?? 0) & CONTROL_FLAG_MASK) !== 0;
    if (isControl || batch.baseSequence < 0) {
      // A transaction marker carries no sequences; Kafka only takes its epoch and timestamp.
      const entry = this.entryFor(batch.producerId, batch.producerEpoch);
      updateEpoch(entry, batch.producerEpoch);
      entry.lastTimestampMs = batch.maxTimestamp;
      this.endOffsetValue = lastOffset + 1;
      return;
    }
    const lastSequence = lastSequenceOf(batch.baseSequence, batch.recordCount);
    this.applyData(batch.producerId, batch.producerEpoch, batch.baseSequence, lastSequence, batch.baseOffset, lastOffset, batch.maxTimestamp);
  }

  /** Drops producers whose last batch is producerIdExpirationMs or more before nowMs; returns how many. */
  expire(nowMs: number): number {
    let removed = 0;
    for (const [producerId, entry] of this.producers) {
      if (nowMs - entry.lastTimestampMs >= this.producerIdExpirationMs) {
        this.producers.delete(producerId);
        removed += 1;
      }
    }
    return removed;
  }

  /**
   * Forgets everything at or above offset after the log lost its tail. Returns true when the result
   * is exactly what rebuilding from the log would give. On false the state is still safe (no
   * retained batch points past the log, epochs and last sequences are those of the surviving
   * batches) but duplicate windows may be narrower and producers whose retained batches were all cut
   * are gone; for Kafka's exact state, rebuild from a snapshot at or below offset plus the log.
   */
  truncateTo(offset: number): boolean {
    if (offset >= this.endOffsetValue) return true;
    let exact = true;
    for (const [producerId, entry] of this.producers) {
      const kept = entry.batches.filter((b) => b.lastOffset < offset);
      if (kept.length === entry.batches.length) continue;
      exact = false;
      if (kept.length === 0) {
        this.producers.delete(producerId);
        continue;
      }
      entry.batches.length = 0;
      entry.batches.push(...kept);
      entry.lastTimestampMs = kept[kept.length - 1]!.timestampMs;
    }
    this.endOffsetValue = offset;
    return exact;
  }

  encode(): Uint8Array {
    return encodeProducerState(this.endOffsetValue, this.producers);
  }

  /** Throws on bytes that are not an intact snapshot; the caller then rebuilds from the log. */
  static decode(bytes: Uint8Array, options: ProducerStateOptions = {}): PartitionProducerState {
    const state = new PartitionProducerState(options);
    const decoded = decodeProducerState(bytes);
    state.endOffsetValue = decoded.endOffset;
    for (const [producerId, entry] of decoded.producers) {
      if (entry.batches.length > state.maxBatchesPerProducer) entry.batches.splice(0, entry.batches.length - state.maxBatchesPerProducer);
      state.producers.set(producerId, entry);
    }
    return state;
  }

  private entryFor(producerId: number, producerEpoch: number): ProducerEntry {
    let entry = this.producers.get(producerId);
    if (entry === undefined) {
      entry = { producerEpoch, batches: [], lastTimestampMs: -1 };
      this.producers.set(producerId, entry);
    }
    return entry;
  }

  private applyData(
    producerId: number,
    producerEpoch: number,
    firstSequence: number,
    lastSequence: number,
    firstOffset: number,
    lastOffset: number,
    timestampMs: number,
  ): void {
    if (!Number.isSafeInteger(firstOffset) || !Number.isSafeInteger(lastOffset) || firstOffset > lastOffset) {
      throw new RangeError(`invalid offsets [${firstOffset}, ${lastOffset}]`);
    }
    if (firstOffset < this.endOffsetValue) {
      throw new Error(`batch at ${firstOffset} is below the state's end offset ${this.endOffsetValue}: appends must be in offset order`);
    }
    const entry = this.entryFor(producerId, producerEpoch);
    updateEpoch(entry, producerEpoch);
    addBatch(entry, { firstSequence, lastSequence, firstOffset, lastOffset, timestampMs }, this.maxBatchesPerProducer);
    this.endOffsetValue = lastOffset + 1;
  }
}

function producedLastSequence(batch: ProducedBatch): number | null {
  if (batch.lastSequence !== undefined) {
    const valid = Number.isInteger(batch.lastSequence) && batch.lastSequence >= 0 && batch.lastSequence <= MAX_SEQUENCE;
    return valid ? batch.lastSequence : null;
  }
  const count = batch.recordCount;
  if (count === undefined || !Number.isInteger(count) || count < 1 || count > MAX_SEQUENCE + 1) return null;
  return lastSequenceOf(batch.baseSequence, count);
}

function invalidRecord(message: string): CheckResult {
  return { kind: "error", errorCode: ProducerStateError.INVALID_RECORD, message };
}

function outOfOrder(message: string): CheckResult {
  return { kind: "error", errorCode: ProducerStateError.OUT_OF_ORDER_SEQUENCE_NUMBER, message };
}
