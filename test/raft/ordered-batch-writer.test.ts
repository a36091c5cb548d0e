import { describe, expect, test } from "bun:test";
import { OrderedBatchWriter, WriterClosedError } from "../../src/raft/ordered-batch-writer.ts";
import type { Timers } from "../../src/raft/tcp-transport.ts";

/** A store whose commits the test settles by hand, and timers the test fires by hand. */
class Harness {
  /** Keys as the store holds them after the commits that succeeded, applied in the order they settled. */
  readonly stored = new Map<string, number>();
  readonly commits: { ops: [string, number][]; settle(ok: boolean): Promise<void> }[] = [];
  readonly timers: { callback: () => void; delayMs: number; cleared: boolean }[] = [];
  readonly resolved: string[] = [];
  readonly failures: number[] = [];
  recoveries = 0;
  readonly writer: OrderedBatchWriter<[string, number]>;

  constructor(maxInFlight = 2) {
    const timers: Timers = {
      setTimeout: (callback, delayMs) => {
        const timer = { callback, delayMs, cleared: false };
        this.timers.push(timer);
        return timer;
      },
      clearTimeout: (handle) => {
        (handle as { cleared: boolean }).cleared = true;
      },
    };
    this.writer = new OrderedBatchWriter<[string, number]>({
      maxInFlight,
      timers,
      retryInitialDelayMs: 10,
      retryMaxDelayMs: 40,
      commit: (ops) =>
        new Promise<void>((resolve, reject) => {
          this.commits.push({
            ops,
            settle: async (ok) => {
              if (ok) {
                for (const [key, value] of ops) this.stored.set(key, value);
                resolve();
              } else reject(new Error("ENOSPC"));
              await flush();
            },
          });
        }),
      onFailure: (_error, retryInMs) => this.failures.push(retryInMs),
      onRecovered: () => this.recoveries++,
    });
  }

  write(name: string, ops: [string, number][]): Promise<void> {
    const durable = this.writer.write(ops);
    durable.then(
      () => this.resolved.push(name),
      () => this.resolved.push(`${name} failed`),
    );
    return durable;
  }

  async fireTimer(): Promise<void> {
    const timer = this.timers.find((t) => !t.cleared);
    if (!timer) throw new Error("no timer pending");
    timer.cleared = true;
    timer.callback();
    await flush();
  }
}

async function flush(): Promise<void> {
  for (let i = 0; i < 10; i++) await Promise.resolve();
}

describe("OrderedBatchWriter", () => {
  test("writes handed off while commits run gather into one batch, and resolve in hand-off order", async () => {
    const h = new Harness(2);
    h.write("a", [["k1", 1]]);
    h.write("b", [["k2", 1]]);
    h.write("c", [["k3", 1]]);
    h.write("d", [["k4", 1]]);
    expect(h.commits.map((c) => c.ops.map(([k]) => k))).toEqual([["k1"], ["k2"]]);
    await h.commits[1]!.settle(true);
    // b landed first but waits for a.
    expect(h.resolved).toEqual([]);
    expect(h.commits.map((c) => c.ops.map(([k]) => k))).toEqual([["k1"], ["k2"], ["k3", "k4"]]);
    await h.commits[0]!.settle(true);
    expect(h.resolved).toEqual(["a", "b"]);
    await h.commits[2]!.settle(true);
    expect(h.resolved).toEqual(["a", "b", "c", "d"]);
  });

  test("a failed commit is written again with every later batch, in order, after a growing delay, until it succeeds", async () => {
    const h = new Harness(2);
    h.write("a", [["term", 5]]);
    h.write("b", [["term", 6]]);
    await h.commits[0]!.settle(false);
    // b is still running: nothing is retried until it settles, and its success does not resolve it.
    expect(h.failures).toEqual([10]);
    await h.fireTimer();
    expect(h.commits).toHaveLength(2);
    await h.commits[1]!.settle(true);
    expect(h.stored.get("term")).toBe(6);
    expect(h.resolved).toEqual([]);
    // The retry carries a, then b: b's later value is the one left, not a's.
    expect(h.commits[2]!.ops).toEqual([
      ["term", 5],
      ["term", 6],
    ]);
    h.write("c", [["term", 7]]);
    await h.commits[2]!.settle(false);
    expect(h.failures).toEqual([10, 20]);
    await h.fireTimer();
    expect(h.commits[3]!.ops).toEqual([
      ["term", 5],
      ["term", 6],
      ["term", 7],
    ]);
    await h.commits[3]!.settle(true);
    expect(h.resolved).toEqual(["a", "b", "c"]);
    expect(h.stored.get("term")).toBe(7);
    expect(h.recoveries).toBe(1);
    expect(h.writer.failing).toBe(false);
    // Back to normal: a new write commits on its own at once.
    h.write("d", [["term", 8]]);
    expect(h.commits[4]!.ops).toEqual([["term", 8]]);
  });

  test("the retry delay doubles up to its maximum", async () => {
    const h = new Harness(1);
    h.write("a", [["k", 1]]);
    await h.commits[0]!.settle(false);
    for (let attempt = 1; attempt <= 4; attempt++) {
      await h.fireTimer();
      await h.commits[attempt]!.settle(false);
    }
    expect(h.failures).toEqual([10, 20, 40, 40, 40]);
  });

  test("close while failing gives up on the writes that are not durable instead of waiting for the disk", async () => {
    const h = new Harness(1);
    h.write("a", [["k", 1]]);
    await h.commits[0]!.settle(false);
    h.write("b", [["k", 2]]);
    await h.writer.close();
    await flush();
    expect(h.resolved).toEqual(["a failed", "b failed"]);
    expect(h.timers.every((t) => t.cleared)).toBe(true);
    await expect(h.writer.write([["k", 3]])).rejects.toBeInstanceOf(WriterClosedError);
  });

  test("close while healthy lets the writes handed off finish", async () => {
    const h = new Harness(1);
    h.write("a", [["k", 1]]);
    h.write("b", [["k", 2]]);
    const closed = h.writer.close();
    await h.commits[0]!.settle(true);
    await h.commits[1]!.settle(true);
    await closed;
    expect(h.resolved).toEqual(["a", "b"]);
  });
});
