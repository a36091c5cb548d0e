import { describe, expect, test } from "bun:test";
import { check, compareReplicas, formatVerdict, splitBatches, type ReplicaLog } from "./lib/checker.ts";
import { parseEventLine, type HistoryEvent } from "./lib/history.ts";
import { FaultSchedule } from "./lib/schedule.ts";

const send = (value: string, process = "p1"): HistoryEvent => ({ kind: "send", process, value, atMs: 0 });
const ack = (value: string, partition: number, offset: number, process = "p1"): HistoryEvent => ({ kind: "ack", process, value, partition, offset, atMs: 1 });
const read = (value: string, partition: number, offset: number, process = "final"): HistoryEvent => ({ kind: "read", process, value, partition, offset, atMs: 2 });

/** A record batch header with the given base offset and record count, followed by `payload`. */
function batch(baseOffset: number, records: number, payload: number[] = []): Uint8Array {
  const bytes = new Uint8Array(61 + payload.length);
  const view = new DataView(bytes.buffer);
  view.setBigInt64(0, BigInt(baseOffset));
  view.setInt32(8, bytes.length - 12);
  view.setInt32(23, records - 1);
  bytes.set(payload, 61);
  return bytes;
}

const clean: HistoryEvent[] = [send("a"), send("b"), ack("a", 0, 0), ack("b", 0, 1), read("a", 0, 0, "c1"), read("b", 0, 1, "c1"), read("a", 0, 0), read("b", 0, 1)];

describe("check", () => {
  test("a clean history passes", () => {
    const result = check({ history: clean, finalReader: "final", highWatermarks: [2] });
    expect(result.ok).toBe(true);
    expect(result.acknowledged).toBe(2);
    expect(result.read).toBe(4);
    expect(formatVerdict(result, 7)).toBe("VERDICT: OK (seed 7): 2 acknowledged, 4 read, no anomalies");
  });

  test("an acknowledged value missing from the final read is lost, with its send and ack in the excerpt", () => {
    const history = [send("a"), send("b"), ack("a", 0, 0), ack("b", 0, 1), read("a", 0, 0)];
    const result = check({ history, finalReader: "final", highWatermarks: [1] });
    expect(result.counts.lost).toBe(1);
    expect(result.anomalies[0]!.message).toBe("b was acknowledged at 0:1 at or past the high watermark 1");
    expect(result.anomalies[0]!.excerpt).toEqual([send("b"), ack("b", 0, 1), read("a", 0, 0)]);
    const verdict = formatVerdict(result, 42);
    expect(verdict).toContain("FAILED (seed 42): 1 lost");
    expect(verdict).toContain("p1 ack b at 0:1");
  });

  test("an unacknowledged value that never shows up is no anomaly", () => {
    const history = [send("a"), send("b"), ack("a", 0, 0), read("a", 0, 0)];
    expect(check({ history, finalReader: "final", highWatermarks: [1] }).ok).toBe(true);
  });

  test("a value at two offsets is a duplicate", () => {
    const history = [send("a"), ack("a", 0, 0), read("a", 0, 0), read("a", 0, 1)];
    const result = check({ history, finalReader: "final", highWatermarks: [2] });
    expect(result.counts.duplicate).toBe(1);
    expect(result.anomalies[0]!.message).toBe("a was observed at 0:0, 0:1");
  });

  test("one offset read with two values anywhere is an inconsistent offset (and here a lost ack)", () => {
    const history = [send("a"), send("x"), ack("a", 1, 5), read("x", 1, 5)];
    const result = check({ history, finalReader: "final", highWatermarks: [0, 6] });
    expect(result.counts["inconsistent-offset"]).toBe(1);
    expect(result.counts.lost).toBe(1);
    expect(result.anomalies.find((a) => a.kind === "inconsistent-offset")!.excerpt).toEqual([ack("a", 1, 5), read("x", 1, 5)]);
  });

  test("a reader going back within a partition is non-monotonic; other partitions and readers are independent", () => {
    const history = [read("a", 0, 0, "c1"), read("c", 1, 0, "c1"), read("a", 0, 0, "c2"), read("b", 0, 1, "c1"), read("a", 0, 0, "c1")];
    const result = check({ history, finalReader: "final", highWatermarks: [2, 1] });
    expect(result.counts["non-monotonic"]).toBe(1);
    expect(result.anomalies[0]!.excerpt).toEqual([read("b", 0, 1, "c1"), read("a", 0, 0, "c1")]);
  });

  test("a group consumer assigned a partition again may start over from its commit", () => {
    const assign = (partition: number, process = "g1"): HistoryEvent => ({ kind: "assign", process, partition, atMs: 3 });
    const history = [assign(0), read("a", 0, 0, "g1"), read("b", 0, 1, "g1"), assign(0), read("b", 0, 1, "g1"), read("a", 0, 0, "g1")];
    const result = check({ history, finalReader: "final", highWatermarks: [2] });
    expect(result.counts["non-monotonic"]).toBe(1);
    expect(result.anomalies[0]!.excerpt).toEqual([read("b", 0, 1, "g1"), read("a", 0, 0, "g1")]);
  });

  test("members of a second group read apart: one member's assign lets only that member start over", () => {
    const assign = (partition: number, process: string): HistoryEvent => ({ kind: "assign", process, partition, atMs: 3 });
    const history = [
      assign(0, "g1g1"),
      assign(0, "jg1g1"),
      read("a", 0, 0, "g1g1"),
      read("a", 0, 0, "jg1g1"),
      read("b", 0, 1, "jg1g1"),
      read("b", 0, 1, "g1g1"),
      assign(0, "jg1g1"),
      read("a", 0, 0, "jg1g1"),
      read("a", 0, 0, "g1g1"),
    ];
    const result = check({ history, finalReader: "final", highWatermarks: [2] });
    expect(result.counts["non-monotonic"]).toBe(1);
    expect(result.anomalies[0]!.excerpt).toEqual([read("b", 0, 1, "g1g1"), read("a", 0, 0, "g1g1")]);
  });

  test("examples are capped per kind while the counts stay exact", () => {
    const history = Array.from({ length: 20 }, (_, i) => ack(`v${i}`, 0, i));
    const result = check({ history, finalReader: "final", highWatermarks: [20] });
    expect(result.counts.lost).toBe(20);
    expect(result.anomalies.length).toBe(5);
  });

  test("replica divergence fails the verdict", () => {
    const replicas: ReplicaLog[] = [
      { node: 1, partitions: [[batch(0, 2, [1])]] },
      { node: 2, partitions: [[batch(0, 2, [2])]] },
    ];
    const result = check({ history: [], finalReader: "final", highWatermarks: [2], replicas });
    expect(result.ok).toBe(false);
    expect(result.counts["replica-divergence"]).toBe(1);
  });
});

