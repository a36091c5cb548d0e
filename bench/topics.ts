/**
 * Topic creation through the Raft metadata quorum, with fsync on (the Raft log is fsynced per ready, the default):
 *   (a) one CreateTopics at a time, one topic each, to the controller: p50/p99 latency and topics/s;
 *   (b) 64 concurrent clients, one connection each: topics/s and p99. Kafka's admin clients (the Java AdminClient,
 *       librdkafka, kafkajs, @platformatic/kafka) send CreateTopics to the controller that Metadata names, so the
 *       first run does that; a second run spreads the clients over every broker, whose followers forward to it.
 * On one node (a one-voter quorum) and on three nodes (every node a voter) as real processes.
 *
 * Both are figures of a running broker, so they are measured warm: the clients first create WARM_UP_TOPICS
 * topics each, reported on a row of their own. A broker's JIT compiles its hot paths (the largest ones, optimized
 * last, take JSC 50-200 ms each) during its first few tens of thousands of requests; until then that compilation
 * is a fifth to a third of the cluster's CPU.
 *
 *   bun bench/topics.ts [--quick] [--json FILE] [--cpu-prof DIR]
 *
 * --cpu-prof DIR has every broker write a CPU profile (.cpuprofile and Markdown) to DIR when it stops.
 */
import { rmSync, writeFileSync } from "node:fs";
import { createTopics } from "../src/client/admin.ts";
import { KafkaConnection } from "../src/client/connection.ts";
import { processCpuMs, startBenchBroker, type BenchBroker } from "./lib/broker.ts";
import { Histogram } from "./lib/histogram.ts";

const args = process.argv.slice(2);
const quick = args.includes("--quick");
const jsonPath = args.includes("--json") ? args[args.indexOf("--json") + 1] : undefined;
const cpuProfileDir = args.includes("--cpu-prof") ? args[args.indexOf("--cpu-prof") + 1] : undefined;
const bunArgs = cpuProfileDir === undefined ? [] : ["--cpu-prof", "--cpu-prof-md", `--cpu-prof-dir=${cpuProfileDir}`];
const SEQUENTIAL_TOPICS = quick ? 200 : 1000;
const CONCURRENT_CLIENTS = 64;
const TOPICS_PER_CLIENT = quick ? 20 : 200;
/** (b) runs this many times, reporting the round of median throughput: a noisy machine moves single rounds by 20%. */
const ROUNDS = quick ? 1 : 3;
const WARM_UP_TOPICS = quick ? 20 : 600;

interface Result {
  nodes: number;
  mode: string;
  topics: number;
  topicsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  /** CPU time per topic: every broker process together, and this process (the clients). */
  brokerCpuUsPerTopic: number;
  clientCpuUsPerTopic: number;
}

function freePorts(count: number): number[] {
  const listeners = Array.from({ length: count }, () => Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } }));
  const ports = listeners.map((l) => l.port);
  for (const l of listeners) l.stop(true);
  return ports;
}

async function startNodes(count: number): Promise<BenchBroker[]> {
  if (count === 1) return [await startBenchBroker({ bunArgs, args: ["--raft-port", "0", "--replication-port", "0"] })];
  const voters = freePorts(count).map((port, i) => `${i + 1}@127.0.0.1:${port}`).join(",");
  // Voters wait for a quorum before they report themselves started: start them together.
  return await Promise.all(
    Array.from({ length: count }, (_, i) =>
      startBenchBroker({ bunArgs, args: ["--node-id", String(i + 1), "--controller-quorum-voters", voters, "--replication-port", "0"] }),
    ),
  );
}

async function connect(broker: BenchBroker): Promise<KafkaConnection> {
  const connection = await KafkaConnection.connect({ host: "127.0.0.1", port: broker.kafkaPort, requestTimeoutMs: 60_000 });
  await connection.negotiateVersions();
  return connection;
}

async function controllerOf(brokers: BenchBroker[]): Promise<BenchBroker> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const info = (await (await fetch(`http://127.0.0.1:${brokers[0]!.httpPort}/api/cluster`)).json()) as { controllerId: number };
    if (info.controllerId > 0) return brokers[info.controllerId - 1]!;
    await Bun.sleep(50);
  }
  throw new Error("no controller elected");
}

/** Runs one workload of `topics` creations, timing each with `histogram`, and measures it with the CPU it took. */
async function measure(nodes: number, mode: string, topics: number, brokers: BenchBroker[], run: (histogram: Histogram) => Promise<void>): Promise<Result> {
  const brokerCpuMs = () => brokers.reduce((sum, b) => sum + processCpuMs(b.pid), 0);
  const histogram = new Histogram();
  const brokersBefore = brokerCpuMs();
  const clientBefore = process.cpuUsage();
  const startedMs = performance.now();
  await run(histogram);
  const elapsedMs = performance.now() - startedMs;
  const client = process.cpuUsage(clientBefore);
  return {
    nodes,
    mode,
    topics,
    topicsPerSecond: (topics * 1000) / elapsedMs,
    p50Ms: histogram.quantileMs(0.5),
    p99Ms: histogram.quantileMs(0.99),
    brokerCpuUsPerTopic: ((brokerCpuMs() - brokersBefore) * 1000) / topics,
    clientCpuUsPerTopic: (client.user + client.system) / topics,
  };
}

