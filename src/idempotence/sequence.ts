/** Kafka's int32 producer sequence numbers, which wrap from 2^31-1 back to 0. */

export const MAX_SEQUENCE = 0x7fff_ffff;

/** The sequence of the last record in a batch; wraps past MAX_SEQUENCE to 0 as Kafka's DefaultRecordBatch does. */
export function lastSequenceOf(baseSequence: number, recordCount: number): number {
  assertSequence(baseSequence);
  if (!Number.isInteger(recordCount) || recordCount < 1) throw new RangeError(`record count ${recordCount} must be a positive integer`);
  const offsetDelta = recordCount - 1;
  if (baseSequence > MAX_SEQUENCE - offsetDelta) return baseSequence - MAX_SEQUENCE - 1 + offsetDelta;
  return baseSequence + offsetDelta;
}

/** True when next directly follows last, including the wrap from MAX_SEQUENCE to 0. */
export function isNextSequence(lastSequence: number, nextSequence: number): boolean {
  if (lastSequence === MAX_SEQUENCE) return nextSequence === 0;
  return nextSequence === lastSequence + 1;
}

export function assertSequence(sequence: number): void {
  if (!Number.isInteger(sequence) || sequence < 0 || sequence > MAX_SEQUENCE) {
    throw new RangeError(`sequence ${sequence} is outside [0, ${MAX_SEQUENCE}]`);
  }
}
