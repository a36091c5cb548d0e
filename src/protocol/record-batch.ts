/**
 * Zero-copy views over Kafka v2 record batches (magic 2). Every function reads or patches the bytes in place;
 * nothing decompresses and nothing allocates per record.
 */
import { crc32c } from "../lib/crc32c.ts";

export const BASE_OFFSET_OFFSET = 0;
export const BATCH_LENGTH_OFFSET = 8;
export const PARTITION_LEADER_EPOCH_OFFSET = 12;
export const MAGIC_OFFSET = 16;
export const CRC_OFFSET = 17;
export const ATTRIBUTES_OFFSET = 21;
export const LAST_OFFSET_DELTA_OFFSET = 23;
export const BASE_TIMESTAMP_OFFSET = 27;
export const MAX_TIMESTAMP_OFFSET = 35;
export const PRODUCER_ID_OFFSET = 43;
export const PRODUCER_EPOCH_OFFSET = 51;
export const BASE_SEQUENCE_OFFSET = 53;
export const RECORD_COUNT_OFFSET = 57;
export const RECORDS_OFFSET = 61;

/** Bytes before batchLength's count starts (baseOffset + batchLength). */
export const LOG_OVERHEAD = 12;
export const BATCH_HEADER_BYTES = RECORDS_OFFSET;
export const CURRENT_MAGIC = 2;

export const COMPRESSION_CODEC_MASK = 0x07;
export const TIMESTAMP_TYPE_MASK = 0x08;
export const TRANSACTIONAL_FLAG_MASK = 0x10;
export const CONTROL_FLAG_MASK = 0x20;

export type CompressionCodec = "none" | "gzip" | "snappy" | "lz4" | "zstd";
const CODECS: readonly CompressionCodec[] = ["none", "gzip", "snappy", "lz4", "zstd"];

export interface BatchHeader {
  baseOffset: number;
  batchLength: number;
  partitionLeaderEpoch: number;
  magic: number;
  crc: number;
  attributes: number;
  lastOffsetDelta: number;
  baseTimestamp: number;
  maxTimestamp: number;
  producerId: number;
  producerEpoch: number;
  baseSequence: number;
  recordCount: number;
}

/** A batch header plus where the batch starts in the buffer it was read from. */
export interface PositionedBatch extends BatchHeader {
  position: number;
}

export type BatchError = "CORRUPT_MESSAGE" | "UNSUPPORTED_FOR_MESSAGE_FORMAT" | "MESSAGE_TOO_LARGE" | "INVALID_RECORD";

export type ValidationResult =
  | { ok: true; batches: PositionedBatch[]; totalRecords: number }
  | { ok: false; error: BatchError; message: string };

function dataView(view: Uint8Array): DataView {
  return new DataView(view.buffer, view.byteOffset, view.byteLength);
}

function getInt64(dv: DataView, at: number): number {
  return dv.getInt32(at) * 0x1_0000_0000 + dv.getUint32(at + 4);
}

function setInt64(dv: DataView, at: number, value: number): void {
  if (!Number.isSafeInteger(value)) throw new RangeError(`int64 field value ${value} is not a safe integer`);
  dv.setInt32(at, Math.floor(value / 0x1_0000_0000));
  dv.setUint32(at + 4, value >>> 0);
}

export function readBatchHeader(view: Uint8Array, pos: number): BatchHeader {
  if (pos < 0 || pos + BATCH_HEADER_BYTES > view.length) throw new RangeError(`batch header at ${pos} exceeds ${view.length} bytes`);
  const dv = dataView(view);
  return {
    baseOffset: getInt64(dv, pos + BASE_OFFSET_OFFSET),
    batchLength: dv.getInt32(pos + BATCH_LENGTH_OFFSET),
    partitionLeaderEpoch: dv.getInt32(pos + PARTITION_LEADER_EPOCH_OFFSET),
    magic: dv.getInt8(pos + MAGIC_OFFSET),
    crc: dv.getUint32(pos + CRC_OFFSET),
    attributes: dv.getInt16(pos + ATTRIBUTES_OFFSET),
    lastOffsetDelta: dv.getInt32(pos + LAST_OFFSET_DELTA_OFFSET),
    baseTimestamp: getInt64(dv, pos + BASE_TIMESTAMP_OFFSET),
    maxTimestamp: getInt64(dv, pos + MAX_TIMESTAMP_OFFSET),
    producerId: getInt64(dv, pos + PRODUCER_ID_OFFSET),
    producerEpoch: dv.getInt16(pos + PRODUCER_EPOCH_OFFSET),
    baseSequence: dv.getInt32(pos + BASE_SEQUENCE_OFFSET),
    recordCount: dv.getInt32(pos + RECORD_COUNT_OFFSET),
  };
}

