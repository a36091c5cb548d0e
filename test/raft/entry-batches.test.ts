import { expect, test } from "bun:test";
import { validateBatches } from "../../src/protocol/record-batch.ts";
import { decodeEntries, encodeEntries } from "../../src/raft/entry-batches.ts";
import { EntryType, LogFormatError, type Entry } from "../../src/raft/types.ts";

function decoded(bytes: Uint8Array): Entry[] {
  const entries: Entry[] = [];
  decodeEntries(bytes, (entry) => entries.push(entry));
  return entries;
}

const entries: Entry[] = [
  { index: 7, term: 2, type: EntryType.Noop, data: new Uint8Array(0) },
  { index: 8, term: 2, type: EntryType.Normal, data: new Uint8Array([1, 2, 3]) },
  // A value whose length takes a multi-byte varint, and a term near the int32 limit of a leader epoch.
  { index: 9, term: 0x7fffffff, type: EntryType.Normal, data: new Uint8Array(70_000).fill(5) },
  // An index past 2^32: the batch's base offset is an int64.
  { index: 2 ** 40, term: 3, type: EntryType.Normal, data: new Uint8Array([9]) },
];

test("entries round-trip through record batches, one valid v2 batch each at offset index - 1", () => {
  const bytes = encodeEntries(entries);
  expect(decoded(bytes)).toEqual(entries);
  expect(validateBatches(bytes, 1 << 20).ok).toBe(true);
  const view = new DataView(bytes.buffer);
  expect(Number(view.getBigInt64(0))).toBe(6);
});

test("a damaged batch is refused with LogFormatError, not decoded", () => {
  const bytes = encodeEntries(entries.slice(0, 2));
  bytes[bytes.length - 3]! ^= 0xff;
  expect(() => decoded(bytes)).toThrow(LogFormatError);
  expect(() => decoded(bytes)).toThrow("raft log: crc mismatch at 69");
  expect(() => decoded(encodeEntries(entries.slice(0, 1)).subarray(0, 40))).toThrow("raft log: truncated batch header at 0");
});

test("an entry that a batch cannot carry is refused when encoded", () => {
  expect(() => encodeEntries([{ index: 0, term: 1, type: EntryType.Normal, data: new Uint8Array(0) }])).toThrow(RangeError);
  expect(() => encodeEntries([{ index: 1, term: 2 ** 31, type: EntryType.Normal, data: new Uint8Array(0) }])).toThrow(RangeError);
});
