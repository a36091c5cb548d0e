import { afterEach, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { RaftNode, RaftProposalError, type AppliedCommand, type RaftNodeOptions } from "../../src/raft/node.ts";
import type { PeerAddress } from "../../src/raft/tcp-transport.ts";
import { LogFormatError } from "../../src/raft/types.ts";

const TICK_MS = 10;
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function waitFor<T>(probe: () => T | undefined | false, what: string, timeoutMs = 10_000): Promise<T> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value) return value;
    if (performance.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await Bun.sleep(5);
  }
}

interface Member {
  id: number;
  node: RaftNode;
  applied: AppliedCommand[];
  dataDir: string;
}

function startCluster(ids: number[], options: Pick<RaftNodeOptions, "proposalTimeoutMs" | "readTimeoutMs"> = {}): Member[] {
  const voters = new Map<number, PeerAddress>(ids.map((id) => [id, { host: "127.0.0.1", port: 0 }]));
  const members = ids.map((id) => {
    const dataDir = mkdtempSync(join(tmpdir(), `chronik-raft-node-${id}-`));
    cleanups.push(() => rmSync(dataDir, { recursive: true, force: true }));
    const applied: AppliedCommand[] = [];
    const node = RaftNode.start({ id, voters, dataDir, tickMs: TICK_MS, onApply: (e) => applied.push(e), ...options });
    cleanups.push(() => node.close());
    return { id, node, applied, dataDir };
  });
  for (const a of members) for (const b of members) if (a !== b) a.node.setPeerAddress(b.id, { host: "127.0.0.1", port: b.node.port });
  return members;
}

/** A one-voter node on `dataDir` (a temporary dir when not given), with the state machine hooks given. */
function startAlone(hooks: Pick<RaftNodeOptions, "onApply" | "snapshots">, dataDir?: string): { node: RaftNode; dataDir: string } {
  const dir = dataDir ?? mkdtempSync(join(tmpdir(), "chronik-raft-alone-"));
  if (dataDir === undefined) cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const node = RaftNode.start({ id: 1, voters: new Map([[1, { host: "127.0.0.1", port: 0 }]]), dataDir: dir, tickMs: TICK_MS, ...hooks });
  cleanups.push(() => node.close());
  return { node, dataDir: dir };
}

function leaderOf(members: Member[]): Member | undefined {
  const leaders = members.filter((m) => m.node.isLeader);
  return leaders.length === 1 ? leaders[0] : undefined;
}

function report(what: string, latenciesMs: number[], elapsedMs: number): void {
  latenciesMs.sort((a, b) => a - b);
  process.stderr.write(
    `raft node, 3 nodes over TCP: ${what}: ${Math.round((latenciesMs.length / elapsedMs) * 1000)} proposals/s; ` +
      `commit latency p50 ${percentile(latenciesMs, 50).toFixed(1)} ms, p99 ${percentile(latenciesMs, 99).toFixed(1)} ms\n`,
  );
}

function percentile(sortedMs: number[], p: number): number {
  return sortedMs[Math.min(sortedMs.length - 1, Math.floor((p / 100) * sortedMs.length))]!;
}

