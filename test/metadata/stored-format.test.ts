/**
 * Data dirs written in the first, unversioned format (as of commit 3f1abe7) must keep working; a stored log or
 * snapshot this build cannot read must fail the start with an error naming the index and version. The fixture is
 * written here with LMDB and msgpackr directly, value for value as that build's LmdbRaftStorage, RaftNode and
 * RaftMetadataLog wrote it, so it does not change when the current writers do.
 */
import { afterEach, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { open } from "lmdb";
import { pack, Packr } from "msgpackr";
import { METADATA_FORMAT_VERSION } from "../../src/metadata/log-format.ts";
import { RaftMetadataLog } from "../../src/metadata/metadata-log.ts";
import type { MetadataCommand } from "../../src/metadata/records.ts";
import type { MetadataSnapshot } from "../../src/metadata/state.ts";
import { ErrorCode } from "../../src/protocol/error-codes.ts";

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

const NODE_INCARNATION = "1:4fb28a91";
const PROPOSER_INCARNATION = "d4c49d73-5860-4e46-80c8-4dd15a091547";
const NORMAL = 0;

interface FirstFormatEntry {
  index: number;
  term: number;
  /** The entry's data as msgpack would encode it; built with `proposal` for a metadata proposal. */
  data: unknown;
}

/** A metadata proposal as one Raft entry's data in the first format: [node incarnation, [[sequence, [proposer, sequence, commands]]]]. */
function proposal(sequence: number, commands: unknown[]): unknown {
  return [NODE_INCARNATION, [[sequence, [PROPOSER_INCARNATION, sequence, commands]]]];
}

/** Writes a Raft store as the first format's LmdbRaftStorage did: no format key, frames packed without records. */
async function writeFirstFormatStore(dir: string, snapshot: { index: number; term: number; state: unknown } | undefined, entries: FirstFormatEntry[]): Promise<void> {
  const root = open({ path: dir, encoding: "binary", compression: false, maxDbs: 4 });
  const meta = root.openDB<Uint8Array, string>({ name: "raft-meta", encoding: "binary" });
  const log = root.openDB<Uint8Array, number>({ name: "raft-log", encoding: "binary" });
  const packr = new Packr({ useRecords: false });
  const last = entries.at(-1) ?? snapshot;
  await root.batch(() => {
    meta.put("hardState", packr.pack({ term: last?.term ?? 0, vote: 1, commit: last?.index ?? 0 }));
    if (snapshot) meta.put("snapshot", packr.pack({ index: snapshot.index, term: snapshot.term, data: pack(snapshot.state) }));
    for (const entry of entries) log.put(entry.index, packr.pack([entry.term, NORMAL, pack(entry.data)]));
  });
  await root.close();
}

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "chronik-stored-format-"));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function startSolo(dataDir: string): RaftMetadataLog {
  const log = RaftMetadataLog.start({ nodeId: 1, voters: new Map([[1, { host: "127.0.0.1", port: 0 }]]), dataDir, electionTimeoutMs: 300, snapshotEveryEntries: 1024 });
  cleanups.push(() => log.close());
  return log;
}

const createTopic = (name: string): MetadataCommand => ({
  type: "create-topic",
  name,
  topicId: `id-${name}`,
  configs: { "retention.ms": "1000" },
  placement: { kind: "balanced", count: 2, replicationFactor: 1 },
});

/** The state at index 8 of a first-format run: cluster "head-cluster", broker 1, topics t0, t1, t3, t4. */
const FIRST_FORMAT_SNAPSHOT: MetadataSnapshot = {
  clusterId: "head-cluster",
  brokers: [{ nodeId: 1, host: "127.0.0.1", port: 9092, rack: null, replicationPort: 9192, fenced: false }],
  brokerEpochs: [[1, 3]],
  topics: ["t0", "t1", "t3", "t4"].map((name) => ({
    name,
    topicId: `id-${name}`,
    partitions: [0, 1].map((partition) => ({ partition, replicas: [1], isr: [1], leader: 1, leaderEpoch: 0, partitionEpoch: 0 })),
    configs: { "retention.ms": "1000" },
  })),
  nextProducerId: 0,
};