/** Total bytes of the batch at pos (batchLength + 12), read without building a header object. */
export function batchSizeAt(view: Uint8Array, pos: number): number {
  const b = pos + BATCH_LENGTH_OFFSET;
  return ((view[b]! << 24) | (view[b + 1]! << 16) | (view[b + 2]! << 8) | view[b + 3]!) + LOG_OVERHEAD;
}

/** CRC-32C over attributes..end, as stored in the crc field. */
export function computeBatchCrc(view: Uint8Array, pos: number): number {
  return crc32c(view, pos + ATTRIBUTES_OFFSET, pos + batchSizeAt(view, pos));
}

/**
 * Checks every batch in a produce payload: sizes, magic 2, CRC-32C and lastOffsetDelta against recordCount.
 * Compressed batches are not opened, so their per-record contents are trusted to the CRC.
 */
export function validateBatches(records: Uint8Array, maxBatchBytes: number): ValidationResult {
  const batches: PositionedBatch[] = [];
  let totalRecords = 0;
  let pos = 0;
  if (records.length === 0) return { ok: false, error: "CORRUPT_MESSAGE", message: "empty record set" };
  while (pos < records.length) {
    if (records.length - pos < BATCH_HEADER_BYTES) {
      if (records.length - pos >= MAGIC_OFFSET + 1 && records[pos + MAGIC_OFFSET] !== CURRENT_MAGIC) {
        return { ok: false, error: "UNSUPPORTED_FOR_MESSAGE_FORMAT", message: `magic ${records[pos + MAGIC_OFFSET]}` };
      }
      return { ok: false, error: "CORRUPT_MESSAGE", message: `truncated batch header at ${pos}` };
    }
    const header = readBatchHeader(records, pos);
    if (header.magic !== CURRENT_MAGIC) {
      return { ok: false, error: "UNSUPPORTED_FOR_MESSAGE_FORMAT", message: `magic ${header.magic} at ${pos}` };
    }
    const size = header.batchLength + LOG_OVERHEAD;
    if (header.batchLength < BATCH_HEADER_BYTES - LOG_OVERHEAD) {
      return { ok: false, error: "CORRUPT_MESSAGE", message: `batchLength ${header.batchLength} at ${pos}` };
    }
    if (size > maxBatchBytes) {
      return { ok: false, error: "MESSAGE_TOO_LARGE", message: `batch of ${size} bytes over ${maxBatchBytes}` };
    }
    if (pos + size > records.length) {
      return { ok: false, error: "CORRUPT_MESSAGE", message: `batch at ${pos} of ${size} bytes exceeds ${records.length}` };
    }
    if (crc32c(records, pos + ATTRIBUTES_OFFSET, pos + size) !== header.crc) {
      return { ok: false, error: "CORRUPT_MESSAGE", message: `crc mismatch at ${pos}` };
    }
    if (header.recordCount <= 0 || header.lastOffsetDelta !== header.recordCount - 1) {
      return {
        ok: false,
        error: "INVALID_RECORD",
        message: `recordCount ${header.recordCount} lastOffsetDelta ${header.lastOffsetDelta}`,
      };
    }
    const codec = header.attributes & COMPRESSION_CODEC_MASK;
    if (codec >= CODECS.length) return { ok: false, error: "CORRUPT_MESSAGE", message: `compression codec ${codec} at ${pos}` };
    if ((header.attributes & CONTROL_FLAG_MASK) !== 0) return { ok: false, error: "INVALID_RECORD", message: `control batch from a producer at ${pos}` };
    // Uncompressed records are walked, so a batch whose CRC matches but whose records do not parse is never stored.
    const recordsError = codec === 0 ? uncompressedRecordsError(records, pos, size, header.recordCount) : null;
    if (recordsError !== null) return { ok: false, error: "CORRUPT_MESSAGE", message: `${recordsError} in batch at ${pos}` };
    batches.push({ ...header, position: pos });
    totalRecords += header.recordCount;
    pos += size;
  }
  return { ok: true, batches, totalRecords };
}

