/**
 * The leader's view of one partition's followers (Kafka's Partition: updateFollowerFetchState, maybeShrinkIsr,
 * maybeExpandIsr): their reported end offsets give the high watermark, and how long each has failed to catch up
 * decides who leaves and rejoins the ISR. Pure: time comes in as arguments, ISR changes go out as proposals the
 * caller sends to the controller and reports back.
 */

export interface IsrTrackerOptions {
  readonly leaderId: number;
  readonly replicas: readonly number[];
  readonly isr: readonly number[];
  readonly leaderEpoch: number;
  readonly partitionEpoch: number;
  /** The log end when this leader's epoch began: a follower must reach it to rejoin (it holds this epoch's data). */
  readonly leaderEpochStartOffset: number;
  readonly replicaLagTimeMaxMs: number;
  readonly nowMs: number;
}

interface FollowerState {
  /** -1 until the follower reports after this leader took over. */
  endOffset: number;
  /** The follower's log start offset as it last reported it; -1 until it reports after this leader took over. */
  logStartOffset: number;
  lastCaughtUpTimeMs: number;
  /** The leader's end offset and the time at the follower's previous report (Kafka's lastFetchLeaderLogEndOffset). */
  leaderEndAtLastReport: number;
  lastReportMs: number;
}

export interface IsrProposal {
  readonly isr: readonly number[];
  readonly leaderEpoch: number;
  readonly partitionEpoch: number;
  readonly reason: "shrink" | "expand";
}

function assert(condition: boolean, message: string): asserts condition {
  if (!condition) throw new Error(`ISR tracker invariant violated: ${message}`);
}

export class IsrTracker {
  readonly leaderId: number;
  readonly leaderEpoch: number;
  readonly replicaLagTimeMaxMs: number;
  private readonly leaderEpochStartOffset: number;
  private readonly followers = new Map<number, FollowerState>();
  private committed: readonly number[];
  private partitionEpoch: number;
  private pending: IsrProposal | null = null;

  constructor(options: IsrTrackerOptions) {
    assert(options.replicas.includes(options.leaderId), `leader ${options.leaderId} not among replicas ${options.replicas}`);
    assert(options.isr.includes(options.leaderId), `leader ${options.leaderId} not in ISR ${options.isr}`);
    this.leaderId = options.leaderId;
    this.leaderEpoch = options.leaderEpoch;
    this.partitionEpoch = options.partitionEpoch;
    this.leaderEpochStartOffset = options.leaderEpochStartOffset;
    this.replicaLagTimeMaxMs = options.replicaLagTimeMaxMs;
    this.committed = [...options.isr];
    for (const id of options.replicas) {
      if (id === options.leaderId) continue;
      // As Kafka on becoming leader: ISR members get a full lag window to report before they can be dropped.
      const caughtUpMs = options.isr.includes(id) ? options.nowMs : 0;
      this.followers.set(id, { endOffset: -1, logStartOffset: -1, lastCaughtUpTimeMs: caughtUpMs, leaderEndAtLastReport: -1, lastReportMs: caughtUpMs });
    }
  }

  /** The committed ISR: what the controller holds and min.insync.replicas is checked against. */
  get isr(): readonly number[] {
    return this.committed;
  }

  get currentPartitionEpoch(): number {
    return this.partitionEpoch;
  }

  get pendingProposal(): IsrProposal | null {
    return this.pending;
  }

  /** The committed ISR plus members a pending expansion adds: the high watermark waits for all of them. */
  get maximalIsr(): readonly number[] {
    if (this.pending === null) return this.committed;
    return [...new Set([...this.committed, ...this.pending.isr])];
  }

  followerEndOffset(id: number): number {
    return this.followers.get(id)?.endOffset ?? -1;
  }

  /** Followers' lag in offsets behind leaderEndOffset (unknown ones count as the whole log). */
  lagByFollower(leaderEndOffset: number): Map<number, number> {
    const lag = new Map<number, number>();
    for (const [id, state] of this.followers) lag.set(id, leaderEndOffset - Math.max(0, state.endOffset));
    return lag;
  }

  /**
   * A follower reports the end of its log (what it holds under the flush policy). Kafka's rule: it is caught up
   * now if it reached the leader's end, or caught up as of its previous report if it reached the end the leader
   * had then.
   */
  onFollowerReport(id: number, endOffset: number, leaderEndOffset: number, nowMs: number): void {
    const state = this.followers.get(id);
    if (state === undefined) return;
    // A report beyond the leader's end is a stale tail it has not truncated yet: it proves nothing.
    const counted = Math.min(endOffset, leaderEndOffset);
    state.endOffset = counted;
    if (counted >= leaderEndOffset) state.lastCaughtUpTimeMs = Math.max(state.lastCaughtUpTimeMs, nowMs);
    else if (state.leaderEndAtLastReport >= 0 && counted >= state.leaderEndAtLastReport) {
      state.lastCaughtUpTimeMs = Math.max(state.lastCaughtUpTimeMs, state.lastReportMs);
    }
    state.leaderEndAtLastReport = leaderEndOffset;
    state.lastReportMs = nowMs;
  }

