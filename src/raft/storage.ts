/**
 * Raft's durable state. The log entries live in a segmented log of the storage engine (src/wal), as KRaft keeps its
 * log in the __cluster_metadata partition (entry-batches.ts has the encoding): a ready's entries are copied into the
 * mapped segment when it is handed off, and the log's own group-commit flusher makes every ready handed off meanwhile
 * durable with one fdatasync. A torn tail after a crash is cut by CRC when the log opens. The hard state and the
 * snapshot are in LMDB, written only when they change: a new term or vote, a snapshot. The commit index need not be
 * durable (durability.ts); it goes along with those writes and at close.
 *
 * Writes complete in hand-off order, and one that fails (a full disk) is retried with everything after it until it
 * succeeds (ordered-batch-writer.ts): the node meanwhile sends nothing that claims those writes. Every operation can
 * therefore be applied twice: an append first cuts the log back to where its entries start.
 *
 * The store records its layout under FORMAT_KEY. Version 1 kept the entries in LMDB too; such a store moves them into
 * the segmented log when it is first loaded.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { open, type Database, type RootDatabase } from "lmdb";
import { Packr } from "msgpackr";
import { commitFailureCause } from "../lib/lmdb-commit.ts";
import { logger } from "../lib/logger.ts";
import { Flusher } from "../wal/flusher.ts";
import { DEFAULT_LOG_CONFIG, type LogConfig } from "../wal/log-config.ts";
import { fsyncPath, PartitionLog } from "../wal/partition-log.ts";
import { mustSync, type DurableVote } from "./durability.ts";
import { decodeEntries, encodeEntries, offsetOfIndex } from "./entry-batches.ts";
import { OrderedBatchWriter } from "./ordered-batch-writer.ts";
import { assert, LogFormatError, type Entry, type EntryType, type HardState, type PersistedState, type Ready, type Snapshot } from "./types.ts";

const HARD_STATE_KEY = "hardState";
const SNAPSHOT_KEY = "snapshot";
const FORMAT_KEY = "format";
/**
 * The layout: the hard state and the snapshot ({index, term, data}) in LMDB's raft-meta database, the entries in the
 * segmented log LOG_NAME. Version 1 (a store without FORMAT_KEY) kept each entry in LMDB's raft-log database as
 * [term, type, data]. Bump it when a layout changes, and keep reading the older versions.
 */
export const STORE_FORMAT_VERSION = 2;
const LOG_NAME = "__cluster_metadata";
/** Writes whose syncs may overlap: the flusher's rounds in flight. */
const MAX_BATCHES_IN_FLIGHT = 2;
const RAFT_LOG_CONFIG: LogConfig = { ...DEFAULT_LOG_CONFIG, segmentBytes: 64 * 1024 * 1024, retentionMs: -1, retentionBytes: -1 };

const log = logger("raft-storage");

/** One step of a write, fixed when it is handed off so it can be applied again after a failed attempt. */
type StoreOp =
  | { kind: "meta"; key: string; value: Uint8Array }
  /** Entries from `firstIndex` on, encoded: they replace whatever the log holds from there. */
  | { kind: "append"; firstIndex: number; batches: Uint8Array }
  /** A leader's snapshot: it replaces the whole log. */
  | { kind: "install"; index: number; snapshot: Uint8Array }
  /** A local snapshot was taken at `index`: once it is durable, the entries it covers may go. */
  | { kind: "compact"; index: number };

export type ReadyToPersist = Pick<Ready, "hardState" | "snapshotToPersist" | "snapshotToApply" | "entriesToPersist">;

export class RaftStorage {
  private readonly packr = new Packr({ useRecords: false });
  private latestHardState: HardState = { term: 0, vote: 0, commit: 0 };
  /** False once a ready moved the hard state past the last one handed off (a new commit index): close writes it. */
  private latestHardStateHandedOff = true;
  private handedOffVote: DurableVote = { term: 0, vote: 0 };
  private durableVote: DurableVote = { term: 0, vote: 0 };
  /** Set while a leader's snapshot is being saved: writes handed off after it wait, as it replaces the log. */
  private installing: Promise<void> | undefined;
  private entries: PartitionLog | undefined;
  private readonly writer = new OrderedBatchWriter<StoreOp>({
    maxInFlight: MAX_BATCHES_IN_FLIGHT,
    timers: { setTimeout: (callback, delayMs) => setTimeout(callback, delayMs), clearTimeout: (handle) => clearTimeout(handle as Timer) },
    commit: (ops) => this.commit(ops),
    onFailure: (error, retryInMs) => {
      void commitFailureCause(error).then((cause) => log.error("raft store write failed; retrying it and every later write", { path: this.path, retryInMs, error: String(cause) }));
    },
    onRecovered: (failedAttempts) => log.info("raft store writes succeed again", { path: this.path, failedAttempts }),
  });

