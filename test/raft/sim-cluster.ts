/**
 * A whole Raft cluster in one process, driven from one seed: a simulated network (delay, loss, duplication,
 * reordering, partitions), simulated disks (crash-restart recovers from persisted state only), and invariant checks.
 * Nodes treat the disk as RaftNode does (durability.ts): each ready's write is handed off and completes later, in
 * hand-off order, while the node goes on; a crash loses every write not completed. A commit-only hard state waits
 * for the next write, messages that claim nothing durable (a leader's Appends) leave at once, the rest when the
 * writes handed off before them complete, and committed entries are applied at hand-off.
 */
import { pack, unpack } from "msgpackr";
import { DEFAULT_RAFT_TUNING, RaftCore, type RaftConfig } from "../../src/raft/core.ts";
import { mustSync, sendableBeforePersist, voteAfter, type DurableVote } from "../../src/raft/durability.ts";
import { Prng } from "../../src/raft/prng.ts";
import { EntryType, ROLE, type Entry, type HardState, type Message, type NodeId, type Ready, type Snapshot } from "../../src/raft/types.ts";

export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) return false;
  for (let i = 0; i < a.byteLength; i++) if (a[i] !== b[i]) return false;
  return true;
}

export class SimulationError extends Error {}

function fail(message: string): never {
  throw new SimulationError(message);
}

interface Disk {
  hardState: HardState;
  snapshot: Snapshot | undefined;
  entries: Entry[];
}

/** The application: a digest over every applied command, so divergence anywhere shows up. */
interface StateMachine {
  appliedIndex: number;
  digest: number;
}

export interface FaultProfile {
  minDelayMs: number;
  maxDelayMs: number;
  dropProbability: number;
  duplicateProbability: number;
  /** A write completes this many milliseconds after its hand-off at most (and never before the writes before it). */
  maxWriteLatencyMs?: number;
  /** Per write handed off: the node crashes right after the hand-off (having sent and applied what may go first), losing it. */
  crashAfterHandOffProbability?: number;
}

interface WriteInFlight {
  ready: Ready;
  /** The hard state this write stores: the latest one at hand-off. */
  hardState: HardState;
  completeAtMs: number;
  messagesAfterWrite: Message[];
}

interface InFlight {
  deliverAtMs: number;
  sequence: number;
  message: Message;
}

export class SimNode {
  core: RaftCore | undefined;
  disk: Disk = { hardState: { term: 0, vote: 0, commit: 0 }, snapshot: undefined, entries: [] };
  /** The hard state of the last ready; it reaches the disk with the next write, or is lost in a crash. */
  latestHardState: HardState = { term: 0, vote: 0, commit: 0 };
  /** Term and vote of the last write handed off. */
  handedOffVote: DurableVote = { term: 0, vote: 0 };
  /** Handed off, not yet on the disk, in order; a crash loses them. */
  writesInFlight: WriteInFlight[] = [];
  machine: StateMachine = { appliedIndex: 0, digest: 0 };
  nextTickAtMs = 0;
  restarts = 0;
  readStatesSeen: { index: number; context: string }[] = [];

  constructor(readonly id: NodeId) {}

  get up(): boolean {
    return this.core !== undefined;
  }
}

export interface ClusterOptions {
  nodeCount: number;
  seed: number;
  tickMs: number;
  /** Each node's tick interval varies by up to this much: clocks drift. */
  tickJitterMs?: number;
  config?: Partial<RaftConfig>;
  /** Compact when this many applied entries sit above the snapshot (0: never). */
  compactEveryEntries: number;
}

export class SimCluster {
  readonly random: Prng;
  readonly nodes: SimNode[];
  nowMs = 0;
  faults: FaultProfile = { minDelayMs: 1, maxDelayMs: 5, dropProbability: 0, duplicateProbability: 0 };
  /** Cut links as "from>to". */
  readonly cutLinks = new Set<string>();
  private inFlight: InFlight[] = [];
  private sequence = 0;
  private proposalSequence = 0;

  // Global knowledge for the invariants.
  readonly leaderByTerm = new Map<number, NodeId>();
  readonly committed = new Map<number, { term: number; data: Uint8Array; commitTerm: number }>();
  maxCommitIndex = 0;
  private readonly appliedByIndex = new Map<number, { term: number; data: Uint8Array }>();
  private readonly readRequiredIndex = new Map<string, number>();
  private readCounter = 0;
  readsCompleted = 0;
  proposalsApplied = 0;
  crashes = 0;
  snapshotsInstalled = 0;
  compactions = 0;
  messagesSent = 0;