test("three nodes over TCP: elect, commit 1,000 batched proposals, lose the leader, elect again, continue", async () => {
  const members = startCluster([1, 2, 3]);
  const leader = await waitFor(() => leaderOf(members), "a leader");

  for (let i = 0; i < 20; i++) await leader.node.propose({ op: "warm-up", i });

  // 1,000 proposals at once: they share Appends and LMDB transactions.
  const count = 1_000;
  const latenciesMs: number[] = [];
  const startedMs = performance.now();
  const results = await Promise.all(
    Array.from({ length: count }, (_, i) => {
      const proposedMs = performance.now();
      return leader.node.propose({ op: "put", key: `k${i}`, value: i }).then((r) => {
        latenciesMs.push(performance.now() - proposedMs);
        return r.index;
      });
    }),
  );
  report(`${count} proposals in one burst`, latenciesMs, performance.now() - startedMs);

  // A closed loop of 64 concurrent proposers: steady-state throughput and latency.
  const loopLatenciesMs: number[] = [];
  const loopStartedMs = performance.now();
  let issued = 0;
  await Promise.all(
    Array.from({ length: 64 }, async () => {
      while (issued < count) {
        issued++;
        const proposedMs = performance.now();
        await leader.node.propose({ op: "loop" });
        loopLatenciesMs.push(performance.now() - proposedMs);
      }
    }),
  );
  report(`${count} proposals from 64 concurrent proposers`, loopLatenciesMs, performance.now() - loopStartedMs);
  // Proposals made in one event-loop iteration travel as one entry: the burst takes few log indexes.
  expect(new Set(results).size).toBeLessThan(count / 10);

  // Every node applies the same commands in the same order, each exactly once.
  const total = 20 + 2 * count;
  await waitFor(() => members.every((m) => m.applied.length === total), "all nodes to apply every proposal");
  const expected = members[0]!.applied.map((e) => JSON.stringify(e));
  for (const m of members) expect(m.applied.map((e) => JSON.stringify(e))).toEqual(expected);
  const burst = members[0]!.applied.filter((e) => (e.command as { op: string }).op === "put");
  expect(burst.map((e) => e.index)).toEqual([...results].sort((a, b) => a - b));

  // A follower forwards proposals and serves linearizable reads through the leader.
  const follower = members.find((m) => m !== leader)!;
  const forwarded = await follower.node.propose("via-follower");
  await follower.node.readIndex();
  expect(follower.node.appliedIndex).toBeGreaterThanOrEqual(forwarded.index);

  // Hand leadership over and back, as before a planned restart.
  leader.node.transferLeadership(follower.id);
  await waitFor(() => follower.node.isLeader && members.every((m) => m.node.leaderId === follower.id), "the transfer to complete");
  follower.node.transferLeadership(leader.id);
  await waitFor(() => leader.node.isLeader, "the transfer back");

  // Lose the leader: the other two elect a new one and keep committing.
  const oldTerm = leader.node.term;
  await leader.node.close();
  const survivors = members.filter((m) => m !== leader);
  const newLeader = await waitFor(() => leaderOf(survivors), "a new leader among the survivors");
  expect(newLeader.node.term).toBeGreaterThan(oldTerm);
  const after = await newLeader.node.propose({ op: "after-failover" });
  await waitFor(() => survivors.every((m) => m.node.appliedIndex >= after.index), "survivors to apply after failover");
  for (const m of survivors) expect(m.applied.at(-1)!.command).toEqual({ op: "after-failover" });
  await newLeader.node.readIndex();
}, 60_000);

test("requests forwarded to a leader that dies fail as soon as the follower knows, not at their timeout; retries reach the new leader", async () => {
  // Far beyond this test's own timeout: only the leader's loss can end these requests in time.
  const members = startCluster([1, 2, 3], { proposalTimeoutMs: 600_000, readTimeoutMs: 600_000 });
  const leader = await waitFor(() => leaderOf(members), "a leader");
  const follower = members.find((m) => m !== leader)!;
  await waitFor(() => members.every((m) => m.node.leaderId === leader.id), "every node to know the leader");
  const outcome = (promise: Promise<unknown>) => promise.then(() => "answered", (error: unknown) => error);

  // Both leave for the leader in the follower's next turn; the leader is closed by then and drops them.
  const proposal = outcome(follower.node.propose("sent to a dying leader"));
  const read = outcome(follower.node.readIndex());
  await leader.node.close();

  for (const result of [await proposal, await read]) {
    expect(result).toBeInstanceOf(RaftProposalError);
    expect((result as RaftProposalError).reason).toBe("leader-changed");
  }
  const survivors = members.filter((m) => m !== leader);
  const newLeader = await waitFor(() => leaderOf(survivors), "a new leader among the survivors");
  await waitFor(() => follower.node.leaderId === newLeader.id, "the follower to learn the new leader");
  const retried = await follower.node.propose("retried through the new leader");
  await waitFor(() => survivors.every((m) => m.node.appliedIndex >= retried.index), "survivors to apply the retry");
  expect(follower.applied.some((e) => e.command === "sent to a dying leader")).toBe(false);
}, 30_000);