  private constructor(
    private readonly path: string,
    private readonly root: RootDatabase,
    private readonly meta: Database<Uint8Array, string>,
    /** Entries of a version 1 store, until they move to the segmented log. */
    private readonly legacyLog: Database<Uint8Array, number>,
    private readonly flusher: Flusher,
  ) {}

  /** Opens (creating if needed) the Raft store in directory `path`. */
  static open(path: string): RaftStorage {
    const root = open({ path, encoding: "binary", compression: false, maxDbs: 4 });
    const meta = root.openDB<Uint8Array, string>({ name: "raft-meta", encoding: "binary" });
    const legacyLog = root.openDB<Uint8Array, number>({ name: "raft-log", encoding: "binary" });
    return new RaftStorage(path, root, meta, legacyLog, new Flusher("durable", 1000, Date.now, undefined, 0, { syncfs: false }));
  }

  /** Reads the durable state; call once, before any write. Throws LogFormatError for a store this build cannot read. */
  load(): PersistedState {
    const version = this.formatVersion();
    const hardStateBytes = this.meta.get(HARD_STATE_KEY);
    const hardState: HardState = hardStateBytes ? (this.packr.unpack(hardStateBytes) as HardState) : { term: 0, vote: 0, commit: 0 };
    const snapshotBytes = this.meta.get(SNAPSHOT_KEY);
    const snapshot = snapshotBytes ? (this.packr.unpack(snapshotBytes) as Snapshot) : undefined;
    if (snapshot) snapshot.data = new Uint8Array(snapshot.data);
    const snapshotIndex = snapshot?.index ?? 0;
    const entries = this.openLog();
    if (version === 1) this.moveLegacyEntries(snapshotIndex);
    // A crash between saving a leader's snapshot and restarting the log leaves entries the snapshot covers.
    if (entries.logEndOffset < snapshotIndex) this.restartLog(snapshotIndex);
    if (entries.logStartOffset > snapshotIndex) {
      throw new LogFormatError(`raft store ${this.path}: the log starts after index ${entries.logStartOffset}, past the snapshot at ${snapshotIndex}`);
    }
    const loaded: Entry[] = [];
    const read = entries.read(offsetOfIndex(snapshotIndex + 1), Number.MAX_SAFE_INTEGER);
    if (!("outOfRange" in read)) {
      try {
        for (const bytes of read.batches) decodeEntries(bytes, (entry) => loaded.push(entry));
      } finally {
        read.release();
      }
    }
    // The commit index is written with the hard state, and may be ahead of a log that lost an unsynced tail.
    hardState.commit = Math.max(snapshotIndex, Math.min(hardState.commit, snapshotIndex + loaded.length));
    this.latestHardState = { ...hardState };
    this.latestHardStateHandedOff = true;
    this.handedOffVote = { term: hardState.term, vote: hardState.vote };
    this.durableVote = this.handedOffVote;
    return { hardState, snapshot, entries: loaded };
  }

  /** The stored layout's version; a new store is written in the current one. */
  private formatVersion(): number {
    const stored = this.meta.get(FORMAT_KEY);
    if (!stored) {
      // The first builds wrote no format key: such a store holds a hard state or entries.
      if (this.meta.get(HARD_STATE_KEY) || this.legacyLog.getKeysCount() > 0) return 1;
      this.meta.putSync(FORMAT_KEY, this.packr.pack(STORE_FORMAT_VERSION));
      return STORE_FORMAT_VERSION;
    }
    const version: unknown = this.packr.unpack(stored);
    if (version !== 1 && version !== STORE_FORMAT_VERSION) {
      throw new LogFormatError(`raft store ${this.path} has format version ${String(version)}; this build reads versions 1 and ${STORE_FORMAT_VERSION}`);
    }
    return version;
  }

  private openLog(): PartitionLog {
    this.entries = PartitionLog.open({
      dir: path.join(this.path, `${LOG_NAME}-0`),
      topic: LOG_NAME,
      partition: 0,
      config: RAFT_LOG_CONFIG,
      flusher: this.flusher,
      clock: Date.now,
    });
    this.entries.highWatermark = this.entries.logEndOffset;
    return this.entries;
  }