  constructor(readonly options: ClusterOptions) {
    this.random = new Prng(options.seed);
    this.nodes = [];
    for (let id = 1; id <= options.nodeCount; id++) this.nodes.push(new SimNode(id));
    for (const node of this.nodes) this.start(node);
  }

  node(id: NodeId): SimNode {
    return this.nodes[id - 1]!;
  }

  private configFor(node: SimNode): RaftConfig {
    return {
      ...DEFAULT_RAFT_TUNING,
      maxInflightAppends: 4,
      maxAppendBytes: 256,
      id: node.id,
      voters: this.nodes.map((n) => n.id),
      randomSeed: (this.options.seed * 7919 + node.id * 104729 + node.restarts * 15485863) >>> 0,
      ...this.options.config,
    };
  }

  start(node: SimNode): void {
    if (node.up) fail(`node ${node.id} already up`);
    node.core = new RaftCore(this.configFor(node), {
      hardState: { ...node.disk.hardState },
      snapshot: node.disk.snapshot,
      entries: node.disk.entries.slice(),
    });
    node.latestHardState = { ...node.disk.hardState };
    node.handedOffVote = { term: node.disk.hardState.term, vote: node.disk.hardState.vote };
    node.writesInFlight = [];
    node.machine = node.disk.snapshot ? decodeMachine(node.disk.snapshot.data) : { appliedIndex: 0, digest: 0 };
    node.nextTickAtMs = this.nowMs + 1 + this.random.int(this.options.tickMs);
  }

  crash(node: SimNode): void {
    node.core = undefined;
    node.writesInFlight = [];
    node.restarts++;
    this.crashes++;
  }

  leaders(): SimNode[] {
    return this.nodes.filter((n) => n.core?.role === ROLE.Leader);
  }

  propose(node: SimNode): boolean {
    if (!node.core) return false;
    const command = `n${node.id}-p${++this.proposalSequence}`;
    return node.core.propose(command).accepted;
  }

  transferLeadership(to: SimNode): void {
    for (const leader of this.leaders()) leader.core!.transferLeadership(to.id);
  }

  read(node: SimNode): string | undefined {
    if (!node.core) return undefined;
    const context = `r${++this.readCounter}`;
    if (!node.core.readIndex(context)) return undefined;
    // Linearizability: the read must reflect every write that completed before it began.
    this.readRequiredIndex.set(context, this.maxCommitIndex);
    return context;
  }

  /** One millisecond of simulated time: deliver due messages, tick due nodes, process every ready. */
  step(): void {
    this.nowMs++;
    const due = this.inFlight.filter((f) => f.deliverAtMs <= this.nowMs).sort((a, b) => a.deliverAtMs - b.deliverAtMs || a.sequence - b.sequence);
    if (due.length > 0) this.inFlight = this.inFlight.filter((f) => f.deliverAtMs > this.nowMs);
    for (const flight of due) this.deliver(flight.message);
    for (const node of this.nodes) {
      if (node.core && node.nextTickAtMs <= this.nowMs) {
        node.core.tick();
        const jitterMs = this.options.tickJitterMs ?? 0;
        node.nextTickAtMs = this.nowMs + this.options.tickMs - jitterMs + this.random.int(2 * jitterMs + 1);
      }
    }
    for (const node of this.nodes) this.completeWrites(node);
    for (const node of this.nodes) this.processReady(node);
    this.checkInvariants();
  }

  private deliver(message: Message): void {
    const target = this.node(message.to);
    if (!target.core) return;
    if (this.cutLinks.has(`${message.from}>${message.to}`)) return;
    const wasLeader = target.core.role === ROLE.Leader;
    const termBefore = target.core.term;
    target.core.step(message);
    this.noteRoleChange(target, wasLeader, termBefore);
  }

  send(message: Message): void {
    const f = this.faults;
    this.messagesSent++;
    if (this.random.chance(f.dropProbability)) return;
    const copies = this.random.chance(f.duplicateProbability) ? 2 : 1;
    for (let copy = 0; copy < copies; copy++) {
      const delayMs = f.minDelayMs + this.random.int(f.maxDelayMs - f.minDelayMs + 1);
      this.inFlight.push({ deliverAtMs: this.nowMs + delayMs, sequence: this.sequence++, message });
    }
  }

