/**
 * Raft's durable state in LMDB: hard state, snapshot and log entries, values encoded with msgpackr. The writes of
 * readies go to LMDB's write thread, which commits and fsyncs them off the event loop, in hand-off order. Group
 * commit: while MAX_BATCHES_IN_FLIGHT batches are being written, the readies handed off meanwhile gather into the
 * next batch, one atomic transaction and fsync for all of them (each commit also costs the event loop a hand-off to
 * the write thread and a wake-up back). A ready that only moves the commit index writes nothing; the index goes along
 * with the next write (see durability.ts). The store records the version of its layout under FORMAT_KEY.
 *
 * A commit that fails (a full disk) is retried with everything after it until it succeeds (ordered-batch-writer.ts):
 * the node meanwhile sends nothing that claims those writes, and goes on once space is freed.
 */
import { open, type Database, type RootDatabase } from "lmdb";
import { Packr } from "msgpackr";
import { commitFailureCause } from "../lib/lmdb-commit.ts";
import { logger } from "../lib/logger.ts";
import { mustSync, type DurableVote } from "./durability.ts";
import { OrderedBatchWriter } from "./ordered-batch-writer.ts";
import { assert, LogFormatError, type Entry, type EntryType, type HardState, type PersistedState, type Ready, type Snapshot } from "./types.ts";

const HARD_STATE_KEY = "hardState";
const SNAPSHOT_KEY = "snapshot";
const FORMAT_KEY = "format";
/**
 * The layout of the stored values: the hard state, the snapshot ({index, term, data}) and each entry as
 * [term, type, data]. A store without FORMAT_KEY was written in version 1, before the key was. Bump it when a
 * layout changes, and keep reading the older versions.
 */
export const STORE_FORMAT_VERSION = 1;
const MAX_BATCHES_IN_FLIGHT = 2;

const log = logger("raft-storage");

/** A put (value) or remove (null) of one key: what a ready writes, fixed when it is handed off, so it can be written again. */
type StoreOp = { db: "meta"; key: string; value: Uint8Array | null } | { db: "log"; key: number; value: Uint8Array | null };

export type ReadyToPersist = Pick<Ready, "hardState" | "snapshotToPersist" | "snapshotToApply" | "entriesToPersist">;