describe("compareReplicas", () => {
  test("replicas equal up to the high watermark pass, whatever lies past it", () => {
    const replicas: ReplicaLog[] = [
      { node: 1, partitions: [[batch(0, 2, [1]), batch(2, 1, [9])]] },
      { node: 2, partitions: [[batch(0, 2, [1])]] },
      { node: 3, partitions: [[batch(0, 2, [1]), batch(2, 3, [7])]] },
    ];
    expect(compareReplicas(replicas, [2])).toEqual([]);
  });

  test("a differing batch is named by partition, index, offsets and nodes", () => {
    const replicas: ReplicaLog[] = [
      { node: 1, partitions: [[], [batch(0, 1, [1]), batch(1, 1, [2])]] },
      { node: 3, partitions: [[], [batch(0, 1, [1]), batch(1, 1, [3])]] },
    ];
    expect(compareReplicas(replicas, [0, 2])).toEqual(["partition 1: batch 1 differs between node 1 (offsets 1..1 (62 bytes)) and node 3 (offsets 1..1 (62 bytes))"]);
  });

  test("runs of batches are split by their lengths before comparing", () => {
    const first = batch(0, 2, [1]);
    const second = batch(2, 2, [2]);
    const run = new Uint8Array([...first, ...second]);
    expect(splitBatches(run)).toEqual([first, second]);
    expect(compareReplicas([{ node: 1, partitions: [[run]] }, { node: 2, partitions: [[first, second]] }], [4])).toEqual([]);
    expect(() => splitBatches(run.subarray(0, run.length - 1))).toThrow("a batch at byte 62 claims 62 bytes of a 123-byte run");
  });

  test("a replica short of the high watermark is reported", () => {
    const replicas: ReplicaLog[] = [
      { node: 1, partitions: [[batch(0, 2), batch(2, 2)]] },
      { node: 2, partitions: [[batch(0, 2)]] },
    ];
    const problems = compareReplicas(replicas, [4]);
    expect(problems[0]).toBe("node 2 holds partition 0 only up to offset 2, below the high watermark 4");
    expect(problems[1]).toContain("batch 1 differs between node 1 (offsets 2..3");
  });
});

describe("parseEventLine", () => {
  test("reads the workload clients' lines and ignores noise", () => {
    expect(parseEventLine("send p1g1-3", "p1g1", 5)).toEqual({ kind: "send", process: "p1g1", value: "p1g1-3", atMs: 5 });
    expect(parseEventLine("ack 2 17 p1g1-3", "p1g1", 5)).toEqual({ kind: "ack", process: "p1g1", value: "p1g1-3", partition: 2, offset: 17, atMs: 5 });
    expect(parseEventLine("fail p1g1-4 _MSG_TIMED_OUT", "p1g1", 5)).toEqual({ kind: "fail", process: "p1g1", value: "p1g1-4", error: "_MSG_TIMED_OUT", atMs: 5 });
    expect(parseEventLine("assign 1", "g1g1", 5)).toEqual({ kind: "assign", process: "g1g1", partition: 1, atMs: 5 });
    expect(parseEventLine("read x 1 v", "c1", 5)).toBeNull();
    expect(parseEventLine("%4|librdkafka warning", "c1", 5)).toBeNull();
  });
});

describe("FaultSchedule", () => {
  const options = { nodeCount: 3, kinds: ["kill", "pause", "partition"] as const, sessionTimeoutMs: 2_500 };
  const take = (seed: number, n: number) => {
    const schedule = new FaultSchedule(seed, options);
    return Array.from({ length: n }, () => schedule.next());
  };

  test("one seed gives one schedule; another seed another", () => {
    expect(take(1, 50)).toEqual(take(1, 50));
    expect(take(1, 50)).not.toEqual(take(2, 50));
  });

  test("targets are nodes or the controller, pauses outlast the session, and every kind occurs", () => {
    const faults = take(9, 300);
    expect(faults.every((f) => f.target === "controller" || (f.target >= 1 && f.target <= 3))).toBe(true);
    expect(faults.filter((f) => f.kind === "pause").every((f) => f.durationMs > 2_500)).toBe(true);
    expect(new Set(faults.map((f) => f.kind))).toEqual(new Set(["kill", "pause", "partition"]));
    expect(faults.some((f) => f.target === "controller")).toBe(true);
  });

  test("only the allowed kinds are scheduled", () => {
    const schedule = new FaultSchedule(3, { ...options, kinds: ["kill"] });
    expect(Array.from({ length: 30 }, () => schedule.next().kind).every((k) => k === "kill")).toBe(true);
  });
});