test("a restarted node recovers from its stored state and re-applies committed commands once", async () => {
  const members = startCluster([1]);
  const only = members[0]!;
  await waitFor(() => only.node.isLeader, "single node to lead");
  for (let i = 0; i < 20; i++) await only.node.propose(new Uint8Array([i]));
  const termBefore = only.node.term;
  await only.node.close();

  const applied: AppliedCommand[] = [];
  const voters = new Map([[1, { host: "127.0.0.1", port: 0 }]]);
  const reopened = RaftNode.start({ id: 1, voters, dataDir: only.dataDir, tickMs: TICK_MS, onApply: (e) => applied.push(e) });
  cleanups.push(() => reopened.close());
  await waitFor(() => reopened.isLeader, "restarted node to lead");
  expect(reopened.term).toBeGreaterThan(termBefore);
  await waitFor(() => applied.length === 20, "committed commands re-applied");
  expect(applied.map((e) => Array.from(e.command as Uint8Array))).toEqual(Array.from({ length: 20 }, (_, i) => [i]));
});

test("the log is snapshotted by the bytes applied since the last snapshot, not by the number of entries", async () => {
  const takenAt: number[] = [];
  let lastApplied = 0;
  const { node } = startAlone({
    onApply: (e) => (lastApplied = e.index),
    snapshots: { everyBytes: 4096, take: () => (takenAt.push(lastApplied), new Uint8Array(0)), restore: () => {} },
  });
  await waitFor(() => node.isLeader, "single node to lead");
  // Many small entries: 100 of them hold under 4 KiB, so none is snapshotted.
  for (let i = 0; i < 100; i++) await node.propose(new Uint8Array(8));
  expect(takenAt).toEqual([]);
  // One large entry crosses it.
  const large = await node.propose(new Uint8Array(4096));
  await waitFor(() => takenAt.length === 1, "a snapshot after the large entry");
  expect(takenAt).toEqual([large.index]);
  // The count starts again from the snapshot.
  for (let i = 0; i < 10; i++) await node.propose(new Uint8Array(8));
  expect(takenAt).toHaveLength(1);
});

test("a snapshot taken over later turns compacts at the index it was taken at, and a restart recovers from it and the log", async () => {
  const start = (machine: { sum: number; restoredFrom: number[] }, onTake: (index: number) => void, dataDir?: string) => {
    let lastApplied = 0;
    return startAlone(
      {
        onApply: (e) => {
          lastApplied = e.index;
          machine.sum += (e.command as { add: number }).add;
        },
        snapshots: {
          everyEntries: 20,
          take: () => {
            onTake(lastApplied);
            const data = new Uint8Array(new Float64Array([machine.sum]).buffer);
            // Ready only after more commands have applied: the snapshot must still be the state at the call.
            return Bun.sleep(100).then(() => data);
          },
          restore: (data, index) => {
            machine.sum = new Float64Array(new Uint8Array(data).buffer)[0]!;
            machine.restoredFrom.push(index);
          },
        },
      },
      dataDir,
    );
  };
  const machine = { sum: 0, restoredFrom: [] as number[] };
  const takenAt: number[] = [];
  const { node, dataDir } = start(machine, (index) => takenAt.push(index));
  await waitFor(() => node.isLeader, "single node to lead");
  let expected = 0;
  for (let i = 1; i <= 60; i++) {
    expected += i;
    await node.propose({ add: i });
  }
  await Bun.sleep(300);
  expect(takenAt.length).toBeGreaterThan(0);
  await node.close();

  const again = { sum: 0, restoredFrom: [] as number[] };
  const { node: reopened } = start(again, () => {}, dataDir);
  await waitFor(() => reopened.isLeader && again.sum === expected, "the restarted node to recover every command");
  expect(again.restoredFrom).toHaveLength(1);
  expect(takenAt).toContain(again.restoredFrom[0]!);
});