  processReady(node: SimNode): void {
    for (let rounds = 0; node.core && rounds < 100; rounds++) {
      const core = node.core;
      const wasLeader = core.role === ROLE.Leader;
      const termBefore = core.term;
      if (!core.hasReady()) return;
      const ready = core.ready();
      const current = voteAfter(ready, node.handedOffVote);
      const durable = node.disk.hardState;
      const afterWrite: Message[] = [];
      for (const m of ready.messagesToSend) {
        if (sendableBeforePersist(m, current, durable)) this.send(m);
        else afterWrite.push(m);
      }
      if (ready.snapshotToApply) {
        node.machine = decodeMachine(ready.snapshotToApply.data);
        this.snapshotsInstalled++;
      }
      for (const entry of ready.committedEntriesToApply) this.apply(node, entry);
      for (const rs of ready.readStatesReady) this.completeRead(node, rs);
      const handedOff = this.handOff(node, ready, afterWrite);
      core.advance(ready);
      if (handedOff && this.random.chance(this.faults.crashAfterHandOffProbability ?? 0)) {
        this.crash(node);
        return;
      }
      this.recordCommit(node);
      this.noteRoleChange(node, wasLeader, termBefore);
      this.maybeCompact(node);
    }
    if (node.core?.hasReady()) fail(`node ${node.id} never ran out of readies`);
  }

  /** Starts the ready's write, if it needs one; messages that must wait leave when the writes before them complete. */
  private handOff(node: SimNode, ready: Ready, afterWrite: Message[]): boolean {
    if (ready.hardState) node.latestHardState = { ...ready.hardState };
    const tail = node.writesInFlight.at(-1);
    if (!mustSync(ready, node.handedOffVote)) {
      if (tail) tail.messagesAfterWrite.push(...afterWrite);
      else for (const m of afterWrite) this.send(m);
      return false;
    }
    const latencyMs = 1 + this.random.int(this.faults.maxWriteLatencyMs ?? 1);
    const completeAtMs = Math.max(tail?.completeAtMs ?? 0, this.nowMs + latencyMs);
    node.writesInFlight.push({ ready, hardState: { ...node.latestHardState }, completeAtMs, messagesAfterWrite: afterWrite });
    node.handedOffVote = { term: node.latestHardState.term, vote: node.latestHardState.vote };
    return true;
  }

  /** Writes due by now reach the disk in order; the core hears of each, and what waited for it is sent. */
  private completeWrites(node: SimNode): void {
    while (node.core && node.writesInFlight[0] && node.writesInFlight[0].completeAtMs <= this.nowMs) {
      const write = node.writesInFlight.shift()!;
      this.persist(node, write);
      for (const m of write.messagesAfterWrite) this.send(m);
      node.core.persisted(write.ready);
    }
  }

  private persist(node: SimNode, write: WriteInFlight): void {
    const disk = node.disk;
    const ready = write.ready;
    if (ready.snapshotToApply) {
      disk.snapshot = ready.snapshotToApply;
      disk.entries = [];
    } else if (ready.snapshotToPersist) {
      const s = ready.snapshotToPersist;
      disk.snapshot = s;
      disk.entries = disk.entries.filter((e) => e.index > s.index);
    }
    if (ready.entriesToPersist.length > 0) {
      const first = ready.entriesToPersist[0]!.index;
      disk.entries = disk.entries.filter((e) => e.index < first).concat(ready.entriesToPersist);
    }
    disk.hardState = { ...write.hardState };
    const base = disk.snapshot?.index ?? 0;
    disk.entries.forEach((e, i) => {
      if (e.index !== base + 1 + i) fail(`node ${node.id} disk log not contiguous at ${e.index}`);
    });
  }

  private apply(node: SimNode, entry: Entry): void {
    const m = node.machine;
    if (entry.index !== m.appliedIndex + 1) fail(`node ${node.id} applied ${entry.index} after ${m.appliedIndex}`);
    const seen = this.appliedByIndex.get(entry.index);
    if (seen) {
      if (seen.term !== entry.term || !equalBytes(seen.data, entry.data)) {
        fail(`state machine safety: node ${node.id} applied a different entry at ${entry.index}`);
      }
    } else {
      this.appliedByIndex.set(entry.index, { term: entry.term, data: entry.data });
    }
    m.appliedIndex = entry.index;
    m.digest = digestStep(m.digest, entry);
    if (entry.type === EntryType.Normal) this.proposalsApplied++;
  }

