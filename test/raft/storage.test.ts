import { afterEach, expect, test } from "bun:test";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { open } from "lmdb";
import { Packr } from "msgpackr";
import { CLEAN_SHUTDOWN_FILE } from "../../src/wal/segment-files.ts";
import { RaftStorage } from "../../src/raft/storage.ts";
import { EntryType, type Entry } from "../../src/raft/types.ts";

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "chronik-raft-"));
  dirs.push(dir);
  return dir;
}

function entry(index: number, term: number, text = `cmd-${index}`): Entry {
  return { index, term, type: EntryType.Normal, data: new TextEncoder().encode(text) };
}

test("empty store loads the initial state", async () => {
  const storage = RaftStorage.open(tempDir());
  expect(storage.load()).toEqual({ hardState: { term: 0, vote: 0, commit: 0 }, snapshot: undefined, entries: [] });
  await storage.close();
});

test("write, reopen, identical; truncation replaces a conflicting suffix", async () => {
  const dir = tempDir();
  let storage = RaftStorage.open(dir);
  storage.load();
  await storage.persist({ hardState: { term: 2, vote: 3, commit: 2 }, entriesToPersist: [1, 2, 3, 4].map((i) => entry(i, i < 3 ? 1 : 2)) });
  await storage.persist({ entriesToPersist: [entry(3, 3, "replaced-3")] });
  await storage.close();

  storage = RaftStorage.open(dir);
  const loaded = storage.load();
  expect(loaded.hardState).toEqual({ term: 2, vote: 3, commit: 2 });
  expect(loaded.entries).toEqual([entry(1, 1), entry(2, 1), entry(3, 3, "replaced-3")]);
  await storage.close();
});

test("pipelined writes complete in order, and a truncation removes entries still being written", async () => {
  const dir = tempDir();
  let storage = RaftStorage.open(dir);
  storage.load();
  const completed: number[] = [];
  const writes = [
    storage.persist({ hardState: { term: 2, vote: 1, commit: 0 }, entriesToPersist: [1, 2, 3, 4, 5].map((i) => entry(i, 2)) })!,
    // Handed off behind the first write, before it completes: the stored keys 4 and 5 exist only in the write thread.
    storage.persist({ hardState: { term: 3, vote: 0, commit: 0 }, entriesToPersist: [entry(3, 3, "new-3"), entry(4, 3, "new-4")] })!,
    // More than the batches in flight: these gather into the next batch, which truncates again and extends.
    storage.persist({ hardState: { term: 4, vote: 0, commit: 0 }, entriesToPersist: [entry(4, 4, "newer-4")] })!,
    storage.persist({ entriesToPersist: [entry(5, 4), entry(6, 4)] })!,
  ];
  expect(storage.handedOff).toEqual({ term: 4, vote: 0 });
  expect(storage.durable).toEqual({ term: 0, vote: 0 });
  await Promise.all(writes.map((write, i) => write.then(() => completed.push(i))));
  expect(completed).toEqual([0, 1, 2, 3]);
  expect(storage.durable).toEqual({ term: 4, vote: 0 });
  await storage.close();

  storage = RaftStorage.open(dir);
  expect(storage.load()).toEqual({
    hardState: { term: 4, vote: 0, commit: 0 },
    snapshot: undefined,
    entries: [entry(1, 2), entry(2, 2), entry(3, 3, "new-3"), entry(4, 4, "newer-4"), entry(5, 4), entry(6, 4)],
  });
  await storage.close();
});

test("local compaction keeps entries after the snapshot; a leader's snapshot drops the whole log", async () => {
  const dir = tempDir();
  let storage = RaftStorage.open(dir);
  storage.load();
  void storage.persist({ hardState: { term: 1, vote: 1, commit: 5 }, entriesToPersist: [1, 2, 3, 4, 5, 6].map((i) => entry(i, 1)) });
  // Compaction may be handed off while the entries it covers are still being written.
  const snapshot = { index: 4, term: 1, data: new Uint8Array([9, 9]) };
  await storage.persist({ snapshotToPersist: snapshot, entriesToPersist: [] });
  await storage.close();
  storage = RaftStorage.open(dir);
  let loaded = storage.load();
  expect(loaded.snapshot).toEqual(snapshot);
  expect(loaded.entries).toEqual([entry(5, 1), entry(6, 1)]);

  const fromLeader = { index: 10, term: 4, data: new Uint8Array([1, 2, 3]) };
  await storage.persist({ hardState: { term: 4, vote: 0, commit: 10 }, snapshotToPersist: fromLeader, snapshotToApply: fromLeader, entriesToPersist: [entry(11, 4)] });
  await storage.close();
  storage = RaftStorage.open(dir);
  loaded = storage.load();
  expect(loaded).toEqual({ hardState: { term: 4, vote: 0, commit: 10 }, snapshot: fromLeader, entries: [entry(11, 4)] });
  await storage.close();
});

