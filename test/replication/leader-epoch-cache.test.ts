import { describe, expect, test } from "bun:test";
import { LeaderEpochCache, UNDEFINED_EPOCH, UNDEFINED_OFFSET, decodeEpochCheckpoint, encodeEpochCheckpoint } from "../../src/replication/leader-epoch-cache.ts";

describe("leader epoch cache", () => {
  test("end offsets follow Kafka's OffsetForLeaderEpoch semantics", () => {
    const cache = new LeaderEpochCache([
      { epoch: 1, startOffset: 0 },
      { epoch: 3, startOffset: 10 },
      { epoch: 4, startOffset: 25 },
    ]);
    // The latest epoch ends at the log end.
    expect(cache.endOffsetFor(4, 40)).toEqual({ epoch: 4, endOffset: 40 });
    // An older epoch ends where the next known epoch starts.
    expect(cache.endOffsetFor(1, 40)).toEqual({ epoch: 1, endOffset: 10 });
    expect(cache.endOffsetFor(3, 40)).toEqual({ epoch: 3, endOffset: 25 });
    // An epoch this log never saw: the largest earlier one, ending where the next begins.
    expect(cache.endOffsetFor(2, 40)).toEqual({ epoch: 1, endOffset: 10 });
    // Older than anything known: the requested epoch, ending at the first known start.
    expect(cache.endOffsetFor(0, 40)).toEqual({ epoch: 0, endOffset: 0 });
    // Newer than anything known, or undefined: undefined.
    expect(cache.endOffsetFor(7, 40)).toEqual({ epoch: UNDEFINED_EPOCH, endOffset: UNDEFINED_OFFSET });
    expect(cache.endOffsetFor(UNDEFINED_EPOCH, 40)).toEqual({ epoch: UNDEFINED_EPOCH, endOffset: UNDEFINED_OFFSET });
    expect(new LeaderEpochCache().endOffsetFor(0, 5)).toEqual({ epoch: UNDEFINED_EPOCH, endOffset: UNDEFINED_OFFSET });
  });

  test("assign keeps epochs and offsets increasing and drops conflicting entries", () => {
    const cache = new LeaderEpochCache();
    expect(cache.assign(0, 0)).toBe(true);
    expect(cache.assign(0, 5)).toBe(false);
    expect(cache.assign(2, 7)).toBe(true);
    // An older epoch never rewrites history.
    expect(cache.assign(1, 9)).toBe(false);
    // A newer epoch starting at or before existing entries replaces them (a truncated tail's epochs).
    expect(cache.assign(3, 7)).toBe(true);
    expect(cache.all).toEqual([
      { epoch: 0, startOffset: 0 },
      { epoch: 3, startOffset: 7 },
    ]);
    expect(() => cache.assign(-1, 0)).toThrow(/invariant/);
  });

  test("truncation from the end and the start", () => {
    const cache = new LeaderEpochCache([
      { epoch: 1, startOffset: 0 },
      { epoch: 2, startOffset: 10 },
      { epoch: 5, startOffset: 20 },
    ]);
    expect(cache.truncateFromEnd(25)).toBe(false);
    expect(cache.truncateFromEnd(20)).toBe(true);
    expect(cache.latestEpoch).toBe(2);
    expect(cache.truncateFromStart(12)).toBe(true);
    expect(cache.all).toEqual([{ epoch: 2, startOffset: 12 }]);
    expect(cache.truncateFromStart(5)).toBe(false);
  });

  test("checkpoint text round-trips and damaged files are refused", () => {
    const entries = [
      { epoch: 0, startOffset: 0 },
      { epoch: 4, startOffset: 100 },
    ];
    expect(decodeEpochCheckpoint(encodeEpochCheckpoint(entries))).toEqual(entries);
    expect(decodeEpochCheckpoint("0\n2\n0 0\n")).toBeNull();
    expect(decodeEpochCheckpoint("1\n0\n")).toBeNull();
    expect(decodeEpochCheckpoint("0\n2\n4 100\n0 0\n")).toBeNull();
    expect(decodeEpochCheckpoint("0\n1\nx 1\n")).toBeNull();
  });
});
