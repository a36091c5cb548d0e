/**
 * A running Raft node: the pure core, its storage (storage.ts), TCP transport and a real clock. Every input (messages,
 * ticks, proposals, reads) lands in the core, and one processing turn per event-loop iteration hands the whole ready's
 * writes to storage as one batch, sends the messages that claim nothing durable, applies committed
 * commands in order, and advances. The event loop never waits for a disk: while writes are in flight (in order, up
 * to MAX_WRITES_IN_FLIGHT), later readies are handed off behind them, and votes and acknowledgements leave when the
 * writes before them are durable (etcd's async storage writes). The proposals made here during one event-loop
 * iteration travel as one log entry.
 */
import { logger } from "../lib/logger.ts";
import { DEFAULT_RAFT_TUNING, RaftCore, type RaftConfig } from "./core.ts";
import { AwaitingLeader } from "./awaiting-leader.ts";
import { sendableBeforePersist, voteAfter } from "./durability.ts";
import { decodeEnvelope, encodeEnvelope, type Envelope, type Proposal } from "./envelope.ts";
import { RaftStorage } from "./storage.ts";
import { TcpTransport, type PeerAddress, type TcpTransportOptions } from "./tcp-transport.ts";
import { assert, EntryType, NONE, ROLE, type Entry, type Message, type NodeId, type PersistedState, type Ready } from "./types.ts";

const log = logger("raft-node");

export interface AppliedCommand {
  index: number;
  term: number;
  /** The value given to `propose`, as `decodeCommand` returns it (a Uint8Array stays bytes). */
  command: unknown;
}

export interface StateMachineSnapshots {
  /** Compact the log once the applied entries above the last snapshot hold this many bytes of data... */
  everyBytes?: number;
  /** ...or once this many applied entries sit above it, whichever comes first. */
  everyEntries?: number;
  /**
   * The state machine's state after every command applied so far. A promise lets a large state be encoded over
   * several event-loop turns; the state it holds must be the one at the call, whatever applies meanwhile.
   */
  take(): Uint8Array | Promise<Uint8Array>;
  /** Replace the state machine's state; called at start and when a leader sends a snapshot. */
  restore(data: Uint8Array, index: number): void;
}

export interface RaftNodeOptions {
  id: NodeId;
  /** Every voter's Raft address, this node's included. */
  voters: Map<NodeId, PeerAddress>;
  dataDir: string;
  tickMs: number;
  /** Defaults to this node's address in `voters`; port 0 picks a free port (read it from `port`). */
  listenHost?: string;
  listenPort?: number;
  tuning?: Partial<Omit<RaftConfig, "id" | "voters" | "randomSeed">>;
  transport?: Pick<TcpTransportOptions, "maxFrameBytes" | "maxQueuedFramesPerPeer" | "maxQueuedBytesPerPeer" | "reconnectInitialBackoffMs" | "reconnectMaxBackoffMs">;
  proposalTimeoutMs?: number;
  readTimeoutMs?: number;
  /** Proposals and reads awaiting an outcome; beyond it new ones are refused with reason "overloaded". */
  maxPendingRequests?: number;
  /** Seeds election-timeout jitter; random by default. */
  randomSeed?: number;
  onApply?: (entry: AppliedCommand) => void;
  /**
   * Checks a command read from the log and returns it as `onApply` receives it; throws (LogFormatError) for one this
   * build cannot read. It runs on every stored entry at start, so an unreadable log stops the start with that error.
   */
  decodeCommand?: (command: unknown, index: number) => unknown;
  snapshots?: StateMachineSnapshots;
}

export class RaftProposalError extends Error {
  override name = "RaftProposalError";
  constructor(
    message: string,
    /**
     * "leader-changed": the leader it was forwarded to lost its term or its connection before answering; the outcome
     * is unknown, as after a timeout, but known at once.
     */
    readonly reason: "no-leader" | "overloaded" | "transferring" | "timeout" | "superseded" | "leader-changed" | "closed",
  ) {
    super(message);
  }
}

interface PendingProposal {
  resolve(result: { index: number }): void;
  reject(error: Error): void;
  timer: Timer;
}

interface PendingRead {
  resolve(): void;
  reject(error: Error): void;
  timer: Timer;
  /** Known once the leader confirmed it. */
  index: number | undefined;
}

/** Proposals one log entry carries at most; more wait for the next entry of the same turn. */
const MAX_PROPOSALS_PER_ENTRY = 256;
/** Writes handed to storage and not yet durable; at the bound, readies wait (inputs still reach the core). */
const MAX_WRITES_IN_FLIGHT = 1024;

