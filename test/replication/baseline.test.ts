/**
 * The baseline an earlier Chronik failed: 3 nodes, a topic with 3 partitions and replication factor 3, 1,000
 * messages with acks=all. Every node's log must hold all of them, byte for byte equal, and the produce must be fast.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { Producer } from "../../src/client/producer.ts";
import { startCluster, type ClusterProcess } from "../helpers/broker-process.ts";
import { waitFor } from "../helpers/wait.ts";
import { CLUSTER_ARGS, agreedLeaders, createTopic, kcatPartitions, metricSamples, runningNodes, storedBatches } from "./cluster-helpers.ts";

const TOPIC = "replicated-baseline";
const PARTITIONS = 3;
const MESSAGES = 1_000;

let cluster: ClusterProcess;

beforeAll(async () => {
  cluster = await startCluster(3, CLUSTER_ARGS);
}, 90_000);

afterAll(async () => {
  await cluster?.cleanup();
});

test("1,000 acks=all messages reach every replica byte for byte, well under a second", async () => {
  await createTopic(cluster.node(1), TOPIC, PARTITIONS, 3);
  const leaders = await agreedLeaders(cluster, TOPIC, PARTITIONS);
  // All replicas in sync before the clock starts: the ISR is what acks=all waits for.
  await waitFor(async () => (await kcatPartitions(cluster.node(1), TOPIC)).every((p) => p.isrs.length === 3), "every partition's ISR to hold 3 replicas");

  const producers = new Map<number, Producer>();
  for (const leader of new Set(leaders)) producers.set(leader, await Producer.connect(cluster.node(leader).bootstrap, { acks: -1, lingerMs: 1 }));
  const encoder = new TextEncoder();
  const startedMs = performance.now();
  const offsets = await Promise.all(
    Array.from({ length: MESSAGES }, (_, i) =>
      producers.get(leaders[i % PARTITIONS]!)!.send({ topic: TOPIC, partition: i % PARTITIONS, key: encoder.encode(`k${i}`), value: encoder.encode(`message ${i} `.padEnd(100, "x")) }),
    ),
  );
  const elapsedMs = performance.now() - startedMs;
  for (const producer of producers.values()) await producer.close();
  console.log(`replication baseline: ${MESSAGES} acks=all messages over ${PARTITIONS} partitions, RF 3, in ${elapsedMs.toFixed(1)} ms`);
  expect(offsets.every((o) => o >= 0)).toBe(true);
  expect(elapsedMs).toBeLessThan(1_000);

  // Followers caught up: no leader reports lag.
  await waitFor(async () => {
    const lags = await Promise.all(runningNodes(cluster).map((n) => metricSamples(n, "chronik_replica_lag_offsets")));
    return lags.every((m) => [...m.values()].every((v) => v === 0)) && lags.some((m) => m.size > 0);
  }, "every follower to report the leader's log end");
  const underReplicated = await Promise.all(runningNodes(cluster).map((n) => metricSamples(n, "chronik_under_replicated_partitions")));
  expect(underReplicated.map((m) => m.get(""))).toEqual([0, 0, 0]);

  for (const node of runningNodes(cluster)) expect(await node.stop("SIGTERM")).toBe(0);
  const stored = await Promise.all(cluster.nodes.map((n) => storedBatches(n!.dataDir, TOPIC, PARTITIONS)));
  const decoder = new TextDecoder();
  for (let p = 0; p < PARTITIONS; p++) {
    const leaderBytes = Buffer.concat(stored[leaders[p]! - 1]![p]!);
    // 334, 333 and 333 records of about 100 bytes each.
    expect(leaderBytes.length).toBeGreaterThan(333 * 100);
    expect(decoder.decode(leaderBytes)).toContain(`message ${p} `);
    for (let node = 0; node < 3; node++) expect(Buffer.concat(stored[node]![p]!).equals(leaderBytes)).toBe(true);
  }
}, 120_000);
