import { ErrorCode } from "../protocol/error-codes.ts";

/**
 * DeleteRecords requests parked on one partition until its low watermark (the minimum log start offset over its
 * live replicas, IsrTracker.lowWatermark) reaches the offset each asked for: Kafka's DelayedDeleteRecords. Pure:
 * the caller computes the low watermark, calls release when it may have moved, and owns the timers.
 */

export interface LowWatermarkOutcome {
  readonly errorCode: number;
  /** The low watermark when the wait ended, or -1 with an error (Kafka's INVALID_LOW_WATERMARK). */
  readonly lowWatermark: number;
}

interface Waiter {
  readonly offset: number;
  readonly settle: (outcome: LowWatermarkOutcome) => void;
}

export class LowWatermarkWaiters {
  private readonly waiters = new Set<Waiter>();

  constructor(private readonly maxWaiters: number) {}

  get size(): number {
    return this.waiters.size;
  }

  /**
   * Parks a wait for the low watermark to reach `offset`; `settle` runs once, from release or fail. Returns the
   * function that withdraws it (a timeout), or null when the bound is reached and nothing was parked.
   */
  park(offset: number, settle: (outcome: LowWatermarkOutcome) => void): (() => void) | null {
    if (this.waiters.size >= this.maxWaiters) return null;
    const waiter: Waiter = { offset, settle };
    this.waiters.add(waiter);
    return () => void this.waiters.delete(waiter);
  }

  /** Answers every wait the low watermark now covers. */
  release(lowWatermark: number): void {
    for (const waiter of [...this.waiters]) {
      if (waiter.offset > lowWatermark) continue;
      this.waiters.delete(waiter);
      waiter.settle({ errorCode: ErrorCode.NONE, lowWatermark });
    }
  }

  /** The partition cannot answer here any more (leadership moved, partition gone): every wait ends with errorCode. */
  fail(errorCode: number): void {
    const waiters = [...this.waiters];
    this.waiters.clear();
    for (const waiter of waiters) waiter.settle({ errorCode, lowWatermark: -1 });
  }
}
