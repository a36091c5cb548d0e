import { afterEach, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { open, type RootDatabase } from "lmdb";
import { Packr } from "msgpackr";
import { RaftStorage, STORE_FORMAT_VERSION } from "../../src/raft/storage.ts";
import { EntryType, LogFormatError } from "../../src/raft/types.ts";

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

const packr = new Packr({ useRecords: false });

/** Writes raw values into a Raft store's two databases, as a build with another layout might have. */
async function writeRaw(dir: string, write: (meta: (key: string, value: unknown) => void, log: (index: number, bytes: Uint8Array) => void) => void): Promise<void> {
  const root: RootDatabase = open({ path: dir, encoding: "binary", compression: false, maxDbs: 4 });
  const meta = root.openDB<Uint8Array, string>({ name: "raft-meta", encoding: "binary" });
  const log = root.openDB<Uint8Array, number>({ name: "raft-log", encoding: "binary" });
  await root.batch(() => write((key, value) => meta.put(key, packr.pack(value)), (index, bytes) => log.put(index, bytes)));
  await root.close();
}

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "chronik-store-format-"));
  dirs.push(dir);
  return dir;
}

test("a store without a format key, as the first format wrote it, loads; its entries move to the segmented log and the version is recorded", async () => {
  const dir = tempDir();
  await writeRaw(dir, (meta, log) => {
    meta("hardState", { term: 2, vote: 1, commit: 1 });
    log(1, packr.pack([2, EntryType.Normal, new Uint8Array([1, 2, 3])]));
  });
  const storage = RaftStorage.open(dir);
  expect(storage.load()).toEqual({
    hardState: { term: 2, vote: 1, commit: 1 },
    snapshot: undefined,
    entries: [{ index: 1, term: 2, type: EntryType.Normal, data: new Uint8Array([1, 2, 3]) }],
  });
  await storage.close();
  const root = open({ path: dir, encoding: "binary", compression: false, maxDbs: 4 });
  const format = root.openDB<Uint8Array, string>({ name: "raft-meta", encoding: "binary" }).get("format");
  expect(packr.unpack(format!)).toBe(STORE_FORMAT_VERSION);
  expect(root.openDB<Uint8Array, number>({ name: "raft-log", encoding: "binary" }).getKeysCount()).toBe(0);
  await root.close();
  // Loaded again, now from the segmented log.
  const reopened = RaftStorage.open(dir);
  expect(reopened.load().entries).toEqual([{ index: 1, term: 2, type: EntryType.Normal, data: new Uint8Array([1, 2, 3]) }]);
  await reopened.close();
});

test("a first-format store with a snapshot moves only the entries after it, up to a gap left by a failed write", async () => {
  const dir = tempDir();
  await writeRaw(dir, (meta, log) => {
    meta("format", 1);
    meta("hardState", { term: 3, vote: 2, commit: 6 });
    meta("snapshot", { index: 4, term: 2, data: new Uint8Array([7]) });
    for (const index of [3, 4, 5, 6, 8]) log(index, packr.pack([3, EntryType.Normal, new Uint8Array([index])]));
  });
  const storage = RaftStorage.open(dir);
  expect(storage.load()).toEqual({
    hardState: { term: 3, vote: 2, commit: 6 },
    snapshot: { index: 4, term: 2, data: new Uint8Array([7]) },
    entries: [5, 6].map((index) => ({ index, term: 3, type: EntryType.Normal, data: new Uint8Array([index]) })),
  });
  await storage.persist({ entriesToPersist: [{ index: 7, term: 3, type: EntryType.Normal, data: new Uint8Array([70]) }] });
  await storage.close();
  const reopened = RaftStorage.open(dir);
  expect(reopened.load().entries.map((entry) => [entry.index, entry.data[0]])).toEqual([[5, 5], [6, 6], [7, 70]]);
  await reopened.close();
});

test("a store of a newer format version fails to load, naming the version", async () => {
  const dir = tempDir();
  await writeRaw(dir, (meta) => meta("format", STORE_FORMAT_VERSION + 1));
  const storage = RaftStorage.open(dir);
  expect(() => storage.load()).toThrow(LogFormatError);
  expect(() => storage.load()).toThrow(`raft store ${dir} has format version ${STORE_FORMAT_VERSION + 1}; this build reads versions 1 and ${STORE_FORMAT_VERSION}`);
  await storage.close();
});

test("a stored entry that is not a [term, type, data] frame fails to load, naming its index", async () => {
  const dir = tempDir();
  await writeRaw(dir, (_meta, log) => {
    log(1, packr.pack([1, EntryType.Normal, new Uint8Array(0)]));
    log(2, packr.pack({ term: 1, data: "not a frame" }));
  });
  const storage = RaftStorage.open(dir);
  expect(() => storage.load()).toThrow(`raft store ${dir}: entry 2 cannot be decoded as [term, type, data]`);
  await storage.close();
});
