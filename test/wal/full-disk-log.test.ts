/**
 * A partition log on a full disk (a small tmpfs): every change the disk refuses must leave the log as it was, in
 * memory and as the next open (clean or after a crash) finds it, and retention, which frees space, must work with
 * none left. Needs root (mount).
 */
import { afterEach, expect, test } from "bun:test";
import * as fs from "node:fs";
import * as path from "node:path";
import { LogManager } from "../../src/wal/log-manager.ts";
import type { PartitionLog } from "../../src/wal/partition-log.ts";
import { isStorageError } from "../../src/wal/segment.ts";
import { fillDisk, mountTmpfs, tmpfsUnavailable, type Tmpfs } from "../helpers/tmpfs.ts";
import { seededBatch } from "./batch-builder.ts";

const NOW_MS = 1_700_000_000_000;
const TMPFS_BYTES = 4 * 1024 * 1024;
/** Eight of the batches below fill a segment, so the ninth rolls. */
const SEGMENT_BYTES = 64 * 1024;
const BATCHES_PER_SEGMENT = 8;
const VALUE_BYTES = 8000;
const PAGE_BYTES = 4096;

const SKIP_REASON = tmpfsUnavailable();
if (SKIP_REASON !== null) test.skip(`a partition log on a full disk (${SKIP_REASON})`, () => {});

let disk: Tmpfs | null = null;
let logs: LogManager | null = null;

afterEach(() => {
  logs?.abandon();
  logs = null;
  disk?.remove();
  disk = null;
});

async function openLog(): Promise<PartitionLog> {
  logs = await LogManager.open({ dataDir: path.join(disk!.dir, "data"), flushMode: "durable", clock: () => NOW_MS, defaults: { segmentBytes: SEGMENT_BYTES } });
  return logs.create("t", 0);
}

/** Stops as a crash would and opens the log again: what the files on disk say. */
async function reopenAfterCrash(): Promise<PartitionLog> {
  logs!.abandon();
  return await openLog();
}

async function reopenAfterCleanClose(): Promise<PartitionLog> {
  await logs!.close();
  return await openLog();
}

function batch(n: number): Uint8Array {
  return seededBatch(n, 1, VALUE_BYTES, NOW_MS + n);
}

/** Appends batches for records from..to-1 (one record each, so record n sits at offset n) and waits until durable. */
async function appendRecords(log: PartitionLog, from: number, to: number): Promise<void> {
  for (let n = from; n < to; n++) await log.append(batch(n), { leaderEpoch: 1 }).durable;
  log.highWatermark = log.logEndOffset;
}

/** The log from its start holds exactly records from..to-1, byte for byte. */
function expectHolds(log: PartitionLog, from: number, to: number): void {
  expect([log.logStartOffset, log.logEndOffset]).toEqual([from, to]);
  const read = log.read(from, 1 << 30);
  if ("outOfRange" in read) throw new Error(`offset ${from} out of range`);
  const bytes = Buffer.concat(read.batches);
  read.release();
  const expected = Array.from({ length: to - from }, (_, i) => {
    const b = batch(from + i);
    new DataView(b.buffer).setBigInt64(0, BigInt(from + i));
    // As stamped on append: partitionLeaderEpoch 1 (the CRC does not cover it).
    new DataView(b.buffer).setInt32(12, 1);
    return b;
  });
  expect(bytes.equals(Buffer.concat(expected))).toBe(true);
}

function expectStorageError(change: () => void): void {
  let thrown: unknown = null;
  try {
    change();
  } catch (error) {
    thrown = error;
  }
  if (!isStorageError(thrown)) throw new Error(`expected a storage error, got ${String(thrown)}`);
}

test.skipIf(SKIP_REASON !== null)("a log start the disk cannot save does not move, in memory or after a crash", async () => {
  disk = mountTmpfs(TMPFS_BYTES, "chronik-full-log-start-");
  let log = await openLog();
  await appendRecords(log, 0, 20);
  const filler = path.join(disk.dir, "filler");
  fillDisk(filler);

  // DeleteRecords on a leader, or a follower following its leader's log start.
  expectStorageError(() => log.deleteRecordsBefore(5));
  expectHolds(log, 0, 20);
  // A follower whose leader's log starts past its end.
  const segments = log.segmentCount;
  expectStorageError(() => log.restartAt(100));
  expectHolds(log, 0, 20);
  expect(log.segmentCount).toBe(segments);
  log = await reopenAfterCrash();
  expectHolds(log, 0, 20);

  fs.rmSync(filler);
  log.deleteRecordsBefore(5);
  expectHolds(log, 5, 20);
  log = await reopenAfterCrash();
  expectHolds(log, 5, 20);
});

