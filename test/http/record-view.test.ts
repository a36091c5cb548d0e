import { expect, test } from "bun:test";
import { decodeBatch, MAX_RENDERED_BYTES } from "../../src/http/record-view.ts";
import { buildRecordBatch, text } from "../../src/protocol/record-batch-builder.ts";
import { ATTRIBUTES_OFFSET, BATCH_LENGTH_OFFSET, LOG_OVERHEAD, RECORDS_OFFSET } from "../../src/protocol/record-batch.ts";

const CODEC_IDS = { gzip: 1, snappy: 2, lz4: 3, zstd: 4 } as const;

/** The same batch with its records section compressed by `compress` and the codec bits set (CRC not recomputed). */
function compressed(batch: Uint8Array, codec: keyof typeof CODEC_IDS, compress: (records: Uint8Array) => Uint8Array): Uint8Array {
  const records = compress(batch.subarray(RECORDS_OFFSET));
  const out = new Uint8Array(RECORDS_OFFSET + records.byteLength);
  out.set(batch.subarray(0, RECORDS_OFFSET));
  out.set(records, RECORDS_OFFSET);
  const view = new DataView(out.buffer);
  view.setInt32(BATCH_LENGTH_OFFSET, out.byteLength - LOG_OVERHEAD);
  view.setInt16(ATTRIBUTES_OFFSET, CODEC_IDS[codec]);
  return out;
}

const records = [
  { key: text("k0"), value: text("hello"), headers: [{ key: "h", value: text("v") }], timestampMs: 1_700_000_000_000 },
  { key: null, value: new Uint8Array([0xff, 0x00]), timestampMs: 1_700_000_000_005 },
  { key: text(""), value: null, headers: [{ key: "n", value: null }], timestampMs: 1_700_000_000_009 },
];

test("uncompressed, gzip and zstd batches decode to the same records", () => {
  const plain = buildRecordBatch(records, { baseOffset: 40 });
  for (const batch of [plain, compressed(plain, "gzip", (r) => Bun.gzipSync(r)), compressed(plain, "zstd", (r) => Bun.zstdCompressSync(r))]) {
    const entries = decodeBatch(batch, 0);
    expect(entries.map((e) => (e.kind === "message" ? [e.offset, e.timestampMs, e.key?.text ?? null, e.value?.text ?? null, e.value?.hex ?? null] : e))).toEqual([
      [40, 1_700_000_000_000, "k0", "hello", "68656c6c6f"],
      [41, 1_700_000_000_005, null, null, "ff00"],
      [42, 1_700_000_000_009, "", null, null],
    ]);
    const first = entries[0]!;
    expect(first.kind === "message" && first.headers).toEqual([{ key: "h", value: { sizeBytes: 1, text: "v", base64: "dg==", hex: "76", truncated: false } }]);
    const last = entries[2]!;
    expect(last.kind === "message" && last.headers).toEqual([{ key: "n", value: null }]);
  }
});

test("lz4 and snappy batches are one undecoded entry covering their offsets", () => {
  const plain = buildRecordBatch(records, { baseOffset: 7 });
  for (const codec of ["lz4", "snappy"] as const) {
    expect(decodeBatch(compressed(plain, codec, (r) => r), 0)).toEqual([
      { kind: "batch", offset: 7, lastOffset: 9, timestampMs: 1_700_000_000_009, compression: codec, note: `compressed (${codec}), not decoded` },
    ]);
  }
});

test("long values are cut for display and say so; truncated batches throw instead of reading past the end", () => {
  const big = new Uint8Array(MAX_RENDERED_BYTES + 10).fill(0x61);
  const [entry] = decodeBatch(buildRecordBatch([{ key: null, value: big }]), 0);
  expect(entry!.kind === "message" && entry!.value).toMatchObject({ sizeBytes: MAX_RENDERED_BYTES + 10, truncated: true });
  expect(entry!.kind === "message" && entry!.value!.text!.length).toBe(MAX_RENDERED_BYTES);

  const batch = buildRecordBatch(records);
  expect(() => decodeBatch(batch.subarray(0, batch.byteLength - 3), 0)).toThrow(RangeError);
  const lying = batch.slice();
  new DataView(lying.buffer).setInt32(BATCH_LENGTH_OFFSET, lying.byteLength - LOG_OVERHEAD - 5);
  expect(() => decodeBatch(lying, 0)).toThrow(RangeError);
});
