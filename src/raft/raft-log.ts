/**
 * The node's log in memory: a snapshot, then contiguous entries. Tracks how much was handed to storage
 * (`handedOffIndex`), how much of that is durable (`stableIndex`), committed and applied, so `ready()` knows what to
 * hand out. Writes are asynchronous: entries handed off are not offered again, and become stable when their write
 * completes. The metadata log is compacted by snapshots, so it stays small.
 */
import { assert, type Entry, type Snapshot } from "./types.ts";

const EMPTY_SNAPSHOT: Snapshot = { index: 0, term: 0, data: new Uint8Array(0) };

export class RaftLog {
  snapshot: Snapshot;
  /** entries[i].index === snapshot.index + 1 + i */
  private entries: Entry[];
  /** Every entry up to here is durable. */
  stableIndex: number;
  /** Every entry up to here was handed to storage; at least `stableIndex`. */
  handedOffIndex: number;
  committed: number;
  applied: number;

  constructor(snapshot: Snapshot | undefined, entries: Entry[], committed: number) {
    this.snapshot = snapshot ?? EMPTY_SNAPSHOT;
    this.entries = entries.slice();
    for (let i = 0; i < this.entries.length; i++) {
      assert(this.entries[i]!.index === this.snapshot.index + 1 + i, `stored log is not contiguous at position ${i}`);
      assert(i === 0 || this.entries[i]!.term >= this.entries[i - 1]!.term, `stored log terms decrease at position ${i}`);
    }
    this.stableIndex = this.lastIndex();
    this.handedOffIndex = this.stableIndex;
    assert(committed >= this.snapshot.index, `commit ${committed} is below the snapshot ${this.snapshot.index}`);
    assert(committed <= this.lastIndex(), `commit ${committed} is beyond the stored log ${this.lastIndex()}`);
    this.committed = committed;
    // The application restores its state machine from the snapshot and re-applies the committed entries after it.
    this.applied = this.snapshot.index;
  }

  firstIndex(): number {
    return this.snapshot.index + 1;
  }

  lastIndex(): number {
    return this.snapshot.index + this.entries.length;
  }

  lastTerm(): number {
    return this.term(this.lastIndex())!;
  }

  /** The term of the entry at `index`, or undefined when it is compacted or not there. */
  term(index: number): number | undefined {
    if (index === this.snapshot.index) return this.snapshot.term;
    if (index < this.snapshot.index || index > this.lastIndex()) return undefined;
    return this.entries[index - this.snapshot.index - 1]!.term;
  }

  entry(index: number): Entry {
    assert(index > this.snapshot.index && index <= this.lastIndex(), `entry ${index} is not in the log`);
    return this.entries[index - this.snapshot.index - 1]!;
  }

  matchTerm(index: number, term: number): boolean {
    return this.term(index) === term;
  }

  /** Entries [from, lastIndex], at most `maxBytes` of data but at least one entry. */
  slice(from: number, maxBytes: number, toInclusive = this.lastIndex()): Entry[] {
    assert(from > this.snapshot.index, `entries from ${from} are compacted (snapshot ${this.snapshot.index})`);
    const result: Entry[] = [];
    let bytes = 0;
    for (let index = from; index <= toInclusive; index++) {
      const entry = this.entry(index);
      bytes += entry.data.byteLength + 16;
      if (result.length > 0 && bytes > maxBytes) break;
      result.push(entry);
    }
    return result;
  }

  /** Leader-side append of new entries at the end. */
  append(entries: Entry[]): void {
    for (const entry of entries) {
      assert(entry.index === this.lastIndex() + 1, `append at ${entry.index} does not extend log ending at ${this.lastIndex()}`);
      assert(entry.term >= this.lastTerm(), `append of term ${entry.term} after term ${this.lastTerm()}`);
      this.entries.push(entry);
    }
  }

