/**
 * Raft as a pure state machine, in the shape of etcd's raft: feed it `step(message)`, `tick()`, `propose()` and
 * `readIndex()`, then take `ready()`, hand its hard state and entries to storage, send its messages (those that claim
 * something durable only once the write completes), apply its committed entries, and `advance()`. Writes are
 * asynchronous, as etcd's async storage writes: `persisted(ready)` reports each completed write, in hand-off order,
 * and only then does a leader count its own copy toward a quorum. No clock, disk, socket or global randomness in
 * here: time is ticks, randomness is a Prng.
 */
import { pack } from "msgpackr";
import { Prng } from "./prng.ts";
import { Progress, ProgressState } from "./progress.ts";
import { RaftLog } from "./raft-log.ts";
import {
  assert,
  EntryType,
  MessageType,
  NONE,
  ROLE,
  type Entry,
  type HardState,
  type Message,
  type NodeId,
  type PersistedState,
  type ReadState,
  type Ready,
  type Role,
  type Snapshot,
} from "./types.ts";

export interface RaftConfig {
  id: NodeId;
  /** Static membership: every voter's id, including this node's. */
  voters: NodeId[];
  /** A follower campaigns after a random timeout in [electionTicks, 2 * electionTicks). */
  electionTicks: number;
  heartbeatTicks: number;
  /** Appends in flight per follower while replicating: the pipelining depth. */
  maxInflightAppends: number;
  /** Entry data per Append message: the batching bound. A single larger entry still goes alone. */
  maxAppendBytes: number;
  /** The leader refuses proposals beyond this much uncommitted entry data. */
  maxUncommittedBytes: number;
  /** Committed entry data handed out per ready; the rest follows in the next ones. */
  maxApplyBytes: number;
  /** Reads the leader holds while confirming leadership; beyond it new reads are refused (the client retries). */
  maxPendingReads: number;
  preVote: boolean;
  checkQuorum: boolean;
  /** Seeds the election-timeout randomization. */
  randomSeed: number;
}

export const DEFAULT_RAFT_TUNING = {
  electionTicks: 10,
  heartbeatTicks: 1,
  maxInflightAppends: 64,
  maxAppendBytes: 1 << 20,
  maxUncommittedBytes: 64 << 20,
  maxPendingReads: 4096,
  maxApplyBytes: 16 << 20,
  preVote: true,
  checkQuorum: true,
} as const;

export type ProposeResult =
  | { accepted: true; index: number }
  | { accepted: true; forwardedTo: NodeId }
  | { accepted: false; reason: "no-leader" | "overloaded" | "transferring" };

interface PendingRead {
  context: string;
  from: NodeId;
  index: number;
  acks: Set<NodeId>;
}

export interface RaftStatus {
  id: NodeId;
  role: Role;
  term: number;
  vote: NodeId;
  leaderId: NodeId;
  commitIndex: number;
  appliedIndex: number;
  lastIndex: number;
  snapshotIndex: number;
}

export class RaftCore {
  readonly id: NodeId;
  readonly voters: readonly NodeId[];
  private readonly config: RaftConfig;
  private readonly random: Prng;
  readonly log: RaftLog;

  role: Role = ROLE.Follower;
  term: number;
  vote: NodeId;
  leaderId: NodeId = NONE;

  private electionElapsedTicks = 0;
  private heartbeatElapsedTicks = 0;
  private randomizedElectionTimeoutTicks = 0;
  private readonly votesReceived = new Map<NodeId, boolean>();
  private readonly progress = new Map<NodeId, Progress>();
  private uncommittedBytes = 0;
  /** While set, the leader is handing leadership to this node and refuses proposals. */
  private leadTransferee: NodeId = NONE;
  private transferElapsedTicks = 0;

  private messages: Message[] = [];
  private readStates: ReadState[] = [];
  private pendingReads: PendingRead[] = [];
  /** Reads that arrived before the leader committed an entry of its own term: its commit index may be stale. */
  private readsAwaitingTermCommit: { context: string; from: NodeId }[] = [];
  private needsBroadcast = false;
  private commitChangedSinceBroadcast = false;

