/** The leader's view of one follower's replication: what it has, what is in flight, and how to send next. */
import { assert } from "./types.ts";

export const ProgressState = {
  /** Unknown match: send one Append at a time and wait for the answer. */
  Probe: "probe",
  /** Known match: stream Appends optimistically, bounded by the in-flight window. */
  Replicate: "replicate",
  /** The entries it needs are compacted away: an InstallSnapshot is in flight. */
  Snapshot: "snapshot",
} as const;
export type ProgressState = (typeof ProgressState)[keyof typeof ProgressState];

/** A bounded FIFO of the last entry index of each Append in flight, so acks free the window in order. */
export class Inflights {
  private readonly lastIndexes: number[] = [];

  constructor(readonly maxCount: number) {
    assert(maxCount >= 1, "max in-flight appends must be at least 1");
  }

  get count(): number {
    return this.lastIndexes.length;
  }

  full(): boolean {
    return this.lastIndexes.length >= this.maxCount;
  }

  add(lastIndex: number): void {
    assert(!this.full(), "in-flight window overflow");
    const previous = this.lastIndexes[this.lastIndexes.length - 1];
    assert(previous === undefined || lastIndex > previous, `in-flight indexes must increase: ${previous} then ${lastIndex}`);
    this.lastIndexes.push(lastIndex);
  }

  /** Frees every message whose entries are all acknowledged by an ack of `index`. */
  freeTo(index: number): void {
    let freed = 0;
    while (freed < this.lastIndexes.length && this.lastIndexes[freed]! <= index) freed++;
    if (freed > 0) this.lastIndexes.splice(0, freed);
  }

  freeFirst(): void {
    this.lastIndexes.shift();
  }

  reset(): void {
    this.lastIndexes.length = 0;
  }
}

export class Progress {
  state: ProgressState = ProgressState.Probe;
  /** Highest index known to be replicated on the follower. */
  match = 0;
  /** Next index to send. */
  next: number;
  /** In Probe: an Append was sent and no answer came yet. */
  probeSent = false;
  /** In Snapshot: the snapshot index sent, and ticks since, to resend a lost one. */
  pendingSnapshotIndex = 0;
  ticksSinceSnapshotSent = 0;
  /** Heard from since the last check-quorum round. */
  recentActive = false;
  readonly inflights: Inflights;

  constructor(next: number, maxInflightAppends: number) {
    this.next = next;
    this.inflights = new Inflights(maxInflightAppends);
  }

  becomeProbe(): void {
    if (this.state === ProgressState.Snapshot) {
      // The follower has at least the snapshot; start probing right after it.
      this.next = Math.max(this.match + 1, this.pendingSnapshotIndex + 1);
    } else {
      this.next = this.match + 1;
    }
    this.state = ProgressState.Probe;
    this.probeSent = false;
    this.pendingSnapshotIndex = 0;
    this.inflights.reset();
  }

  becomeReplicate(): void {
    this.state = ProgressState.Replicate;
    this.next = this.match + 1;
    this.probeSent = false;
    this.inflights.reset();
  }

  becomeSnapshot(snapshotIndex: number): void {
    this.state = ProgressState.Snapshot;
    this.pendingSnapshotIndex = snapshotIndex;
    this.ticksSinceSnapshotSent = 0;
    this.probeSent = false;
    this.inflights.reset();
  }

  /** An accepting ack of `index`. Returns false when it is stale. */
  maybeUpdate(index: number): boolean {
    let updated = false;
    if (index > this.match) {
      this.match = index;
      updated = true;
      this.probeSent = false;
    }
    this.next = Math.max(this.next, index + 1);
    return updated;
  }

  /** A rejection of the Append at `rejectedIndex`; `hintIndex` is the last index that may match. */
  maybeDecreaseTo(rejectedIndex: number, hintIndex: number): boolean {
    if (this.state === ProgressState.Replicate) {
      // A rejection at or below match is a stale, reordered answer.
      if (rejectedIndex <= this.match) return false;
      this.next = this.match + 1;
      return true;
    }
    // In Probe only the answer to the last probe (next - 1) counts.
    if (this.next - 1 !== rejectedIndex) return false;
    this.next = Math.max(Math.min(rejectedIndex, hintIndex + 1), 1);
    this.probeSent = false;
    return true;
  }

  /** Whether the leader must hold further Appends until an answer arrives. */
  isPaused(): boolean {
    switch (this.state) {
      case ProgressState.Probe:
        return this.probeSent;
      case ProgressState.Replicate:
        return this.inflights.full();
      case ProgressState.Snapshot:
        return true;
    }
  }

  /** Records an Append just sent whose last entry is `lastIndex` (equal to next - 1 for an empty probe). */
  sentEntries(lastIndex: number, entryCount: number): void {
    if (this.state === ProgressState.Replicate) {
      if (entryCount > 0) {
        this.next = lastIndex + 1;
        this.inflights.add(lastIndex);
      }
    } else if (this.state === ProgressState.Probe) {
      this.probeSent = true;
    } else {
      assert(false, "no Append may be sent to a follower awaiting a snapshot");
    }
  }
}
