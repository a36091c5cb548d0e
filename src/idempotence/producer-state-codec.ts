/**
 * Binary snapshot of a partition's producer state, big-endian:
 *   version u8 | endOffset i64 | producerCount u32
 *   per producer: producerId i64 | producerEpoch i16 | lastTimestampMs i64 | batchCount u16
 *     per batch: firstSequence i32 | lastSequence i32 | firstOffset i64 | lastOffset i64 | timestampMs i64
 *   crc32c u32 of everything before it
 * A fixed layout rather than msgpack so a torn or corrupt file is caught by the checksum and lengths.
 */
import { crc32c } from "../lib/crc32c.ts";
import type { BatchMetadata, ProducerEntry } from "./producer-entry.ts";

const VERSION = 1;
const HEADER_BYTES = 1 + 8 + 4;
const PRODUCER_BYTES = 8 + 2 + 8 + 2;
const BATCH_BYTES = 4 + 4 + 8 + 8 + 8;
const CRC_BYTES = 4;
const MAX_BATCH_COUNT = 0xffff;

export function encodeProducerState(endOffset: number, producers: ReadonlyMap<number, ProducerEntry>): Uint8Array {
  let size = HEADER_BYTES + CRC_BYTES;
  for (const entry of producers.values()) {
    if (entry.batches.length > MAX_BATCH_COUNT) throw new RangeError(`${entry.batches.length} batches exceed the snapshot format's ${MAX_BATCH_COUNT}`);
    size += PRODUCER_BYTES + entry.batches.length * BATCH_BYTES;
  }
  const bytes = new Uint8Array(size);
  const dv = new DataView(bytes.buffer);
  let at = 0;
  dv.setUint8(at, VERSION);
  at += 1;
  setInt64(dv, at, endOffset);
  at += 8;
  dv.setUint32(at, producers.size);
  at += 4;
  for (const [producerId, entry] of producers) {
    setInt64(dv, at, producerId);
    dv.setInt16(at + 8, entry.producerEpoch);
    setInt64(dv, at + 10, entry.lastTimestampMs);
    dv.setUint16(at + 18, entry.batches.length);
    at += PRODUCER_BYTES;
    for (const batch of entry.batches) {
      dv.setInt32(at, batch.firstSequence);
      dv.setInt32(at + 4, batch.lastSequence);
      setInt64(dv, at + 8, batch.firstOffset);
      setInt64(dv, at + 16, batch.lastOffset);
      setInt64(dv, at + 24, batch.timestampMs);
      at += BATCH_BYTES;
    }
  }
  if (at !== size - CRC_BYTES) throw new Error(`snapshot encoder wrote ${at} bytes, planned ${size - CRC_BYTES}`);
  dv.setUint32(at, crc32c(bytes, 0, at));
  return bytes;
}

export function decodeProducerState(bytes: Uint8Array): { endOffset: number; producers: Map<number, ProducerEntry> } {
  if (bytes.length < HEADER_BYTES + CRC_BYTES) throw new Error(`producer state snapshot of ${bytes.length} bytes is too short`);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const bodyEnd = bytes.length - CRC_BYTES;
  const expectedCrc = dv.getUint32(bodyEnd);
  if (crc32c(bytes, 0, bodyEnd) !== expectedCrc) throw new Error("producer state snapshot checksum mismatch");
  const version = dv.getUint8(0);
  if (version !== VERSION) throw new Error(`unsupported producer state snapshot version ${version}`);
  const endOffset = getInt64(dv, 1);
  const producerCount = dv.getUint32(9);
  let at = HEADER_BYTES;
  const producers = new Map<number, ProducerEntry>();
  for (let i = 0; i < producerCount; i++) {
    if (at + PRODUCER_BYTES > bodyEnd) throw new Error(`producer state snapshot truncated in producer ${i}`);
    const producerId = getInt64(dv, at);
    const producerEpoch = dv.getInt16(at + 8);
    const lastTimestampMs = getInt64(dv, at + 10);
    const batchCount = dv.getUint16(at + 18);
    at += PRODUCER_BYTES;
    if (at + batchCount * BATCH_BYTES > bodyEnd) throw new Error(`producer state snapshot truncated in producer ${producerId}'s batches`);
    const batches: BatchMetadata[] = [];
    for (let b = 0; b < batchCount; b++) {
      batches.push({
        firstSequence: dv.getInt32(at),
        lastSequence: dv.getInt32(at + 4),
        firstOffset: getInt64(dv, at + 8),
        lastOffset: getInt64(dv, at + 16),
        timestampMs: getInt64(dv, at + 24),
      });
      at += BATCH_BYTES;
    }
    if (producers.has(producerId)) throw new Error(`producer state snapshot lists producer ${producerId} twice`);
    producers.set(producerId, { producerEpoch, batches, lastTimestampMs });
  }
  if (at !== bodyEnd) throw new Error(`producer state snapshot has ${bodyEnd - at} trailing bytes`);
  return { endOffset, producers };
}

function setInt64(dv: DataView, at: number, value: number): void {
  if (!Number.isSafeInteger(value)) throw new RangeError(`int64 value ${value} is not a safe integer`);
  dv.setInt32(at, Math.floor(value / 0x1_0000_0000));
  dv.setUint32(at + 4, value >>> 0);
}

function getInt64(dv: DataView, at: number): number {
  return dv.getInt32(at) * 0x1_0000_0000 + dv.getUint32(at + 4);
}
