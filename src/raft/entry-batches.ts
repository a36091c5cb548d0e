/**
 * Raft entries as Kafka v2 record batches, so the Raft log is kept by the same segmented log as partitions (as
 * KRaft keeps __cluster_metadata): entry i is the batch at offset i - 1, its term the batch's partition leader
 * epoch, and its one record carries the entry type as the key and the data as the value. Pure: no I/O.
 */
import { CorruptRecordError, decodeRecords, type DecodedRecord } from "../client/record-decoder.ts";
import { buildRecordBatch } from "../protocol/record-batch-builder.ts";
import {
  BATCH_HEADER_BYTES,
  CRC_OFFSET,
  LAST_OFFSET_DELTA_OFFSET,
  MAGIC_OFFSET,
  RECORD_COUNT_OFFSET,
  batchSizeAt,
  computeBatchCrc,
  readBatchHeader,
} from "../protocol/record-batch.ts";
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
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let position = 0;
  while (position < bytes.byteLength) {
    const fail = (what: string): never => {
      throw new LogFormatError(`raft log: ${what} in the batch at byte ${position}`);
    };
    if (bytes.byteLength - position < BATCH_HEADER_BYTES) fail("a truncated header");
    const size = batchSizeAt(bytes, position);
    if (size < BATCH_HEADER_BYTES || position + size > bytes.byteLength) fail(`length ${size}`);
    if (bytes[position + MAGIC_OFFSET] !== 2) fail(`magic ${bytes[position + MAGIC_OFFSET]}`);
    if (computeBatchCrc(bytes, position) !== view.getUint32(position + CRC_OFFSET)) fail("a CRC mismatch");
    if (view.getInt32(position + RECORD_COUNT_OFFSET) !== 1 || view.getInt32(position + LAST_OFFSET_DELTA_OFFSET) !== 0) fail("not one record");
    const header = readBatchHeader(bytes, position);
    const records: DecodedRecord[] = [];
    try {
      decodeRecords(bytes.subarray(position, position + size), 0, (record) => records.push(record), { checkCrc: false });
    } catch (error) {
      if (!(error instanceof CorruptRecordError)) throw error;
      fail(`a malformed record (${error.message})`);
    }
    const key = records[0]?.key;
    if (key === undefined || key === null || key.byteLength !== 1) fail("a key that is not one type byte");
    const value = records[0]!.value;
    visit({ index: header.baseOffset + 1, term: header.partitionLeaderEpoch, type: key![0] as EntryType, data: new Uint8Array(value ?? 0) });
    position += size;
  }
}
