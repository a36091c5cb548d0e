/**
 * Raft's durable state in LMDB: hard state, snapshot and log entries, values encoded with msgpackr. Each ready is
 * written in ONE synchronous, fsynced transaction before its messages go out: many proposals, one commit.
 */
import { open, type Database, type RootDatabase } from "lmdb";
import { Packr } from "msgpackr";
import { assert, type Entry, type EntryType, type HardState, type PersistedState, type Ready, type Snapshot } from "./types.ts";

const HARD_STATE_KEY = "hardState";
const SNAPSHOT_KEY = "snapshot";

export type ReadyToPersist = Pick<Ready, "hardState" | "snapshotToPersist" | "snapshotToApply" | "entriesToPersist">;

export class LmdbRaftStorage {
  private readonly packr = new Packr({ useRecords: false });

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
    return { hardState, snapshot, entries };
  }

  /** Writes a ready's durable parts atomically and durably; returns only after the commit is on disk. */
  persist(ready: ReadyToPersist): void {
    if (!ready.hardState && !ready.snapshotToPersist && ready.entriesToPersist.length === 0) return;
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
      if (ready.hardState) this.meta.putSync(HARD_STATE_KEY, this.packr.pack(ready.hardState));
    });
  }

  async close(): Promise<void> {
    await this.root.close();
  }
}

/** A plain, owned copy: decoded Buffers may share memory that LMDB or msgpackr reuses. */
function toPlainBytes(bytes: Uint8Array): Uint8Array {
  return new Uint8Array(bytes);
}