function putInt32(view: Uint8Array, at: number, value: number): void {
  view[at] = value >>> 24;
  view[at + 1] = value >>> 16;
  view[at + 2] = value >>> 8;
  view[at + 3] = value;
}

/** Not covered by the CRC, so no recomputation. Byte writes, not a DataView: this runs on every append. */
export function rewriteBaseOffset(view: Uint8Array, pos: number, baseOffset: number): void {
  if (!(Number.isSafeInteger(baseOffset) && baseOffset >= 0)) throw new RangeError(`base offset ${baseOffset}`);
  if (pos < 0 || pos + BATCH_HEADER_BYTES > view.length) throw new RangeError(`batch header at ${pos} exceeds ${view.length} bytes`);
  putInt32(view, pos + BASE_OFFSET_OFFSET, Math.floor(baseOffset / 0x1_0000_0000));
  putInt32(view, pos + BASE_OFFSET_OFFSET + 4, baseOffset >>> 0);
}

/** Not covered by the CRC, so no recomputation. */
export function setPartitionLeaderEpoch(view: Uint8Array, pos: number, epoch: number): void {
  if (!(Number.isInteger(epoch) && epoch >= -1 && epoch <= 0x7fffffff)) throw new RangeError(`leader epoch ${epoch}`);
  if (pos < 0 || pos + BATCH_HEADER_BYTES > view.length) throw new RangeError(`batch header at ${pos} exceeds ${view.length} bytes`);
  putInt32(view, pos + PARTITION_LEADER_EPOCH_OFFSET, epoch);
}

/**
 * Marks the batch LogAppendTime and sets maxTimestamp, then recomputes the CRC. Like Kafka's in-place
 * setMaxTimestamp, baseTimestamp is left alone: readers take every record's time from maxTimestamp.
 */
export function setLogAppendTime(view: Uint8Array, pos: number, timestampMs: number): void {
  const dv = dataView(view);
  dv.setInt16(pos + ATTRIBUTES_OFFSET, dv.getInt16(pos + ATTRIBUTES_OFFSET) | TIMESTAMP_TYPE_MASK);
  setInt64(dv, pos + MAX_TIMESTAMP_OFFSET, timestampMs);
  dv.setUint32(pos + CRC_OFFSET, computeBatchCrc(view, pos));
}

export function compressionCodec(attributes: number): CompressionCodec {
  const codec = CODECS[attributes & COMPRESSION_CODEC_MASK];
  if (codec === undefined) throw new RangeError(`unknown compression codec ${attributes & COMPRESSION_CODEC_MASK}`);
  return codec;
}

export function isTransactional(attributes: number): boolean {
  return (attributes & TRANSACTIONAL_FLAG_MASK) !== 0;
}

export function isControl(attributes: number): boolean {
  return (attributes & CONTROL_FLAG_MASK) !== 0;
}

export function timestampType(attributes: number): "CreateTime" | "LogAppendTime" {
  return (attributes & TIMESTAMP_TYPE_MASK) !== 0 ? "LogAppendTime" : "CreateTime";
}

export function lastOffsetOf(view: Uint8Array, pos: number): number {
  const dv = dataView(view);
  return getInt64(dv, pos + BASE_OFFSET_OFFSET) + dv.getInt32(pos + LAST_OFFSET_DELTA_OFFSET);
}

