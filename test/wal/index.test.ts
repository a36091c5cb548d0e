import { describe, expect, test } from "bun:test";
import { floorIndex, lowerIndex } from "../../src/wal/index-search.ts";
import { OffsetIndex } from "../../src/wal/offset-index.ts";
import { TimeIndex } from "../../src/wal/time-index.ts";
import { Prng } from "../../src/raft/prng.ts";

describe("index search", () => {
  test("floor and lower agree with a linear scan", () => {
    const prng = new Prng(11);
    for (let round = 0; round < 200; round++) {
      const count = prng.int(40);
      const keys: number[] = [];
      let k = prng.int(5);
      for (let i = 0; i < count; i++) keys.push((k += 1 + prng.int(5)));
      const target = prng.int(k + 10) - 3;
      let floor = -1;
      let lower = -1;
      keys.forEach((key, i) => {
        if (key <= target) floor = i;
        if (key < target) lower = i;
      });
      expect(floorIndex(keys, count, target)).toBe(floor);
      expect(lowerIndex(keys, count, target)).toBe(lower);
    }
  });
});

describe("offset index", () => {
  test("lookup returns the position of the last entry at or below the offset", () => {
    const index = new OffsetIndex(100);
    index.append(10, 4096);
    index.append(25, 8300);
    index.append(40, 12_500);
    expect(index.lookup(0)).toBe(0);
    expect(index.lookup(9)).toBe(0);
    expect(index.lookup(10)).toBe(4096);
    expect(index.lookup(39)).toBe(8300);
    expect(index.lookup(1000)).toBe(12_500);
  });

  test("refuses entries that do not grow, and stops growing at its bound", () => {
    const index = new OffsetIndex(2);
    index.append(1, 100);
    expect(() => index.append(1, 200)).toThrow();
    index.append(2, 200);
    expect(() => index.append(3, 300)).toThrow();
  });

  test("round-trips through bytes and keeps only the valid prefix", () => {
    const index = new OffsetIndex(100);
    for (let i = 1; i <= 10; i++) index.append(i * 3, i * 1000);
    const bytes = index.serialize();
    expect(OffsetIndex.parse(bytes, 100, 1e9).count).toBe(10);
    expect(OffsetIndex.parse(bytes, 100, 5500).count).toBe(5);
    expect(OffsetIndex.parse(bytes.subarray(0, 8 * 4 + 3), 100, 1e9).count).toBe(4);
    const broken = bytes.slice();
    new DataView(broken.buffer).setInt32(8 * 6, 1);
    expect(OffsetIndex.parse(broken, 100, 1e9).count).toBe(6);
  });
});

describe("time index", () => {
  test("keeps only growing timestamps and finds where to start scanning", () => {
    const index = new TimeIndex(100);
    index.maybeAppend(1_000, 5);
    index.maybeAppend(900, 9);
    index.maybeAppend(2_000, 20);
    index.maybeAppend(3_000, 31);
    expect(index.count).toBe(3);
    expect(index.scanStartAfter(500)).toBe(-1);
    expect(index.scanStartAfter(1_000)).toBe(-1);
    expect(index.scanStartAfter(1_001)).toBe(5);
    expect(index.scanStartAfter(3_000)).toBe(20);
    expect(index.scanStartAfter(9_999)).toBe(31);
    const parsed = TimeIndex.parse(index.serialize(), 100, 21);
    expect(parsed.count).toBe(2);
    expect(parsed.lastTimestamp()).toBe(2_000);
  });
});