test("writes handed off while a leader's snapshot is being saved land after it, in order", async () => {
  const dir = tempDir();
  let storage = RaftStorage.open(dir);
  storage.load();
  await storage.persist({ hardState: { term: 1, vote: 1, commit: 5 }, entriesToPersist: [1, 2, 3, 4, 5].map((i) => entry(i, 1)) });
  const fromLeader = { index: 20, term: 3, data: new Uint8Array([4, 2]) };
  const completed: number[] = [];
  const writes = [
    storage.persist({ hardState: { term: 3, vote: 0, commit: 20 }, snapshotToPersist: fromLeader, snapshotToApply: fromLeader, entriesToPersist: [] })!,
    storage.persist({ entriesToPersist: [entry(21, 3)] })!,
    storage.persist({ entriesToPersist: [entry(22, 3), entry(23, 3)] })!,
  ];
  await Promise.all(writes.map((write, i) => write.then(() => completed.push(i))));
  expect(completed).toEqual([0, 1, 2]);
  await storage.close();
  storage = RaftStorage.open(dir);
  expect(storage.load()).toEqual({ hardState: { term: 3, vote: 0, commit: 20 }, snapshot: fromLeader, entries: [entry(21, 3), entry(22, 3), entry(23, 3)] });
  await storage.close();
});

test("a ready that only moves the commit index writes nothing; the commit index goes with the next new term or vote, or at close", async () => {
  const dir = tempDir();
  let storage = RaftStorage.open(dir);
  storage.load();
  await storage.persist({ hardState: { term: 1, vote: 1, commit: 0 }, entriesToPersist: [entry(1, 1), entry(2, 1)] });
  expect(storage.persist({ hardState: { term: 1, vote: 1, commit: 2 }, entriesToPersist: [] })).toBeUndefined();
  await storage.persist({ entriesToPersist: [entry(3, 1)] });
  await storage.persist({ hardState: { term: 2, vote: 0, commit: 3 }, entriesToPersist: [] });
  expect(storage.persist({ hardState: { term: 2, vote: 0, commit: 3 }, entriesToPersist: [entry(4, 2)] })).toBeDefined();
  // A crash now: the commit index of the last new term is on disk, not the one moved since.
  expect(storage.persist({ hardState: { term: 2, vote: 0, commit: 4 }, entriesToPersist: [] })).toBeUndefined();
  const crashed = RaftStorage.open(dir);
  expect(crashed.load().hardState).toEqual({ term: 2, vote: 0, commit: 3 });
  await storage.close();
  await crashed.close();
  storage = RaftStorage.open(dir);
  expect(storage.load()).toEqual({ hardState: { term: 2, vote: 0, commit: 4 }, snapshot: undefined, entries: [entry(1, 1), entry(2, 1), entry(3, 1), entry(4, 2)] });
  await storage.close();
});

test("a new term or vote is written at once, without entries, and is durable once the write completes", async () => {
  const dir = tempDir();
  const storage = RaftStorage.open(dir);
  storage.load();
  const written = storage.persist({ hardState: { term: 3, vote: 2, commit: 0 }, entriesToPersist: [] });
  expect(written).toBeDefined();
  expect(storage.handedOff).toEqual({ term: 3, vote: 2 });
  await written;
  expect(storage.durable).toEqual({ term: 3, vote: 2 });
  const reader = RaftStorage.open(dir);
  expect(reader.load().hardState).toEqual({ term: 3, vote: 2, commit: 0 });
  await reader.close();
  await storage.close();
});

test("after a crash the log keeps every entry written before a torn tail", async () => {
  const dir = tempDir();
  const storage = RaftStorage.open(dir);
  storage.load();
  await storage.persist({ hardState: { term: 1, vote: 1, commit: 0 }, entriesToPersist: [1, 2, 3].map((i) => entry(i, 1)) });
  await storage.close();
  // A torn append: part of a batch after the last whole one, and no clean-shutdown marker, as after kill -9.
  rmSync(join(dir, "__cluster_metadata-0", CLEAN_SHUTDOWN_FILE));
  const segment = readdirSync(join(dir, "__cluster_metadata-0")).find((name) => name.endsWith(".log"))!;
  const segmentPath = join(dir, "__cluster_metadata-0", segment);
  const whole = readFileSync(segmentPath);
  const firstBatchBytes = whole.readInt32BE(8) + 12;
  const end = 3 * firstBatchBytes;
  writeFileSync(segmentPath, Buffer.concat([whole.subarray(0, end), whole.subarray(0, firstBatchBytes - 5)]));
  const reopened = RaftStorage.open(dir);
  expect(reopened.load().entries).toEqual([1, 2, 3].map((i) => entry(i, 1)));
  await reopened.persist({ entriesToPersist: [entry(4, 1)] });
  await reopened.close();
  const again = RaftStorage.open(dir);
  expect(again.load().entries).toEqual([1, 2, 3, 4].map((i) => entry(i, 1)));
  await again.close();
});

test("a crash after a leader's snapshot was saved but before the log restarted loads the snapshot and an empty log", async () => {
  const dir = tempDir();
  let storage = RaftStorage.open(dir);
  storage.load();
  await storage.persist({ hardState: { term: 1, vote: 1, commit: 3 }, entriesToPersist: [1, 2, 3].map((i) => entry(i, 1)) });
  await storage.close();
  const root = open({ path: dir, encoding: "binary", compression: false, maxDbs: 4 });
  const snapshot = { index: 10, term: 2, data: new Uint8Array([5]) };
  await root.openDB<Uint8Array, string>({ name: "raft-meta", encoding: "binary" }).put("snapshot", new Packr({ useRecords: false }).pack(snapshot));
  await root.close();
  storage = RaftStorage.open(dir);
  expect(storage.load()).toEqual({ hardState: { term: 1, vote: 1, commit: 10 }, snapshot, entries: [] });
  await storage.persist({ entriesToPersist: [entry(11, 2)] });
  await storage.close();
  storage = RaftStorage.open(dir);
  expect(storage.load().entries).toEqual([entry(11, 2)]);
  await storage.close();
});