/** A ready whose write is in flight, and the messages that may leave only once it (and every write before it) is durable. */
interface WriteInFlight {
  ready: Ready;
  durable: boolean;
  messagesAfterWrite: Message[];
}

export class RaftNode {
  private readonly core: RaftCore;
  private readonly storage: RaftStorage;
  private readonly transport: TcpTransport;
  private readonly ticker: Timer;
  private readonly incarnation: string;
  private readonly applyCallbacks: ((entry: AppliedCommand) => void)[] = [];
  /** Operations that must run while no ready is outstanding: they run at the start of the next turn. */
  private readonly queuedOperations: (() => void)[] = [];
  private readonly proposals = new Map<number, PendingProposal>();
  /** Proposals not yet handed to the core, in order: the next turn proposes them as few entries. */
  private readonly queuedProposals: Proposal[] = [];
  /** Proposals this node accepted as leader, by log index, to fail fast when another entry lands there. */
  private readonly proposalSequencesByIndex = new Map<number, number[]>();
  private readonly reads = new Map<string, PendingRead>();
  /** Forwarded proposals (by sequence) and unconfirmed reads (by context), by the leader and term they wait on. */
  private readonly proposalsAwaitingLeader = new AwaitingLeader<number>();
  private readonly readsAwaitingLeader = new AwaitingLeader<string>();
  private knownLeader = { leaderId: NONE, term: 0 };
  /** In hand-off order; they complete in that order. */
  private readonly writesInFlight: WriteInFlight[] = [];
  /** Data bytes of the entries applied since the last snapshot taken or restored here. */
  private appliedBytesSinceSnapshot = 0;
  /** True while a snapshot's data is being produced over later turns. */
  private takingSnapshot = false;
  private nextProposalSequence = 1;
  private nextReadSequence = 1;
  private processScheduled = false;
  private processing = false;
  private closed = false;

  private constructor(private readonly options: RaftNodeOptions) {
    const self = options.voters.get(options.id);
    assert(self, `node ${options.id} has no address among the voters`);
    const random = crypto.getRandomValues(new Uint32Array(2));
    this.incarnation = `${options.id}:${random[0]!.toString(16)}`;
    this.storage = RaftStorage.open(options.dataDir);
    const persisted = this.loadReadable();
    this.core = new RaftCore(
      {
        ...DEFAULT_RAFT_TUNING,
        ...options.tuning,
        id: options.id,
        voters: [...options.voters.keys()],
        randomSeed: options.randomSeed ?? random[1]!,
      },
      persisted,
    );
    if (options.onApply) this.applyCallbacks.push(options.onApply);
    this.transport = TcpTransport.start({
      ...options.transport,
      nodeId: options.id,
      listenHost: options.listenHost ?? self.host,
      listenPort: options.listenPort ?? self.port,
      peers: options.voters,
      onMessage: (message) => {
        if (this.closed) return;
        this.core.step(message);
        this.scheduleProcess();
      },
      onPeerDisconnected: (peer) => this.failRequestsSentTo(peer),
    });
    this.ticker = setInterval(() => {
      if (this.closed) return;
      this.core.tick();
      this.scheduleProcess();
    }, options.tickMs);
    // Committed entries after the snapshot are re-applied on the first turn, after callers registered onApply.
    this.scheduleProcess();
    log.info("raft node started", { id: options.id, term: this.core.term, lastIndex: this.core.log.lastIndex() });
  }

  /**
   * The durable state, once every stored entry decodes and the snapshot is restored: a log this build cannot read
   * fails the start with an error naming the entry, rather than the first apply of it.
   */
  private loadReadable(): PersistedState {
    try {
      const persisted = this.storage.load();
      for (const entry of persisted.entries) if (entry.type === EntryType.Normal) this.decode(entry);
      if (persisted.snapshot && this.options.snapshots) this.options.snapshots.restore(persisted.snapshot.data, persisted.snapshot.index);
      return persisted;
    } catch (error) {
      void this.storage.close();
      throw error;
    }
  }

  /** Opens storage, listens, and starts ticking. Register `onApply` right away (same tick) to see every command. */
  static start(options: RaftNodeOptions): RaftNode {
    return new RaftNode(options);
  }