  private persistedHardState: HardState;
  private snapshotToPersist: Snapshot | undefined;
  private snapshotToApply: Snapshot | undefined;
  private outstandingReady: Ready | undefined;

  constructor(config: RaftConfig, persisted: PersistedState) {
    assert(config.id !== NONE && config.voters.includes(config.id), `node ${config.id} is not among the voters`);
    assert(new Set(config.voters).size === config.voters.length, "duplicate voter ids");
    assert(config.heartbeatTicks >= 1 && config.electionTicks > config.heartbeatTicks, "election must outlast heartbeats");
    this.id = config.id;
    this.voters = [...config.voters];
    this.config = config;
    this.random = new Prng(config.randomSeed);
    this.log = new RaftLog(persisted.snapshot, persisted.entries, persisted.hardState.commit);
    this.term = persisted.hardState.term;
    this.vote = persisted.hardState.vote;
    this.persistedHardState = { ...persisted.hardState };
    this.becomeFollower(this.term, NONE);
  }

  status(): RaftStatus {
    return {
      id: this.id,
      role: this.role,
      term: this.term,
      vote: this.vote,
      leaderId: this.leaderId,
      commitIndex: this.log.committed,
      appliedIndex: this.log.applied,
      lastIndex: this.log.lastIndex(),
      snapshotIndex: this.log.snapshot.index,
    };
  }

  private quorum(): number {
    return Math.floor(this.voters.length / 2) + 1;
  }

  private assertNoOutstandingReady(): void {
    assert(this.outstandingReady === undefined, "the core was driven between ready() and advance()");
  }

  // ---- inputs ----

  tick(): void {
    this.assertNoOutstandingReady();
    if (this.role === ROLE.Leader) {
      this.tickLeader();
    } else {
      this.electionElapsedTicks++;
      if (this.electionElapsedTicks >= this.randomizedElectionTimeoutTicks) {
        this.electionElapsedTicks = 0;
        this.campaign(this.config.preVote);
      }
    }
  }

  private tickLeader(): void {
    this.heartbeatElapsedTicks++;
    this.electionElapsedTicks++;
    for (const pr of this.progress.values()) if (pr.state === ProgressState.Snapshot) pr.ticksSinceSnapshotSent++;
    if (this.leadTransferee !== NONE && ++this.transferElapsedTicks >= this.config.electionTicks) {
      // The transferee did not take over in an election timeout: keep leading.
      this.leadTransferee = NONE;
    }
    if (this.electionElapsedTicks >= this.config.electionTicks) {
      this.electionElapsedTicks = 0;
      if (this.config.checkQuorum) {
        let active = 0;
        for (const [id, pr] of this.progress) {
          if (id === this.id || pr.recentActive) active++;
          pr.recentActive = false;
        }
        if (active < this.quorum()) {
          // Partitioned from a quorum: stop serving as leader so clients find the real one.
          this.becomeFollower(this.term, NONE);
          return;
        }
      }
    }
    if (this.heartbeatElapsedTicks >= this.config.heartbeatTicks) {
      this.heartbeatElapsedTicks = 0;
      this.broadcastHeartbeat(this.pendingReads.at(-1)?.context);
    }
  }

  /** Proposes a command; `data` is opaque bytes, or any msgpackr-encodable value. */
  propose(data: Uint8Array | unknown): ProposeResult {
    this.assertNoOutstandingReady();
    const bytes = data instanceof Uint8Array ? data : (pack(data) as Uint8Array);
    if (this.role === ROLE.Leader) {
      if (this.leadTransferee !== NONE) return { accepted: false, reason: "transferring" };
      const index = this.appendProposals([bytes]);
      return index === undefined ? { accepted: false, reason: "overloaded" } : { accepted: true, index };
    }
    if (this.role === ROLE.Follower && this.leaderId !== NONE) {
      this.send({ type: MessageType.Propose, to: this.leaderId, entries: [{ index: 0, term: 0, type: EntryType.Normal, data: bytes }] });
      return { accepted: true, forwardedTo: this.leaderId };
    }
    return { accepted: false, reason: "no-leader" };
  }