  /**
   * A version 1 store: its entries after the snapshot, up to any gap (a later write that landed while an earlier one
   * failed, never acknowledged), are written to the segmented log and synced; then one LMDB transaction drops them and
   * records the version. A crash before that transaction repeats the move at the next start.
   */
  private moveLegacyEntries(snapshotIndex: number): void {
    const moved: Entry[] = [];
    for (const { key, value } of this.legacyLog.getRange({ start: snapshotIndex + 1 })) {
      if (key !== snapshotIndex + 1 + moved.length) break;
      const frame: unknown = this.packr.unpack(value);
      if (!isEntryFrame(frame)) throw new LogFormatError(`raft store ${this.path}: entry ${key} cannot be decoded as [term, type, data]`);
      const [term, type, data] = frame;
      moved.push({ index: key, term, type, data: new Uint8Array(data) });
    }
    this.restartLog(snapshotIndex);
    if (moved.length > 0) void this.appendEntries(moved[0]!.index, encodeEntries(moved));
    syncLogFiles(this.entries!.dir);
    this.root.transactionSync(() => {
      for (const key of this.legacyLog.getKeys()) this.legacyLog.removeSync(key);
      this.meta.putSync(FORMAT_KEY, this.packr.pack(STORE_FORMAT_VERSION));
    });
    log.info("moved the raft log from LMDB to its segmented log", { path: this.path, entries: moved.length, afterIndex: snapshotIndex });
  }

  /** The term and vote on disk: messages that depend on newer ones wait for the writes in flight. */
  get durable(): DurableVote {
    return this.durableVote;
  }

  /** The term and vote of the last write handed off: a ready with other ones needs a write of its own. */
  get handedOff(): DurableVote {
    return this.handedOffVote;
  }

  /**
   * Hands a ready's durable parts off; the promise resolves once they are on disk, after every write handed off
   * before. Returns undefined when nothing needs writing: a ready that only moves the commit index.
   */
  persist(ready: ReadyToPersist): Promise<void> | undefined {
    if (ready.hardState) {
      this.latestHardState = ready.hardState;
      this.latestHardStateHandedOff = false;
    }
    if (!mustSync(ready, this.handedOffVote)) return undefined;
    const vote: DurableVote = { term: this.latestHardState.term, vote: this.latestHardState.vote };
    const voteChanged = vote.term !== this.handedOffVote.term || vote.vote !== this.handedOffVote.vote;
    this.handedOffVote = vote;
    if (voteChanged) this.latestHardStateHandedOff = true;
    return this.writer.write(this.plan(ready, voteChanged ? this.latestHardState : undefined)).then(() => {
      this.durableVote = vote;
    });
  }

  /** True while a failed write is being retried. */
  get failing(): boolean {
    return this.writer.failing;
  }

  private plan(ready: ReadyToPersist, hardState: HardState | undefined): StoreOp[] {
    const ops: StoreOp[] = [];
    const snapshot = ready.snapshotToPersist;
    if (snapshot) {
      assert(!ready.snapshotToApply || ready.snapshotToApply === snapshot, "a ready carries one snapshot");
      const value = this.packr.pack(snapshot);
      if (ready.snapshotToApply) ops.push({ kind: "install", index: snapshot.index, snapshot: value });
      else ops.push({ kind: "meta", key: SNAPSHOT_KEY, value }, { kind: "compact", index: snapshot.index });
    }
    const first = ready.entriesToPersist[0];
    if (first) ops.push({ kind: "append", firstIndex: first.index, batches: encodeEntries(ready.entriesToPersist) });
    if (hardState) ops.push({ kind: "meta", key: HARD_STATE_KEY, value: this.packr.pack(hardState) });
    return ops;
  }

