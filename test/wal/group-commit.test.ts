import { afterEach, describe, expect, test } from "bun:test";
import * as fs from "node:fs";
import { LogManager } from "../../src/wal/log-manager.ts";
import { seededBatch, tempDir, waitFor } from "./batch-builder.ts";

const NOW_MS = 1_700_000_000_000;
const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

function dir(): string {
  const d = tempDir("group");
  dirs.push(d);
  return d;
}

describe("group commit", () => {
  test("64 concurrent appenders over 8 partitions cost far fewer fsyncs than appends", async () => {
    const manager = await LogManager.open({ dataDir: dir(), flushMode: "durable", clock: () => NOW_MS });
    const logs = Array.from({ length: 8 }, (_, p) => manager.create("busy", p));
    const appendsEach = 20;
    let violations = 0;
    const appender = async (id: number) => {
      const log = logs[id % logs.length]!;
      for (let i = 0; i < appendsEach; i++) {
        const result = log.append(seededBatch(id * 1000 + i, 2, 100, NOW_MS), { leaderEpoch: 0 });
        await result.durable;
        // Released only once a flush covering its bytes returned.
        if (log.flushedOffset <= result.lastOffset) violations++;
      }
    };
    await Promise.all(Array.from({ length: 64 }, (_, id) => appender(id)));
    const stats = manager.stats();
    const appends = 64 * appendsEach;
    expect(violations).toBe(0);
    expect(stats.appendsFlushed).toBe(appends);
    expect(stats.fsyncCount).toBeLessThan(appends / 4);
    expect(stats.maxAppendsPerRound).toBeGreaterThan(8);
    await manager.close();
  });

  test("fdatasync runs off the JS thread: the event loop keeps turning while a flush is in flight", async () => {
    const manager = await LogManager.open({ dataDir: dir(), flushMode: "durable", clock: () => NOW_MS });
    const log = manager.create("big", 0);
    const batch = seededBatch(1, 1, 60_000, NOW_MS);
    let result = log.append(batch, { leaderEpoch: 0 });
    for (let i = 0; i < 500; i++) result = log.append(batch, { leaderEpoch: 0 });
    let done = false;
    let turns = 0;
    const spin = () => {
      if (done) return;
      turns++;
      setImmediate(spin);
    };
    setImmediate(spin);
    await result.durable;
    done = true;
    // A blocking fdatasync would finish the round inside one callback, before the spinner ever ran.
    expect(turns).toBeGreaterThan(2);
    expect(manager.stats().flushRounds).toBe(1);
    await manager.close();
  });

  test("fast mode acknowledges at once and syncs in the background", async () => {
    const manager = await LogManager.open({ dataDir: dir(), flushMode: "fast", flushIntervalMs: 20, clock: () => NOW_MS });
    const log = manager.create("quick", 0);
    let settled = false;
    const result = log.append(seededBatch(1, 1, 10, NOW_MS), { leaderEpoch: 0 });
    void result.durable.then(() => (settled = true));
    await Promise.resolve();
    expect(settled).toBe(true);
    expect(manager.stats().fsyncCount).toBe(0);
    await waitFor(() => manager.stats().fsyncCount > 0 && log.flushedOffset === 1, "the background flush");
    await manager.close();
  });

  test("fast mode honours a topic's flush.messages", async () => {
    const manager = await LogManager.open({ dataDir: dir(), flushMode: "fast", flushIntervalMs: 60_000, clock: () => NOW_MS });
    const log = manager.create("eager", 0, { flushMessages: 3 });
    for (let i = 0; i < 2; i++) log.append(seededBatch(i, 1, 10, NOW_MS), { leaderEpoch: 0 });
    log.append(seededBatch(2, 1, 10, NOW_MS), { leaderEpoch: 0 });
    await waitFor(() => log.flushedOffset === 3, "a flush after 3 messages");
    await manager.close();
  });
});