  /**
   * Starts a linearizable read identified by `context` (unique per request). When the leader has confirmed its
   * leadership, `ready().readStatesReady` carries `{index, context}`: the read is safe once applied >= index.
   * Returns false when there is no leader to ask or too many reads are pending; the caller retries later.
   */
  readIndex(context: string): boolean {
    this.assertNoOutstandingReady();
    if (this.role === ROLE.Leader) return this.handleReadIndex(this.id, context);
    if (this.role === ROLE.Follower && this.leaderId !== NONE) {
      this.send({ type: MessageType.ReadIndex, to: this.leaderId, context });
      return true;
    }
    return false;
  }

  /**
   * Hands leadership to `to` (leader only): once `to` has the whole log it is told to campaign at once, and
   * proposals are refused meanwhile. Gives up after an election timeout. Returns false when not the leader.
   */
  transferLeadership(to: NodeId): boolean {
    this.assertNoOutstandingReady();
    assert(this.voters.includes(to), `cannot transfer leadership to non-voter ${to}`);
    if (this.role !== ROLE.Leader) return false;
    if (to === this.id) return true;
    this.leadTransferee = to;
    this.transferElapsedTicks = 0;
    if (this.progress.get(to)!.match === this.log.lastIndex()) this.send({ type: MessageType.TimeoutNow, to });
    else this.sendAppends(to, true);
    return true;
  }

  /** Compacts the log up to `index` (applied) with the application's state machine snapshot at that index. */
  compact(index: number, data: Uint8Array): void {
    this.assertNoOutstandingReady();
    const term = this.log.term(index);
    assert(term !== undefined, `cannot compact at ${index}: not in the log`);
    const snapshot: Snapshot = { index, term, data };
    this.log.compact(snapshot);
    this.snapshotToPersist = snapshot;
  }

  step(m: Message): void {
    this.assertNoOutstandingReady();
    assert(m.to === this.id, `message for ${m.to} delivered to ${this.id}`);
    if (m.term > this.term) {
      const isVoteRequest = m.type === MessageType.Vote || m.type === MessageType.PreVote;
      const inLease = this.config.checkQuorum && this.leaderId !== NONE && this.electionElapsedTicks < this.config.electionTicks;
      // A node that heard from a live leader recently ignores disruptive candidates.
      if (isVoteRequest && inLease && !m.transfer) return;
      if (m.type === MessageType.PreVote || (m.type === MessageType.PreVoteResp && !m.reject)) {
        // Pre-votes are about a future term; they move nobody's term.
      } else {
        const fromLeader = m.type === MessageType.Append || m.type === MessageType.Heartbeat || m.type === MessageType.Snapshot;
        this.becomeFollower(m.term, fromLeader ? m.from : NONE);
      }
    } else if (m.term < this.term) {
      if ((this.config.checkQuorum || this.config.preVote) && (m.type === MessageType.Append || m.type === MessageType.Heartbeat)) {
        // Tell a stale leader about the newer term; with pre-vote it could not learn it from our campaigns.
        this.send({ type: MessageType.AppendResp, to: m.from });
      } else if (m.type === MessageType.PreVote) {
        this.send({ type: MessageType.PreVoteResp, to: m.from, reject: true });
      }
      return;
    }

    switch (m.type) {
      case MessageType.PreVote:
      case MessageType.Vote:
        this.handleVoteRequest(m);
        return;
      case MessageType.Propose:
        this.handleForwardedProposal(m);
        return;
      case MessageType.ReadIndex:
        if (this.role === ROLE.Leader) this.handleReadIndex(m.from, m.context!);
        return;
    }

    switch (this.role) {
      case ROLE.Leader:
        this.stepLeader(m);
        return;
      case ROLE.Candidate:
      case ROLE.PreCandidate:
        this.stepCandidate(m);
        return;
      case ROLE.Follower:
        this.stepFollower(m);
        return;
    }
  }

