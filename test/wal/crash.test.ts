import { afterEach, expect, test } from "bun:test";
import * as fs from "node:fs";
import * as path from "node:path";
import { rewriteBaseOffset, setPartitionLeaderEpoch } from "../../src/protocol/record-batch.ts";
import { Prng } from "../../src/raft/prng.ts";
import { LogManager } from "../../src/wal/log-manager.ts";
import { seededBatch, tempDir, waitFor } from "./batch-builder.ts";

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

const SEED = Number(process.env.CHRONIK_CRASH_SEED ?? 20261124);

test(`every offset reported durable survives SIGKILL, byte for byte (seed ${SEED})`, async () => {
  const prng = new Prng(SEED);
  for (let round = 0; round < 3; round++) {
    const dir = tempDir("crash");
    dirs.push(dir);
    const child = Bun.spawn([process.execPath, path.join(import.meta.dir, "crash-child.ts"), dir, String(1 + prng.int(16))], {
      stdout: "pipe",
      stderr: "ignore",
    });
    const durable = new Map<number, number>();
    let text = "";
    let ready = false;
    const reader = (async () => {
      const decoder = new TextDecoder();
      for await (const chunk of child.stdout) {
        text += decoder.decode(chunk, { stream: true });
        const lines = text.split("\n");
        text = lines.pop()!;
        for (const line of lines) {
          if (line === "ready") ready = true;
          else {
            const [seq, offset] = line.split(" ").map(Number);
            durable.set(seq!, offset!);
          }
        }
      }
    })();
    await waitFor(() => ready, "crash child to open its log", 20_000);
    const target = 50 + prng.int(1500);
    await waitFor(() => durable.size >= target, `${target} durable appends from the child`, 30_000);
    child.kill("SIGKILL");
    await child.exited;
    await reader;

    const manager = await LogManager.open({ dataDir: dir, defaults: { segmentBytes: 256 * 1024, indexIntervalBytes: 1024 } });
    const log = manager.get("crash", 0)!;
    expect(log.recovery.clean).toBe(false);
    for (const [seq, offset] of durable) {
      const expected = seededBatch(seq, 1 + (seq % 5), 50 + (seq % 13) * 37, 1_700_000_000_000 + seq);
      rewriteBaseOffset(expected, 0, offset);
      setPartitionLeaderEpoch(expected, 0, 2);
      const read = log.read(offset, 1, { minOneBatch: true });
      if ("outOfRange" in read) throw new Error(`offset ${offset} (seq ${seq}) out of range after crash; log end ${log.logEndOffset}`);
      expect(read.batches[0]!.subarray(0, expected.length)).toEqual(expected);
      read.release();
    }
    await manager.close();
  }
}, 90_000);
