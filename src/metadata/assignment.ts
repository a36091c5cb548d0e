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
 * Spreads partitions over live brokers so that each leads and holds about as many partitions as the others.
 * Pure and deterministic (ties go to the lower node id): it runs at apply time on every node.
 */
export function assignReplicas(
  load: PartitionLoad,
  live: readonly BrokerRecord[],
  firstPartition: number,
  count: number,
  replicationFactor: number,
): PartitionRecord[] {
  const leaderLoad = new Map<number, number>(live.map((b) => [b.nodeId, load.leaders(b.nodeId)]));
  const replicaLoad = new Map<number, number>(live.map((b) => [b.nodeId, load.replicas(b.nodeId)]));
  const partitions: PartitionRecord[] = [];
  for (let i = 0; i < count; i++) {
    const byLoad = [...live].sort(
      (a, b) => leaderLoad.get(a.nodeId)! - leaderLoad.get(b.nodeId)! || replicaLoad.get(a.nodeId)! - replicaLoad.get(b.nodeId)! || a.nodeId - b.nodeId,
    );
    const leader = byLoad[0]!.nodeId;
    const followers = byLoad
      .slice(1)
      .sort((a, b) => replicaLoad.get(a.nodeId)! - replicaLoad.get(b.nodeId)! || a.nodeId - b.nodeId)
      .slice(0, replicationFactor - 1)
      .map((b) => b.nodeId);
    const replicas = [leader, ...followers];
    leaderLoad.set(leader, leaderLoad.get(leader)! + 1);
    for (const r of replicas) replicaLoad.set(r, replicaLoad.get(r)! + 1);
    partitions.push(newPartition(firstPartition + i, replicas));
  }
  return partitions;
}
