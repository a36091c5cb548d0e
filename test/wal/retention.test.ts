import { afterEach, describe, expect, test } from "bun:test";
import * as fs from "node:fs";
import { LogManager } from "../../src/wal/log-manager.ts";
import { planRetention, type SegmentStats } from "../../src/wal/retention.ts";
import { seededBatch, tempDir } from "./batch-builder.ts";

const seg = (baseOffset: number, nextOffset: number, sizeBytes: number, maxTimestampMs: number): SegmentStats => ({ baseOffset, nextOffset, sizeBytes, maxTimestampMs });
const segments = [seg(0, 10, 100, 1_000), seg(10, 20, 100, 2_000), seg(20, 30, 100, 3_000), seg(30, 35, 50, 4_000)];
const base = { segments, retentionMs: -1, retentionBytes: -1, logStartOffset: 0, upperBoundOffset: 35, nowMs: 5_000 };

describe("retention planner", () => {
  test("infinite retention deletes nothing", () => {
    expect(planRetention(base)).toEqual({ deleteCount: 0, reason: "none", logStartOffset: 0 });
  });

  test("retention.ms deletes the expired prefix", () => {
    expect(planRetention({ ...base, retentionMs: 2_500 })).toEqual({ deleteCount: 2, reason: "retention.ms", logStartOffset: 20 });
    expect(planRetention({ ...base, retentionMs: 3_000 })).toMatchObject({ deleteCount: 1 });
    expect(planRetention({ ...base, retentionMs: 0 })).toEqual({ deleteCount: 4, reason: "retention.ms", logStartOffset: 35 });
  });

  test("retention.bytes deletes while the rest still exceeds it", () => {
    expect(planRetention({ ...base, retentionBytes: 250 })).toEqual({ deleteCount: 1, reason: "retention.bytes", logStartOffset: 10 });
    expect(planRetention({ ...base, retentionBytes: 249 })).toMatchObject({ deleteCount: 1 });
    expect(planRetention({ ...base, retentionBytes: 150 })).toMatchObject({ deleteCount: 2 });
    expect(planRetention({ ...base, retentionBytes: 350 })).toMatchObject({ deleteCount: 0 });
  });

  test("never deletes past the high watermark or an empty last segment", () => {
    expect(planRetention({ ...base, retentionMs: 0, upperBoundOffset: 25 })).toMatchObject({ deleteCount: 2, logStartOffset: 20 });
    const withEmpty = [...segments, seg(35, 35, 0, -1)];
    expect(planRetention({ ...base, segments: withEmpty, retentionMs: 0 })).toMatchObject({ deleteCount: 4, logStartOffset: 35 });
  });

  test("segments wholly below the log start offset go", () => {
    expect(planRetention({ ...base, logStartOffset: 22 })).toEqual({ deleteCount: 2, reason: "log-start-offset", logStartOffset: 22 });
    expect(planRetention({ ...base, logStartOffset: 35 })).toMatchObject({ deleteCount: 3, logStartOffset: 35 });
  });
});

describe("retention on disk", () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
  });

  test("deletes old segments, advances and persists the log start offset, reads below it are out of range", async () => {
    const dir = tempDir("retention");
    dirs.push(dir);
    let nowMs = 1_700_000_000_000;
    const open = () => LogManager.open({ dataDir: dir, defaults: { segmentBytes: 1024, retentionMs: 60_000 }, clock: () => nowMs });
    const manager = await open();
    const log = manager.create("t", 0);
    for (let i = 0; i < 20; i++) log.append(seededBatch(i, 1, 200, nowMs + i), { leaderEpoch: 0 }).durable;
    nowMs += 120_000;
    for (let i = 0; i < 3; i++) log.append(seededBatch(i, 1, 200, nowMs), { leaderEpoch: 0 });
    log.highWatermark = log.logEndOffset;
    const before = log.segmentCount;
    const deleted = manager.runRetention(nowMs);
    expect(deleted).toBeGreaterThan(0);
    expect(log.segmentCount).toBe(before - deleted);
    const start = log.logStartOffset;
    expect(start).toBe(log.describeSegments()[0]!.baseOffset);
    expect(start).toBeGreaterThan(10);
    expect(start).toBeLessThanOrEqual(20);
    for (let offset = 0; offset < start; offset++) expect(log.read(offset, 1000)).toEqual({ outOfRange: true });
    const read = log.read(start, 1000);
    expect("batches" in read && read.bytes > 0).toBe(true);
    if ("batches" in read) read.release();
    await manager.close();

    const reopened = await open();
    expect(reopened.get("t", 0)!.logStartOffset).toBe(start);
    expect(reopened.get("t", 0)!.logEndOffset).toBe(23);
    // Everything expires: the log rolls, keeps its end offset and never reuses an offset.
    nowMs += 120_000;
    const again = reopened.get("t", 0)!;
    expect(reopened.runRetention(nowMs)).toBeGreaterThan(0);
    expect(again.logStartOffset).toBe(23);
    expect(again.append(seededBatch(1, 1, 10, nowMs), { leaderEpoch: 0 }).baseOffset).toBe(23);
    await reopened.close();
    const last = await open();
    expect(last.get("t", 0)!.logStartOffset).toBe(23);
    expect(last.get("t", 0)!.logEndOffset).toBe(24);
    await last.close();
  });
});