async function sequential(nodes: number, brokers: BenchBroker[], target: BenchBroker, label: string): Promise<Result> {
  const prefix = label.replace(/[^a-z]+/g, "-");
  const connection = await connect(target);
  // Warm-up of this connection, not counted.
  for (let i = 0; i < 20; i++) await createTopics(connection, [{ name: `warm-${prefix}-${i}`, partitions: 1 }]);
  const result = await measure(nodes, `(a) one at a time, ${label}`, SEQUENTIAL_TOPICS, brokers, async (histogram) => {
    for (let i = 0; i < SEQUENTIAL_TOPICS; i++) {
      const sentMs = performance.now();
      await createTopics(connection, [{ name: `seq-${prefix}-${i}`, partitions: 1 }]);
      histogram.record(performance.now() - sentMs);
    }
  });
  connection.close();
  return result;
}

/** Each of 64 clients, connected to `targets` in turn, creates `perClient` topics, the next once the last is answered. */
async function concurrent(nodes: number, brokers: BenchBroker[], targets: BenchBroker[], perClient: number, mode: string, round = 0): Promise<Result> {
  const prefix = `${mode.replace(/[^a-z0-9]+/g, "-")}${round}`;
  const connections = await Promise.all(Array.from({ length: CONCURRENT_CLIENTS }, (_, i) => connect(targets[i % targets.length]!)));
  const result = await measure(nodes, mode, CONCURRENT_CLIENTS * perClient, brokers, async (histogram) => {
    await Promise.all(
      connections.map(async (connection, client) => {
        for (let i = 0; i < perClient; i++) {
          const sentMs = performance.now();
          await createTopics(connection, [{ name: `${prefix}-${client}-${i}`, partitions: 1 }]);
          histogram.record(performance.now() - sentMs);
        }
      }),
    );
  });
  for (const c of connections) c.close();
  return result;
}

async function medianRound(run: (round: number) => Promise<Result>): Promise<Result> {
  const rounds: Result[] = [];
  for (let round = 0; round < ROUNDS; round++) rounds.push(await run(round));
  rounds.sort((a, b) => a.topicsPerSecond - b.topicsPerSecond);
  const median = rounds[Math.floor(rounds.length / 2)]!;
  return ROUNDS === 1 ? median : { ...median, mode: `${median.mode} (median of ${ROUNDS} rounds: ${rounds.map((r) => Math.round(r.topicsPerSecond)).join(", ")}/s)` };
}

const results: Result[] = [];
for (const nodes of [1, 3]) {
  const brokers = await startNodes(nodes);
  try {
    const controller = await controllerOf(brokers);
    // The first creations after the start, over every broker, while each broker's hot paths get compiled.
    const warmUp = `(b) ${CONCURRENT_CLIENTS} clients${nodes > 1 ? " over all brokers" : ""}, the first ${CONCURRENT_CLIENTS * WARM_UP_TOPICS} after the start (warm-up)`;
    results.push(await concurrent(nodes, brokers, brokers, WARM_UP_TOPICS, warmUp));
    results.push(await sequential(nodes, brokers, controller, "to the controller"));
    if (nodes > 1) results.push(await sequential(nodes, brokers, brokers.find((b) => b !== controller)!, "to a follower"));
    const toController = `(b) ${CONCURRENT_CLIENTS} clients, ${nodes > 1 ? "to the controller" : "to the node"}`;
    results.push(await medianRound((round) => concurrent(nodes, brokers, [controller], TOPICS_PER_CLIENT, toController, round)));
    const forwarded = `(b) ${CONCURRENT_CLIENTS} clients, over all brokers (forwarded)`;
    if (nodes > 1) results.push(await medianRound((round) => concurrent(nodes, brokers, brokers, TOPICS_PER_CLIENT, forwarded, round)));
  } finally {
    await Promise.all(brokers.map((b) => b.stop()));
    for (const b of brokers) rmSync(b.dataDir, { recursive: true, force: true });
  }
}

const rows = results.map(
  (r) =>
    `| ${r.nodes} | ${r.mode} | ${r.topics} | ${Math.round(r.topicsPerSecond)} | ${r.p50Ms.toFixed(2)} | ${r.p99Ms.toFixed(2)} | ${Math.round(r.brokerCpuUsPerTopic)} / ${Math.round(r.clientCpuUsPerTopic)} |`,
);
const header = "| nodes | workload | topics | topics/s | p50 ms | p99 ms | CPU µs per topic: brokers / clients |";
console.log(["", header, "|---|---|---|---|---|---|---|", ...rows].join("\n"));
console.log("\nTwo cores serve every process here: 2,000,000 µs of CPU a second over (brokers + clients) µs per topic bounds topics/s.");
if (jsonPath) writeFileSync(jsonPath, JSON.stringify({ benchmark: "topics", results }, null, 2));
