import { describe, expect, test } from "bun:test";
import { crc32c, crc32cPortable } from "../../src/lib/crc32c.ts";
import {
  computeBatchCrc,
  firstRecordAtOrAfter,
  readBatchHeader,
  rewriteBaseOffset,
  setLogAppendTime,
  setPartitionLeaderEpoch,
  timestampType,
  validateBatches,
} from "../../src/protocol/record-batch.ts";
import { Prng } from "../../src/raft/prng.ts";
import { buildBatch, seededBatch } from "./batch-builder.ts";

describe("crc32c", () => {
  test("matches the standard check value", () => {
    const check = new TextEncoder().encode("123456789");
    expect(crc32c(check)).toBe(0xe3069283);
    expect(crc32cPortable(check)).toBe(0xe3069283);
  });

  test("native and portable agree on random ranges", () => {
    const prng = new Prng(7);
    const data = new Uint8Array(10_000);
    for (let i = 0; i < data.length; i++) data[i] = prng.int(256);
    for (let i = 0; i < 200; i++) {
      const start = prng.int(data.length);
      const end = start + prng.int(data.length - start + 1);
      expect(crc32c(data, start, end)).toBe(crc32cPortable(data, start, end));
    }
  });
});

describe("record batch views", () => {
  const batch = () =>
    concat([
      seededBatch(1, 3, 20, 1_000),
      buildBatch([{ value: new Uint8Array([1]), timestampMs: 2_000 }]),
    ]);

  test("validates good batches and reports positions", () => {
    const records = batch();
    const result = validateBatches(records, 1 << 20);
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.batches.map((b) => b.position)).toEqual([0, seededBatch(1, 3, 20, 1_000).length]);
    expect(result.totalRecords).toBe(4);
    expect(result.batches[0]!.maxTimestamp).toBe(1_002);
  });

  test("rejects corruption, bad magic, oversize and record-count mismatches", () => {
    const flipped = batch();
    flipped[70]! ^= 0xff;
    expect(validateBatches(flipped, 1 << 20)).toMatchObject({ ok: false, error: "CORRUPT_MESSAGE" });
    const magic = batch();
    magic[16] = 1;
    expect(validateBatches(magic, 1 << 20)).toMatchObject({ ok: false, error: "UNSUPPORTED_FOR_MESSAGE_FORMAT" });
    expect(validateBatches(batch(), 100)).toMatchObject({ ok: false, error: "MESSAGE_TOO_LARGE" });
    expect(validateBatches(batch().subarray(0, 90), 1 << 20)).toMatchObject({ ok: false, error: "CORRUPT_MESSAGE" });
    expect(validateBatches(new Uint8Array(0), 1 << 20)).toMatchObject({ ok: false, error: "CORRUPT_MESSAGE" });
    const count = seededBatch(2, 3, 5, 0);
    new DataView(count.buffer).setInt32(23, 5);
    new DataView(count.buffer).setUint32(17, computeBatchCrc(count, 0));
    expect(validateBatches(count, 1 << 20)).toMatchObject({ ok: false, error: "INVALID_RECORD" });
  });

  test("offset and epoch rewrites leave the CRC valid; LogAppendTime recomputes it", () => {
    const records = batch();
    rewriteBaseOffset(records, 0, 2 ** 40 + 5);
    setPartitionLeaderEpoch(records, 0, 9);
    setLogAppendTime(records, 0, 5_000);
    const header = readBatchHeader(records, 0);
    expect(header.baseOffset).toBe(2 ** 40 + 5);
    expect(header.partitionLeaderEpoch).toBe(9);
    expect(header.maxTimestamp).toBe(5_000);
    expect(header.baseTimestamp).toBe(1_000);
    expect(timestampType(header.attributes)).toBe("LogAppendTime");
    expect(validateBatches(records, 1 << 20).ok).toBe(true);
  });

  test("finds the first record at or after a timestamp", () => {
    const records = buildBatch([
      { value: new Uint8Array(3), timestampMs: 100 },
      { value: new Uint8Array(300), timestampMs: 90 },
      { value: new Uint8Array(3), timestampMs: 150 },
    ]);
    rewriteBaseOffset(records, 0, 40);
    expect(firstRecordAtOrAfter(records, 0, 95)).toEqual({ offset: 40, timestamp: 100 });
    expect(firstRecordAtOrAfter(records, 0, 120)).toEqual({ offset: 42, timestamp: 150 });
    expect(firstRecordAtOrAfter(records, 0, 151)).toBeNull();
  });
});

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}
