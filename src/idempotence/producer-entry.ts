/** What a partition remembers about one producer id: Kafka's ProducerStateEntry without transactions. */

/** One appended batch, enough to answer a retry with its original offsets. */
export interface BatchMetadata {
  readonly firstSequence: number;
  readonly lastSequence: number;
  readonly firstOffset: number;
  readonly lastOffset: number;
  /** The batch timestamp recorded at append: returned as logAppendTimeMs for a duplicate, and drives expiry. */
  readonly timestampMs: number;
}

export interface ProducerEntry {
  producerEpoch: number;
  /** Oldest first; every batch has producerEpoch, because an epoch change clears the list. */
  readonly batches: BatchMetadata[];
  lastTimestampMs: number;
}

/** Last sequence of the newest retained batch, or -1 (Kafka's NO_SEQUENCE) when none is retained. */
export function entryLastSequence(entry: ProducerEntry): number {
  const newest = entry.batches[entry.batches.length - 1];
  return newest === undefined ? -1 : newest.lastSequence;
}

/** Sets the epoch; a different epoch forgets the retained batches because their sequences belong to the old one. */
export function updateEpoch(entry: ProducerEntry, producerEpoch: number): void {
  if (entry.producerEpoch === producerEpoch) return;
  entry.producerEpoch = producerEpoch;
  entry.batches.length = 0;
}

export function addBatch(entry: ProducerEntry, batch: BatchMetadata, maxBatches: number): void {
  if (entry.batches.length >= maxBatches) entry.batches.splice(0, entry.batches.length - maxBatches + 1);
  entry.batches.push(batch);
  entry.lastTimestampMs = batch.timestampMs;
}
