import { describe, expect, test } from "bun:test";
import { IsrTracker } from "../../src/replication/isr-tracker.ts";

const LAG_MS = 30_000;

function tracker(overrides: Partial<ConstructorParameters<typeof IsrTracker>[0]> = {}): IsrTracker {
  return new IsrTracker({
    leaderId: 1,
    replicas: [1, 2, 3],
    isr: [1, 2, 3],
    leaderEpoch: 4,
    partitionEpoch: 9,
    leaderEpochStartOffset: 0,
    replicaLagTimeMaxMs: LAG_MS,
    nowMs: 1_000,
    ...overrides,
  });
}

describe("ISR tracker", () => {
  test("the high watermark is the minimum end offset over the ISR, held back by members not yet heard from", () => {
    const t = tracker();
    expect(t.highWatermark(100)).toBe(-1);
    t.onFollowerReport(2, 80, 100, 1_010);
    expect(t.highWatermark(100)).toBe(-1);
    t.onFollowerReport(3, 90, 100, 1_020);
    expect(t.highWatermark(100)).toBe(80);
    t.onFollowerReport(2, 100, 100, 1_030);
    expect(t.highWatermark(100)).toBe(90);
    // The leader's own counted end (durable end under the flush policy) bounds it too.
    expect(t.highWatermark(85)).toBe(85);
    // A report past the leader's end is a stale tail and counts only up to the leader's end.
    t.onFollowerReport(3, 500, 100, 1_040);
    expect(t.highWatermark(100)).toBe(100);
  });

  test("a follower that does not catch up within replica.lag.time.max.ms leaves the ISR; the leader never does", () => {
    const t = tracker();
    t.onFollowerReport(2, 100, 100, 2_000);
    t.onFollowerReport(3, 50, 100, 2_000);
    expect(t.planIsrChange(100, 50, 1_000 + LAG_MS)).toBeNull();
    // Follower 3 keeps reporting but stays behind a moving end: it last caught up when the tracker started.
    t.onFollowerReport(3, 60, 120, 10_000);
    t.onFollowerReport(3, 70, 140, 20_000);
    const proposal = t.planIsrChange(140, 70, 1_000 + LAG_MS + 1);
    expect(proposal).toEqual({ isr: [1, 2], leaderEpoch: 4, partitionEpoch: 9, reason: "shrink" });
    // One change at a time; the high watermark still waits for follower 3 until the shrink commits.
    expect(t.planIsrChange(140, 70, 1_000 + LAG_MS + 2)).toBeNull();
    t.onFollowerReport(2, 140, 140, 31_002);
    expect(t.highWatermark(140)).toBe(70);
    t.onPartitionRecord([1, 2], 10, 31_003);
    expect(t.isr).toEqual([1, 2]);
    expect(t.highWatermark(140)).toBe(140);
  });

  test("Kafka's catch-up rule: reaching the end the leader had at the previous report counts from that report", () => {
    const t = tracker({ nowMs: 0 });
    const leaderAt = (end: number, atMs: number) => t.onFollowerReport(2, end, end, atMs);
    leaderAt(100, 0);
    t.onFollowerReport(3, 100, 100, 0);
    // At 10 s the leader is at 200 and follower 3 reports 150: behind the current end and not yet at 200.
    leaderAt(200, 10_000);
    t.onFollowerReport(3, 150, 200, 10_000);
    expect(t.planIsrChange(200, 150, LAG_MS)).toBeNull();
    expect(t.planIsrChange(200, 150, LAG_MS + 1)?.isr).toEqual([1, 2]);
    t.onProposalFailed();
    // At 35 s it reports 200, the end the leader had at its previous report: caught up as of 10 s.
    leaderAt(300, 35_000);
    t.onFollowerReport(3, 200, 300, 35_000);
    expect(t.planIsrChange(300, 200, 10_000 + LAG_MS)).toBeNull();
    expect(t.planIsrChange(300, 200, 10_000 + LAG_MS + 1)?.isr).toEqual([1, 2]);
  });

  test("a follower at the leader's end is in sync however long it was quiet", () => {
    const t = tracker({ nowMs: 0 });
    t.onFollowerReport(2, 10, 10, 0);
    t.onFollowerReport(3, 10, 10, 0);
    expect(t.planIsrChange(10, 10, 10 * LAG_MS)).toBeNull();
  });

  test("an out-of-sync follower rejoins once it holds the high watermark and this epoch's start", () => {
    const t = tracker({ isr: [1, 2], leaderEpochStartOffset: 50 });
    t.onFollowerReport(2, 100, 100, 1_000);
    t.onFollowerReport(3, 40, 100, 1_000);
    expect(t.planIsrChange(100, 100, 1_000)).toBeNull();
    t.onFollowerReport(3, 99, 100, 1_100);
    expect(t.planIsrChange(100, 100, 1_100)).toBeNull();
    t.onFollowerReport(3, 100, 100, 1_200);
    const proposal = t.planIsrChange(100, 100, 1_200);
    expect(proposal).toEqual({ isr: [1, 2, 3], leaderEpoch: 4, partitionEpoch: 9, reason: "expand" });
    // While the expansion is pending the high watermark already waits for the joiner (maximal ISR).
    expect(t.maximalIsr).toEqual([1, 2, 3]);
    t.onFollowerReport(2, 110, 110, 1_300);
    expect(t.highWatermark(110)).toBe(100);
  });

  test("a stale record does not roll the ISR back", () => {
    const t = tracker();
    t.onPartitionRecord([1, 2], 11, 5);
    t.onPartitionRecord([1, 2, 3], 10, 6);
    expect(t.isr).toEqual([1, 2]);
    expect(t.currentPartitionEpoch).toBe(11);
  });

  test("the leader must be a replica and in the ISR", () => {
    expect(() => tracker({ isr: [2, 3] })).toThrow(/invariant/);
    expect(() => tracker({ leaderId: 7 })).toThrow(/invariant/);
  });
});

