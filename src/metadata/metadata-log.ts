import { logger } from "../lib/logger.ts";
import { RaftNode, RaftProposalError, type AppliedCommand } from "../raft/node.ts";
import type { PeerAddress } from "../raft/tcp-transport.ts";
import { decodeMetadataEntry, decodeMetadataSnapshot, encodeMetadataEntry, metadataSnapshotSlices, type MetadataEntry } from "./log-format.ts";
import { commandProblem, type CommandOutcome, type MetadataChange, type MetadataCommand } from "./records.ts";
import { MetadataState } from "./state.ts";

const log = logger("metadata");

export type ApplyListener = (change: MetadataChange, state: MetadataState) => void;

/** Where metadata commands are agreed and made durable, and applied to the state every reader uses. */
export interface MetadataLog {
  readonly state: MetadataState;
  /** Resolves once the commands are committed and applied to `state`, in order, with one outcome per command. */
  propose(commands: readonly MetadataCommand[]): Promise<CommandOutcome[]>;
  onApply(listener: ApplyListener): void;
}

export interface RaftMetadataLogOptions {
  nodeId: number;
  voters: Map<number, PeerAddress>;
  /** The Raft store lives here. */
  dataDir: string;
  /** The longest a follower waits for the leader: it campaigns after a random timeout in [electionTimeoutMs / 2, electionTimeoutMs). */
  electionTimeoutMs: number;
  /** Overrides the port in this node's voter address (0 picks a free one). */
  listenPort?: number;
  listenHost?: string;
  /** Snapshot once the entries applied since the last snapshot hold this many bytes (Kafka's default: 20 MiB). */
  snapshotEveryBytes?: number;
  /** Snapshot after this many entries as well, whatever their size. */
  snapshotEveryEntries?: number;
  /** How long a proposal keeps retrying while there is no leader, and waits for its outcome. */
  proposalTimeoutMs?: number;
  /** Bytes of messages queued for one peer before the oldest unsent ones are dropped. */
  maxQueuedBytesPerPeer?: number;
}

/** Raft's randomized timeout spans [ELECTION_TICKS, 2 * ELECTION_TICKS) ticks: fine enough for jitter, coarse enough for few wake-ups. */
const ELECTION_TICKS = 10;
const SOLO_ELECTION_TICKS = 2;
const SOLO_TICK_MS = 10;
/**
 * Snapshotting encodes the whole state, so its cost grows with the state: count the log's bytes, not its entries,
 * so that many small entries (one topic each) do not snapshot a large state over and over.
 */
const DEFAULT_SNAPSHOT_BYTES = 20 << 20;
/** Encoded bytes after which a snapshot being encoded lets the event loop run: a few milliseconds of packing. */
const SNAPSHOT_BYTES_PER_TURN = 1 << 20;
const RETRIABLE = new Set<RaftProposalError["reason"]>(["no-leader", "transferring", "superseded", "overloaded"]);

/**
 * The metadata log on Raft, used alike by a one-voter quorum and a cluster: commands commit through the
 * quorum and every node applies them in log order; the state is snapshotted through the node's hooks, so
 * the Raft store is the only durable copy of the metadata.
 */
export class RaftMetadataLog implements MetadataLog {
  readonly state = new MetadataState();
  private readonly node: RaftNode;
  private readonly listeners: ApplyListener[] = [];
  private readonly incarnation = crypto.randomUUID();
  private readonly awaitingOutcomes = new Map<number, CommandOutcome[] | null>();
  private nextSequence = 1;
  private readonly tickMs: number;
  private readonly electionTicks: number;
  private readonly proposalTimeoutMs: number;
  /** Committed records this node refused or undid (Kafka's metadata-load-error-count), and listeners that threw (its metadata-apply-error-count). */
  private readonly errors = { load: 0, apply: 0 };

  private constructor(options: RaftMetadataLogOptions) {
    // A lone voter has nobody to hear from: it elects itself at once rather than after an election timeout.
    const electionTicks = options.voters.size === 1 ? SOLO_ELECTION_TICKS : ELECTION_TICKS;
    this.tickMs = options.voters.size === 1 ? SOLO_TICK_MS : Math.max(1, Math.floor(options.electionTimeoutMs / (2 * ELECTION_TICKS)));
    this.electionTicks = electionTicks;
    this.proposalTimeoutMs = options.proposalTimeoutMs ?? 10_000;
    this.node = RaftNode.start({
      id: options.nodeId,
      voters: options.voters,
      dataDir: options.dataDir,
      tickMs: this.tickMs,
      listenHost: options.listenHost,
      listenPort: options.listenPort,
      tuning: { electionTicks },
      transport: options.maxQueuedBytesPerPeer === undefined ? undefined : { maxQueuedBytesPerPeer: options.maxQueuedBytesPerPeer },
      proposalTimeoutMs: this.proposalTimeoutMs,
      readTimeoutMs: this.proposalTimeoutMs,
      onApply: (entry) => this.apply(entry),
      decodeCommand: decodeMetadataEntry,
      snapshots: {
        everyBytes: options.snapshotEveryBytes ?? DEFAULT_SNAPSHOT_BYTES,
        everyEntries: options.snapshotEveryEntries,
        take: () => encodeBetweenTurns(metadataSnapshotSlices(this.state.toSnapshot())),
        restore: (data, index) => {
          this.state.restore(decodeMetadataSnapshot(data, index));
          log.info("metadata restored from a snapshot", { index, topics: this.state.topicCount() });
          this.notify({ type: "restored" }, index);
        },
      },
    });
  }

