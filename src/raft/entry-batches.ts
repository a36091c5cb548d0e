/**
 * Raft entries as Kafka v2 record batches, so the Raft log is kept by the same segmented log as partitions (as
 * KRaft keeps __cluster_metadata): entry i is the batch at offset i - 1, its term the batch's partition leader
 * epoch, and its one record carries the entry type as the key and the data as the value. Pure: no I/O.
 */
import { CorruptRecordError, decodeRecords, type DecodedRecord } from "../client/record-decoder.ts";
import { buildRecordBatch } from "../protocol/record-batch-builder.ts";
import { batchSizeAt, validateBatches } from "../protocol/record-batch.ts";
import { LogFormatError, type Entry, type EntryType } from "./types.ts";

const INT32_MAX = 0x7fffffff;

/** The log offset of Raft index `index` (Raft counts from 1, a log from 0). */
export function offsetOfIndex(index: number): number {
  return index - 1;
}

/** The entries as contiguous batches, ready for PartitionLog.appendReplicated. */
export function encodeEntries(entries: readonly Entry[]): Uint8Array {
  const batches = entries.map((entry) => {
    if (!(Number.isSafeInteger(entry.index) && entry.index >= 1)) throw new RangeError(`raft index ${entry.index}`);
    if (!(Number.isInteger(entry.term) && entry.term >= 0 && entry.term <= INT32_MAX)) throw new RangeError(`raft term ${entry.term}`);
    // Timestamps 0: a log of entries has no time, and segments then never roll or expire by it.
    return buildRecordBatch([{ key: new Uint8Array([entry.type]), value: entry.data }], { baseOffset: offsetOfIndex(entry.index), partitionLeaderEpoch: entry.term, baseTimestampMs: 0 });
  });
  return batches.length === 1 ? batches[0]! : Buffer.concat(batches);
}

/**
 * Calls `visit` with each entry in `bytes` (whole batches as encodeEntries wrote them), the data copied out.
 * Throws LogFormatError for a batch that is not one: a log this build cannot read.
 */
export function decodeEntries(bytes: Uint8Array, visit: (entry: Entry) => void): void {
  if (bytes.byteLength === 0) return;
  // The checks a produced batch passes (sizes, magic, CRC, record framing), with no size limit of its own.
  const validation = validateBatches(bytes, Number.MAX_SAFE_INTEGER);
  if (!validation.ok) throw new LogFormatError(`raft log: ${validation.message}`);
  for (const batch of validation.batches) {
    const fail = (what: string): never => {
      throw new LogFormatError(`raft log: ${what} in the batch at byte ${batch.position}`);
    };
    if (batch.recordCount !== 1) fail("not one record");
    const records: DecodedRecord[] = [];
    try {
      decodeRecords(bytes.subarray(batch.position, batch.position + batchSizeAt(bytes, batch.position)), 0, (record) => records.push(record), { checkCrc: false });
    } catch (error) {
      if (!(error instanceof CorruptRecordError)) throw error;
      fail(`a malformed record (${error.message})`);
    }
    const key = records[0]?.key;
    if (key === undefined || key === null || key.byteLength !== 1) fail("a key that is not one type byte");
    const value = records[0]!.value;
    visit({ index: batch.baseOffset + 1, term: batch.partitionLeaderEpoch, type: key![0] as EntryType, data: new Uint8Array(value ?? 0) });
  }
}