export class LmdbRaftStorage {
  private readonly packr = new Packr({ useRecords: false });
  /** The hard state as of the last ready, and whether a write handed off carries it yet. */
  private latestHardState: HardState = { term: 0, vote: 0, commit: 0 };
  private latestHardStateHandedOff = true;
  private handedOffVote: DurableVote = { term: 0, vote: 0 };
  private durableVote: DurableVote = { term: 0, vote: 0 };
  /**
   * The log's keys once every write handed off completes: [firstStoredIndex, lastStoredIndex], contiguous. Tracked
   * here because a read sees only completed writes, while a truncation must also remove keys still being written.
   */
  private firstStoredIndex = 1;
  private lastStoredIndex = 0;
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
    private readonly log: Database<Uint8Array, number>,
  ) {}

  /** Opens (creating if needed) the Raft store in directory `path`. */
  static open(path: string): LmdbRaftStorage {
    const root = open({ path, encoding: "binary", compression: false, maxDbs: 4 });
    const meta = root.openDB<Uint8Array, string>({ name: "raft-meta", encoding: "binary" });
    const log = root.openDB<Uint8Array, number>({ name: "raft-log", encoding: "binary" });
    return new LmdbRaftStorage(path, root, meta, log);
  }

  /** Reads the durable state; call before any write. Throws LogFormatError for a store this build cannot read. */
  load(): PersistedState {
    this.checkFormat();
    const hardStateBytes = this.meta.get(HARD_STATE_KEY);
    const hardState: HardState = hardStateBytes ? (this.packr.unpack(hardStateBytes) as HardState) : { term: 0, vote: 0, commit: 0 };
    const snapshotBytes = this.meta.get(SNAPSHOT_KEY);
    const snapshot = snapshotBytes ? (this.packr.unpack(snapshotBytes) as Snapshot) : undefined;
    const entries: Entry[] = [];
    let expectedIndex = (snapshot?.index ?? 0) + 1;
    const afterGap: number[] = [];
    for (const { key, value } of this.log.getRange({ start: expectedIndex })) {
      if (key !== expectedIndex || afterGap.length > 0) {
        afterGap.push(key);
        continue;
      }
      const frame: unknown = this.packr.unpack(value);
      if (!isEntryFrame(frame)) throw new LogFormatError(`raft store ${this.path}: entry ${key} cannot be decoded as [term, type, data]`);
      const [term, type, data] = frame;
      entries.push({ index: key, term, type, data: toPlainBytes(data) });
      expectedIndex++;
    }
    if (snapshot) snapshot.data = toPlainBytes(snapshot.data);
    if (afterGap.length > 0) this.dropEntriesAfterGap(expectedIndex, afterGap);
    // A commit index can only be written with the entries it covers, unless they were in a failed write.
    hardState.commit = Math.max(snapshot?.index ?? 0, Math.min(hardState.commit, expectedIndex - 1));
    this.latestHardState = { ...hardState };
    this.latestHardStateHandedOff = true;
    this.handedOffVote = { term: hardState.term, vote: hardState.vote };
    this.durableVote = this.handedOffVote;
    this.firstStoredIndex = (snapshot?.index ?? 0) + 1;
    this.lastStoredIndex = expectedIndex - 1;
    return { hardState, snapshot, entries };
  }

  /**
   * Entries after a gap: a later write landed while an earlier one failed, and the process stopped before the retry.
   * Nothing was acknowledged for them (that waits for every earlier write); left in place, they would join the log
   * once the gap is filled with other entries.
   */
  private dropEntriesAfterGap(gapAt: number, keys: number[]): void {
    log.warn("raft store has a gap after a failed write; dropping the entries after it", { path: this.path, gapAt, dropped: keys.length });
    this.root.transactionSync(() => {
      for (const key of keys) this.log.removeSync(key);
    });
  }

  private checkFormat(): void {
    const stored = this.meta.get(FORMAT_KEY);
    const version: unknown = stored ? this.packr.unpack(stored) : 1;
    if (version !== STORE_FORMAT_VERSION) {
      throw new LogFormatError(`raft store ${this.path} has format version ${String(version)}; this build reads version ${STORE_FORMAT_VERSION}`);
    }
    if (!stored) this.meta.putSync(FORMAT_KEY, this.packr.pack(STORE_FORMAT_VERSION));
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
   * Hands a ready's durable parts to the write thread; the promise resolves once they are on disk, after every write
   * handed off before. Returns undefined when nothing needs writing: a ready that only moves the commit index is
   * remembered and written with the next one.
   */
  persist(ready: ReadyToPersist): Promise<void> | undefined {
    if (ready.hardState) {
      this.latestHardState = ready.hardState;
      this.latestHardStateHandedOff = false;
    }
    if (!mustSync(ready, this.handedOffVote)) return undefined;
    const hardState = this.latestHardStateHandedOff ? undefined : this.latestHardState;
    const vote: DurableVote = { term: this.latestHardState.term, vote: this.latestHardState.vote };
    this.latestHardStateHandedOff = true;
    this.handedOffVote = vote;
    return this.writer.write(this.plan(ready, hardState)).then(() => {
      this.durableVote = vote;
    });
  }

  /** True while a failed write is being retried. */
  get failing(): boolean {
    return this.writer.failing;
  }

  private commit(ops: StoreOp[]): Promise<void> {
    const committed = this.root.batch(() => {
      for (const op of ops) {
        const db = (op.db === "meta" ? this.meta : this.log) as Database<Uint8Array, string | number>;
        if (op.value === null) void db.remove(op.key);
        else void db.put(op.key, op.value);
      }
    });
    return Promise.all([committed, this.flushed()]).then(() => undefined);
  }

  /** One ready's puts and removes, planned in hand-off order, so the stored key range stays exact. */
  private plan(ready: ReadyToPersist, hardState: HardState | undefined): StoreOp[] {
    const ops: StoreOp[] = [];
    const snapshot = ready.snapshotToPersist;
    if (snapshot) {
      assert(!ready.snapshotToApply || ready.snapshotToApply === snapshot, "a ready carries one snapshot");
      ops.push({ db: "meta", key: SNAPSHOT_KEY, value: this.packr.pack(snapshot) });
      // A snapshot from the leader replaces the whole log; a local compaction drops only what it covers.
      if (ready.snapshotToApply) {
        this.removeKeys(ops, this.firstStoredIndex, this.lastStoredIndex);
        this.lastStoredIndex = snapshot.index;
      } else {
        assert(snapshot.index <= this.lastStoredIndex, `snapshot ${snapshot.index} covers entries never written (last ${this.lastStoredIndex})`);
        this.removeKeys(ops, this.firstStoredIndex, snapshot.index);
      }
      this.firstStoredIndex = snapshot.index + 1;
    }
    const first = ready.entriesToPersist[0];
    if (first) {
      assert(first.index >= this.firstStoredIndex && first.index <= this.lastStoredIndex + 1, `entry ${first.index} does not extend the stored log [${this.firstStoredIndex}, ${this.lastStoredIndex}]`);
      const last = ready.entriesToPersist.at(-1)!;
      this.removeKeys(ops, last.index + 1, this.lastStoredIndex);
      for (const entry of ready.entriesToPersist) ops.push({ db: "log", key: entry.index, value: this.packr.pack([entry.term, entry.type, entry.data]) });
      this.lastStoredIndex = last.index;
    }
    if (hardState) ops.push({ db: "meta", key: HARD_STATE_KEY, value: this.packr.pack(hardState) });
    return ops;
  }

  private removeKeys(ops: StoreOp[], from: number, through: number): void {
    for (let index = from; index <= through; index++) ops.push({ db: "log", key: index, value: null });
  }

  /** Resolves once the writes handed off so far are on disk (commits may resolve before their fsync). */
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
      this.writer.write([{ db: "meta", key: HARD_STATE_KEY, value: this.packr.pack(this.latestHardState) }]).catch(() => undefined);
    }
    await this.writer.close();
    await this.root.close();
  }
}

function isEntryFrame(frame: unknown): frame is [number, EntryType, Uint8Array] {
  return Array.isArray(frame) && frame.length === 3 && Number.isSafeInteger(frame[0]) && Number.isSafeInteger(frame[1]) && frame[2] instanceof Uint8Array;
}

/** A plain, owned copy: decoded Buffers may share memory that LMDB or msgpackr reuses. */
function toPlainBytes(bytes: Uint8Array): Uint8Array {
  return new Uint8Array(bytes);
}