test("a data dir in the first format restarts with its snapshot and log, refuses the record that format's apply threw on, and takes new entries", async () => {
  const dir = tempDir();
  await writeFirstFormatStore(dir, { index: 8, term: 1, state: FIRST_FORMAT_SNAPSHOT }, [
    { index: 9, term: 1, data: proposal(8, [createTopic("t5")]) },
    // The first format's state machine threw on this record, and the node never applied again.
    { index: 10, term: 1, data: proposal(9, [{ type: "allocate-producer-ids", count: 0 }]) },
    { index: 11, term: 1, data: proposal(10, [{ type: "delete-topic", name: "t3" }, { type: "allocate-producer-ids", count: 1000 }]) },
  ]);

  const first = startSolo(dir);
  await first.catchUp(10_000);
  expect([...first.state.topics()].map((t) => t.name)).toEqual(["t0", "t1", "t4", "t5"]);
  expect(first.state.clusterId).toBe("head-cluster");
  expect(first.state.broker(1)).toEqual({ ...FIRST_FORMAT_SNAPSHOT.brokers[0]!, fenced: false });
  expect(first.state.nextProducerId).toBe(1000);
  expect(first.applyErrors()).toEqual({ load: 1, apply: 0 });
  // New entries, in the current format, follow the first format's in the same log.
  const [outcome] = await first.propose([createTopic("t6")]);
  expect(outcome!.errorCode).toBe(ErrorCode.NONE);
  const before = first.state.toSnapshot();
  await first.close();

  const second = startSolo(dir);
  await second.catchUp(10_000);
  expect(second.state.toSnapshot()).toEqual(before);
  expect(second.applyErrors()).toEqual({ load: 1, apply: 0 });
});

test("a stored entry of a newer format version fails the start with an error naming its index and version", async () => {
  const raftLevel = tempDir();
  await writeFirstFormatStore(raftLevel, undefined, [
    { index: 1, term: 1, data: proposal(1, [{ type: "init-cluster", clusterId: "c" }]) },
    { index: 2, term: 1, data: [NODE_INCARNATION, [[2, [PROPOSER_INCARNATION, 2, []]]], 2] },
  ]);
  expect(() => startSolo(raftLevel)).toThrow("raft log entry 2 has format version 2, newer than this build reads (1 to 1)");

  const metadataLevel = tempDir();
  await writeFirstFormatStore(metadataLevel, undefined, [{ index: 1, term: 1, data: [NODE_INCARNATION, [[1, [PROPOSER_INCARNATION, 1, [], 7]]], 1] }]);
  expect(() => startSolo(metadataLevel)).toThrow(`metadata log entry 1 has format version 7, newer than this build reads (1 to ${METADATA_FORMAT_VERSION})`);
});

test("a stored entry written before proposals were batched fails the start naming its index, not with a TypeError", async () => {
  const dir = tempDir();
  // One proposal per entry: [node incarnation, sequence, command].
  await writeFirstFormatStore(dir, undefined, [{ index: 1, term: 1, data: [NODE_INCARNATION, 1, [PROPOSER_INCARNATION, 1, [{ type: "init-cluster", clusterId: "c" }]]] }]);
  expect(() => startSolo(dir)).toThrow(/^raft log entry 1 cannot be decoded: it carries no format version/);
});

test("a stored snapshot of a newer format version fails the start naming its index and version", async () => {
  const dir = tempDir();
  const newer = METADATA_FORMAT_VERSION + 1;
  await writeFirstFormatStore(dir, { index: 8, term: 1, state: { ...FIRST_FORMAT_SNAPSHOT, version: newer } }, []);
  expect(() => startSolo(dir)).toThrow(`metadata snapshot at index 8 has format version ${newer}, newer than this build reads (1 to ${METADATA_FORMAT_VERSION})`);
});