  // ---- roles ----

  private resetForTerm(term: number): void {
    if (term !== this.term) {
      assert(term > this.term, `term moving backwards from ${this.term} to ${term}`);
      this.term = term;
      this.vote = NONE;
    }
    this.leaderId = NONE;
    this.electionElapsedTicks = 0;
    this.heartbeatElapsedTicks = 0;
    this.randomizedElectionTimeoutTicks = this.config.electionTicks + this.random.int(this.config.electionTicks);
    this.votesReceived.clear();
    this.progress.clear();
    this.pendingReads = [];
    this.readsAwaitingTermCommit = [];
    this.uncommittedBytes = 0;
    this.leadTransferee = NONE;
    this.needsBroadcast = false;
    this.commitChangedSinceBroadcast = false;
  }

  private becomeFollower(term: number, leaderId: NodeId): void {
    this.resetForTerm(term);
    this.role = ROLE.Follower;
    this.leaderId = leaderId;
  }

  private becomePreCandidate(): void {
    assert(this.role !== ROLE.Leader, "a leader cannot pre-campaign");
    this.resetForTerm(this.term);
    this.role = ROLE.PreCandidate;
  }

  private becomeCandidate(): void {
    assert(this.role !== ROLE.Leader, "a leader cannot campaign");
    this.resetForTerm(this.term + 1);
    this.vote = this.id;
    this.role = ROLE.Candidate;
  }

  private becomeLeader(): void {
    assert(this.role === ROLE.Candidate, `only a candidate becomes leader, not a ${this.role}`);
    this.resetForTerm(this.term);
    this.role = ROLE.Leader;
    this.leaderId = this.id;
    for (const voter of this.voters) {
      const pr = new Progress(this.log.lastIndex() + 1, this.config.maxInflightAppends);
      if (voter === this.id) {
        pr.match = this.log.stableIndex;
        pr.becomeReplicate();
      }
      pr.recentActive = true;
      this.progress.set(voter, pr);
    }
    // An entry of its own term lets the leader commit, and learn the commit index, for earlier-term entries.
    this.log.append([{ index: this.log.lastIndex() + 1, term: this.term, type: EntryType.Noop, data: new Uint8Array(0) }]);
    this.needsBroadcast = true;
  }

  private campaign(preVote: boolean, transfer = false): void {
    if (preVote) this.becomePreCandidate();
    else this.becomeCandidate();
    const campaignTerm = preVote ? this.term + 1 : this.term;
    if (this.recordVote(this.id, true) === "won") {
      if (preVote) this.campaign(false);
      else this.becomeLeader();
      return;
    }
    for (const voter of this.voters) {
      if (voter === this.id) continue;
      this.send({
        type: preVote ? MessageType.PreVote : MessageType.Vote,
        to: voter,
        term: campaignTerm,
        index: this.log.lastIndex(),
        logTerm: this.log.lastTerm(),
        ...(transfer ? { transfer } : {}),
      });
    }
  }

  private recordVote(from: NodeId, granted: boolean): "won" | "lost" | "pending" {
    if (!this.votesReceived.has(from)) this.votesReceived.set(from, granted);
    let grants = 0;
    let rejects = 0;
    for (const vote of this.votesReceived.values()) vote ? grants++ : rejects++;
    if (grants >= this.quorum()) return "won";
    if (rejects >= this.quorum()) return "lost";
    return "pending";
  }