  static start(options: RaftMetadataLogOptions): RaftMetadataLog {
    return new RaftMetadataLog(options);
  }

  get raftPort(): number {
    return this.node.port;
  }
  get isLeader(): boolean {
    return this.node.isLeader;
  }
  /** The controller: the Raft leader, when one is known. */
  get leaderId(): number | undefined {
    return this.node.leaderId;
  }
  /** Raft's view from this node, for metrics and the admin API. */
  raftStatus(): { term: number; isLeader: boolean; commitIndex: number; appliedIndex: number; storageFailing: boolean } {
    return {
      term: this.node.term,
      isLeader: this.node.isLeader,
      commitIndex: this.node.commitIndex,
      appliedIndex: this.node.appliedIndex,
      storageFailing: this.node.storageFailing,
    };
  }
  /** Errors met applying committed metadata here, for metrics: the node goes on after each. */
  applyErrors(): { load: number; apply: number } {
    return { ...this.errors };
  }
  get electionTimeoutMs(): number {
    return this.tickMs * 2 * this.electionTicks;
  }

  onApply(listener: ApplyListener): void {
    this.listeners.push(listener);
  }

  /** Resolves once this node has applied everything the quorum committed before the call (waits for a leader). */
  async catchUp(timeoutMs: number): Promise<void> {
    const deadlineMs = performance.now() + timeoutMs;
    for (;;) {
      try {
        return await this.node.readIndex();
      } catch (error) {
        if (!(error instanceof RaftProposalError) || error.reason === "closed" || performance.now() > deadlineMs) throw error;
        await Bun.sleep(this.tickMs);
      }
    }
  }

  /** Throws, before proposing, for a malformed command: every node would refuse it once committed. */
  async propose(commands: readonly MetadataCommand[]): Promise<CommandOutcome[]> {
    if (commands.length === 0) return [];
    for (const command of commands) {
      const problem = commandProblem(command);
      if (problem !== null) throw new Error(`malformed metadata command ${command.type}: ${problem}`);
    }
    const sequence = this.nextSequence++;
    const entry = encodeMetadataEntry({ incarnation: this.incarnation, sequence, commands: [...commands] });
    this.awaitingOutcomes.set(sequence, null);
    const deadlineMs = performance.now() + this.proposalTimeoutMs;
    try {
      for (;;) {
        try {
          await this.node.propose(entry);
          break;
        } catch (error) {
          // Refused or superseded proposals never commit, so trying again cannot apply them twice.
          if (!(error instanceof RaftProposalError) || !RETRIABLE.has(error.reason) || performance.now() > deadlineMs) throw error;
          await Bun.sleep(this.tickMs);
        }
      }
      const outcomes = this.awaitingOutcomes.get(sequence);
      if (!outcomes) throw new Error(`metadata proposal ${sequence} committed without outcomes`);
      return outcomes;
    } finally {
      this.awaitingOutcomes.delete(sequence);
    }
  }

  private apply(applied: AppliedCommand): void {
    const { incarnation, sequence, commands } = applied.command as MetadataEntry;
    const outcomes: CommandOutcome[] = [];
    for (const command of commands) {
      const { outcome, changes, fault } = this.state.apply(command, applied.index);
      if (fault !== undefined) {
        this.errors.load++;
        const type = (command as { type?: unknown } | null)?.type;
        log.error("committed metadata record refused; the state is unchanged and later records apply", { index: applied.index, type, fault });
      }
      outcomes.push(outcome);
      for (const change of changes) this.notify(change, applied.index);
    }
    if (incarnation === this.incarnation && this.awaitingOutcomes.has(sequence)) this.awaitingOutcomes.set(sequence, outcomes);
  }

  /** A listener's failure is its own: the state has applied the change on every node, so the log goes on. */
  private notify(change: MetadataChange, index: number): void {
    for (const listener of this.listeners) {
      try {
        listener(change, this.state);
      } catch (error) {
        this.errors.apply++;
        log.error("a listener failed to take an applied metadata change", { index, change: change.type, error });
      }
    }
  }

  async close(): Promise<void> {
    await this.node.close();
  }
}

/**
 * Joins a snapshot's slices, letting the event loop run after every SNAPSHOT_BYTES_PER_TURN: encoding a state of
 * 100k topics at once stalls every request on the node for 50-110 ms. The state was copied when the slices began.
 */
async function encodeBetweenTurns(slices: Iterable<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  let sinceTurn = 0;
  for (const slice of slices) {
    parts.push(slice);
    sinceTurn += slice.byteLength;
    if (sinceTurn >= SNAPSHOT_BYTES_PER_TURN) {
      sinceTurn = 0;
      await new Promise((resolve) => setImmediate(resolve));
    }
  }
  return Buffer.concat(parts);
}
