import type { BrokerRecord, PartitionRecord } from "./records.ts";

/** How many partitions each broker leads and holds; the state keeps it current as commands apply. */
export interface PartitionLoad {
  leaders(nodeId: number): number;
  replicas(nodeId: number): number;
}

export function newPartition(partition: number, replicas: readonly number[]): PartitionRecord {
  return { partition, replicas: [...replicas], isr: [...replicas], leader: replicas[0]!, leaderEpoch: 0, partitionEpoch: 0 };
}

/**
 * Spreads partitions over live brokers so that each leads and holds about as many partitions as the others: the
 * leader is the broker leading fewest (then holding fewest, then the lowest id), the followers those holding fewest
 * (then the lowest id). Pure and deterministic: it runs at apply time on every node, so every build must place alike.
 * It runs for every topic created, so it picks minima in place rather than sorting copies.
 */
export function assignReplicas(
  load: PartitionLoad,
  live: readonly BrokerRecord[],
  firstPartition: number,
  count: number,
  replicationFactor: number,
): PartitionRecord[] {
  const ids = live.map((b) => b.nodeId);
  const leaderLoad = ids.map((id) => load.leaders(id));
  const replicaLoad = ids.map((id) => load.replicas(id));
  const fewerReplicas = (a: number, b: number) => replicaLoad[a]! < replicaLoad[b]! || (replicaLoad[a] === replicaLoad[b] && ids[a]! < ids[b]!);
  const taken = ids.map(() => false);
  const partitions: PartitionRecord[] = [];
  for (let i = 0; i < count; i++) {
    let leader = 0;
    for (let j = 1; j < ids.length; j++) {
      if (leaderLoad[j]! < leaderLoad[leader]! || (leaderLoad[j] === leaderLoad[leader] && fewerReplicas(j, leader))) leader = j;
    }
    const chosen = [leader];
    taken.fill(false);
    taken[leader] = true;
    while (chosen.length < replicationFactor) {
      let next = -1;
      for (let j = 0; j < ids.length; j++) if (!taken[j] && (next === -1 || fewerReplicas(j, next))) next = j;
      if (next === -1) break;
      taken[next] = true;
      chosen.push(next);
    }
    leaderLoad[leader]!++;
    for (const j of chosen) replicaLoad[j]!++;
    partitions.push(newPartition(firstPartition + i, chosen.map((j) => ids[j]!)));
  }
  return partitions;
}