  private handleVoteRequest(m: Message): void {
    const preVote = m.type === MessageType.PreVote;
    const canVote =
      this.vote === m.from || (this.vote === NONE && this.leaderId === NONE) || (preVote && m.term > this.term);
    const responseType = preVote ? MessageType.PreVoteResp : MessageType.VoteResp;
    if (canVote && this.log.isUpToDate(m.index!, m.logTerm!)) {
      // A pre-vote grant answers in the proposed term, so the pre-candidate counts it.
      this.send({ type: responseType, to: m.from, term: m.term, reject: false });
      if (!preVote) {
        this.electionElapsedTicks = 0;
        this.vote = m.from;
      }
    } else {
      this.send({ type: responseType, to: m.from, reject: true });
    }
  }

  private stepCandidate(m: Message): void {
    switch (m.type) {
      case MessageType.Append:
      case MessageType.Heartbeat:
      case MessageType.Snapshot:
        this.becomeFollower(m.term, m.from);
        this.stepFollower(m);
        return;
      case MessageType.PreVoteResp:
      case MessageType.VoteResp: {
        const expected = this.role === ROLE.PreCandidate ? MessageType.PreVoteResp : MessageType.VoteResp;
        if (m.type !== expected) return;
        const outcome = this.recordVote(m.from, !m.reject);
        if (outcome === "won") {
          if (this.role === ROLE.PreCandidate) this.campaign(false);
          else this.becomeLeader();
        } else if (outcome === "lost") {
          this.becomeFollower(this.term, NONE);
        }
        return;
      }
    }
  }

  private stepFollower(m: Message): void {
    switch (m.type) {
      case MessageType.Append:
        this.electionElapsedTicks = 0;
        this.leaderId = m.from;
        this.handleAppend(m);
        return;
      case MessageType.Heartbeat:
        this.electionElapsedTicks = 0;
        this.leaderId = m.from;
        this.log.commitTo(Math.min(m.commit!, this.log.lastIndex()));
        this.send({ type: MessageType.HeartbeatResp, to: m.from, context: m.context });
        return;
      case MessageType.Snapshot:
        this.electionElapsedTicks = 0;
        this.leaderId = m.from;
        this.handleSnapshot(m);
        return;
      case MessageType.ReadIndexResp:
        this.readStates.push({ index: m.index!, context: m.context! });
        return;
      case MessageType.TimeoutNow:
        // Our leader asks us to take over: skip pre-vote, and voters skip their lease for this Vote.
        this.campaign(false, true);
        return;
    }
  }

  private stepLeader(m: Message): void {
    switch (m.type) {
      case MessageType.Append:
      case MessageType.Heartbeat:
      case MessageType.Snapshot:
        assert(false, `two leaders in term ${this.term}: ${this.id} and ${m.from}`);
        return;
      case MessageType.AppendResp:
        this.handleAppendResp(m);
        return;
      case MessageType.HeartbeatResp:
        this.handleHeartbeatResp(m);
        return;
    }
  }

  // ---- follower side of replication ----

  private handleAppend(m: Message): void {
    const prevIndex = m.index!;
    if (prevIndex < this.log.committed) {
      this.send({ type: MessageType.AppendResp, to: m.from, index: this.log.committed });
      return;
    }
    const lastNewIndex = this.log.maybeAppend(prevIndex, m.logTerm!, m.entries ?? []);
    if (lastNewIndex !== undefined) {
      this.log.commitTo(Math.min(m.commit!, lastNewIndex));
      this.send({ type: MessageType.AppendResp, to: m.from, index: lastNewIndex });
      return;
    }
    // Fast backtracking: point the leader at the last index whose term is at most the leader's term there.
    const hintIndex = this.log.findConflictByTerm(Math.min(prevIndex, this.log.lastIndex()), m.logTerm!);
    this.send({
      type: MessageType.AppendResp,
      to: m.from,
      index: prevIndex,
      reject: true,
      rejectHint: hintIndex,
      logTerm: this.log.term(hintIndex) ?? 0,
    });
  }

  private handleSnapshot(m: Message): void {
    const snapshot = m.snapshot!;
    if (snapshot.index > this.log.committed) {
      if (this.log.matchTerm(snapshot.index, snapshot.term)) {
        this.log.commitTo(snapshot.index);
      } else {
        this.log.restore(snapshot);
        this.snapshotToApply = snapshot;
        this.snapshotToPersist = snapshot;
      }
    }
    // Only the committed prefix is known to match the leader's log.
    this.send({ type: MessageType.AppendResp, to: m.from, index: this.log.committed });
  }

