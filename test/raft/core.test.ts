/** One focused scenario per Raft rule, driving cores by hand: every message is delivered (or not) explicitly. */
import { expect, test } from "bun:test";
import { DEFAULT_RAFT_TUNING, RaftCore, type RaftConfig } from "../../src/raft/core.ts";
import { EntryType, MessageType, ROLE, type Entry, type Message, type PersistedState, type Ready } from "../../src/raft/types.ts";

const EMPTY: PersistedState = { hardState: { term: 0, vote: 0, commit: 0 }, entries: [] };

function makeCore(id: number, voters: number[], persisted: PersistedState = EMPTY, config: Partial<RaftConfig> = {}): RaftCore {
  return new RaftCore({ ...DEFAULT_RAFT_TUNING, id, voters, randomSeed: id, ...config }, persisted);
}

function entries(terms: number[]): Entry[] {
  return terms.map((term, i) => ({ index: i + 1, term, type: EntryType.Normal, data: new Uint8Array([i]) }));
}

/** Processes every ready of `core` (as a perfect disk would: each write completes at once) and returns the readies. */
function drain(core: RaftCore): Ready[] {
  const readies: Ready[] = [];
  while (core.hasReady()) {
    const ready = core.ready();
    readies.push(ready);
    core.advance(ready);
    core.persisted(ready);
  }
  return readies;
}

class Net {
  readonly cores = new Map<number, RaftCore>();
  readonly isolated = new Set<number>();
  readonly delivered: Message[] = [];

  constructor(cores: RaftCore[]) {
    for (const c of cores) this.cores.set(c.id, c);
  }

  /** Delivers messages until the cluster is quiet; messages to or from isolated nodes are lost. */
  settle(maxRounds = 1_000): void {
    for (let round = 0; round < maxRounds; round++) {
      const messages = [...this.cores.values()].flatMap((c) => drain(c).flatMap((r) => r.messagesToSend));
      if (messages.length === 0) return;
      for (const m of messages) {
        if (this.isolated.has(m.from) || this.isolated.has(m.to)) continue;
        this.delivered.push(m);
        this.cores.get(m.to)!.step(m);
      }
    }
    throw new Error("cluster never went quiet");
  }

  tick(id: number, times: number): void {
    for (let i = 0; i < times; i++) {
      this.cores.get(id)!.tick();
      this.settle();
    }
  }

  electLeader(id: number): RaftCore {
    const core = this.cores.get(id)!;
    for (let i = 0; i < 100 && core.role !== ROLE.Leader; i++) this.tick(id, 1);
    expect(core.role).toBe(ROLE.Leader);
    return core;
  }
}

test("vote granting: only to an up-to-date log, once per term, and persisted with the response", () => {
  const voter = makeCore(2, [1, 2, 3], { hardState: { term: 2, vote: 0, commit: 0 }, entries: entries([1, 2, 2]) });
  drain(voter);
  voter.step({ type: MessageType.Vote, from: 1, to: 2, term: 3, index: 5, logTerm: 1 });
  let [ready] = drain(voter);
  expect(ready!.messagesToSend).toEqual([{ type: MessageType.VoteResp, from: 2, to: 1, term: 3, reject: true }]);

  voter.step({ type: MessageType.Vote, from: 3, to: 2, term: 3, index: 3, logTerm: 2 });
  [ready] = drain(voter);
  expect(ready!.messagesToSend[0]).toMatchObject({ type: MessageType.VoteResp, to: 3, reject: false });
  // The vote is in the same ready as the grant: the edge persists it before sending.
  expect(ready!.hardState).toEqual({ term: 3, vote: 3, commit: 0 });

  voter.step({ type: MessageType.Vote, from: 1, to: 2, term: 3, index: 9, logTerm: 9 });
  [ready] = drain(voter);
  expect(ready!.messagesToSend[0]).toMatchObject({ to: 1, reject: true });
});