  /**
   * Follower-side append after a matching (prevIndex, prevTerm): skips entries already present, truncates at the
   * first conflict, appends the rest. Returns the index of the last new entry.
   */
  maybeAppend(prevIndex: number, prevTerm: number, entries: Entry[]): number | undefined {
    if (!this.matchTerm(prevIndex, prevTerm)) return undefined;
    const lastNewIndex = prevIndex + entries.length;
    for (let i = 0; i < entries.length; i++) {
      const entry = entries[i]!;
      assert(entry.index === prevIndex + 1 + i, "Append entries are not contiguous");
      if (entry.index <= this.snapshot.index) continue; // covered by our snapshot, hence committed and equal
      const existingTerm = this.term(entry.index);
      if (existingTerm === entry.term) continue;
      if (existingTerm !== undefined) {
        assert(entry.index > this.committed, `conflict at committed index ${entry.index} (commit ${this.committed})`);
        this.entries.length = entry.index - this.snapshot.index - 1;
        this.stableIndex = Math.min(this.stableIndex, entry.index - 1);
        this.handedOffIndex = Math.min(this.handedOffIndex, entry.index - 1);
      }
      this.append(entries.slice(i).filter((e) => e.index > this.snapshot.index));
      break;
    }
    return lastNewIndex;
  }

  /** The last index at or below `index` whose term is at most `term`: where a conflicting log may match. */
  findConflictByTerm(index: number, term: number): number {
    let candidate = Math.min(index, this.lastIndex());
    while (candidate > this.snapshot.index) {
      if (this.term(candidate)! <= term) return candidate;
      candidate--;
    }
    return candidate;
  }

  commitTo(index: number): boolean {
    if (index <= this.committed) return false;
    assert(index <= this.lastIndex(), `commit ${index} is beyond the log ${this.lastIndex()}`);
    this.committed = index;
    return true;
  }

  isUpToDate(lastIndex: number, lastTerm: number): boolean {
    return lastTerm > this.lastTerm() || (lastTerm === this.lastTerm() && lastIndex >= this.lastIndex());
  }

  /** Entries not yet handed to storage. */
  unstableEntries(): Entry[] {
    return this.entries.slice(this.handedOffIndex - this.snapshot.index);
  }

  handedOffTo(index: number): void {
    assert(index >= this.handedOffIndex && index <= this.lastIndex(), `hand-off of ${index} outside (${this.handedOffIndex}, ${this.lastIndex()}]`);
    this.handedOffIndex = index;
  }

  /**
   * A write ending with the entry (index, term) is durable. A write made before a truncation may end with an entry
   * that is no longer in the log: then the term differs (or the entry is compacted) and nothing becomes stable;
   * the write that replaced it will.
   */
  stableTo(index: number, term: number): void {
    if (index <= this.stableIndex || this.term(index) !== term) return;
    assert(index <= this.handedOffIndex, `entry ${index} is durable before it was handed off (${this.handedOffIndex})`);
    this.stableIndex = index;
  }

  /** Committed entries the application has not applied yet, at most `maxBytes` of data but at least one. */
  entriesToApply(maxBytes: number): Entry[] {
    if (this.committed <= this.applied) return [];
    return this.slice(this.applied + 1, maxBytes, this.committed);
  }

  /** Drops entries up to the snapshot's index; the snapshot covers applied state. */
  compact(snapshot: Snapshot): void {
    assert(snapshot.index > this.snapshot.index, `snapshot ${snapshot.index} is not newer than ${this.snapshot.index}`);
    assert(snapshot.index <= this.applied, `snapshot ${snapshot.index} covers unapplied entries (applied ${this.applied})`);
    // The snapshot's write follows the writes of the entries it covers, so it may cover entries still being written.
    assert(snapshot.index <= this.handedOffIndex, `snapshot ${snapshot.index} covers entries not handed to storage`);
    assert(this.term(snapshot.index) === snapshot.term, `snapshot term ${snapshot.term} does not match the log`);
    this.entries = this.entries.slice(snapshot.index - this.snapshot.index);
    this.snapshot = snapshot;
  }

  /** Replaces the whole log with a snapshot received from the leader. */
  restore(snapshot: Snapshot): void {
    assert(snapshot.index > this.committed, `restoring snapshot ${snapshot.index} at or below commit ${this.committed}`);
    this.snapshot = snapshot;
    this.entries = [];
    this.committed = snapshot.index;
    this.applied = snapshot.index;
    // Committed on a quorum already; a crash before the snapshot's write completes loses only this copy.
    this.stableIndex = snapshot.index;
    this.handedOffIndex = snapshot.index;
  }
}
