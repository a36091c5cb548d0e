/**
 * Raft's durable state in LMDB: hard state, snapshot and log entries, values encoded with msgpackr. The writes of
 * readies go to LMDB's write thread, which commits and fsyncs them off the event loop, in hand-off order. Group
 * commit: while MAX_BATCHES_IN_FLIGHT batches are being written, the readies handed off meanwhile gather into the
 * next batch, one atomic transaction and fsync for all of them (each commit also costs the event loop a hand-off to
 * the write thread and a wake-up back). A ready that only moves the commit index writes nothing; the index goes along
 * with the next write (see durability.ts). The store records the version of its layout under FORMAT_KEY.
 */
import { open, type Database, type RootDatabase } from "lmdb";
import { Packr } from "msgpackr";
import { mustSync, type DurableVote } from "./durability.ts";
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

/** Readies' writes gathered into one transaction, and when it is durable. */
interface Batch {
  writes: (() => void)[];
  durable: Promise<void>;
  markDurable(): void;
  fail(error: unknown): void;
}

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
  private batchesInFlight = 0;
  private nextBatch: Batch | undefined;
  /** The batch that completes after every other. */
  private lastBatch: Batch | undefined;

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
    for (const { key, value } of this.log.getRange({ start: expectedIndex })) {
      assert(key === expectedIndex, `stored log has a gap: expected ${expectedIndex}, found ${key}`);
      const frame: unknown = this.packr.unpack(value);
      if (!isEntryFrame(frame)) throw new LogFormatError(`raft store ${this.path}: entry ${key} cannot be decoded as [term, type, data]`);
      const [term, type, data] = frame;
      entries.push({ index: key, term, type, data: toPlainBytes(data) });
      expectedIndex++;
    }
    if (snapshot) snapshot.data = toPlainBytes(snapshot.data);
    this.latestHardState = { ...hardState };
    this.latestHardStateHandedOff = true;
    this.handedOffVote = { term: hardState.term, vote: hardState.vote };
    this.durableVote = this.handedOffVote;
    this.firstStoredIndex = (snapshot?.index ?? 0) + 1;
    this.lastStoredIndex = expectedIndex - 1;
    return { hardState, snapshot, entries };
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
    return this.enqueue(() => this.write(ready, hardState)).then(() => {
      this.durableVote = vote;
    });
  }

  private enqueue(write: () => void): Promise<void> {
    const batch = (this.nextBatch ??= newBatch());
    this.lastBatch = batch;
    batch.writes.push(write);
    if (this.batchesInFlight < MAX_BATCHES_IN_FLIGHT) this.startNextBatch();
    return batch.durable;
  }

  private startNextBatch(): void {
    const batch = this.nextBatch;
    if (!batch) return;
    this.nextBatch = undefined;
    this.batchesInFlight++;
    const committed = this.root.batch(() => {
      for (const write of batch.writes) write();
    });
    Promise.all([committed, this.flushed()]).then(
      () => {
        this.batchesInFlight--;
        batch.markDurable();
        this.startNextBatch();
      },
      (error: unknown) => {
        this.batchesInFlight--;
        batch.fail(error);
        // What follows a failed write must not land either: fail every later one.
        this.nextBatch?.fail(error);
        this.nextBatch = undefined;
      },
    );
  }

  /** One ready's puts and removes, inside a batch; runs in hand-off order, so the stored key range stays exact. */
  private write(ready: ReadyToPersist, hardState: HardState | undefined): void {
    const snapshot = ready.snapshotToPersist;
    if (snapshot) {
      assert(!ready.snapshotToApply || ready.snapshotToApply === snapshot, "a ready carries one snapshot");
      this.meta.put(SNAPSHOT_KEY, this.packr.pack(snapshot));
      // A snapshot from the leader replaces the whole log; a local compaction drops only what it covers.
      if (ready.snapshotToApply) {
        this.removeKeys(this.firstStoredIndex, this.lastStoredIndex);
        this.lastStoredIndex = snapshot.index;
      } else {
        assert(snapshot.index <= this.lastStoredIndex, `snapshot ${snapshot.index} covers entries never written (last ${this.lastStoredIndex})`);
        this.removeKeys(this.firstStoredIndex, snapshot.index);
      }
      this.firstStoredIndex = snapshot.index + 1;
    }
    const first = ready.entriesToPersist[0];
    if (first) {
      assert(first.index >= this.firstStoredIndex && first.index <= this.lastStoredIndex + 1, `entry ${first.index} does not extend the stored log [${this.firstStoredIndex}, ${this.lastStoredIndex}]`);
      const last = ready.entriesToPersist.at(-1)!;
      this.removeKeys(last.index + 1, this.lastStoredIndex);
      for (const entry of ready.entriesToPersist) this.log.put(entry.index, this.packr.pack([entry.term, entry.type, entry.data]));
      this.lastStoredIndex = last.index;
    }
    if (hardState) this.meta.put(HARD_STATE_KEY, this.packr.pack(hardState));
  }

  private removeKeys(from: number, through: number): void {
    for (let index = from; index <= through; index++) this.log.remove(index);
  }

  /** Resolves once the writes handed off so far are on disk (commits may resolve before their fsync). */
  private flushed(): Promise<unknown> {
    // `flushed` is a thenable bound to the current batch when `then` is called: call it now, not in a microtask.
    return new Promise((resolve, reject) => {
      void this.root.flushed.then(resolve, reject);
    });
  }

  /** Stores the latest commit index too, so a clean restart re-applies everything at once; waits for every write. */
  async close(): Promise<void> {
    if (!this.latestHardStateHandedOff) {
      const hardState = this.latestHardState;
      this.latestHardStateHandedOff = true;
      void this.enqueue(() => this.meta.put(HARD_STATE_KEY, this.packr.pack(hardState)));
    }
    // Failed writes were reported to their callers already.
    await this.lastBatch?.durable.catch(() => undefined);
    await this.root.close();
  }
}

function newBatch(): Batch {
  let markDurable!: () => void;
  let fail!: (error: unknown) => void;
  const durable = new Promise<void>((resolve, reject) => {
    markDurable = resolve;
    fail = reject;
  });
  return { writes: [], durable, markDurable, fail };
}

function isEntryFrame(frame: unknown): frame is [number, EntryType, Uint8Array] {
  return Array.isArray(frame) && frame.length === 3 && Number.isSafeInteger(frame[0]) && Number.isSafeInteger(frame[1]) && frame[2] instanceof Uint8Array;
}

/** A plain, owned copy: decoded Buffers may share memory that LMDB or msgpackr reuses. */
function toPlainBytes(bytes: Uint8Array): Uint8Array {
  return new Uint8Array(bytes);
}