  // ---- leader side of replication ----

  private appendProposals(datas: Uint8Array[]): number | undefined {
    let bytes = 0;
    for (const data of datas) bytes += data.byteLength;
    if (this.uncommittedBytes > 0 && this.uncommittedBytes + bytes > this.config.maxUncommittedBytes) return undefined;
    this.uncommittedBytes += bytes;
    const entries: Entry[] = datas.map((data, i) => ({
      index: this.log.lastIndex() + 1 + i,
      term: this.term,
      type: EntryType.Normal,
      data,
    }));
    this.log.append(entries);
    // Sending waits for ready(): every proposal made until then travels in the same Append.
    this.needsBroadcast = true;
    return entries.at(-1)!.index;
  }

  private handleForwardedProposal(m: Message): void {
    const datas = (m.entries ?? []).map((e) => e.data);
    if (datas.length === 0) return;
    if (this.role === ROLE.Leader) {
      if (this.leadTransferee === NONE) this.appendProposals(datas);
    }
    else if (this.role === ROLE.Follower && this.leaderId !== NONE && this.leaderId !== m.from) {
      this.send({ type: MessageType.Propose, to: this.leaderId, entries: m.entries });
    }
  }

  /** Sends one Append (or snapshot) if the follower's flow control allows. Returns whether anything went out. */
  private maybeSendAppend(to: NodeId, sendIfEmpty: boolean): boolean {
    const pr = this.progress.get(to)!;
    if (pr.isPaused()) return false;
    const prevIndex = pr.next - 1;
    const prevTerm = this.log.term(prevIndex);
    if (prevTerm === undefined) {
      assert(prevIndex < this.log.snapshot.index, `leader lacks entry ${prevIndex} above its snapshot`);
      this.send({ type: MessageType.Snapshot, to, snapshot: this.log.snapshot });
      pr.becomeSnapshot(this.log.snapshot.index);
      return true;
    }
    const entries = pr.next <= this.log.lastIndex() ? this.log.slice(pr.next, this.config.maxAppendBytes) : [];
    if (entries.length === 0 && !sendIfEmpty) return false;
    this.send({ type: MessageType.Append, to, index: prevIndex, logTerm: prevTerm, entries, commit: this.log.committed });
    pr.sentEntries(prevIndex + entries.length, entries.length);
    return true;
  }

  /** Streams Appends to one follower until its window is full or it has everything. */
  private sendAppends(to: NodeId, sendIfEmpty: boolean): void {
    if (!this.maybeSendAppend(to, sendIfEmpty)) return;
    for (let sent = 1; sent <= this.config.maxInflightAppends; sent++) {
      if (!this.maybeSendAppend(to, false)) return;
    }
  }

  private flushBroadcast(): void {
    if (this.role !== ROLE.Leader || !this.needsBroadcast) return;
    const sendIfEmpty = this.commitChangedSinceBroadcast;
    this.needsBroadcast = false;
    this.commitChangedSinceBroadcast = false;
    for (const voter of this.voters) if (voter !== this.id) this.sendAppends(voter, sendIfEmpty);
  }

