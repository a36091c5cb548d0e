import { describe, expect, test } from "bun:test";
import { ErrorCode } from "../../src/protocol/error-codes.ts";
import { LowWatermarkWaiters, type LowWatermarkOutcome } from "../../src/replication/low-watermark-waiters.ts";

function parked(waiters: LowWatermarkWaiters, offset: number): { outcomes: LowWatermarkOutcome[]; withdraw: () => void } {
  const outcomes: LowWatermarkOutcome[] = [];
  const withdraw = waiters.park(offset, (outcome) => outcomes.push(outcome));
  if (withdraw === null) throw new Error("not parked");
  return { outcomes, withdraw };
}

describe("DeleteRecords waiting for the low watermark", () => {
  test("each wait is answered once, when the low watermark reaches its offset, with that low watermark", () => {
    const waiters = new LowWatermarkWaiters(10);
    const at60 = parked(waiters, 60);
    const at80 = parked(waiters, 80);
    waiters.release(59);
    expect(at60.outcomes).toEqual([]);
    waiters.release(70);
    expect(at60.outcomes).toEqual([{ errorCode: ErrorCode.NONE, lowWatermark: 70 }]);
    expect(at80.outcomes).toEqual([]);
    expect(waiters.size).toBe(1);
    waiters.release(80);
    waiters.release(90);
    expect(at60.outcomes.length).toBe(1);
    expect(at80.outcomes).toEqual([{ errorCode: ErrorCode.NONE, lowWatermark: 80 }]);
    expect(waiters.size).toBe(0);
  });

  test("a withdrawn wait (timed out) is never answered", () => {
    const waiters = new LowWatermarkWaiters(10);
    const wait = parked(waiters, 60);
    wait.withdraw();
    waiters.release(100);
    waiters.fail(ErrorCode.NOT_LEADER_OR_FOLLOWER);
    expect(wait.outcomes).toEqual([]);
    expect(waiters.size).toBe(0);
  });

  test("losing the partition ends every wait with the error and no low watermark", () => {
    const waiters = new LowWatermarkWaiters(10);
    const a = parked(waiters, 60);
    const b = parked(waiters, 61);
    waiters.fail(ErrorCode.NOT_LEADER_OR_FOLLOWER);
    expect([...a.outcomes, ...b.outcomes]).toEqual([
      { errorCode: ErrorCode.NOT_LEADER_OR_FOLLOWER, lowWatermark: -1 },
      { errorCode: ErrorCode.NOT_LEADER_OR_FOLLOWER, lowWatermark: -1 },
    ]);
    waiters.release(100);
    expect(a.outcomes.length + b.outcomes.length).toBe(2);
  });

  test("parks at most the bound", () => {
    const waiters = new LowWatermarkWaiters(2);
    parked(waiters, 1);
    parked(waiters, 2);
    expect(waiters.park(3, () => {})).toBeNull();
    waiters.release(1);
    expect(waiters.park(3, () => {})).not.toBeNull();
  });
});