/** A zigzag varint at pos: its value and the position after it. Bounded to 10 bytes; throws on overrun. */
function readVarlong(view: Uint8Array, pos: number, end: number): { value: number; next: number } {
  let raw = 0;
  let multiplier = 1;
  for (let i = 0; i < 10; i++) {
    if (pos >= end) throw new RangeError("varint runs past the batch");
    const byte = view[pos++]!;
    raw += (byte & 0x7f) * multiplier;
    if ((byte & 0x80) === 0) {
      const value = raw % 2 === 0 ? raw / 2 : -(raw + 1) / 2;
      return { value, next: pos };
    }
    multiplier *= 128;
  }
  throw new RangeError("varint longer than 10 bytes");
}

/** Why the records of the uncompressed batch at pos do not parse as recordCount records filling it, or null. */
function uncompressedRecordsError(view: Uint8Array, pos: number, size: number, recordCount: number): string | null {
  const end = pos + size;
  let at = pos + RECORDS_OFFSET;
  try {
    for (let i = 0; i < recordCount; i++) {
      const length = readVarlong(view, at, end);
      const recordEnd = length.next + length.value;
      if (length.value <= 0 || recordEnd > end) return `record ${i} of ${length.value} bytes`;
      let p = length.next + 1;
      p = readVarlong(view, p, recordEnd).next;
      const offsetDelta = readVarlong(view, p, recordEnd);
      if (offsetDelta.value !== i) return `record ${i} with offset delta ${offsetDelta.value}`;
      p = offsetDelta.next;
      for (let field = 0; field < 2; field++) {
        const fieldLength = readVarlong(view, p, recordEnd);
        if (fieldLength.value < -1 || fieldLength.next + Math.max(0, fieldLength.value) > recordEnd) return `record ${i} field of ${fieldLength.value} bytes`;
        p = fieldLength.next + Math.max(0, fieldLength.value);
      }
      const headerCount = readVarlong(view, p, recordEnd);
      if (headerCount.value < 0) return `record ${i} with ${headerCount.value} headers`;
      p = headerCount.next;
      for (let h = 0; h < headerCount.value; h++) {
        for (let field = 0; field < 2; field++) {
          const fieldLength = readVarlong(view, p, recordEnd);
          if (fieldLength.value < (field === 0 ? 0 : -1) || fieldLength.next + Math.max(0, fieldLength.value) > recordEnd) return `record ${i} header of ${fieldLength.value} bytes`;
          p = fieldLength.next + Math.max(0, fieldLength.value);
        }
      }
      if (p !== recordEnd) return `record ${i} parsed to ${p - length.next} of ${length.value} bytes`;
      at = recordEnd;
    }
  } catch (error) {
    if (error instanceof RangeError) return error.message;
    throw error;
  }
  return at === end ? null : `${end - at} bytes after the last record`;
}

/**
 * The first record at or after timestampMs in the batch at pos, reading record headers only. Compressed
 * batches are not opened: the answer is then the batch's base offset and max timestamp. Null if none.
 */
export function firstRecordAtOrAfter(view: Uint8Array, pos: number, timestampMs: number): { offset: number; timestamp: number } | null {
  const header = readBatchHeader(view, pos);
  if (header.maxTimestamp < timestampMs) return null;
  if (timestampType(header.attributes) === "LogAppendTime" || (header.attributes & COMPRESSION_CODEC_MASK) !== 0) {
    return { offset: header.baseOffset, timestamp: header.maxTimestamp };
  }
  const end = pos + header.batchLength + LOG_OVERHEAD;
  let at = pos + RECORDS_OFFSET;
  for (let i = 0; i < header.recordCount && at < end; i++) {
    const length = readVarlong(view, at, end);
    const recordEnd = length.next + length.value;
    const timestampDelta = readVarlong(view, length.next + 1, recordEnd);
    const offsetDelta = readVarlong(view, timestampDelta.next, recordEnd);
    const timestamp = header.baseTimestamp + timestampDelta.value;
    if (timestamp >= timestampMs) return { offset: header.baseOffset + offsetDelta.value, timestamp };
    at = recordEnd;
  }
  return { offset: header.baseOffset, timestamp: header.maxTimestamp };
}
