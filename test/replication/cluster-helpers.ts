/** Helpers for replication tests against real 3-node clusters. */
import { KafkaConnection } from "../../src/client/connection.ts";
import { createTopics } from "../../src/client/admin.ts";
import { LogManager } from "../../src/wal/log-manager.ts";
import { ApiKey } from "../../src/protocol/generated/index.ts";
import type { BrokerProcess, ClusterProcess } from "../helpers/broker-process.ts";
import { RawClient } from "../helpers/raw-client.ts";
import { runProcess } from "../helpers/run-process.ts";
import { waitFor } from "../helpers/wait.ts";

export const CLUSTER_ARGS = [
  "--raft-election-timeout-ms",
  "1000",
  "--broker-heartbeat-interval-ms",
  "300",
  "--broker-session-timeout-ms",
  "2500",
  "--replica-lag-time-max-ms",
  "5000",
];

export interface PartitionMetadata {
  partition: number;
  leader: number;
  replicas: { id: number }[];
  isrs: { id: number }[];
}

export async function kcatPartitions(node: BrokerProcess, topic: string): Promise<PartitionMetadata[]> {
  const result = await runProcess(["kcat", "-L", "-J", "-t", topic, "-b", node.bootstrap], { timeoutMs: 20_000 });
  if (result.exitCode !== 0) throw new Error(`kcat -L failed: ${result.stderr}`);
  const metadata = JSON.parse(result.stdout) as { topics: { topic: string; partitions: PartitionMetadata[] }[] };
  return (metadata.topics.find((t) => t.topic === topic)?.partitions ?? []).sort((a, b) => a.partition - b.partition);
}

export async function createTopic(node: BrokerProcess, name: string, partitions: number, replicationFactor: number, configs: Record<string, string> = {}): Promise<void> {
  const connection = await KafkaConnection.connect({ host: "127.0.0.1", port: node.kafkaPort, requestTimeoutMs: 15_000 });
  try {
    await connection.negotiateVersions();
    await createTopics(connection, [{ name, partitions, replicationFactor, configs }]);
  } finally {
    connection.close();
  }
}

export const runningNodes = (cluster: ClusterProcess) =>
  cluster.nodes.filter((n): n is BrokerProcess => n !== null && n.process.exitCode === null && n.process.signalCode === null);

/** Leaders by partition once every running broker agrees and every partition has one. */
export async function agreedLeaders(cluster: ClusterProcess, topic: string, partitions: number, timeoutMs = 30_000): Promise<number[]> {
  return await waitFor(
    async () => {
      const views = await Promise.all(runningNodes(cluster).map((n) => kcatPartitions(n, topic)));
      const leaders = views.map((v) => JSON.stringify(v.map((p) => p.leader)));
      if (views[0]!.length !== partitions || views[0]!.some((p) => p.leader < 0) || new Set(leaders).size !== 1) return null;
      return views[0]!.map((p) => p.leader);
    },
    `every broker to agree on a leader for each of ${partitions} partitions of ${topic}`,
    timeoutMs,
    100,
  );
}

/** Metric samples of one name from a broker's /metrics, as label text -> value. */
export async function metricSamples(node: BrokerProcess, name: string): Promise<Map<string, number>> {
  const text = await (await fetch(`http://127.0.0.1:${node.httpPort}/metrics`)).text();
  const samples = new Map<string, number>();
  for (const line of text.split("\n")) {
    if (!line.startsWith(name)) continue;
    const match = /^([a-z_]+)(\{[^}]*\})? (\S+)$/.exec(line);
    if (match && match[1] === name) samples.set(match[2] ?? "", Number(match[3]));
  }
  return samples;
}

/** Every batch of every partition of `topic` in a stopped node's data dir, as stored. */
export async function storedBatches(dataDir: string, topic: string, partitions: number): Promise<Uint8Array[][]> {
  const logs = await LogManager.open({ dataDir, flushMode: "durable" });
  try {
    const out: Uint8Array[][] = [];
    for (let p = 0; p < partitions; p++) {
      const partitionLog = logs.get(topic, p);
      if (!partitionLog) throw new Error(`${dataDir} holds no log of ${topic}-${p}`);
      const read = partitionLog.read(partitionLog.logStartOffset, 1 << 30, { minOneBatch: true });
      if ("outOfRange" in read) throw new Error(`${topic}-${p} read out of range`);
      out.push(read.batches.map((b) => b.slice()));
      read.release();
    }
    return out;
  } finally {
    logs.abandon();
  }
}

export type DeleteRecordsAnswer = { partitionIndex: number; lowWatermark: number; errorCode: number };

/** DeleteRecords v2 of partition 0 of `topic` below `offset`, sent to `node`; resolves with the partition's answer. */
export async function deleteRecords(node: BrokerProcess, topic: string, offset: number, timeoutMs: number): Promise<DeleteRecordsAnswer> {
  const raw = await RawClient.connect(node.kafkaPort);
  try {
    const answer = await raw.request(ApiKey.DeleteRecords, 2, { topics: [{ name: topic, partitions: [{ partitionIndex: 0, offset }] }], timeoutMs });
    return answer.topics[0].partitions[0];
  } finally {
    raw.close();
  }
}