test("pre-vote: a partitioned node does not inflate its term or disrupt the leader when it returns", () => {
  const net = new Net([1, 2, 3].map((id) => makeCore(id, [1, 2, 3])));
  const leader = net.electLeader(1);
  const term = leader.term;
  net.isolated.add(3);
  net.tick(3, 100);
  const lonely = net.cores.get(3)!;
  expect(lonely.term).toBe(term);
  expect([ROLE.PreCandidate, ROLE.Follower]).toContain(lonely.role);

  net.isolated.clear();
  net.tick(1, 3);
  expect(leader.role).toBe(ROLE.Leader);
  expect(leader.term).toBe(term);
  expect(lonely.leaderId).toBe(1);
});

test("check-quorum: a leader cut off from a quorum steps down within an election timeout", () => {
  const net = new Net([1, 2, 3].map((id) => makeCore(id, [1, 2, 3])));
  const leader = net.electLeader(1);
  net.isolated.add(1);
  net.tick(1, DEFAULT_RAFT_TUNING.electionTicks * 2);
  expect(leader.role).toBe(ROLE.Follower);
  expect(leader.leaderId).toBe(0);
});

test("fast backtracking: a follower with a long conflicting suffix converges in a few rejections", () => {
  const leaderLog = entries([1, 1, 1, 4, 4, 5, 5, 6, 6, 6]);
  const conflicting = entries([1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 3]);
  const net = new Net([
    makeCore(1, [1, 2, 3], { hardState: { term: 7, vote: 0, commit: 3 }, entries: leaderLog }),
    makeCore(2, [1, 2, 3], { hardState: { term: 7, vote: 0, commit: 3 }, entries: conflicting }),
    makeCore(3, [1, 2, 3], { hardState: { term: 7, vote: 0, commit: 3 }, entries: leaderLog }),
  ]);
  const leader = net.electLeader(1);
  const follower = net.cores.get(2)!;
  const rejections = net.delivered.filter((m) => m.type === MessageType.AppendResp && m.from === 2 && m.reject);
  expect(rejections.length).toBeLessThanOrEqual(2);
  expect(follower.log.lastIndex()).toBe(leader.log.lastIndex());
  for (let i = 1; i <= leader.log.lastIndex(); i++) expect(follower.log.term(i)).toBe(leader.log.term(i));
  expect(follower.log.committed).toBe(leader.log.lastIndex());
});

test("commit counts replicas only for entries of the leader's current term", () => {
  // Entry 2 of term 2 sits on a majority (1 and 2) but a leader of term 4 must not commit it by counting alone.
  const log = entries([1, 2]);
  const leader = makeCore(1, [1, 2, 3], { hardState: { term: 3, vote: 0, commit: 1 }, entries: log });
  const net = new Net([leader, makeCore(2, [1, 2, 3], { hardState: { term: 3, vote: 0, commit: 1 }, entries: log }), makeCore(3, [1, 2, 3])]);
  net.isolated.add(3);
  net.electLeader(1);
  // It commits entry 2 only together with its own no-op at index 3.
  expect(leader.log.committed).toBe(3);
  expect(leader.log.term(3)).toBe(leader.term);
  const commits = net.delivered.filter((m) => m.type === MessageType.Append).map((m) => m.commit);
  expect(commits).not.toContain(2);
});

test("snapshot install: a follower behind the leader's compacted log receives the snapshot, then entries", () => {
  const net = new Net([1, 2, 3].map((id) => makeCore(id, [1, 2, 3])));
  const leader = net.electLeader(1);
  net.isolated.add(3);
  for (let i = 0; i < 20; i++) leader.propose({ n: i });
  net.settle();
  expect(leader.log.applied).toBe(21);
  leader.compact(15, new Uint8Array([42]));
  net.settle();
  for (let i = 0; i < 3; i++) leader.propose({ late: i });
  net.settle();

  net.isolated.clear();
  const behind = net.cores.get(3)!;
  const readies: Ready[] = [];
  for (let i = 0; i < 50 && behind.log.applied < leader.log.lastIndex(); i++) {
    leader.tick();
    for (const m of drain(leader).flatMap((r) => r.messagesToSend)) net.cores.get(m.to)!.step(m);
    readies.push(...drain(behind));
    for (const m of readies.flatMap((r) => r.messagesToSend)) leader.step(m);
    readies.forEach((r) => (r.messagesToSend.length = 0));
    drain(net.cores.get(2)!).forEach((r) => r.messagesToSend.forEach((m) => leader.step(m)));
  }
  const restored = readies.find((r) => r.snapshotToApply);
  expect(restored?.snapshotToApply).toEqual({ index: 15, term: leader.term, data: new Uint8Array([42]) });
  expect(restored?.snapshotToPersist).toBe(restored?.snapshotToApply);
  const appliedAfter = readies.flatMap((r) => r.committedEntriesToApply.map((e) => e.index));
  expect(appliedAfter).toEqual([16, 17, 18, 19, 20, 21, 22, 23, 24]);
  expect(behind.log.snapshot.index).toBe(15);
});

