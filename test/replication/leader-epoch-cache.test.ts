import { describe, expect, test } from "bun:test";
import { LeaderEpochCache, UNDEFINED_EPOCH, UNDEFINED_OFFSET, decodeEpochCheckpoint, divergence, encodeEpochCheckpoint, truncationOffset } from "../../src/replication/leader-epoch-cache.ts";

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

describe("divergence and follower truncation", () => {
  /** Runs the subscribe/answer/truncate exchange until the leader accepts, as the follower and leader would. */
  function reconcile(leader: LeaderEpochCache, leaderEnd: number, follower: LeaderEpochCache, followerEnd: number, followerHwm: number): number {
    for (let round = 0; round < 10; round++) {
      const answer = divergence(leader, leaderEnd, follower.latestEpoch, followerEnd);
      if (answer === null) return followerEnd;
      const target = truncationOffset(follower, followerEnd, followerHwm, answer);
      expect(target).toBeLessThan(followerEnd);
      followerEnd = target;
      follower.truncateFromEnd(followerEnd);
    }
    throw new Error("no agreement after 10 rounds");
  }

  test("an old leader's unacknowledged tail is cut back to where the new leader's epoch began", () => {
    // Epoch 1 wrote [0, 100). The old leader went on alone to 130; the new leader (epoch 2) started at 100.
    const leader = new LeaderEpochCache([
      { epoch: 1, startOffset: 0 },
      { epoch: 2, startOffset: 100 },
    ]);
    const oldLeader = new LeaderEpochCache([{ epoch: 1, startOffset: 0 }]);
    expect(divergence(leader, 150, 1, 130)).toEqual({ epoch: 1, endOffset: 100 });
    expect(reconcile(leader, 150, oldLeader, 130, 90)).toBe(100);
  });

  test("a follower behind the leader within the same history fetches on without truncating", () => {
    const leader = new LeaderEpochCache([
      { epoch: 1, startOffset: 0 },
      { epoch: 2, startOffset: 100 },
    ]);
    expect(divergence(leader, 150, 1, 80)).toBeNull();
    expect(divergence(leader, 150, 2, 120)).toBeNull();
    expect(divergence(leader, 150, UNDEFINED_EPOCH, 0)).toBeNull();
  });

  test("an epoch the leader never saw walks the follower back to the history both share", () => {
    // The follower led epoch 3 alone from 40; the leader's history went 1 -> 2 (at 50) -> 4 (at 70).
    const leader = new LeaderEpochCache([
      { epoch: 1, startOffset: 0 },
      { epoch: 2, startOffset: 50 },
      { epoch: 4, startOffset: 70 },
    ]);
    const follower = new LeaderEpochCache([
      { epoch: 1, startOffset: 0 },
      { epoch: 3, startOffset: 40 },
    ]);
    expect(divergence(leader, 80, 3, 60)).toEqual({ epoch: 2, endOffset: 70 });
    expect(reconcile(leader, 80, follower, 60, 30)).toBe(40);
    expect(follower.all).toEqual([{ epoch: 1, startOffset: 0 }]);
  });

  test("a follower past an epoch-less leader's end goes back to it; an unknown answer goes to the high watermark", () => {
    expect(divergence(new LeaderEpochCache(), 10, UNDEFINED_EPOCH, 25)).toEqual({ epoch: UNDEFINED_EPOCH, endOffset: 10 });
    expect(truncationOffset(new LeaderEpochCache(), 25, 5, { epoch: UNDEFINED_EPOCH, endOffset: 10 })).toBe(10);
    expect(truncationOffset(new LeaderEpochCache([{ epoch: 2, startOffset: 0 }]), 25, 5, { epoch: UNDEFINED_EPOCH, endOffset: UNDEFINED_OFFSET })).toBe(5);
  });
});
