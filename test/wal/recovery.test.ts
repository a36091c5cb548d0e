import { afterEach, describe, expect, test } from "bun:test";
import * as fs from "node:fs";
import * as path from "node:path";
import { readBatchHeader, validateBatches } from "../../src/protocol/record-batch.ts";
import { LogManager } from "../../src/wal/log-manager.ts";
import type { PartitionLog } from "../../src/wal/partition-log.ts";
import { seededBatch, tempDir } from "./batch-builder.ts";

const NOW_MS = 1_700_000_000_000;
const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

function open(dir: string, defaults = {}): Promise<LogManager> {
  return LogManager.open({ dataDir: dir, defaults, clock: () => NOW_MS });
}

function fill(log: PartitionLog, from: number, n: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let i = from; i < from + n; i++) {
    const batch = seededBatch(i, 3, 40 + (i % 7) * 13, NOW_MS + i);
    log.append(batch, { leaderEpoch: 1 });
    out.push(batch);
  }
  return out;
}

/** Every batch the log serves, checked for CRC, plus the bytes. */
function served(log: PartitionLog): Uint8Array[] {
  const result = log.read(log.logStartOffset, 1 << 30);
  if ("outOfRange" in result) throw new Error("out of range");
  const out: Uint8Array[] = [];
  for (const run of result.batches) {
    const check = validateBatches(run, 1 << 30);
    expect(check.ok).toBe(true);
    if (check.ok) for (const b of check.batches) out.push(run.slice(b.position, b.position + b.batchLength + 12));
  }
  result.release();
  return out;
}

