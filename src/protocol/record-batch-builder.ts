import { crc32c } from "../lib/crc32c.ts";
import { ATTRIBUTES_OFFSET, CRC_OFFSET, RECORDS_OFFSET } from "./record-batch.ts";

/** One record to encode; bytes are written as given. */
export interface RecordInput {
  key: Uint8Array | null;
  value: Uint8Array | null;
  headers?: readonly { key: string; value: Uint8Array | null }[];
  timestampMs?: number;
}

export interface BatchOptions {
  baseOffset?: number;
  producerId?: number;
  producerEpoch?: number;
  baseSequence?: number;
  /** Defaults to the first record's timestamp, else now. */
  baseTimestampMs?: number;
  partitionLeaderEpoch?: number;
}

const encoder = new TextEncoder();

/** A growable byte buffer with Kafka's zig-zag varints; encoding side only. */
class Bytes {
  buf = new Uint8Array(256);
  len = 0;
  private ensure(extra: number): void {
    if (this.len + extra <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.len + extra) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.len));
    this.buf = next;
  }
  uvarint(value: number): void {
    this.ensure(10);
    let v = value;
    while (v >= 0x80) {
      this.buf[this.len++] = (v & 0x7f) | 0x80;
      v = Math.floor(v / 128);
    }
    this.buf[this.len++] = v;
  }
  varint(value: number): void {
    this.uvarint(value >= 0 ? value * 2 : -value * 2 - 1);
  }
  bytes(data: Uint8Array): void {
    this.ensure(data.length);
    this.buf.set(data, this.len);
    this.len += data.length;
  }
  nullableBytes(data: Uint8Array | null): void {
    if (data === null) this.varint(-1);
    else {
      this.varint(data.length);
      this.bytes(data);
    }
  }
}

/**
 * Encodes records as one uncompressed v2 record batch (magic 2, CRC-32C), as producers send it.
 * Used by the CLI producer, the load generator, tests and the Raft log's entries (raft/entry-batches.ts); the broker
 * never re-encodes the batches clients send.
 */
export function buildRecordBatch(records: readonly RecordInput[], options: BatchOptions = {}): Uint8Array {
  if (records.length === 0) throw new RangeError("a record batch needs at least one record");
  const baseTimestamp = options.baseTimestampMs ?? records[0]!.timestampMs ?? Date.now();
  let maxTimestamp = baseTimestamp;
  const body = new Bytes();
  const record = new Bytes();
  records.forEach((r, offsetDelta) => {
    const timestamp = r.timestampMs ?? baseTimestamp;
    maxTimestamp = Math.max(maxTimestamp, timestamp);
    record.len = 0;
    record.bytes(new Uint8Array([0]));
    record.varint(timestamp - baseTimestamp);
    record.varint(offsetDelta);
    record.nullableBytes(r.key);
    record.nullableBytes(r.value);
    const headers = r.headers ?? [];
    record.varint(headers.length);
    for (const h of headers) {
      const key = encoder.encode(h.key);
      record.varint(key.length);
      record.bytes(key);
      record.nullableBytes(h.value);
    }
    body.varint(record.len);
    body.bytes(record.buf.subarray(0, record.len));
  });

  const batch = new Uint8Array(RECORDS_OFFSET + body.len);
  const view = new DataView(batch.buffer);
  const setInt64 = (at: number, value: number) => {
    view.setInt32(at, Math.floor(value / 0x1_0000_0000));
    view.setUint32(at + 4, value >>> 0);
  };
  setInt64(0, options.baseOffset ?? 0);
  view.setInt32(8, batch.length - 12);
  view.setInt32(12, options.partitionLeaderEpoch ?? -1);
  view.setInt8(16, 2);
  view.setInt16(ATTRIBUTES_OFFSET, 0);
  view.setInt32(23, records.length - 1);
  setInt64(27, baseTimestamp);
  setInt64(35, maxTimestamp);
  setInt64(43, options.producerId ?? -1);
  view.setInt16(51, options.producerEpoch ?? -1);
  view.setInt32(53, options.baseSequence ?? -1);
  view.setInt32(57, records.length);
  batch.set(body.buf.subarray(0, body.len), RECORDS_OFFSET);
  view.setUint32(CRC_OFFSET, crc32c(batch, ATTRIBUTES_OFFSET, batch.length));
  return batch;
}

export function text(value: string): Uint8Array {
  return encoder.encode(value);
}