  get port(): number {
    return this.transport.port;
  }
  get isLeader(): boolean {
    return this.core.role === ROLE.Leader;
  }
  get leaderId(): NodeId | undefined {
    return this.core.leaderId === NONE ? undefined : this.core.leaderId;
  }
  get term(): number {
    return this.core.term;
  }
  get commitIndex(): number {
    return this.core.log.committed;
  }
  get appliedIndex(): number {
    return this.core.log.applied;
  }
  /** True while a failed write to the Raft store (a full disk) is being retried. */
  get storageFailing(): boolean {
    return this.storage.failing;
  }

  /** Tells the transport where a peer listens now (for peers started on port 0). */
  setPeerAddress(id: NodeId, address: PeerAddress): void {
    this.transport.setPeerAddress(id, address);
  }

  onApply(callback: (entry: AppliedCommand) => void): () => void {
    this.applyCallbacks.push(callback);
    return () => {
      const position = this.applyCallbacks.indexOf(callback);
      if (position >= 0) this.applyCallbacks.splice(position, 1);
    };
  }

  /**
   * Replicates a command; resolves with its log index once it is committed and applied here. Followers forward
   * to the leader. Rejects with RaftProposalError when there is no leader, the leader is overloaded, or the
   * outcome is unknown after `proposalTimeoutMs` (the command may still commit: make commands idempotent).
   */
  propose(command: unknown): Promise<{ index: number }> {
    if (this.closed) return Promise.reject(new RaftProposalError("raft node is closed", "closed"));
    if (this.overloaded()) return Promise.reject(new RaftProposalError("too many pending proposals", "overloaded"));
    const sequence = this.nextProposalSequence++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.settleProposal(sequence, new RaftProposalError("proposal outcome unknown: timed out", "timeout"));
      }, this.options.proposalTimeoutMs ?? 5_000);
      this.proposals.set(sequence, { resolve, reject, timer });
      this.queuedProposals.push([sequence, command]);
      this.scheduleProcess();
    });
  }

  /** Hands the queued proposals to the core, many per entry: one entry to store, send and apply instead of many. */
  private proposeQueued(): void {
    while (this.queuedProposals.length > 0) {
      const batch = this.queuedProposals.splice(0, MAX_PROPOSALS_PER_ENTRY);
      const result = this.core.propose(encodeEnvelope(this.incarnation, batch));
      const sequences = batch.map(([sequence]) => sequence);
      if (!result.accepted) {
        const error = new RaftProposalError(`proposal rejected: ${result.reason}`, result.reason);
        for (const sequence of sequences) this.settleProposal(sequence, error);
      } else if ("index" in result) {
        this.proposalSequencesByIndex.set(result.index, sequences);
      } else {
        for (const sequence of sequences) this.proposalsAwaitingLeader.add(sequence, result.forwardedTo, this.core.term);
      }
    }
  }

  /** Resolves once this node has applied everything committed before the call: then a local read is linearizable. */
  readIndex(): Promise<void> {
    if (this.closed) return Promise.reject(new RaftProposalError("raft node is closed", "closed"));
    if (this.overloaded()) return Promise.reject(new RaftProposalError("too many pending reads", "overloaded"));
    const context = `${this.incarnation}:${this.nextReadSequence++}`;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.failRead(context, new RaftProposalError("read index timed out", "timeout"));
      }, this.options.readTimeoutMs ?? 5_000);
      this.reads.set(context, { resolve, reject, timer, index: undefined });
      this.enqueue(() => {
        if (!this.reads.has(context)) return;
        if (this.core.readIndex(context)) {
          this.readsAwaitingLeader.add(context, this.core.leaderId, this.core.term);
          return;
        }
        this.failRead(context, new RaftProposalError("no leader to confirm a read, or it is overloaded", "no-leader"));
      });
    });
  }

  /** Asks this node, if it leads, to hand leadership to `to` (before a planned shutdown); watch `leaderId`. */
  transferLeadership(to: NodeId): void {
    if (this.closed) return;
    this.enqueue(() => {
      this.core.transferLeadership(to);
    });
  }

  private overloaded(): boolean {
    return this.proposals.size + this.reads.size >= (this.options.maxPendingRequests ?? 65_536);
  }

  private enqueue(operation: () => void): void {
    this.queuedOperations.push(operation);
    this.scheduleProcess();
  }

  private scheduleProcess(): void {
    if (this.processScheduled || this.closed) return;
    this.processScheduled = true;
    // setImmediate lets every socket read and proposal of this loop iteration join one ready: one fsync for all.
    setImmediate(() => this.process());
  }

  private process(): void {
    this.processScheduled = false;
    if (this.closed || this.writesInFlight.length >= MAX_WRITES_IN_FLIGHT) return;
    assert(!this.processing, "re-entrant raft processing");
    this.processing = true;
    try {
      for (let turn = 0; turn < 64 && !this.closed && this.writesInFlight.length < MAX_WRITES_IN_FLIGHT; turn++) {
        const operations = this.queuedOperations.splice(0);
        for (const operation of operations) operation();
        this.proposeQueued();
        if (!this.core.hasReady()) {
          if (this.queuedOperations.length === 0) break;
          continue;
        }
        this.handleReady(this.core.ready());
      }
    } finally {
      this.processing = false;
    }
    if (this.closed) return;
    this.failRequestsToFormerLeaders();
    if (this.writesInFlight.length >= MAX_WRITES_IN_FLIGHT) return;
    if (this.queuedOperations.length > 0 || this.queuedProposals.length > 0 || this.core.hasReady()) this.scheduleProcess();
  }

  private handleReady(ready: Ready): void {
    // Durable before anyone hears about it: votes, acks and entries must survive a crash. Messages that claim
    // nothing about this node's disk go now, so followers write alongside the leader.
    const current = voteAfter(ready, this.storage.handedOff);
    const durable = this.storage.durable;
    const afterWrite: Message[] = [];
    for (const message of ready.messagesToSend) {
      if (sendableBeforePersist(message, current, durable)) this.transport.send(message);
      else afterWrite.push(message);
    }
    // What committed is on a quorum's disks already; a follower may apply entries still being written here, since
    // after a crash it learns them again from the leader (the state machine lives in memory).
    if (ready.snapshotToApply) {
      assert(this.options.snapshots, "received a snapshot but the node has no state machine snapshot hooks");
      try {
        this.options.snapshots.restore(ready.snapshotToApply.data, ready.snapshotToApply.index);
        this.appliedBytesSinceSnapshot = 0;
      } catch (error) {
        return this.stop(`the leader's snapshot at index ${ready.snapshotToApply.index} cannot be restored`, error);
      }
    }
    for (const entry of ready.committedEntriesToApply) {
      try {
        this.apply(entry);
      } catch (error) {
        // The state machine's state is unknown after a failed apply: stop, rather than go on from it.
        return this.stop(`committed entry ${entry.index} cannot be applied`, error);
      }
    }
    for (const state of ready.readStatesReady) {
      const read = this.reads.get(state.context);
      if (!read) continue;
      read.index = state.index;
      this.readsAwaitingLeader.delete(state.context);
    }
    const written = this.storage.persist(ready);
    this.core.advance(ready);
    if (written) {
      const write: WriteInFlight = { ready, durable: false, messagesAfterWrite: afterWrite };
      this.writesInFlight.push(write);
      written.then(
        () => {
          write.durable = true;
          this.completeWrites();
        },
        (error: unknown) => this.stop("a storage write failed", error),
      );
    } else if (this.writesInFlight.length > 0) {
      this.writesInFlight.at(-1)!.messagesAfterWrite.push(...afterWrite);
    } else {
      for (const message of afterWrite) this.transport.send(message);
    }
    this.completeReads();
    this.maybeCompact();
  }

  /** Reports durable writes to the core, in hand-off order, sends what waited for them, and takes the next ready. */
  private completeWrites(): void {
    if (this.closed) return;
    while (this.writesInFlight[0]?.durable) {
      const write = this.writesInFlight.shift()!;
      for (const message of write.messagesAfterWrite) this.transport.send(message);
      this.core.persisted(write.ready);
    }
    // At once rather than in the next event-loop iteration: what just became durable may commit and answer callers.
    this.process();
  }

  /** After a failed write or apply the disk's or the state machine's state is unknown: stop taking part rather than diverge. */
  private stop(reason: string, error: unknown): void {
    if (this.closed) return;
    log.error(`stopping this raft node: ${reason}`, { id: this.options.id, error: String(error) });
    void this.close();
  }

  /** Fails forwarded proposals and unconfirmed reads once the leader they wait on is no longer this node's leader. */
  private failRequestsToFormerLeaders(): void {
    const leaderId = this.core.leaderId;
    const term = this.core.term;
    if (leaderId === this.knownLeader.leaderId && term === this.knownLeader.term) return;
    this.knownLeader = { leaderId, term };
    this.failAwaiting(this.proposalsAwaitingLeader.takeStale(leaderId, term), this.readsAwaitingLeader.takeStale(leaderId, term));
  }

  private failRequestsSentTo(peer: NodeId): void {
    if (this.closed) return;
    this.failAwaiting(this.proposalsAwaitingLeader.takeSentTo(peer), this.readsAwaitingLeader.takeSentTo(peer));
  }

  private failAwaiting(sequences: number[], contexts: string[]): void {
    if (sequences.length === 0 && contexts.length === 0) return;
    const error = new RaftProposalError("outcome unknown: the leader it went to lost its term or its connection", "leader-changed");
    for (const sequence of sequences) this.settleProposal(sequence, error);
    for (const context of contexts) this.failRead(context, error);
  }

  /** The proposer and the decoded commands of a normal entry; throws LogFormatError for one this build cannot read. */
  private decode(entry: Entry): Envelope {
    const { proposer, proposals } = decodeEnvelope(entry.data, entry.index);
    const decodeCommand = this.options.decodeCommand;
    if (!decodeCommand) return { proposer, proposals };
    return { proposer, proposals: proposals.map(([sequence, command]): Proposal => [sequence, decodeCommand(command, entry.index)]) };
  }

  private apply(entry: Entry): void {
    this.appliedBytesSinceSnapshot += entry.data.byteLength;
    if (entry.type === EntryType.Normal) {
      const { proposer, proposals } = this.decode(entry);
      for (const [sequence, command] of proposals) {
        for (const callback of this.applyCallbacks) callback({ index: entry.index, term: entry.term, command });
        if (proposer === this.incarnation) this.settleProposal(sequence, { index: entry.index });
      }
    }
    // Proposals accepted at this index but not in the entry that committed there never will be.
    const expectedSequences = this.proposalSequencesByIndex.get(entry.index);
    if (expectedSequences === undefined) return;
    this.proposalSequencesByIndex.delete(entry.index);
    for (const sequence of expectedSequences) if (this.proposals.has(sequence)) this.settleProposal(sequence, supersededError(entry.index));
  }

  private settleProposal(sequence: number, outcome: { index: number } | Error): void {
    const proposal = this.proposals.get(sequence);
    if (!proposal) return;
    this.proposals.delete(sequence);
    this.proposalsAwaitingLeader.delete(sequence);
    clearTimeout(proposal.timer);
    if (outcome instanceof Error) proposal.reject(outcome);
    else proposal.resolve(outcome);
  }

  private failRead(context: string, error: RaftProposalError): void {
    const read = this.reads.get(context);
    if (!read) return;
    this.reads.delete(context);
    this.readsAwaitingLeader.delete(context);
    clearTimeout(read.timer);
    read.reject(error);
  }

  private completeReads(): void {
    if (this.reads.size === 0) return;
    const applied = this.core.log.applied;
    for (const [context, read] of this.reads) {
      if (read.index === undefined || read.index > applied) continue;
      this.reads.delete(context);
      clearTimeout(read.timer);
      read.resolve();
    }
  }

  private maybeCompact(): void {
    const snapshots = this.options.snapshots;
    if (!snapshots || this.takingSnapshot) return;
    const applied = this.core.log.applied;
    const entries = applied - this.core.log.snapshot.index;
    if (entries === 0) return;
    if (this.appliedBytesSinceSnapshot < (snapshots.everyBytes ?? Infinity) && entries < (snapshots.everyEntries ?? Infinity)) return;
    this.appliedBytesSinceSnapshot = 0;
    const data = snapshots.take();
    if (data instanceof Uint8Array) {
      this.core.compact(applied, data);
      return;
    }
    this.takingSnapshot = true;
    data.then(
      (taken) =>
        this.enqueue(() => {
          this.takingSnapshot = false;
          // A leader's snapshot may have replaced the log past it meanwhile.
          if (this.core.log.snapshot.index < applied && this.core.log.term(applied) !== undefined) this.core.compact(applied, taken);
        }),
      (error: unknown) => {
        this.takingSnapshot = false;
        log.error("taking a snapshot failed; the log is compacted at the next one", { index: applied, error: String(error) });
      },
    );
  }

  /** Stops ticking and serving; pending proposals and reads fail with reason "closed". */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.ticker);
    const closedError = new RaftProposalError("raft node closed", "closed");
    for (const sequence of [...this.proposals.keys()]) this.settleProposal(sequence, closedError);
    for (const context of [...this.reads.keys()]) this.failRead(context, closedError);
    await this.transport.close();
    await this.storage.close();
  }
}

function supersededError(index: number): RaftProposalError {
  return new RaftProposalError(`proposal lost: another entry committed at index ${index}`, "superseded");
}
