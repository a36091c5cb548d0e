import { expect, test } from "bun:test";
import { BatchAccumulator } from "../../src/client/batch-accumulator.ts";
import { CorruptRecordError, decodeRecords, type DecodedRecord } from "../../src/client/record-decoder.ts";
import { buildRecordBatch } from "../../src/protocol/record-batch-builder.ts";
import { ATTRIBUTES_OFFSET, CRC_OFFSET, RECORDS_OFFSET } from "../../src/protocol/record-batch.ts";
import { crc32c } from "../../src/lib/crc32c.ts";

const text = new TextEncoder();

function collect(records: Uint8Array, fromOffset = 0): DecodedRecord[] {
  const out: DecodedRecord[] = [];
  decodeRecords(records, fromOffset, (r) => out.push(r));
  return out;
}

test("the accumulator encodes the same bytes as the shared batch builder", () => {
  const acc = new BatchAccumulator(1024);
  const inputs = [
    { key: text.encode("k"), value: text.encode("v1"), timestampMs: 1000 },
    { key: null, value: null, timestampMs: 1003, headers: [{ key: "h", value: text.encode("x") }] },
    { key: null, value: new Uint8Array(300), timestampMs: 999 },
  ];
  for (const r of inputs) acc.append(r.key, r.value, r.headers, r.timestampMs);
  const built = buildRecordBatch(inputs, { baseTimestampMs: 1000 });
  expect(acc.seal(-1, -1, -1)).toEqual(built);
});

test("decoding skips records before fromOffset and stops at a partial trailing batch", () => {
  const a = buildRecordBatch([{ key: null, value: text.encode("a") }, { key: null, value: text.encode("b") }], { baseOffset: 10 });
  const b = buildRecordBatch([{ key: null, value: text.encode("c") }], { baseOffset: 12 });
  const both = new Uint8Array(a.length + b.length);
  both.set(a);
  both.set(b, a.length);
  expect(collect(both, 11).map((r) => [r.offset, new TextDecoder().decode(r.value!)])).toEqual([[11, "b"], [12, "c"]]);
  const cut = both.subarray(0, a.length + 20);
  const result = decodeRecords(cut, 10, () => {});
  expect(result).toEqual({ nextOffset: 12, consumedBytes: a.length });
});

test("a corrupted batch fails its CRC check", () => {
  const batch = buildRecordBatch([{ key: null, value: text.encode("hello") }]);
  batch[batch.length - 2]! ^= 0xff;
  expect(() => collect(batch)).toThrow(CorruptRecordError);
});

test("gzip batches decode; snappy is reported as unsupported", () => {
  const plain = buildRecordBatch([{ key: null, value: text.encode("zipped") }, { key: null, value: text.encode("twice") }], { baseOffset: 5 });
  const payload = Bun.gzipSync(plain.subarray(RECORDS_OFFSET));
  const batch = new Uint8Array(RECORDS_OFFSET + payload.length);
  batch.set(plain.subarray(0, RECORDS_OFFSET));
  batch.set(payload, RECORDS_OFFSET);
  const view = new DataView(batch.buffer);
  view.setInt32(8, batch.length - 12);
  view.setInt16(ATTRIBUTES_OFFSET, 1);
  view.setUint32(CRC_OFFSET, crc32c(batch, ATTRIBUTES_OFFSET, batch.length));
  expect(collect(batch).map((r) => new TextDecoder().decode(r.value!))).toEqual(["zipped", "twice"]);
  view.setInt16(ATTRIBUTES_OFFSET, 2);
  view.setUint32(CRC_OFFSET, crc32c(batch, ATTRIBUTES_OFFSET, batch.length));
  expect(() => collect(batch)).toThrow(/unsupported codec snappy/);
});