test("a fenced broker is not proposed for the ISR however in sync its last report was", () => {
  const t = tracker({ isr: [1, 2] });
  t.onFollowerReport(2, 0, 0, 1_000);
  t.onFollowerReport(3, 0, 0, 1_000);
  expect(t.planIsrChange(0, 0, 1_000, (id) => id !== 3)).toBeNull();
  expect(t.planIsrChange(0, 0, 1_000, () => true)?.isr).toEqual([1, 2, 3]);
});

describe("low watermark (when DeleteRecords is answered)", () => {
  const everyoneLive = () => true;

  test("is the minimum log start over the leader and every live follower, held back by followers not yet heard from", () => {
    const t = tracker();
    expect(t.lowWatermark(60, everyoneLive)).toBe(-1);
    t.onFollowerLogStart(2, 60);
    expect(t.lowWatermark(60, everyoneLive)).toBe(-1);
    t.onFollowerLogStart(3, 40);
    expect(t.lowWatermark(60, everyoneLive)).toBe(40);
    t.onFollowerLogStart(3, 60);
    expect(t.lowWatermark(60, everyoneLive)).toBe(60);
    // The leader's own log start bounds it too.
    expect(t.lowWatermark(50, everyoneLive)).toBe(50);
  });

  test("counts followers outside the ISR and leaves out those on fenced brokers, as Kafka's lowWatermarkIfLeader", () => {
    const t = tracker({ isr: [1, 2] });
    t.onFollowerLogStart(2, 60);
    t.onFollowerLogStart(3, 10);
    expect(t.lowWatermark(60, everyoneLive)).toBe(10);
    expect(t.lowWatermark(60, (id) => id !== 3)).toBe(60);
    // Not yet heard from, but fenced: it does not hold the answer back.
    const fresh = tracker();
    fresh.onFollowerLogStart(2, 60);
    expect(fresh.lowWatermark(60, (id) => id !== 3)).toBe(60);
  });

  test("with no followers (one replica) it is the leader's log start", () => {
    expect(tracker({ replicas: [1], isr: [1] }).lowWatermark(60, everyoneLive)).toBe(60);
  });

  test("a follower leaving the ISR keeps its reported log start", () => {
    const t = tracker();
    t.onFollowerLogStart(2, 60);
    t.onFollowerLogStart(3, 60);
    t.onPartitionRecord([1, 2], 10, 2_000);
    expect(t.lowWatermark(60, everyoneLive)).toBe(60);
  });
});
