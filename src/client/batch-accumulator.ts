/**
 * Builds one uncompressed v2 record batch in place as records arrive: each record is encoded straight into a
 * buffer sized for the batch, so a producer keeps no per-record objects. seal() writes the header and CRC and
 * returns a view of the finished batch.
 */
import { crc32c } from "../lib/crc32c.ts";
import { ATTRIBUTES_OFFSET, CRC_OFFSET, RECORDS_OFFSET } from "../protocol/record-batch.ts";

export interface RecordHeaderInput {
  key: string;
  value: Uint8Array | null;
}

/** Worst-case bytes of the varints around one record (length, deltas, lengths, header count). */
const RECORD_OVERHEAD_BYTES = 5 + 1 + 10 + 5 + 5 + 5 + 5;
const utf8 = new TextEncoder();

function varintBytes(value: number): number {
  let zigzag = value >= 0 ? value * 2 : -value * 2 - 1;
  let count = 1;
  while (zigzag >= 0x80) {
    zigzag = Math.floor(zigzag / 128);
    count++;
  }
  return count;
}

export class BatchAccumulator {
  private buf: Uint8Array;
  private pos = RECORDS_OFFSET;
  recordCount = 0;
  private baseTimestampMs = 0;
  private maxTimestampMs = 0;
  /** When the first record was appended (performance.now() ms), for linger. */
  firstAppendMs = 0;

  /**
   * capacityBytes is where the batch counts as full; the buffer starts at initialBytes and doubles up to it,
   * so a partition that sends small batches does not allocate (and zero) a full batch each time.
   */
  constructor(
    private readonly capacityBytes: number,
    initialBytes = capacityBytes,
  ) {
    this.buf = new Uint8Array(Math.max(Math.min(initialBytes, capacityBytes), RECORDS_OFFSET + 64));
  }

  get byteLength(): number {
    return this.pos;
  }

  /** Whether a record of this size still fits; an empty batch takes any one record, growing if needed. */
  fits(key: Uint8Array | null, value: Uint8Array | null, headers: readonly RecordHeaderInput[] | undefined): boolean {
    if (this.recordCount === 0) return true;
    return this.pos + estimateRecordBytes(key, value, headers) <= this.capacityBytes;
  }

  append(key: Uint8Array | null, value: Uint8Array | null, headers: readonly RecordHeaderInput[] | undefined, timestampMs: number): void {
    if (this.recordCount === 0) {
      this.baseTimestampMs = timestampMs;
      this.maxTimestampMs = timestampMs;
      this.firstAppendMs = performance.now();
    } else if (timestampMs > this.maxTimestampMs) {
      this.maxTimestampMs = timestampMs;
    }
    const headerKeys = headers === undefined || headers.length === 0 ? null : headers.map((h) => utf8.encode(h.key));
    const timestampDeltaMs = timestampMs - this.baseTimestampMs;
    let bodyBytes = 1 + varintBytes(timestampDeltaMs) + varintBytes(this.recordCount);
    bodyBytes += key === null ? 1 : varintBytes(key.byteLength) + key.byteLength;
    bodyBytes += value === null ? 1 : varintBytes(value.byteLength) + value.byteLength;
    bodyBytes += varintBytes(headers?.length ?? 0);
    if (headers !== undefined && headerKeys !== null) {
      for (let i = 0; i < headers.length; i++) {
        const headerValue = headers[i]!.value;
        bodyBytes += varintBytes(headerKeys[i]!.byteLength) + headerKeys[i]!.byteLength;
        bodyBytes += headerValue === null ? 1 : varintBytes(headerValue.byteLength) + headerValue.byteLength;
      }
    }
    this.ensure(varintBytes(bodyBytes) + bodyBytes);
    this.varint(bodyBytes);
    this.buf[this.pos++] = 0;
    this.varint(timestampDeltaMs);
    this.varint(this.recordCount);
    this.nullableBytes(key);
    this.nullableBytes(value);
    this.varint(headers?.length ?? 0);
    if (headers !== undefined && headerKeys !== null) {
      for (let i = 0; i < headers.length; i++) {
        this.nullableBytes(headerKeys[i]!);
        this.nullableBytes(headers[i]!.value);
      }
    }
    this.recordCount++;
  }

  /** Finishes the batch: header fields and CRC-32C. The view stays valid; the accumulator must not be reused. */
  seal(producerId: number, producerEpoch: number, baseSequence: number): Uint8Array {
    if (this.recordCount === 0) throw new Error("cannot seal an empty batch");
    const batch = this.buf.subarray(0, this.pos);
    const view = new DataView(batch.buffer, batch.byteOffset, batch.byteLength);
    setInt64(view, 0, 0);
    view.setInt32(8, batch.byteLength - 12);
    view.setInt32(12, -1);
    view.setInt8(16, 2);
    view.setInt16(ATTRIBUTES_OFFSET, 0);
    view.setInt32(23, this.recordCount - 1);
    setInt64(view, 27, this.baseTimestampMs);
    setInt64(view, 35, this.maxTimestampMs);
    setInt64(view, 43, producerId);
    view.setInt16(51, producerEpoch);
    view.setInt32(53, baseSequence);
    view.setInt32(57, this.recordCount);
    view.setUint32(CRC_OFFSET, crc32c(batch, ATTRIBUTES_OFFSET, batch.byteLength));
    return batch;
  }

  private ensure(byteCount: number): void {
    if (this.pos + byteCount <= this.buf.byteLength) return;
    const next = new Uint8Array(Math.max(this.buf.byteLength * 2, this.pos + byteCount));
    next.set(this.buf.subarray(0, this.pos));
    this.buf = next;
  }

  private varint(value: number): void {
    let zigzag = value >= 0 ? value * 2 : -value * 2 - 1;
    while (zigzag >= 0x80) {
      this.buf[this.pos++] = (zigzag & 0x7f) | 0x80;
      zigzag = Math.floor(zigzag / 128);
    }
    this.buf[this.pos++] = zigzag;
  }

  private nullableBytes(bytes: Uint8Array | null): void {
    if (bytes === null) {
      this.varint(-1);
      return;
    }
    this.varint(bytes.byteLength);
    this.buf.set(bytes, this.pos);
    this.pos += bytes.byteLength;
  }
}

function estimateRecordBytes(key: Uint8Array | null, value: Uint8Array | null, headers: readonly RecordHeaderInput[] | undefined): number {
  let bytes = RECORD_OVERHEAD_BYTES + (key?.byteLength ?? 0) + (value?.byteLength ?? 0);
  if (headers !== undefined) for (const h of headers) bytes += 10 + h.key.length * 3 + (h.value?.byteLength ?? 0);
  return bytes;
}

function setInt64(view: DataView, at: number, value: number): void {
  view.setInt32(at, Math.floor(value / 0x1_0000_0000));
  view.setUint32(at + 4, value >>> 0);
}
