import { afterEach, describe, expect, test } from "bun:test";
import * as fs from "node:fs";
import { SYNCFS_MIN_FDS } from "../../src/wal/flusher.ts";
import { LogManager } from "../../src/wal/log-manager.ts";
import { SyncfsError, SyncfsThread } from "../../src/wal/syncfs-thread.ts";
import { seededBatch, tempDir } from "./batch-builder.ts";

const NOW_MS = 1_700_000_000_000;
const EBADF = 9;
const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

describe.skipIf(process.platform !== "linux")("syncfs rounds", () => {
  test("a round with many dirty partitions costs one syncfs, and every append is released after it", async () => {
    const dataDir = tempDir("syncfs");
    dirs.push(dataDir);
    const manager = await LogManager.open({ dataDir, flushMode: "durable", clock: () => NOW_MS });
    const partitions = SYNCFS_MIN_FDS * 4;
    const logs = Array.from({ length: partitions }, (_, p) => manager.create("wide", p));
    await manager.flush();
    const before = manager.stats();
    let violations = 0;
    const results = logs.map((log, p) => ({ log, result: log.append(seededBatch(p, 3, 100, NOW_MS), { leaderEpoch: 0 }) }));
    await Promise.all(
      results.map(async ({ log, result }) => {
        await result.durable;
        if (log.flushedOffset <= result.lastOffset) violations++;
      }),
    );
    const after = manager.stats();
    expect(violations).toBe(0);
    expect(after.flushRounds - before.flushRounds).toBe(1);
    expect(after.fsyncCount - before.fsyncCount).toBe(1);
    await manager.close();
  });

  test("a failed syncfs rejects with its errno and the thread keeps serving", async () => {
    const thread = new SyncfsThread();
    const dataDir = tempDir("syncfs");
    dirs.push(dataDir);
    try {
      const error = await thread.syncfs(1 << 20).then(
        () => null,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(SyncfsError);
      expect((error as SyncfsError).errno).toBe(EBADF);
      const fd = fs.openSync(dataDir, "r");
      await thread.syncfs(fd);
      fs.closeSync(fd);
    } finally {
      thread.stop();
    }
  });
});