test("pipelining and batching: several Appends in flight, each bounded in bytes, many proposals per Append", () => {
  const config = { maxInflightAppends: 3, maxAppendBytes: 100 };
  const leader = makeCore(1, [1, 2], EMPTY, config);
  const follower = makeCore(2, [1, 2], EMPTY, config);
  const net = new Net([leader, follower]);
  net.electLeader(1);
  for (let i = 0; i < 40; i++) leader.propose(new Uint8Array(10));
  const appends = drain(leader).flatMap((r) => r.messagesToSend);
  // 40 proposals of 26 accounted bytes each, 100 bytes per Append: 3 per message, at most 3 messages in flight.
  expect(appends.length).toBe(3);
  for (const m of appends) expect(m.entries!.length).toBe(3);
  for (const m of appends) follower.step(m);
  net.settle();
  expect(follower.log.lastIndex()).toBe(41);
  expect(leader.log.committed).toBe(41);
});

test("ReadIndex: the leader confirms with a heartbeat round; a follower's read is forwarded and answered", () => {
  const net = new Net([1, 2, 3].map((id) => makeCore(id, [1, 2, 3])));
  const leader = net.electLeader(1);
  leader.propose("x");
  net.settle();
  const follower = net.cores.get(2)!;
  expect(follower.readIndex("read-1")).toBe(true);
  const first = drain(follower);
  expect(first[0]!.messagesToSend[0]).toMatchObject({ type: MessageType.ReadIndex, to: 1, context: "read-1" });
  leader.step(first[0]!.messagesToSend[0]!);
  // Without heartbeat acks the leader does not answer: it might have been deposed.
  const heartbeats = drain(leader).flatMap((r) => r.messagesToSend);
  expect(heartbeats.every((m) => m.type === MessageType.Heartbeat && m.context === "read-1")).toBe(true);
  net.cores.get(3)!.step(heartbeats.find((m) => m.to === 3)!);
  leader.step(drain(net.cores.get(3)!)[0]!.messagesToSend[0]!);
  const answer = drain(leader).flatMap((r) => r.messagesToSend).find((m) => m.type === MessageType.ReadIndexResp)!;
  expect(answer).toMatchObject({ to: 2, index: leader.log.committed, context: "read-1" });
  follower.step(answer);
  expect(drain(follower).flatMap((r) => r.readStatesReady)).toEqual([{ index: 2, context: "read-1" }]);
});

test("leadership transfer: a lagging transferee catches up, then wins at once despite the others' lease", () => {
  const net = new Net([1, 2, 3].map((id) => makeCore(id, [1, 2, 3])));
  const leader = net.electLeader(1);
  const term = leader.term;
  net.isolated.add(3);
  for (let i = 0; i < 5; i++) leader.propose({ n: i });
  net.settle();
  net.isolated.clear();

  expect(leader.transferLeadership(3)).toBe(true);
  expect(leader.propose("during transfer")).toEqual({ accepted: false, reason: "transferring" });
  net.settle();
  const transferee = net.cores.get(3)!;
  expect(transferee.role).toBe(ROLE.Leader);
  expect(transferee.term).toBe(term + 1);
  expect(leader.role).toBe(ROLE.Follower);
  expect(leader.leaderId).toBe(3);
  expect(transferee.log.lastIndex()).toBeGreaterThanOrEqual(7);
});

test("a ready must be advanced before the core is driven again", () => {
  const core = makeCore(1, [1]);
  core.tick();
  const ready = core.ready();
  expect(() => core.tick()).toThrow("between ready() and advance()");
  core.advance(ready);
});