test("a follower that restarts behind a compacted log catches up by InstallSnapshot over TCP", async () => {
  const ids = [1, 2, 3];
  const voters = new Map<number, PeerAddress>(ids.map((id) => [id, { host: "127.0.0.1", port: 0 }]));
  const sums = new Map<number, { sum: number; restoredFrom: number[] }>();
  const dataDirs = new Map<number, string>();
  const startMember = (id: number, listenPort = 0): RaftNode => {
    if (!dataDirs.has(id)) {
      const dir = mkdtempSync(join(tmpdir(), `chronik-raft-snap-${id}-`));
      dataDirs.set(id, dir);
      cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    }
    const machine = { sum: 0, restoredFrom: [] as number[] };
    sums.set(id, machine);
    const node = RaftNode.start({
      id,
      voters,
      dataDir: dataDirs.get(id)!,
      tickMs: TICK_MS,
      listenPort,
      onApply: (e) => (machine.sum += (e.command as { add: number }).add),
      snapshots: {
        everyEntries: 25,
        take: () => new Uint8Array(new Float64Array([machine.sum]).buffer),
        restore: (data, index) => {
          machine.sum = new Float64Array(new Uint8Array(data).buffer)[0]!;
          machine.restoredFrom.push(index);
        },
      },
    });
    cleanups.push(() => node.close());
    return node;
  };
  const nodes = new Map(ids.map((id) => [id, startMember(id)]));
  const ports = new Map(ids.map((id) => [id, nodes.get(id)!.port]));
  for (const a of ids) for (const b of ids) if (a !== b) nodes.get(a)!.setPeerAddress(b, { host: "127.0.0.1", port: ports.get(b)! });
  const leaderId = await waitFor(() => ids.find((id) => nodes.get(id)!.isLeader), "a leader");
  const laggard = ids.find((id) => id !== leaderId)!;

  await nodes.get(laggard)!.close();
  let expectedSum = 0;
  for (let i = 1; i <= 100; i++) {
    expectedSum += i;
    await nodes.get(leaderId)!.propose({ add: i });
  }

  const restarted = startMember(laggard, ports.get(laggard));
  for (const b of ids) if (b !== laggard) restarted.setPeerAddress(b, { host: "127.0.0.1", port: ports.get(b)! });
  nodes.set(laggard, restarted);
  await waitFor(() => restarted.appliedIndex >= nodes.get(leaderId)!.appliedIndex, "the restarted follower to catch up");
  expect(sums.get(laggard)!.restoredFrom.length).toBeGreaterThan(0);
  expect(sums.get(laggard)!.sum).toBe(expectedSum);
  expect(sums.get(leaderId)!.sum).toBe(expectedSum);

  // Entries after the installed snapshot land in the follower's own log: restarted again, it recovers from its store.
  for (let i = 101; i <= 110; i++) {
    expectedSum += i;
    await nodes.get(leaderId)!.propose({ add: i });
  }
  await waitFor(() => restarted.appliedIndex >= nodes.get(leaderId)!.appliedIndex, "the follower to apply the later entries");
  await restarted.close();
  const again = startMember(laggard, ports.get(laggard));
  for (const b of ids) if (b !== laggard) again.setPeerAddress(b, { host: "127.0.0.1", port: ports.get(b)! });
  await waitFor(() => again.appliedIndex >= nodes.get(leaderId)!.appliedIndex && sums.get(laggard)!.sum === expectedSum, "the twice-restarted follower to recover");
  expect(sums.get(laggard)!.sum).toBe(expectedSum);
}, 60_000);

test("a committed entry this build cannot read stops the node, failing what waits on it, instead of wedging it", async () => {
  const voters = new Map([[1, { host: "127.0.0.1", port: 0 }]]);
  const dataDir = mkdtempSync(join(tmpdir(), "chronik-raft-unreadable-"));
  cleanups.push(() => rmSync(dataDir, { recursive: true, force: true }));
  const applied: unknown[] = [];
  const node = RaftNode.start({
    id: 1,
    voters,
    dataDir,
    tickMs: TICK_MS,
    onApply: (e) => applied.push(e.command),
    // Stands for a command of a newer build arriving from the leader.
    decodeCommand: (command, index) => {
      if (command === "from a newer build") throw new LogFormatError(`entry ${index} has format version 2`);
      return command;
    },
  });
  cleanups.push(() => node.close());
  await waitFor(() => node.isLeader, "single node to lead");
  await node.propose("readable");
  const unreadable = await node.propose("from a newer build").then(
    () => "applied",
    (error: unknown) => error,
  );
  expect(unreadable).toBeInstanceOf(RaftProposalError);
  expect((unreadable as RaftProposalError).reason).toBe("closed");
  expect(applied).toEqual(["readable"]);
  await expect(node.propose("after")).rejects.toThrow("raft node is closed");
});
