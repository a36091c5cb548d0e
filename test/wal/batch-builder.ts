/** Builds uncompressed Kafka v2 record batches for tests, byte for byte as a client would. */
import { ATTRIBUTES_OFFSET, CRC_OFFSET } from "../../src/protocol/record-batch.ts";
import { crc32c } from "../../src/lib/crc32c.ts";

export interface TestRecord {
  value: Uint8Array;
  timestampMs: number;
}

function varint(out: number[], value: number): void {
  let raw = value >= 0 ? value * 2 : -value * 2 - 1;
  while (raw >= 0x80) {
    out.push((raw % 0x80) | 0x80);
    raw = Math.floor(raw / 0x80);
  }
  out.push(raw);
}

export function buildBatch(records: TestRecord[], opts: { baseOffset?: number; producerId?: number } = {}): Uint8Array {
  if (records.length === 0) throw new Error("a batch needs records");
  const baseTimestamp = records[0]!.timestampMs;
  const maxTimestamp = Math.max(...records.map((r) => r.timestampMs));
  const body: number[] = [];
  records.forEach((record, i) => {
    const inner: number[] = [0];
    varint(inner, record.timestampMs - baseTimestamp);
    varint(inner, i);
    varint(inner, -1);
    varint(inner, record.value.length);
    for (const b of record.value) inner.push(b);
    varint(inner, 0);
    varint(body, inner.length);
    for (const b of inner) body.push(b);
  });
  const bytes = new Uint8Array(61 + body.length);
  const dv = new DataView(bytes.buffer);
  dv.setBigInt64(0, BigInt(opts.baseOffset ?? 0));
  dv.setInt32(8, bytes.length - 12);
  dv.setInt32(12, -1);
  dv.setInt8(16, 2);
  dv.setInt16(21, 0);
  dv.setInt32(23, records.length - 1);
  dv.setBigInt64(27, BigInt(baseTimestamp));
  dv.setBigInt64(35, BigInt(maxTimestamp));
  dv.setBigInt64(43, BigInt(opts.producerId ?? -1));
  dv.setInt16(51, -1);
  dv.setInt32(53, -1);
  dv.setInt32(57, records.length);
  bytes.set(body, 61);
  dv.setUint32(CRC_OFFSET, crc32c(bytes, ATTRIBUTES_OFFSET));
  return bytes;
}

/** A deterministic batch of `count` records whose payload is derived from seed, so it can be rebuilt later. */
export function seededBatch(seed: number, count: number, valueBytes: number, timestampMs: number): Uint8Array {
  const records: TestRecord[] = [];
  for (let r = 0; r < count; r++) {
    const value = new Uint8Array(valueBytes);
    let x = (seed * 2654435761 + r * 40503) >>> 0;
    for (let i = 0; i < valueBytes; i++) {
      x = (x * 1103515245 + 12345) >>> 0;
      value[i] = x >>> 24;
    }
    records.push({ value, timestampMs: timestampMs + r });
  }
  return buildBatch(records);
}

export function tempDir(prefix: string): string {
  const fs = require("node:fs") as typeof import("node:fs");
  const os = require("node:os") as typeof import("node:os");
  const path = require("node:path") as typeof import("node:path");
  return fs.mkdtempSync(path.join(os.tmpdir(), `chronik-${prefix}-`));
}

export async function waitFor(condition: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}
