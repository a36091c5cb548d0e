/**
 * Decodes the records of v2 record batches (magic 2) as a Fetch response carries them. Keys, values and
 * header values are views of the response (or of the decompressed payload), not copies. A fetch may end in a
 * partial batch (the broker cuts at maxBytes): decoding stops there and reports how far it got.
 */
import { crc32c } from "../lib/crc32c.ts";
import {
  ATTRIBUTES_OFFSET,
  BASE_OFFSET_OFFSET,
  BASE_TIMESTAMP_OFFSET,
  BATCH_HEADER_BYTES,
  BATCH_LENGTH_OFFSET,
  COMPRESSION_CODEC_MASK,
  CONTROL_FLAG_MASK,
  CRC_OFFSET,
  LAST_OFFSET_DELTA_OFFSET,
  LOG_OVERHEAD,
  MAGIC_OFFSET,
  RECORD_COUNT_OFFSET,
  RECORDS_OFFSET,
} from "../protocol/record-batch.ts";

export interface RecordHeader {
  key: string;
  value: Uint8Array | null;
}

export interface DecodedRecord {
  offset: number;
  timestampMs: number;
  key: Uint8Array | null;
  value: Uint8Array | null;
  headers: RecordHeader[];
}

export interface DecodeResult {
  /** The offset after the last complete batch seen (including control batches); fetch from here next. */
  nextOffset: number;
  /** Bytes of complete batches consumed; the rest is a partial batch. */
  consumedBytes: number;
}

export class CorruptRecordError extends Error {
  override name = "CorruptRecordError";
}

const CODEC_NAMES = ["none", "gzip", "snappy", "lz4", "zstd"];
const EMPTY_HEADERS: RecordHeader[] = [];
const utf8 = new TextDecoder();

type Decompress = (data: Uint8Array) => Uint8Array;
const bunCodecs = Bun as unknown as { gunzipSync: Decompress; zstdDecompressSync?: Decompress };

function decompress(codec: number, payload: Uint8Array): Uint8Array {
  if (codec === 1) return bunCodecs.gunzipSync(payload);
  if (codec === 4 && bunCodecs.zstdDecompressSync !== undefined) return bunCodecs.zstdDecompressSync(payload);
  throw new CorruptRecordError(`unsupported codec ${CODEC_NAMES[codec] ?? codec}: this client decodes none, gzip and zstd`);
}

function int64At(view: DataView, at: number): number {
  return view.getInt32(at) * 0x1_0000_0000 + view.getUint32(at + 4);
}

/** A cursor over one batch's records section, with Kafka's zig-zag varints. */
class RecordCursor {
  pos: number;
  constructor(
    private readonly buf: Uint8Array,
    start: number,
    private readonly end: number,
  ) {
    this.pos = start;
  }

  private need(byteCount: number): void {
    if (byteCount < 0 || this.pos + byteCount > this.end) throw new CorruptRecordError(`record overruns its batch at ${this.pos}`);
  }

  varint(): number {
    let raw = 0;
    let shift = 0;
    for (;;) {
      this.need(1);
      const byte = this.buf[this.pos++]!;
      raw += (byte & 0x7f) * 2 ** shift;
      if (byte < 0x80) break;
      shift += 7;
      if (shift > 63) throw new CorruptRecordError("varint longer than 10 bytes");
    }
    return raw % 2 === 0 ? raw / 2 : -(raw + 1) / 2;
  }

  bytes(byteLength: number): Uint8Array | null {
    if (byteLength < 0) return null;
    this.need(byteLength);
    const view = this.buf.subarray(this.pos, this.pos + byteLength);
    this.pos += byteLength;
    return view;
  }

  skip(byteCount: number): void {
    this.need(byteCount);
    this.pos += byteCount;
  }
}

/**
 * Calls visit for each record at or after fromOffset in the batches of `records`. Control batches
 * (transaction markers) are skipped. Throws CorruptRecordError on a bad CRC or malformed record.
 */
export function decodeRecords(
  records: Uint8Array,
  fromOffset: number,
  visit: (record: DecodedRecord) => void,
  options: { checkCrc?: boolean } = {},
): DecodeResult {
  const checkCrc = options.checkCrc ?? true;
  const view = new DataView(records.buffer, records.byteOffset, records.byteLength);
  let pos = 0;
  let nextOffset = fromOffset;
  while (records.byteLength - pos >= BATCH_HEADER_BYTES) {
    const batchBytes = view.getInt32(pos + BATCH_LENGTH_OFFSET) + LOG_OVERHEAD;
    if (batchBytes < BATCH_HEADER_BYTES) throw new CorruptRecordError(`batch length ${batchBytes - LOG_OVERHEAD} at ${pos}`);
    if (pos + batchBytes > records.byteLength) break;
    const magic = records[pos + MAGIC_OFFSET]!;
    if (magic !== 2) throw new CorruptRecordError(`record batch magic ${magic} at ${pos}; only v2 batches are supported`);
    if (checkCrc) {
      const expected = view.getUint32(pos + CRC_OFFSET);
      const actual = crc32c(records, pos + ATTRIBUTES_OFFSET, pos + batchBytes);
      if (actual !== expected) throw new CorruptRecordError(`batch CRC ${actual} != ${expected} at ${pos}`);
    }
    const baseOffset = int64At(view, pos + BASE_OFFSET_OFFSET);
    const lastOffset = baseOffset + view.getInt32(pos + LAST_OFFSET_DELTA_OFFSET);
    const attributes = view.getInt16(pos + ATTRIBUTES_OFFSET);
    if ((attributes & CONTROL_FLAG_MASK) === 0 && lastOffset >= fromOffset) {
      const baseTimestampMs = int64At(view, pos + BASE_TIMESTAMP_OFFSET);
      const recordCount = view.getInt32(pos + RECORD_COUNT_OFFSET);
      const codec = attributes & COMPRESSION_CODEC_MASK;
      let body = records;
      let start = pos + RECORDS_OFFSET;
      let end = pos + batchBytes;
      if (codec !== 0) {
        body = decompress(codec, records.subarray(start, end));
        start = 0;
        end = body.byteLength;
      }
      const cursor = new RecordCursor(body, start, end);
      for (let i = 0; i < recordCount; i++) {
        const recordBytes = cursor.varint();
        const recordEnd = cursor.pos + recordBytes;
        cursor.skip(1);
        const timestampDeltaMs = cursor.varint();
        const offset = baseOffset + cursor.varint();
        const key = cursor.bytes(cursor.varint());
        const value = cursor.bytes(cursor.varint());
        const headerCount = cursor.varint();
        let headers = EMPTY_HEADERS;
        if (headerCount > 0) {
          headers = [];
          for (let h = 0; h < headerCount; h++) {
            const headerKey = cursor.bytes(cursor.varint());
            headers.push({ key: headerKey === null ? "" : utf8.decode(headerKey), value: cursor.bytes(cursor.varint()) });
          }
        }
        if (cursor.pos !== recordEnd) throw new CorruptRecordError(`record length ${recordBytes} does not match its fields at offset ${offset}`);
        if (offset >= fromOffset) visit({ offset, timestampMs: baseTimestampMs + timestampDeltaMs, key, value, headers });
      }
    }
    nextOffset = Math.max(nextOffset, lastOffset + 1);
    pos += batchBytes;
  }
  return { nextOffset, consumedBytes: pos };
}
