import { afterEach, describe, expect, test } from "bun:test";
import * as fs from "node:fs";
import * as path from "node:path";
import { readBatchHeader, timestampType } from "../../src/protocol/record-batch.ts";
import { LogManager } from "../../src/wal/log-manager.ts";
import type { PartitionLog, ReadResult } from "../../src/wal/partition-log.ts";
import { seededBatch, tempDir } from "./batch-builder.ts";

const NOW_MS = 1_700_000_000_000;
const dirs: string[] = [];
const managers: LogManager[] = [];

afterEach(async () => {
  for (const m of managers.splice(0)) await m.close();
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

async function openManager(defaults = {}, dir = tempDir("plog")): Promise<LogManager> {
  if (!dirs.includes(dir)) dirs.push(dir);
  const manager = await LogManager.open({ dataDir: dir, defaults, flushMode: "durable", clock: () => NOW_MS });
  managers.push(manager);
  return manager;
}

/** Appends n batches of 2 records each; batch i holds timestamps NOW+10i, NOW+10i+1. */
function fill(log: PartitionLog, n: number, valueBytes = 100): Uint8Array[] {
  const written: Uint8Array[] = [];
  for (let i = 0; i < n; i++) {
    const batch = seededBatch(i, 2, valueBytes, NOW_MS + i * 10);
    log.append(batch, { leaderEpoch: 3 });
    written.push(batch);
  }
  return written;
}

function readAll(log: PartitionLog, from: number): Uint8Array[] {
  const result = log.read(from, 1 << 30);
  if ("outOfRange" in result) throw new Error("out of range");
  const out = splitBatches(result);
  result.release();
  return out;
}

function splitBatches(result: ReadResult): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (const run of result.batches) {
    let at = 0;
    while (at < run.length) {
      const size = readBatchHeader(run, at).batchLength + 12;
      out.push(run.slice(at, at + size));
      at += size;
    }
  }
  return out;
}

describe("partition log", () => {
  test("appends and reads across segment rolls, finding every offset", async () => {
    const manager = await openManager({ segmentBytes: 2048, indexIntervalBytes: 300 });
    const log = manager.create("orders.v1-eu", 0);
    const written = fill(log, 60);
    expect(log.logEndOffset).toBe(120);
    expect(log.segmentCount).toBeGreaterThan(5);
    expect(log.describeSegments().some((s) => s.offsetIndexEntries > 0)).toBe(true);
    for (let offset = 0; offset < 120; offset++) {
      const batches = readAll(log, offset);
      const first = Math.floor(offset / 2);
      expect(batches.length).toBe(60 - first);
      expect(batches[0]).toEqual(written[first]!);
      expect(readBatchHeader(batches[0]!, 0).baseOffset).toBe(first * 2);
      expect(readBatchHeader(batches[0]!, 0).partitionLeaderEpoch).toBe(3);
    }
    expect(readAll(log, 120)).toEqual([]);
    expect(log.read(121, 100)).toEqual({ outOfRange: true });
  });

  test("read honours maxBytes, minOneBatch and maxOffset", async () => {
    const manager = await openManager({ segmentBytes: 4096 });
    const log = manager.create("t", 1);
    const written = fill(log, 20);
    const size = written[0]!.length;
    const two = log.read(0, size * 2 + 10) as ReadResult;
    expect(two.bytes).toBe(size * 2);
    two.release();
    expect((log.read(0, 10) as ReadResult).bytes).toBe(0);
    const one = log.read(0, 10, { minOneBatch: true }) as ReadResult;
    expect(one.bytes).toBe(size);
    one.release();
    const bounded = log.read(4, 1 << 20, { maxOffset: 10 }) as ReadResult;
    expect(splitBatches(bounded).map((b) => readBatchHeader(b, 0).baseOffset)).toEqual([4, 6, 8]);
    bounded.release();
    expect(() => bounded.release()).toThrow();
  });

  test("finds offsets by timestamp and the max timestamp", async () => {
    const manager = await openManager({ segmentBytes: 2048, indexIntervalBytes: 200 });
    const log = manager.create("t", 0);
    fill(log, 50);
    for (let i = 0; i < 50; i++) {
      expect(log.offsetForTimestamp(NOW_MS + i * 10)).toEqual({ offset: i * 2, timestamp: NOW_MS + i * 10 });
      expect(log.offsetForTimestamp(NOW_MS + i * 10 + 1)).toEqual({ offset: i * 2 + 1, timestamp: NOW_MS + i * 10 + 1 });
      if (i < 49) expect(log.offsetForTimestamp(NOW_MS + i * 10 + 5)).toEqual({ offset: i * 2 + 2, timestamp: NOW_MS + i * 10 + 10 });
    }
    expect(log.offsetForTimestamp(NOW_MS + 10_000)).toBeNull();
    expect(log.maxTimestamp()).toEqual({ offset: 99, timestamp: NOW_MS + 491 });
  });

  test("stamps LogAppendTime and a batch larger than a segment still fits", async () => {
    const manager = await openManager({ segmentBytes: 1024 });
    const log = manager.create("t", 0);
    fill(log, 3);
    const big = seededBatch(99, 4, 1000, NOW_MS);
    const result = log.append(big, { leaderEpoch: 4, logAppendTimeMs: NOW_MS + 77 });
    await result.durable;
    expect(result.logAppendTimeMs).toBe(NOW_MS + 77);
    const stored = readAll(log, result.baseOffset)[0]!;
    const header = readBatchHeader(stored, 0);
    expect(stored.length).toBe(big.length);
    expect(timestampType(header.attributes)).toBe("LogAppendTime");
    expect(header.maxTimestamp).toBe(NOW_MS + 77);
    fill(log, 2);
    expect(log.logEndOffset).toBe(6 + 4 + 4);
  });

  test("small batches copied into the mapping and large ones written through the fd read back alike", async () => {
    const manager = await openManager({ segmentBytes: 512 * 1024 });
    const log = manager.create("mixed", 0);
    const sizes = [100, 20_000, 1_000, 100_000, 16_384, 3, 70_000, 500];
    const written = sizes.map((valueBytes, i) => {
      const batch = seededBatch(i, 1, valueBytes, NOW_MS + i);
      log.append(batch, { leaderEpoch: 1 });
      return batch;
    });
    expect(readAll(log, 0)).toEqual(written);
    await manager.flush();
    const dir = manager.dataDir;
    manager.abandon();
    managers.splice(managers.indexOf(manager), 1);
    const reopened = await openManager({ segmentBytes: 512 * 1024 }, dir);
    expect(readAll(reopened.get("mixed", 0)!, 0)).toEqual(written);
  });

  test("truncateTo removes the tail and appends continue from there", async () => {
    const manager = await openManager({ segmentBytes: 1500 });
    const log = manager.create("t", 0);
    const written = fill(log, 30);
    log.truncateTo(21);
    expect(log.logEndOffset).toBe(20);
    const again = seededBatch(500, 2, 100, NOW_MS);
    expect(log.append(again, { leaderEpoch: 5 }).baseOffset).toBe(20);
    const all = readAll(log, 0);
    expect(all.slice(0, 10)).toEqual(written.slice(0, 10));
    expect(all[10]).toEqual(again);
    log.truncateTo(0);
    expect(log.logEndOffset).toBe(0);
    expect(readAll(log, 0)).toEqual([]);
  });

  test("segment.ms rolls on the spread of batch timestamps, as Kafka does", async () => {
    const manager = await openManager({ segmentMs: 60_000 });
    const log = manager.create("t", 0);
    log.append(seededBatch(1, 1, 10, 1_000), { leaderEpoch: 0 });
    log.append(seededBatch(2, 1, 10, 1_000 + 60_000), { leaderEpoch: 0 });
    expect(log.segmentCount).toBe(1);
    log.append(seededBatch(3, 1, 10, 1_000 + 60_001), { leaderEpoch: 0 });
    expect(log.segmentCount).toBe(2);
  });

  test("wakes append listeners", async () => {
    const manager = await openManager();
    const log = manager.create("t", 0);
    let calls = 0;
    const off = log.onAppend(() => calls++);
    fill(log, 2);
    off();
    fill(log, 1);
    expect(calls).toBe(2);
  });

  test("a mapping stays alive while a read holds it, and goes when released", async () => {
    const manager = await openManager({ segmentBytes: 1024, retentionBytes: 0 });
    const log = manager.create("held", 0);
    const written = fill(log, 10);
    log.highWatermark = log.logEndOffset;
    const read = log.read(0, 300) as ReadResult;
    const segmentFile = path.join(manager.dataDir, "held-0", "00000000000000000000.log");
    expect(manager.runRetention(NOW_MS)).toBeGreaterThan(0);
    expect(fs.existsSync(segmentFile)).toBe(false);
    expect(log.read(0, 100)).toEqual({ outOfRange: true });
    const maps = () => fs.readFileSync("/proc/self/maps", "utf8");
    expect(maps()).toContain(segmentFile);
    expect(read.batches[0]!.slice(0, written[0]!.length)).toEqual(written[0]!);
    read.release();
    expect(maps()).not.toContain(segmentFile);
  });

  test("create is idempotent, topic names with dashes and dots stay distinct, deleteTopic removes files", async () => {
    const manager = await openManager();
    const a = manager.create("a-1", 2);
    const b = manager.create("a", 12);
    expect(manager.create("a-1", 2)).toBe(a);
    fill(a, 1);
    fill(b, 2);
    await manager.close();
    managers.splice(managers.indexOf(manager), 1);
    const reopened = await openManager({}, manager.dataDir);
    expect(reopened.get("a-1", 2)!.logEndOffset).toBe(2);
    expect(reopened.get("a", 12)!.logEndOffset).toBe(4);
    await reopened.deleteTopic("a-1");
    expect(reopened.get("a-1", 2)).toBeUndefined();
    expect(fs.readdirSync(manager.dataDir)).toEqual(["a-12"]);
  });
});

describe("replicated appends", () => {
  test("a follower's log takes the leader's batches byte for byte and refuses a gap", async () => {
    const manager = await openManager({ segmentBytes: 4096 }, tempDir("plog-leader"));
    const leader = manager.create("replicated", 0);
    const follower = manager.create("replicated", 1);
    fill(leader, 20);
    for (const batch of readAll(leader, 0)) {
      const result = follower.appendReplicated(batch);
      await result.durable;
    }
    expect(follower.logEndOffset).toBe(leader.logEndOffset);
    expect(readAll(follower, 0)).toEqual(readAll(leader, 0));
    expect(readBatchHeader(readAll(follower, 0)[0]!, 0).partitionLeaderEpoch).toBe(3);
    const next = seededBatch(99, 2, 10, NOW_MS);
    // seededBatch starts at offset 0: not where the follower's log ends.
    expect(() => follower.appendReplicated(next)).toThrow(/does not continue the log/);
    expect(follower.logEndOffset).toBe(leader.logEndOffset);
  });
});

describe("restart at an offset", () => {
  test("a follower's log empties and continues at its leader's log start, across a reopen", async () => {
    const dir = tempDir("plog-restart");
    const manager = await openManager({ segmentBytes: 2048 }, dir);
    const log = manager.create("restarted", 0);
    fill(log, 10);
    log.restartAt(500);
    expect(log.logStartOffset).toBe(500);
    expect(log.logEndOffset).toBe(500);
    expect(log.read(0, 1 << 20)).toEqual({ outOfRange: true });
    const batch = seededBatch(1, 2, 10, NOW_MS);
    const view = new DataView(batch.buffer, batch.byteOffset);
    view.setBigInt64(0, 500n);
    await log.appendReplicated(batch).durable;
    expect(log.logEndOffset).toBe(502);
    await manager.close();
    managers.splice(managers.indexOf(manager), 1);
    const reopened = (await openManager({ segmentBytes: 2048 }, dir)).get("restarted", 0)!;
    expect(reopened.logStartOffset).toBe(500);
    expect(reopened.logEndOffset).toBe(502);
  });
});
