import { expect, test } from "bun:test";
import { planElection, planPreferredRebalance } from "../../src/metadata/controller.ts";
import type { MetadataCommand } from "../../src/metadata/records.ts";
import { MetadataState } from "../../src/metadata/state.ts";
import { ErrorCode } from "../../src/protocol/error-codes.ts";

/** Three brokers (epochs 1..3) and topic `t` with explicit replica lists, so preferred replicas are known. */
function cluster(replicas: number[][], configs: Record<string, string> = {}) {
  const state = new MetadataState();
  let index = 0;
  const apply = (command: MetadataCommand) => state.apply(command, ++index);
  for (let id = 1; id <= 3; id++) apply({ type: "register-broker", broker: { nodeId: id, host: "127.0.0.1", port: 9091 + id, rack: null } });
  apply({ type: "create-topic", name: "t", topicId: "id-t", configs, placement: { kind: "explicit", replicas } });
  const fence = (nodeId: number) => apply({ type: "fence-broker", nodeId, brokerEpoch: nodeId, reason: "session-timeout" });
  const unfence = (nodeId: number) => apply({ type: "broker-heartbeat", nodeId, brokerEpoch: nodeId });
  const partition = (p: number) => state.topic("t")!.partitions[p]!;
  /** What the leader proposes once the follower caught up again. */
  const rejoin = (p: number, nodeId: number) => {
    const { isr, leaderEpoch, partitionEpoch } = partition(p);
    return apply({ type: "alter-partition", topic: "t", partition: p, isr: [...isr, nodeId], leaderEpoch, partitionEpoch });
  };
  const elect = (p: number, election: "preferred" | "unclean") => apply({ type: "elect-leader", topic: "t", partition: p, election });
  return { state, apply, fence, unfence, partition, rejoin, elect };
}

const SPREAD = [
  [1, 2, 3],
  [2, 3, 1],
  [3, 1, 2],
];

test("a preferred election waits until the preferred replica is live and back in the ISR, then moves leadership with new epochs", () => {
  const c = cluster(SPREAD);
  expect(c.elect(0, "preferred").outcome.errorCode).toBe(ErrorCode.ELECTION_NOT_NEEDED);
  c.fence(1);
  expect(c.partition(0).leader).toBe(2);
  expect(c.elect(0, "preferred").outcome.errorCode).toBe(ErrorCode.PREFERRED_LEADER_NOT_AVAILABLE);
  c.unfence(1);
  expect(c.elect(0, "preferred").outcome.errorCode).toBe(ErrorCode.PREFERRED_LEADER_NOT_AVAILABLE);
  expect(c.rejoin(0, 1).outcome.errorCode).toBe(ErrorCode.NONE);
  const before = c.partition(0);
  const applied = c.elect(0, "preferred");
  expect(applied.outcome.errorCode).toBe(ErrorCode.NONE);
  const after = c.partition(0);
  expect(after).toEqual({ ...before, leader: 1, leaderEpoch: before.leaderEpoch + 1, partitionEpoch: before.partitionEpoch + 1 });
  expect(applied.changes).toEqual([{ type: "partition-leaders", name: "t", partitions: [after] }]);
  expect(c.state.leaders(1)).toBe(1);
  expect(c.state.leaders(2)).toBe(1);
});

test("a preferred replica in the ISR but fenced cannot lead", () => {
  const c = cluster([[1, 2]]);
  c.fence(2);
  c.fence(1);
  expect(c.partition(0)).toMatchObject({ leader: -1, isr: [1] });
  c.unfence(2);
  expect(c.elect(0, "preferred").outcome.errorCode).toBe(ErrorCode.PREFERRED_LEADER_NOT_AVAILABLE);
});

test("an unclean election elects a live out-of-sync replica only for a leaderless partition of a topic that allows it", () => {
  for (const allowed of [false, true]) {
    const c = cluster([[1, 2]], allowed ? { "unclean.leader.election.enable": "true" } : {});
    expect(c.elect(0, "unclean").outcome.errorCode).toBe(ErrorCode.ELECTION_NOT_NEEDED);
    c.fence(2);
    c.fence(1);
    expect(c.partition(0)).toMatchObject({ leader: -1, isr: [1] });
    expect(c.elect(0, "unclean").outcome.errorCode).toBe(allowed ? ErrorCode.ELIGIBLE_LEADERS_NOT_AVAILABLE : ErrorCode.ELECTION_NOT_NEEDED);
    c.unfence(2);
    const before = c.partition(0);
    const outcome = c.elect(0, "unclean").outcome;
    if (!allowed) {
      expect(outcome.errorCode).toBe(ErrorCode.ELECTION_NOT_NEEDED);
      expect(c.partition(0)).toBe(before);
      continue;
    }
    expect(outcome.errorCode).toBe(ErrorCode.NONE);
    expect(c.partition(0)).toMatchObject({ leader: 2, isr: [2], leaderEpoch: before.leaderEpoch + 1, partitionEpoch: before.partitionEpoch + 1 });
  }
});

test("elections on unknown topics or partitions are rejected at planning and at apply time", () => {
  const c = cluster(SPREAD);
  expect(c.apply({ type: "elect-leader", topic: "nope", partition: 0, election: "preferred" }).outcome.errorCode).toBe(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION);
  expect(c.elect(3, "preferred").outcome.errorCode).toBe(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION);
  expect(planElection(c.state, "t", 7, "preferred")).toMatchObject({ errorCode: ErrorCode.UNKNOWN_TOPIC_OR_PARTITION });
  expect(planElection(c.state, "t", 0, "preferred")).toMatchObject({ errorCode: ErrorCode.ELECTION_NOT_NEEDED });
});

test("the rebalance plan names only eligible partitions of brokers above the imbalance threshold", () => {
  const replicas = Array.from({ length: 12 }, (_, i) => SPREAD[i % 3]!);
  const c = cluster(replicas);
  expect(planPreferredRebalance(c.state, 10)).toEqual([]);
  c.fence(1);
  c.unfence(1);
  // Broker 1 leads none of the 4 partitions it prefers, but is in none of their ISRs yet.
  expect(planPreferredRebalance(c.state, 10)).toEqual([]);
  c.rejoin(0, 1);
  c.rejoin(3, 1);
  expect(planPreferredRebalance(c.state, 10)).toEqual([
    { topic: "t", partition: 0 },
    { topic: "t", partition: 3 },
  ]);
  // 4 of 4 misled is 100%: above any threshold below it, never above 100%.
  expect(planPreferredRebalance(c.state, 100)).toEqual([]);
  for (const { partition } of planPreferredRebalance(c.state, 10)) expect(c.elect(partition, "preferred").outcome.errorCode).toBe(ErrorCode.NONE);
  c.rejoin(6, 1);
  // 2 of 4 still misled (50%).
  expect(planPreferredRebalance(c.state, 60)).toEqual([]);
  expect(planPreferredRebalance(c.state, 10)).toEqual([{ topic: "t", partition: 6 }]);
  c.elect(6, "preferred");
  c.rejoin(9, 1);
  // 1 of 4 still misled (25%).
  expect(planPreferredRebalance(c.state, 30)).toEqual([]);
  expect(planPreferredRebalance(c.state, 10)).toEqual([{ topic: "t", partition: 9 }]);
});
