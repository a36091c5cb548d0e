/**
 * Which leader epoch wrote which offsets of one partition (Kafka's LeaderEpochFileCache): a list of
 * (epoch, startOffset) with both strictly increasing. A follower asks its leader for the end offset of its own
 * latest epoch and truncates to it before fetching, so a tail the old leader wrote but never committed is
 * removed instead of served. Pure: persistence is the caller's (see leader-epoch-file.ts).
 */
export interface EpochEntry {
  readonly epoch: number;
  readonly startOffset: number;
}

export const UNDEFINED_EPOCH = -1;
export const UNDEFINED_OFFSET = -1;

export interface EpochEndOffset {
  /** The largest epoch <= the one asked for that this log knows, or UNDEFINED_EPOCH. */
  readonly epoch: number;
  /** The first offset after that epoch's batches, or UNDEFINED_OFFSET. */
  readonly endOffset: number;
}

function assert(condition: boolean, message: string): asserts condition {
  if (!condition) throw new Error(`leader epoch cache invariant violated: ${message}`);
}

export class LeaderEpochCache {
  private readonly entries: EpochEntry[] = [];

  constructor(entries: readonly EpochEntry[] = []) {
    for (const entry of entries) this.assign(entry.epoch, entry.startOffset);
  }

  get all(): readonly EpochEntry[] {
    return this.entries;
  }

  get latestEpoch(): number {
    return this.entries[this.entries.length - 1]?.epoch ?? UNDEFINED_EPOCH;
  }

  /**
   * Records that `epoch` starts at `startOffset` (the first batch it wrote). Returns true if the cache changed.
   * An older epoch, or a start offset before the latest entry's, never rewrites history; entries a newer epoch
   * starts before or at are conflicting leftovers of a truncated tail and go.
   */
  assign(epoch: number, startOffset: number): boolean {
    assert(Number.isSafeInteger(epoch) && epoch >= 0, `epoch ${epoch}`);
    assert(Number.isSafeInteger(startOffset) && startOffset >= 0, `start offset ${startOffset}`);
    const latest = this.entries[this.entries.length - 1];
    if (latest !== undefined && epoch <= latest.epoch) return false;
    while (this.entries.length > 0 && this.entries[this.entries.length - 1]!.startOffset >= startOffset) this.entries.pop();
    this.entries.push({ epoch, startOffset });
    return true;
  }

  /**
   * Kafka's OffsetForLeaderEpoch answer against a log ending at logEndOffset: for the latest epoch the log end;
   * for an older one the start offset of the next epoch this log knows; for an epoch newer than any, undefined.
   */
  endOffsetFor(requestedEpoch: number, logEndOffset: number): EpochEndOffset {
    const undefinedAnswer = { epoch: UNDEFINED_EPOCH, endOffset: UNDEFINED_OFFSET };
    if (requestedEpoch === UNDEFINED_EPOCH || this.entries.length === 0) return undefinedAnswer;
    if (requestedEpoch === this.latestEpoch) return { epoch: requestedEpoch, endOffset: logEndOffset };
    const higher = this.entries.findIndex((e) => e.epoch > requestedEpoch);
    if (higher < 0) return undefinedAnswer;
    const floor = higher > 0 ? this.entries[higher - 1]! : undefined;
    return { epoch: floor?.epoch ?? requestedEpoch, endOffset: this.entries[higher]!.startOffset };
  }

  /** The log was truncated to `endOffset`: epochs starting at or after it never wrote anything that remains. */
  truncateFromEnd(endOffset: number): boolean {
    const before = this.entries.length;
    while (this.entries.length > 0 && this.entries[this.entries.length - 1]!.startOffset >= endOffset) this.entries.pop();
    return this.entries.length !== before;
  }

  /** The log start moved to `startOffset` (retention): the epoch holding it now starts there. */
  truncateFromStart(startOffset: number): boolean {
    let firstKept = 0;
    while (firstKept + 1 < this.entries.length && this.entries[firstKept + 1]!.startOffset <= startOffset) firstKept++;
    const first = this.entries[firstKept];
    if (first === undefined || (firstKept === 0 && first.startOffset >= startOffset)) return false;
    this.entries.splice(0, firstKept + 1, { epoch: first.epoch, startOffset: Math.max(first.startOffset, startOffset) });
    return true;
  }
}

/** Text form of the checkpoint file: a version line, a count line, then "epoch startOffset" lines (as Kafka's). */
export function encodeEpochCheckpoint(entries: readonly EpochEntry[]): string {
  return ["0", String(entries.length), ...entries.map((e) => `${e.epoch} ${e.startOffset}`)].join("\n") + "\n";
}

/** Null for a damaged file: the caller rebuilds the cache from the batch headers. */
export function decodeEpochCheckpoint(text: string): EpochEntry[] | null {
  const lines = text.split("\n").filter((l) => l.length > 0);
  if (lines[0] !== "0") return null;
  const count = Number(lines[1]);
  if (!Number.isSafeInteger(count) || count < 0 || lines.length !== count + 2) return null;
  const entries: EpochEntry[] = [];
  for (const line of lines.slice(2)) {
    const [epoch, startOffset] = line.split(" ").map(Number);
    if (!Number.isSafeInteger(epoch) || !Number.isSafeInteger(startOffset) || epoch! < 0 || startOffset! < 0) return null;
    const previous = entries[entries.length - 1];
    if (previous && (epoch! <= previous.epoch || startOffset! <= previous.startOffset)) return null;
    entries.push({ epoch: epoch!, startOffset: startOffset! });
  }
  return entries;
}

/**
 * The leader's check of a follower's subscription (KIP-320): the follower's last epoch must end at or after its
 * fetch offset in the leader's history; otherwise the answer is where that epoch ends, to truncate to.
 */
export function divergence(leader: LeaderEpochCache, leaderLogEndOffset: number, lastEpoch: number, fetchOffset: number): EpochEndOffset | null {
  if (lastEpoch === UNDEFINED_EPOCH) return fetchOffset > leaderLogEndOffset ? { epoch: UNDEFINED_EPOCH, endOffset: leaderLogEndOffset } : null;
  const end = leader.endOffsetFor(lastEpoch, leaderLogEndOffset);
  if (end.epoch === UNDEFINED_EPOCH || end.epoch < lastEpoch || end.endOffset < fetchOffset) return end;
  return null;
}

/**
 * Where a follower truncates on the leader's answer (Kafka's AbstractFetcherThread.getOffsetTruncationState): to
 * the smaller of the two logs' ends for the newest epoch both know. If the follower does not know the leader's
 * epoch it goes back to its own end of an older epoch, and the next subscription narrows further.
 */
export function truncationOffset(follower: LeaderEpochCache, followerLogEndOffset: number, followerHighWatermark: number, leaderAnswer: EpochEndOffset): number {
  if (leaderAnswer.endOffset === UNDEFINED_OFFSET) return Math.min(followerHighWatermark, followerLogEndOffset);
  if (leaderAnswer.epoch === UNDEFINED_EPOCH) return Math.min(leaderAnswer.endOffset, followerLogEndOffset);
  const own = follower.endOffsetFor(leaderAnswer.epoch, followerLogEndOffset);
  if (own.epoch === UNDEFINED_EPOCH) return Math.min(leaderAnswer.endOffset, followerLogEndOffset);
  if (own.epoch !== leaderAnswer.epoch) return Math.min(own.endOffset, followerLogEndOffset);
  return Math.min(leaderAnswer.endOffset, own.endOffset, followerLogEndOffset);
}
