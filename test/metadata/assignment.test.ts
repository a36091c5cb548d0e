import { expect, test } from "bun:test";
import { assignReplicas, newPartition, type PartitionLoad } from "../../src/metadata/assignment.ts";
import type { BrokerRecord, PartitionRecord } from "../../src/metadata/records.ts";
import { Prng } from "../../src/raft/prng.ts";

/** The placement rule written as plainly as possible: sort copies by load, then by node id. */
function referencePlacement(load: PartitionLoad, live: readonly BrokerRecord[], firstPartition: number, count: number, replicationFactor: number): PartitionRecord[] {
  const leaders = new Map(live.map((b) => [b.nodeId, load.leaders(b.nodeId)]));
  const replicas = new Map(live.map((b) => [b.nodeId, load.replicas(b.nodeId)]));
  const result: PartitionRecord[] = [];
  for (let i = 0; i < count; i++) {
    const byLoad = [...live].sort((a, b) => leaders.get(a.nodeId)! - leaders.get(b.nodeId)! || replicas.get(a.nodeId)! - replicas.get(b.nodeId)! || a.nodeId - b.nodeId);
    const leader = byLoad[0]!.nodeId;
    const followers = byLoad
      .slice(1)
      .sort((a, b) => replicas.get(a.nodeId)! - replicas.get(b.nodeId)! || a.nodeId - b.nodeId)
      .slice(0, replicationFactor - 1)
      .map((b) => b.nodeId);
    leaders.set(leader, leaders.get(leader)! + 1);
    for (const r of [leader, ...followers]) replicas.set(r, replicas.get(r)! + 1);
    result.push(newPartition(firstPartition + i, [leader, ...followers]));
  }
  return result;
}

const broker = (nodeId: number): BrokerRecord => ({ nodeId, host: "127.0.0.1", port: 9092, rack: null, fenced: false }) as BrokerRecord;

test("placement matches the plain rule for random loads and broker sets", () => {
  const random = new Prng(20261207);
  for (let round = 0; round < 2000; round++) {
    const ids = [...new Set(Array.from({ length: 1 + random.int(7) }, () => 1 + random.int(12)))].sort((a, b) => a - b);
    const live = ids.map(broker);
    const leaders = new Map(ids.map((id) => [id, random.int(4)]));
    const replicas = new Map(ids.map((id) => [id, leaders.get(id)! + random.int(4)]));
    const load: PartitionLoad = { leaders: (id) => leaders.get(id) ?? 0, replicas: (id) => replicas.get(id) ?? 0 };
    const count = 1 + random.int(6);
    const replicationFactor = 1 + random.int(ids.length + 1);
    const first = random.int(3);
    expect(assignReplicas(load, live, first, count, replicationFactor)).toEqual(referencePlacement(load, live, first, count, replicationFactor));
  }
});

test("spreads leaders and replicas evenly over equal brokers", () => {
  const none: PartitionLoad = { leaders: () => 0, replicas: () => 0 };
  const partitions = assignReplicas(none, [1, 2, 3].map(broker), 0, 6, 2);
  for (const id of [1, 2, 3]) {
    expect(partitions.filter((p) => p.leader === id)).toHaveLength(2);
    expect(partitions.filter((p) => p.replicas.includes(id))).toHaveLength(4);
  }
  expect(partitions.every((p) => new Set(p.replicas).size === 2)).toBe(true);
});
