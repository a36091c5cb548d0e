/**
 * Raft's durable state in LMDB: hard state, snapshot and log entries, values encoded with msgpackr. Each ready that
 * must be durable is written in ONE synchronous, fsynced transaction: many proposals, one commit. A ready that only
 * moves the commit index writes nothing; the index goes along with the next synced write (see durability.ts).
 */
import { open, type Database, type RootDatabase } from "lmdb";
import { Packr } from "msgpackr";
import { mustSync, type DurableVote } from "./durability.ts";
import { assert, type Entry, type EntryType, type HardState, type PersistedState, type Ready, type Snapshot } from "./types.ts";

const HARD_STATE_KEY = "hardState";
const SNAPSHOT_KEY = "snapshot";

export type ReadyToPersist = Pick<Ready, "hardState" | "snapshotToPersist" | "snapshotToApply" | "entriesToPersist">;

export class LmdbRaftStorage {
  private readonly packr = new Packr({ useRecords: false });
  /** The hard state as of the last ready, and whether the store holds it yet. */
  private latestHardState: HardState = { term: 0, vote: 0, commit: 0 };
  private latestHardStateStored = true;
  private durableVote: DurableVote = { term: 0, vote: 0 };

  private constructor(
    private readonly root: RootDatabase,
    private readonly meta: Database<Uint8Array, string>,
    private readonly log: Database<Uint8Array, number>,
  ) {}

  /** Opens (creating if needed) the Raft store in directory `path`. */
  static open(path: string): LmdbRaftStorage {
    const root = open({ path, encoding: "binary", compression: false, maxDbs: 4 });
    const meta = root.openDB<Uint8Array, string>({ name: "raft-meta", encoding: "binary" });
    const log = root.openDB<Uint8Array, number>({ name: "raft-log", encoding: "binary" });
    return new LmdbRaftStorage(root, meta, log);
  }

  load(): PersistedState {
    const hardStateBytes = this.meta.get(HARD_STATE_KEY);
    const hardState: HardState = hardStateBytes ? (this.packr.unpack(hardStateBytes) as HardState) : { term: 0, vote: 0, commit: 0 };
    const snapshotBytes = this.meta.get(SNAPSHOT_KEY);
    const snapshot = snapshotBytes ? (this.packr.unpack(snapshotBytes) as Snapshot) : undefined;
    const entries: Entry[] = [];
    let expectedIndex = (snapshot?.index ?? 0) + 1;
    for (const { key, value } of this.log.getRange({ start: expectedIndex })) {
      assert(key === expectedIndex, `stored log has a gap: expected ${expectedIndex}, found ${key}`);
      const [term, type, data] = this.packr.unpack(value) as [number, EntryType, Uint8Array];
      entries.push({ index: key, term, type, data: toPlainBytes(data) });
      expectedIndex++;
    }
    if (snapshot) snapshot.data = toPlainBytes(snapshot.data);
    this.latestHardState = { ...hardState };
    this.latestHardStateStored = true;
    this.durableVote = { term: hardState.term, vote: hardState.vote };
    return { hardState, snapshot, entries };
  }

  /** The term and vote on disk: messages that depend on them wait for the next synced write. */
  get durable(): DurableVote {
    return this.durableVote;
  }

  /**
   * Writes a ready's durable parts atomically and durably; returns only after the commit is on disk. A ready that
   * only moves the commit index is remembered and written with the next one that must be synced.
   */
  persist(ready: ReadyToPersist): void {
    if (ready.hardState) {
      this.latestHardState = ready.hardState;
      this.latestHardStateStored = false;
    }
    if (!mustSync(ready, this.durableVote)) return;
    this.root.transactionSync(() => {
      const snapshot = ready.snapshotToPersist;
      if (snapshot) {
        assert(!ready.snapshotToApply || ready.snapshotToApply === snapshot, "a ready carries one snapshot");
        this.meta.putSync(SNAPSHOT_KEY, this.packr.pack(snapshot));
        // A snapshot from the leader replaces the whole log; a local compaction drops only what it covers.
        const dropRange = ready.snapshotToApply ? {} : { end: snapshot.index + 1 };
        for (const key of [...this.log.getKeys(dropRange)]) this.log.removeSync(key);
      }
      const first = ready.entriesToPersist[0];
      if (first) {
        for (const key of [...this.log.getKeys({ start: first.index })]) this.log.removeSync(key);
        for (const entry of ready.entriesToPersist) {
          this.log.putSync(entry.index, this.packr.pack([entry.term, entry.type, entry.data]));
        }
      }
      if (!this.latestHardStateStored) this.meta.putSync(HARD_STATE_KEY, this.packr.pack(this.latestHardState));
    });
    this.latestHardStateStored = true;
    this.durableVote = { term: this.latestHardState.term, vote: this.latestHardState.vote };
  }

  /** Stores the latest commit index too, so a clean restart re-applies everything at once. */
  async close(): Promise<void> {
    if (!this.latestHardStateStored) {
      this.root.transactionSync(() => this.meta.putSync(HARD_STATE_KEY, this.packr.pack(this.latestHardState)));
      this.latestHardStateStored = true;
    }
    await this.root.close();
  }
}

/** A plain, owned copy: decoded Buffers may share memory that LMDB or msgpackr reuses. */
function toPlainBytes(bytes: Uint8Array): Uint8Array {
  return new Uint8Array(bytes);
}