  private handleAppendResp(m: Message): void {
    const pr = this.progress.get(m.from);
    assert(pr !== undefined, `append response from non-voter ${m.from}`);
    pr.recentActive = true;
    if (m.reject) {
      let probeFrom = m.rejectHint!;
      if ((m.logTerm ?? 0) > 0) probeFrom = this.log.findConflictByTerm(m.rejectHint!, m.logTerm!);
      if (pr.maybeDecreaseTo(m.index!, probeFrom)) {
        if (pr.state === ProgressState.Replicate) {
          pr.becomeProbe();
          pr.next = Math.max(pr.match + 1, Math.min(pr.next, probeFrom + 1));
        }
        this.sendAppends(m.from, true);
      }
      return;
    }
    const wasPaused = pr.isPaused();
    if (!pr.maybeUpdate(m.index!)) return;
    if (pr.state === ProgressState.Probe) pr.becomeReplicate();
    else if (pr.state === ProgressState.Snapshot && pr.match >= pr.pendingSnapshotIndex) pr.becomeReplicate();
    else if (pr.state === ProgressState.Replicate) pr.inflights.freeTo(m.index!);
    if (this.maybeCommit()) this.needsBroadcast = true;
    if (m.from === this.leadTransferee && pr.match === this.log.lastIndex()) this.send({ type: MessageType.TimeoutNow, to: m.from });
    // A follower that was paused may have missed commit updates: send even an empty Append to carry the commit.
    this.sendAppends(m.from, wasPaused);
  }

  private handleHeartbeatResp(m: Message): void {
    const pr = this.progress.get(m.from);
    assert(pr !== undefined, `heartbeat response from non-voter ${m.from}`);
    pr.recentActive = true;
    pr.probeSent = false;
    // A full window with a live follower means Appends were lost; let one more through to find out.
    if (pr.state === ProgressState.Replicate && pr.inflights.full()) pr.inflights.freeFirst();
    if (pr.state === ProgressState.Snapshot && pr.ticksSinceSnapshotSent >= this.config.electionTicks) pr.becomeProbe();
    if (pr.match < this.log.lastIndex()) this.sendAppends(m.from, true);
    if (m.context !== undefined) this.ackRead(m.from, m.context);
  }

  private maybeCommit(): boolean {
    const matches = this.voters.map((v) => this.progress.get(v)!.match).sort((a, b) => b - a);
    const quorumIndex = matches[this.quorum() - 1]!;
    // Only entries of the current term commit by counting replicas (Raft paper, section 5.4.2).
    if (quorumIndex <= this.log.committed || this.log.term(quorumIndex) !== this.term) return false;
    const firstNewlyCommitted = this.log.committed + 1;
    const hadCommittedInTerm = this.log.term(this.log.committed) === this.term;
    this.log.commitTo(quorumIndex);
    for (let index = firstNewlyCommitted; index <= quorumIndex; index++) {
      if (index > this.log.snapshot.index) this.uncommittedBytes -= this.log.entry(index).data.byteLength;
    }
    this.uncommittedBytes = Math.max(0, this.uncommittedBytes);
    this.commitChangedSinceBroadcast = true;
    if (!hadCommittedInTerm) {
      const waiting = this.readsAwaitingTermCommit;
      this.readsAwaitingTermCommit = [];
      for (const read of waiting) this.handleReadIndex(read.from, read.context);
    }
    return true;
  }

  private broadcastHeartbeat(context: string | undefined): void {
    for (const voter of this.voters) {
      if (voter === this.id) continue;
      const pr = this.progress.get(voter)!;
      // Never tell a follower to commit past what it is known to hold.
      const commit = Math.min(pr.match, this.log.committed);
      this.send({ type: MessageType.Heartbeat, to: voter, commit, context });
    }
  }

  // ---- linearizable reads ----

  /** Returns false when the read is refused because too many are pending. */
  private handleReadIndex(from: NodeId, context: string): boolean {
    assert(this.role === ROLE.Leader, "only the leader serves read indexes");
    if (this.pendingReads.length + this.readsAwaitingTermCommit.length >= this.config.maxPendingReads) return false;
    if (this.log.term(this.log.committed) !== this.term) {
      this.readsAwaitingTermCommit.push({ from, context });
      return true;
    }
    const read: PendingRead = { context, from, index: this.log.committed, acks: new Set([this.id]) };
    if (read.acks.size >= this.quorum()) {
      this.releaseRead(read);
      return true;
    }
    this.pendingReads.push(read);
    this.broadcastHeartbeat(context);
    return true;
  }