  /** Applies `ops` in order; resolves once they are durable, rejects if one fails (a full disk). */
  private commit(ops: StoreOp[]): Promise<void> {
    if (this.installing) return this.installing.then(() => this.commit(ops));
    try {
      return this.apply(ops);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  private apply(ops: StoreOp[]): Promise<void> {
    const metaPuts: { key: string; value: Uint8Array }[] = [];
    const waits: Promise<unknown>[] = [];
    let compactTo = 0;
    for (let i = 0; i < ops.length; i++) {
      const op = ops[i]!;
      if (op.kind === "meta") metaPuts.push(op);
      else if (op.kind === "compact") compactTo = Math.max(compactTo, op.index);
      else if (op.kind === "append") waits.push(this.appendEntries(op.firstIndex, op.batches));
      else {
        // The snapshot is durable before the log it replaces goes: a crash in between finds the snapshot and entries
        // it covers, never a log that lost entries this node acknowledged and no snapshot that holds them.
        const saved = this.writeMeta([...metaPuts, { key: SNAPSHOT_KEY, value: op.snapshot }]);
        metaPuts.length = 0;
        const rest = ops.slice(i + 1);
        const installed: Promise<void> = saved.then(() => {
          this.restartLog(op.index);
          if (this.installing === installed) this.installing = undefined;
        });
        this.installing = installed;
        installed.catch(() => {
          if (this.installing === installed) this.installing = undefined;
        });
        waits.push(installed.then(() => this.commit(rest)));
        break;
      }
    }
    if (metaPuts.length > 0) waits.push(this.writeMeta(metaPuts));
    return Promise.all(waits).then(() => {
      if (compactTo > 0) this.compactLog(compactTo);
    });
  }

  private writeMeta(puts: { key: string; value: Uint8Array }[]): Promise<unknown> {
    const committed = this.root.batch(() => {
      for (const put of puts) void this.meta.put(put.key, put.value);
    });
    return Promise.all([committed, this.flushed()]);
  }

  /** Writes the entries encoded in `batches`, from `firstIndex` on, over whatever the log held from there; resolves once durable. */
  private appendEntries(firstIndex: number, batches: Uint8Array): Promise<void> {
    const entries = this.entries!;
    const offset = offsetOfIndex(firstIndex);
    assert(offset >= entries.logStartOffset && offset <= entries.logEndOffset, `entry ${firstIndex} does not extend the log [${entries.logStartOffset + 1}, ${entries.logEndOffset}]`);
    if (offset < entries.logEndOffset) entries.truncateTo(offset);
    const { durable } = entries.appendReplicated(batches);
    entries.highWatermark = entries.logEndOffset;
    return durable;
  }

  /** Empties the log; the next entry is `index` + 1. */
  private restartLog(index: number): void {
    const entries = this.entries!;
    const offset = offsetOfIndex(index + 1);
    if (entries.logEndOffset > offset) entries.truncateTo(entries.logStartOffset);
    if (entries.logStartOffset !== offset || entries.logEndOffset !== offset) entries.restartAt(offset);
    entries.highWatermark = entries.logEndOffset;
  }

  /** Drops the entries a durable local snapshot covers; if the disk refuses, they stay until the next snapshot. */
  private compactLog(index: number): void {
    const entries = this.entries;
    if (!entries) return;
    const offset = Math.min(offsetOfIndex(index + 1), entries.logEndOffset);
    if (offset <= entries.logStartOffset) return;
    try {
      entries.deleteRecordsBefore(offset);
      entries.applyRetention(Date.now());
    } catch (error) {
      log.warn("could not drop the raft log entries a snapshot covers; they stay until the next one", { path: this.path, index, error: String(error) });
    }
  }

  /** Resolves once the LMDB writes handed off so far are on disk (commits may resolve before their fsync). */
  private flushed(): Promise<unknown> {
    // `flushed` is a thenable bound to the current batch when `then` is called: call it now, not in a microtask.
    return new Promise((resolve, reject) => {
      void this.root.flushed.then(resolve, reject);
    });
  }

  /**
   * Stores the latest commit index too, so a clean restart re-applies everything at once, and waits for every write;
   * while writes are failing, gives up on them instead (what they carried was never acknowledged).
   */
  async close(): Promise<void> {
    if (!this.latestHardStateHandedOff) {
      this.latestHardStateHandedOff = true;
      this.writer.write([{ kind: "meta", key: HARD_STATE_KEY, value: this.packr.pack(this.latestHardState) }]).catch(() => undefined);
    }
    await this.writer.close();
    const entries = this.entries;
    this.entries = undefined;
    if (entries) {
      try {
        await this.flusher.flushAll();
        entries.closeClean();
      } catch (error) {
        log.warn("raft log closed without a clean shutdown; the next start checks its tail", { path: this.path, error: String(error) });
        entries.closeDirty();
      }
    }
    this.flusher.stop();
    await this.root.close();
  }
}

function isEntryFrame(frame: unknown): frame is [number, EntryType, Uint8Array] {
  return Array.isArray(frame) && frame.length === 3 && Number.isSafeInteger(frame[0]) && Number.isSafeInteger(frame[1]) && frame[2] instanceof Uint8Array;
}

/** fsync of every file in `dir` and of the directory: a one-time move must be durable before its source goes. */
function syncLogFiles(dir: string): void {
  for (const name of fs.readdirSync(dir)) fsyncPath(path.join(dir, name));
  fsyncPath(dir);
}
