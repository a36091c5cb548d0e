/**
 * Raft entries as Kafka v2 record batches, so the Raft log is kept by the same segmented log as partitions (as
 * KRaft keeps __cluster_metadata): entry i is the batch at offset i - 1, its term the batch's partition leader
 * epoch, and its one record carries the entry type as the key and the data as the value. Pure: no I/O.
 */
import { crc32c } from "../lib/crc32c.ts";
import {
  ATTRIBUTES_OFFSET,
  BASE_OFFSET_OFFSET,
  BATCH_LENGTH_OFFSET,
  CRC_OFFSET,
  LAST_OFFSET_DELTA_OFFSET,
  LOG_OVERHEAD,
  MAGIC_OFFSET,
  PARTITION_LEADER_EPOCH_OFFSET,
  PRODUCER_ID_OFFSET,
  RECORD_COUNT_OFFSET,
  RECORDS_OFFSET,
} from "../protocol/record-batch.ts";
import { LogFormatError, type Entry, type EntryType } from "./types.ts";

const INT32_MAX = 0x7fffffff;

/** The log offset of Raft index `index` (Raft counts from 1, a log from 0). */
export function offsetOfIndex(index: number): number {
  return index - 1;
}

/** The entries as contiguous batches, ready for PartitionLog.appendReplicated. */
export function encodeEntries(entries: readonly Entry[]): Uint8Array {
  let total = 0;
  for (const entry of entries) total += batchBytes(entry.data.byteLength);
  const out = new Uint8Array(total);
  const view = new DataView(out.buffer);
  let position = 0;
  for (const entry of entries) position = writeBatch(out, view, position, entry);
  return out;
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
    if (bytes.byteLength - position < RECORDS_OFFSET) fail("a truncated header");
    const size = view.getInt32(position + BATCH_LENGTH_OFFSET) + LOG_OVERHEAD;
    if (size < RECORDS_OFFSET || position + size > bytes.byteLength) fail(`length ${size}`);
    if (bytes[position + MAGIC_OFFSET] !== 2) fail(`magic ${bytes[position + MAGIC_OFFSET]}`);
    if (crc32c(bytes, position + ATTRIBUTES_OFFSET, position + size) !== view.getUint32(position + CRC_OFFSET)) fail("a CRC mismatch");
    if (view.getInt32(position + RECORD_COUNT_OFFSET) !== 1 || view.getInt32(position + LAST_OFFSET_DELTA_OFFSET) !== 0) fail("not one record");
    const reader = { at: position + RECORDS_OFFSET };
    const readVarint = (): number => {
      let value = 0;
      let shift = 0;
      for (;;) {
        if (reader.at >= position + size || shift > 28) fail("a malformed varint");
        const byte = bytes[reader.at++]!;
        value |= (byte & 0x7f) << shift;
        if ((byte & 0x80) === 0) return (value >>> 1) ^ -(value & 1);
        shift += 7;
      }
    };
    readVarint(); // record length: the batch length bounds it already
    reader.at++; // attributes
    readVarint(); // timestamp delta
    readVarint(); // offset delta
    if (readVarint() !== 1) fail("a key that is not one type byte");
    const type = bytes[reader.at++]! as EntryType;
    const dataBytes = readVarint();
    if (dataBytes < 0 || reader.at + dataBytes > position + size) fail(`a value of ${dataBytes} bytes`);
    const baseOffset = view.getInt32(position + BASE_OFFSET_OFFSET) * 0x1_0000_0000 + view.getUint32(position + BASE_OFFSET_OFFSET + 4);
    visit({
      index: baseOffset + 1,
      term: view.getInt32(position + PARTITION_LEADER_EPOCH_OFFSET),
      type,
      data: bytes.slice(reader.at, reader.at + dataBytes),
    });
    position += size;
  }
}

function varintBytes(value: number): number {
  let zigzag = value * 2;
  let count = 1;
  while (zigzag >= 0x80) {
    zigzag = Math.floor(zigzag / 128);
    count++;
  }
  return count;
}

function recordBodyBytes(dataBytes: number): number {
  // attributes, timestamp delta 0, offset delta 0, key length 1, the type byte, value length, value, no headers
  return 1 + 1 + 1 + 1 + 1 + varintBytes(dataBytes) + dataBytes + 1;
}

function batchBytes(dataBytes: number): number {
  const body = recordBodyBytes(dataBytes);
  return RECORDS_OFFSET + varintBytes(body) + body;
}

function writeVarint(out: Uint8Array, position: number, value: number): number {
  let zigzag = value * 2;
  while (zigzag >= 0x80) {
    out[position++] = (zigzag & 0x7f) | 0x80;
    zigzag = Math.floor(zigzag / 128);
  }
  out[position++] = zigzag;
  return position;
}

function writeBatch(out: Uint8Array, view: DataView, start: number, entry: Entry): number {
  if (!(Number.isSafeInteger(entry.index) && entry.index >= 1)) throw new RangeError(`raft index ${entry.index}`);
  if (!(Number.isInteger(entry.term) && entry.term >= 0 && entry.term <= INT32_MAX)) throw new RangeError(`raft term ${entry.term}`);
  const size = batchBytes(entry.data.byteLength);
  const offset = offsetOfIndex(entry.index);
  view.setInt32(start + BASE_OFFSET_OFFSET, Math.floor(offset / 0x1_0000_0000));
  view.setUint32(start + BASE_OFFSET_OFFSET + 4, offset >>> 0);
  view.setInt32(start + BATCH_LENGTH_OFFSET, size - LOG_OVERHEAD);
  view.setInt32(start + PARTITION_LEADER_EPOCH_OFFSET, entry.term);
  out[start + MAGIC_OFFSET] = 2;
  // Attributes, offset delta, timestamps 0 (a log of entries has no time), producer id, epoch and sequence -1.
  view.setInt32(start + LAST_OFFSET_DELTA_OFFSET, 0);
  out.fill(0xff, start + PRODUCER_ID_OFFSET, start + RECORD_COUNT_OFFSET);
  view.setInt32(start + RECORD_COUNT_OFFSET, 1);
  let position = writeVarint(out, start + RECORDS_OFFSET, recordBodyBytes(entry.data.byteLength));
  out[position++] = 0; // attributes
  out[position++] = 0; // timestamp delta
  out[position++] = 0; // offset delta
  position = writeVarint(out, position, 1);
  out[position++] = entry.type;
  position = writeVarint(out, position, entry.data.byteLength);
  out.set(entry.data, position);
  position += entry.data.byteLength;
  out[position++] = 0; // headers
  view.setUint32(start + CRC_OFFSET, crc32c(out, start + ATTRIBUTES_OFFSET, start + size));
  return start + size;
}