  private ackRead(from: NodeId, context: string): void {
    const position = this.pendingReads.findIndex((r) => r.context === context);
    if (position < 0) return;
    const read = this.pendingReads[position]!;
    read.acks.add(from);
    if (read.acks.size < this.quorum()) return;
    // A quorum acknowledged a heartbeat sent after every earlier read arrived: those are confirmed too.
    const confirmed = this.pendingReads.splice(0, position + 1);
    for (const r of confirmed) this.releaseRead(r);
  }

  private releaseRead(read: PendingRead): void {
    if (read.from === this.id) this.readStates.push({ index: read.index, context: read.context });
    else this.send({ type: MessageType.ReadIndexResp, to: read.from, index: read.index, context: read.context });
  }

  // ---- output ----

  private send(m: Omit<Message, "from" | "term"> & { term?: number }): void {
    this.messages.push({ ...m, from: this.id, term: m.term ?? this.term });
  }

  private hardStateChanged(): boolean {
    const hs = this.persistedHardState;
    return hs.term !== this.term || hs.vote !== this.vote || hs.commit !== this.log.committed;
  }

  hasReady(): boolean {
    this.assertNoOutstandingReady();
    return (
      this.messages.length > 0 ||
      (this.needsBroadcast && this.role === ROLE.Leader) ||
      this.hardStateChanged() ||
      this.log.handedOffIndex < this.log.lastIndex() ||
      this.log.committed > this.log.applied ||
      this.readStates.length > 0 ||
      this.snapshotToPersist !== undefined
    );
  }

  ready(): Ready {
    this.assertNoOutstandingReady();
    this.flushBroadcast();
    const ready: Ready = {
      entriesToPersist: this.log.unstableEntries(),
      messagesToSend: this.messages,
      committedEntriesToApply: this.log.entriesToApply(this.config.maxApplyBytes),
      readStatesReady: this.readStates,
    };
    if (this.hardStateChanged()) ready.hardState = { term: this.term, vote: this.vote, commit: this.log.committed };
    if (this.snapshotToPersist) ready.snapshotToPersist = this.snapshotToPersist;
    if (this.snapshotToApply) ready.snapshotToApply = this.snapshotToApply;
    this.messages = [];
    this.readStates = [];
    this.outstandingReady = ready;
    return ready;
  }

  /** Acknowledges that `ready`'s writes were handed to storage, its messages sent or held, and its entries applied. */
  advance(ready: Ready): void {
    assert(this.outstandingReady === ready, "advance() must acknowledge the last ready()");
    this.outstandingReady = undefined;
    if (ready.hardState) this.persistedHardState = ready.hardState;
    this.snapshotToPersist = undefined;
    this.snapshotToApply = undefined;
    const lastHandedOff = ready.entriesToPersist.at(-1);
    if (lastHandedOff) {
      assert(lastHandedOff.index === this.log.lastIndex(), "the log changed between ready() and advance()");
      this.log.handedOffTo(lastHandedOff.index);
    }
    const lastApplied = ready.committedEntriesToApply.at(-1);
    if (lastApplied) {
      assert(lastApplied.index === this.log.applied + ready.committedEntriesToApply.length, "entries applied out of order");
      this.log.applied = lastApplied.index;
    }
  }

  /**
   * Reports that the write of an advanced `ready` is durable. Writes complete in the order their readies were
   * handed out; a crash before this loses the write, and with it the node's claims to it.
   */
  persisted(ready: Pick<Ready, "entriesToPersist" | "snapshotToPersist">): void {
    this.assertNoOutstandingReady();
    const last = ready.entriesToPersist.at(-1) ?? ready.snapshotToPersist;
    if (last) this.log.stableTo(last.index, last.term);
    if (this.role === ROLE.Leader) {
      // The leader counts itself toward a quorum only for entries on its own disk.
      const self = this.progress.get(this.id)!;
      if (self.maybeUpdate(this.log.stableIndex) && this.maybeCommit()) this.needsBroadcast = true;
    }
  }
}