  /** A follower reports where its log starts now (it follows the leader's, within its high watermark, and its own retention). */
  onFollowerLogStart(id: number, logStartOffset: number): void {
    const state = this.followers.get(id);
    if (state !== undefined) state.logStartOffset = logStartOffset;
  }

  /**
   * The partition's low watermark (Kafka's Partition.lowWatermarkIfLeader): the minimum log start offset over the
   * leader and every assigned follower on a live broker, ISR member or not. A live follower that has not reported
   * since this leader took over counts as -1. DeleteRecords is answered once this reaches the offset it asked for.
   */
  lowWatermark(leaderLogStartOffset: number, isLive: (id: number) => boolean): number {
    let lowWatermark = leaderLogStartOffset;
    for (const [id, state] of this.followers) {
      if (isLive(id)) lowWatermark = Math.min(lowWatermark, state.logStartOffset);
    }
    return lowWatermark;
  }

  /**
   * The minimum end offset over the maximal ISR, the leader's own counted as leaderEndOffset. A member that has
   * not reported since this leader took over holds it back, as in Kafka; the caller keeps it monotonic.
   */
  highWatermark(leaderEndOffset: number): number {
    let hwm = leaderEndOffset;
    for (const id of this.maximalIsr) {
      if (id === this.leaderId) continue;
      const state = this.followers.get(id);
      hwm = Math.min(hwm, state === undefined ? -1 : state.endOffset);
    }
    return hwm;
  }

  /** Whether the follower may (re)join: it has everything committed and everything of this leader's epoch so far. */
  private inSync(state: FollowerState, highWatermark: number): boolean {
    return state.endOffset >= 0 && state.endOffset >= highWatermark && state.endOffset >= this.leaderEpochStartOffset;
  }

  private caughtUp(state: FollowerState, leaderEndOffset: number, nowMs: number): boolean {
    return state.endOffset >= leaderEndOffset || nowMs - state.lastCaughtUpTimeMs <= this.replicaLagTimeMaxMs;
  }

  /**
   * The ISR change to propose now, if any, and at most one at a time: first drop members that have not caught
   * up within replica.lag.time.max.ms, else add eligible replicas that are in sync. The leader always stays.
   */
  planIsrChange(leaderEndOffset: number, highWatermark: number, nowMs: number, eligible: (id: number) => boolean = () => true): IsrProposal | null {
    if (this.pending !== null) return null;
    const laggards = this.committed.filter((id) => {
      if (id === this.leaderId) return false;
      const state = this.followers.get(id);
      return state === undefined || !this.caughtUp(state, leaderEndOffset, nowMs);
    });
    if (laggards.length > 0) {
      return this.propose(this.committed.filter((id) => !laggards.includes(id)), "shrink");
    }
    // Fenced or shutting-down brokers cannot join (the controller would refuse them as INELIGIBLE_REPLICA).
    const joiners = [...this.followers].filter(([id, state]) => !this.committed.includes(id) && eligible(id) && this.inSync(state, highWatermark)).map(([id]) => id);
    if (joiners.length > 0) return this.propose([...this.committed, ...joiners].sort((a, b) => a - b), "expand");
    return null;
  }

  private propose(isr: number[], reason: IsrProposal["reason"]): IsrProposal {
    assert(isr.includes(this.leaderId), "a proposal keeps the leader");
    this.pending = { isr, leaderEpoch: this.leaderEpoch, partitionEpoch: this.partitionEpoch, reason };
    return this.pending;
  }

  /** The controller's record changed (our proposal or anything else under the same leader epoch). */
  onPartitionRecord(isr: readonly number[], partitionEpoch: number, nowMs: number): void {
    if (partitionEpoch < this.partitionEpoch) return;
    for (const id of isr) {
      const state = this.followers.get(id);
      // A member added by the controller gets a fresh lag window, as on becoming leader.
      if (state !== undefined && !this.committed.includes(id)) state.lastCaughtUpTimeMs = Math.max(state.lastCaughtUpTimeMs, nowMs);
    }
    for (const id of this.committed) {
      const state = this.followers.get(id);
      // A member that left (e.g. fenced) must prove itself with a new report before it can rejoin.
      if (state !== undefined && !isr.includes(id)) state.endOffset = -1;
    }
    this.committed = [...isr];
    this.partitionEpoch = partitionEpoch;
    this.pending = null;
  }

  /** The proposal was rejected or never committed: plan again from the current record. */
  onProposalFailed(): void {
    this.pending = null;
  }
}