test.skipIf(SKIP_REASON !== null)("a roll the disk cannot take fails the append and leaves the segments as they were", async () => {
  disk = mountTmpfs(TMPFS_BYTES, "chronik-full-roll-");
  let log = await openLog();
  // Two full segments: the next batch rolls, and the active one has no reserved space left to give back.
  await appendRecords(log, 0, 2 * BATCHES_PER_SEGMENT);
  expect(log.segmentCount).toBe(2);
  const filler = path.join(disk.dir, "filler");
  fillDisk(filler);
  const files = () => fs.readdirSync(log.dir).filter((f) => f.endsWith(".log")).sort();
  const logFiles = files();

  // Refused while saving the rolled segment's indexes.
  expectStorageError(() => log.append(batch(16), { leaderEpoch: 1 }));
  expect(log.segmentCount).toBe(2);
  expectHolds(log, 0, 16);
  // Room for the indexes (two pages) but not for the new segment's first batch: the new segment goes again.
  fs.truncateSync(filler, fs.statSync(filler).size - 2 * PAGE_BYTES);
  expectStorageError(() => log.append(batch(16), { leaderEpoch: 1 }));
  expect(log.segmentCount).toBe(2);
  expect(files()).toEqual(logFiles);
  expectHolds(log, 0, 16);

  fs.rmSync(filler);
  await appendRecords(log, 16, 17);
  expect(log.segmentCount).toBe(3);
  expectHolds(log, 0, 17);
  log = await reopenAfterCrash();
  expect(log.recovery.truncatedBytes).toBe(0);
  expectHolds(log, 0, 17);
  log = await reopenAfterCleanClose();
  expectHolds(log, 0, 17);
});

test.skipIf(SKIP_REASON !== null)("retention deletes segments on a full disk, freeing it, and the log start it reached survives a crash", async () => {
  disk = mountTmpfs(TMPFS_BYTES, "chronik-full-retention-");
  let log = await openLog();
  // Four full segments, the active one with no reserved space left to give back.
  await appendRecords(log, 0, 4 * BATCHES_PER_SEGMENT);
  fillDisk(path.join(disk.dir, "filler"));

  // By size: the two oldest segments go.
  const newest = log.describeSegments().slice(2);
  logs!.updateConfig("t", { retentionBytes: newest.reduce((sum, s) => sum + s.sizeBytes, 0) });
  expect(log.applyRetention(NOW_MS).deleteCount).toBe(2);
  expectHolds(log, 16, 32);
  fillDisk(path.join(disk.dir, "filler-2"));
  log = await reopenAfterCrash();
  expectHolds(log, 16, 32);

  // By time: every segment goes, the active one too, and an empty one takes over at the log end.
  logs!.updateConfig("t", { retentionMs: 60_000 });
  expect(log.applyRetention(NOW_MS + 3_600_000).deleteCount).toBe(2);
  expect(log.segmentCount).toBe(1);
  expectHolds(log, 32, 32);
  // The space is free again: the log takes appends.
  await appendRecords(log, 32, 34);
  expectHolds(log, 32, 34);
  log = await reopenAfterCrash();
  expectHolds(log, 32, 34);
});

test.skipIf(SKIP_REASON !== null)("DeleteRecords on a full disk frees the whole segments below the offset, then saves the log start", async () => {
  disk = mountTmpfs(TMPFS_BYTES, "chronik-full-delete-records-");
  let log = await openLog();
  // Records 0-7 and 8-15 fill two segments; 16-19 are in the active one.
  await appendRecords(log, 0, 20);
  expect(log.segmentCount).toBe(3);
  const filler = path.join(disk.dir, "filler");
  fillDisk(filler);
  expect(() => fs.writeFileSync(path.join(disk.dir, "probe"), "17")).toThrow(/ENOSPC/);

  // Removing the two segments below 17 needs no space and frees enough to save the log start.
  log.deleteRecordsBefore(17);
  expect(log.segmentCount).toBe(1);
  expectHolds(log, 17, 20);
  log = await reopenAfterCrash();
  expectHolds(log, 17, 20);
  // The freed space takes a new segment: the log rolls and goes on.
  await appendRecords(log, 20, 30);
  expectHolds(log, 17, 30);
});