describe("recovery", () => {
  test("a tail cut or zeroed at every byte of the last batch loses only that batch", async () => {
    const dir = tempDir("cut");
    dirs.push(dir);
    const manager = await open(dir);
    const written = fill(manager.create("t", 0), 0, 8);
    await manager.flush();
    manager.abandon();
    const file = path.join(dir, "t-0", "00000000000000000000.log");
    const total = written.reduce((n, b) => n + b.length, 0);
    // The file is pre-sized; a few pages of its zero tail stand in for all of it.
    const image = fs.readFileSync(file).subarray(0, total + 8192);
    const lastStart = total - written[7]!.length;
    for (let cut = lastStart; cut <= total; cut++) {
      for (const mode of ["short", "zeroed"] as const) {
        const bytes = new Uint8Array(image);
        if (mode === "short") fs.writeFileSync(file, bytes.subarray(0, cut));
        else fs.writeFileSync(file, (bytes.fill(0, cut), bytes));
        const reopened = await open(dir);
        const log = reopened.get("t", 0)!;
        // Zeroing bytes that were already zero (the last batch ends in a 0 header count) changes nothing.
        const intact = cut === total || (mode === "zeroed" && image.subarray(cut, total).every((b) => b === 0));
        const expected = intact ? 8 : 7;
        expect(log.logEndOffset).toBe(expected * 3);
        expect(served(log)).toEqual(written.slice(0, expected));
        reopened.abandon();
      }
    }
  });

  test("a flipped byte in the middle of the tail truncates from that batch; later appends continue there", async () => {
    const dir = tempDir("flip");
    dirs.push(dir);
    const manager = await open(dir, { segmentBytes: 4096 });
    const log = manager.create("t", 0);
    const written = fill(log, 0, 40);
    await manager.flush();
    const segments = log.describeSegments();
    const last = segments[segments.length - 1]!;
    manager.abandon();
    const file = path.join(dir, "t-0", `${String(last.baseOffset).padStart(20, "0")}.log`);
    const bytes = fs.readFileSync(file);
    const firstBatch = last.baseOffset / 3;
    const middle = firstBatch + Math.floor((40 - firstBatch) / 2);
    let position = 0;
    for (let i = firstBatch; i < middle; i++) position += written[i]!.length;
    bytes[position + 70]! ^= 0x40;
    fs.writeFileSync(file, bytes);

    const reopened = await open(dir, { segmentBytes: 4096 });
    const recovered = reopened.get("t", 0)!;
    expect(recovered.recovery.clean).toBe(false);
    expect(recovered.recovery.truncatedBytes).toBeGreaterThan(0);
    expect(recovered.logEndOffset).toBe(middle * 3);
    expect(served(recovered)).toEqual(written.slice(0, middle));
    const next = fill(recovered, 100, 2);
    expect(served(recovered)).toEqual([...written.slice(0, middle), ...next]);
    await reopened.close();
    const clean = await open(dir, { segmentBytes: 4096 });
    expect(served(clean.get("t", 0)!)).toEqual([...written.slice(0, middle), ...next]);
    await clean.close();
  });

  test("missing or behind indexes are rebuilt and lookups still work", async () => {
    const dir = tempDir("index");
    dirs.push(dir);
    const defaults = { segmentBytes: 8192, indexIntervalBytes: 256 };
    const manager = await open(dir, defaults);
    const written = fill(manager.create("t", 0), 0, 100);
    const before = manager.get("t", 0)!.describeSegments();
    await manager.close();
    const partitionDir = path.join(dir, "t-0");
    const indexes = fs.readdirSync(partitionDir).filter((f) => f.endsWith(".index")).sort();
    fs.rmSync(path.join(partitionDir, indexes[0]!));
    fs.rmSync(path.join(partitionDir, indexes[1]!.replace(".index", ".timeindex")));
    const behind = path.join(partitionDir, indexes[2]!);
    fs.truncateSync(behind, Math.floor(fs.statSync(behind).size / 16) * 8);
    const garbage = path.join(partitionDir, indexes[3]!);
    fs.writeFileSync(garbage, new Uint8Array(fs.statSync(garbage).size).fill(0x7f));

    const reopened = await open(dir, defaults);
    const log = reopened.get("t", 0)!;
    expect(log.describeSegments()).toEqual(before);
    for (let offset = 0; offset < 300; offset += 7) {
      const result = log.read(offset, 1);
      if ("outOfRange" in result) throw new Error("out of range");
      expect(result.bytes).toBe(0);
      const one = log.read(offset, 1, { minOneBatch: true });
      if ("outOfRange" in one) throw new Error("out of range");
      // append stamped offsets and epoch into `written` in place, so the bytes must match exactly.
      expect(one.batches[0]).toEqual(written[Math.floor(offset / 3)]!);
      expect(readBatchHeader(one.batches[0]!, 0).baseOffset).toBe(Math.floor(offset / 3) * 3);
      one.release();
      // Batch j holds timestamps NOW+j, NOW+j+1, NOW+j+2 at offsets 3j, 3j+1, 3j+2.
      const k = Math.floor(offset / 3);
      expect(log.offsetForTimestamp(NOW_MS + k)).toEqual({ offset: 3 * Math.max(0, k - 2) + Math.min(k, 2), timestamp: NOW_MS + k });
    }
    await reopened.close();
    // The rebuilt indexes were saved: every file is whole again.
    for (const [i, segment] of before.entries()) {
      expect(fs.statSync(path.join(partitionDir, indexes[i]!)).size).toBe(segment.offsetIndexEntries * 8);
      expect(fs.statSync(path.join(partitionDir, indexes[i]!.replace(".index", ".timeindex"))).size).toBe(segment.timeIndexEntries * 12);
    }
  });

  test("segments after a corrupt one are dropped so the log stays contiguous", async () => {
    const dir = tempDir("gap");
    dirs.push(dir);
    const manager = await open(dir, { segmentBytes: 2048 });
    const log = manager.create("t", 0);
    const written = fill(log, 0, 40);
    await manager.flush();
    const segments = log.describeSegments();
    expect(segments.length).toBeGreaterThan(3);
    manager.abandon();
    // A segment below the recovery point losing its end (only a failing disk does that) must not leave a hole.
    const victim = segments[segments.length - 3]!;
    const file = path.join(dir, "t-0", `${String(victim.baseOffset).padStart(20, "0")}.log`);
    fs.truncateSync(file, fs.statSync(file).size - 5);
    const reopened = await open(dir, { segmentBytes: 2048 });
    const recovered = reopened.get("t", 0)!;
    expect(recovered.recovery.droppedSegments).toBe(2);
    expect(recovered.logEndOffset).toBeLessThan(victim.nextOffset);
    expect(served(recovered)).toEqual(written.slice(0, recovered.logEndOffset / 3));
    await reopened.close();
  });
});