  private completeRead(node: SimNode, rs: { index: number; context: string }): void {
    const required = this.readRequiredIndex.get(rs.context);
    if (required === undefined) fail(`read ${rs.context} completed at node ${node.id} without a request`);
    if (rs.index < required) fail(`stale read ${rs.context} at node ${node.id}: index ${rs.index} < committed ${required}`);
    if (rs.index > this.maxCommitIndex) fail(`read ${rs.context} at an uncommitted index ${rs.index}`);
    // A duplicated response may complete a read twice; each completion must still be fresh.
    if (!node.readStatesSeen.some((seen) => seen.context === rs.context)) this.readsCompleted++;
    node.readStatesSeen.push(rs);
  }

  private recordCommit(node: SimNode): void {
    const core = node.core!;
    const commit = core.log.committed;
    for (let index = this.maxCommitIndex + 1; index <= commit; index++) {
      if (index > core.log.snapshot.index) {
        const e = core.log.entry(index);
        this.committed.set(index, { term: e.term, data: e.data, commitTerm: core.term });
        // Durability: an entry commits only once a quorum's disks hold it (the leader's own copy may still be in flight).
        const copies = this.nodes.filter((n) => diskHolds(n.disk, e)).length;
        if (copies < Math.floor(this.nodes.length / 2) + 1) fail(`entry ${index} committed by node ${node.id} with only ${copies} durable copies`);
      }
    }
    this.maxCommitIndex = Math.max(this.maxCommitIndex, commit);
  }

  private noteRoleChange(node: SimNode, wasLeader: boolean, termBefore: number): void {
    const core = node.core;
    if (!core || core.role !== ROLE.Leader || (wasLeader && termBefore === core.term)) return;
    // Leader completeness: a new leader holds every entry committed in an earlier term.
    for (const [index, c] of this.committed) {
      if (c.commitTerm >= core.term || index <= core.log.snapshot.index) continue;
      if (core.log.term(index) !== c.term) fail(`leader completeness: leader ${node.id} of term ${core.term} lacks committed ${index}`);
    }
  }

  private maybeCompact(node: SimNode): void {
    const core = node.core!;
    const every = this.options.compactEveryEntries;
    if (every === 0 || core.log.applied - core.log.snapshot.index < every) return;
    if (!this.random.chance(0.5)) return;
    const index = core.log.applied;
    if (index !== node.machine.appliedIndex) fail(`node ${node.id}: core applied ${index} but machine ${node.machine.appliedIndex}`);
    core.compact(index, pack([node.machine.appliedIndex, node.machine.digest]));
    this.compactions++;
    this.processReady(node);
  }

  checkInvariants(): void {
    const up = this.nodes.filter((n) => n.core);
    for (const node of up) {
      const core = node.core!;
      if (core.role === ROLE.Leader) {
        const existing = this.leaderByTerm.get(core.term);
        if (existing !== undefined && existing !== node.id) fail(`election safety: ${existing} and ${node.id} lead term ${core.term}`);
        this.leaderByTerm.set(core.term, node.id);
      }
      if (node.machine.appliedIndex !== core.log.applied) fail(`node ${node.id} machine and core disagree on applied`);
    }
    // Log matching: if two logs hold an entry with the same index and term, they are identical up to it.
    for (let i = 0; i < up.length; i++) {
      for (let j = i + 1; j < up.length; j++) checkLogMatching(up[i]!.core!, up[j]!.core!);
    }
  }
}

function diskHolds(disk: Disk, entry: Entry): boolean {
  if (disk.snapshot && disk.snapshot.index >= entry.index) return true;
  return disk.entries.some((e) => e.index === entry.index && e.term === entry.term);
}

function checkLogMatching(a: RaftCore, b: RaftCore): void {
  const from = Math.max(a.log.firstIndex(), b.log.firstIndex());
  const to = Math.min(a.log.lastIndex(), b.log.lastIndex());
  let highestMatch = 0;
  for (let index = to; index >= from; index--) {
    if (a.log.term(index) === b.log.term(index)) {
      highestMatch = index;
      break;
    }
  }
  for (let index = from; index <= highestMatch; index++) {
    const x = a.log.entry(index);
    const y = b.log.entry(index);
    if (x.term !== y.term || !equalBytes(x.data, y.data)) {
      fail(`log matching: nodes ${a.id} and ${b.id} differ at ${index} but agree at ${highestMatch}`);
    }
  }
}

function digestStep(digest: number, entry: Entry): number {
  let h = (digest ^ entry.index) >>> 0;
  for (const byte of entry.data) h = Math.imul(h ^ byte, 16777619) >>> 0;
  return h;
}

function decodeMachine(data: Uint8Array): StateMachine {
  const [appliedIndex, digest] = unpack(data) as [number, number];
  return { appliedIndex, digest };
}
