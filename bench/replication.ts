/**
 * Replication cost in one run: a 3-node cluster with replication factor 3 and a single node with replication
 * factor 1, both acks=all, 100-byte and 1 KiB messages over 3 partitions (one led by each cluster node).
 * For each: the maximum throughput (an unpaced burst), then produce latency p50/p99/p99.9 at half that rate
 * (or --rate-fraction of it).
 *
 *   bun bench/replication.ts [--messages N] [--paced-seconds S] [--rate-fraction F] [--broker-arg ARG]... [--json]
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { KafkaConnection } from "../src/client/connection.ts";
import { createTopics } from "../src/client/admin.ts";
import { BufferFullError, Producer } from "../src/client/producer.ts";
import { startBenchBroker, type BenchBroker } from "./lib/broker.ts";
import { Histogram } from "./lib/histogram.ts";

const args = process.argv.slice(2);
const valueOf = (name: string) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const MESSAGES_100B = Number(valueOf("--messages") ?? 100_000);
const PACED_SECONDS = Number(valueOf("--paced-seconds") ?? 5);
/** The latency run's rate as a fraction of the measured maximum. */
const RATE_FRACTION = Number(valueOf("--rate-fraction") ?? 0.5);
const JSON_OUTPUT = args.includes("--json");
/** Extra flags for every broker, e.g. --broker-arg --flush-mode --broker-arg fast. */
const BROKER_ARGS = args.flatMap((a, i) => (args[i - 1] === "--broker-arg" ? [a] : []));
const PARTITIONS = 3;
const TOPIC = "bench-replication";

interface Setup {
  name: string;
  brokers: BenchBroker[];
  replicationFactor: number;
  dirs: string[];
}

function freePorts(count: number): number[] {
  const listeners = Array.from({ length: count }, () => Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } }));
  const ports = listeners.map((l) => l.port);
  for (const l of listeners) l.stop(true);
  return ports;
}

async function startSetup(name: string, nodes: number): Promise<Setup> {
  const raftPorts = freePorts(nodes);
  const voters = raftPorts.map((port, i) => `${i + 1}@127.0.0.1:${port}`).join(",");
  const dirs = raftPorts.map((_, i) => mkdtempSync(join(tmpdir(), `chronik-bench-repl-${i + 1}-`)));
  const brokers = await Promise.all(
    dirs.map((dataDir, i) =>
      startBenchBroker({ dataDir, args: ["--node-id", String(i + 1), "--controller-quorum-voters", voters, "--replication-port", "0", "--raft-election-timeout-ms", "1000", ...BROKER_ARGS] }),
    ),
  );
  return { name, brokers, replicationFactor: nodes, dirs };
}

async function stopSetup(setup: Setup): Promise<void> {
  await Promise.all(setup.brokers.map((b) => b.stop()));
  for (const dir of setup.dirs) rmSync(dir, { recursive: true, force: true });
}

/** Creates the topic and returns each partition's leader (an index into setup.brokers) once known. */
async function createBenchTopic(setup: Setup, topic: string): Promise<number[]> {
  const connection = await KafkaConnection.connect({ host: "127.0.0.1", port: setup.brokers[0]!.kafkaPort, requestTimeoutMs: 15_000 });
  try {
    await connection.negotiateVersions();
    await createTopics(connection, [{ name: topic, partitions: PARTITIONS, replicationFactor: setup.replicationFactor }]);
  } finally {
    connection.close();
  }
  const deadlineMs = performance.now() + 30_000;
  for (;;) {
    const response = await fetch(`http://127.0.0.1:${setup.brokers[0]!.httpPort}/api/topics/${topic}`);
    if (response.ok) {
      const body = (await response.json()) as { partitionDetails: { partition: number; leader: number; isr: number[] }[] };
      const ready = body.partitionDetails.length === PARTITIONS && body.partitionDetails.every((p) => p.leader > 0 && p.isr.length === setup.replicationFactor);
      if (ready) return body.partitionDetails.sort((a, b) => a.partition - b.partition).map((p) => p.leader - 1);
    }
    if (performance.now() > deadlineMs) throw new Error(`${setup.name}: ${topic} never had leaders and a full ISR`);
    await Bun.sleep(50);
  }
}

interface Result {
  setup: string;
  messageBytes: number;
  maxMsgsPerS: number;
  maxMiBPerS: number;
  pacedMsgsPerS: number;
  p50Ms: number;
  p99Ms: number;
  p999Ms: number;
}

/** Sends `count` messages round-robin over the partitions, paced at ratePerS (Infinity: as fast as the buffers allow). */
async function produce(producers: Producer[], leaders: number[], topic: string, value: Uint8Array, count: number, ratePerS: number, latency: Histogram | null): Promise<number> {
  const startedMs = performance.now();
  const pending: Promise<unknown>[] = [];
  for (let i = 0; i < count; i++) {
    if (Number.isFinite(ratePerS)) {
      const dueMs = startedMs + (i * 1000) / ratePerS;
      const aheadMs = dueMs - performance.now();
      if (aheadMs > 1) await Bun.sleep(aheadMs);
    }
    const partition = i % PARTITIONS;
    const producer = producers[leaders[partition]!]!;
    const sentMs = performance.now();
    for (;;) {
      try {
        const acked = producer.send({ topic, partition, value });
        pending.push(latency === null ? acked : acked.then(() => latency.record(performance.now() - sentMs)));
        break;
      } catch (error) {
        if (!(error instanceof BufferFullError)) throw error;
        await producer.waitForSpace();
      }
    }
    if (pending.length >= 50_000) await Promise.all(pending.splice(0));
  }
  await Promise.all(pending);
  return count / ((performance.now() - startedMs) / 1000);
}

async function measure(setup: Setup, messageBytes: number): Promise<Result> {
  const topic = `${TOPIC}-${messageBytes}`;
  const leaders = await createBenchTopic(setup, topic);
  const producers = await Promise.all(setup.brokers.map((b) => Producer.connect(b.bootstrap, { acks: -1, lingerMs: 1 })));
  const value = new Uint8Array(messageBytes).fill(120);
  const count = Math.max(10_000, Math.round((MESSAGES_100B * 100) / messageBytes));
  try {
    await produce(producers, leaders, topic, value, Math.min(5_000, count), Infinity, null);
    const maxMsgsPerS = await produce(producers, leaders, topic, value, count, Infinity, null);
    const pacedRate = maxMsgsPerS * RATE_FRACTION;
    const latency = new Histogram();
    const pacedMsgsPerS = await produce(producers, leaders, topic, value, Math.round(pacedRate * PACED_SECONDS), pacedRate, latency);
    return {
      setup: setup.name,
      messageBytes,
      maxMsgsPerS,
      maxMiBPerS: (maxMsgsPerS * messageBytes) / (1 << 20),
      pacedMsgsPerS,
      p50Ms: latency.quantileMs(0.5),
      p99Ms: latency.quantileMs(0.99),
      p999Ms: latency.quantileMs(0.999),
    };
  } finally {
    await Promise.all(producers.map((p) => p.close()));
  }
}

const results: Result[] = [];
for (const [name, nodes] of [
  ["1 node, RF 1", 1],
  ["3 nodes, RF 3", 3],
] as const) {
  const setup = await startSetup(name, nodes);
  try {
    for (const messageBytes of [100, 1024]) {
      const result = await measure(setup, messageBytes);
      results.push(result);
      if (!JSON_OUTPUT) {
        console.log(
          `${name.padEnd(14)} ${String(messageBytes).padStart(5)} B  max ${result.maxMsgsPerS.toFixed(0).padStart(7)} msg/s (${result.maxMiBPerS.toFixed(1)} MiB/s)  ` +
            `at ${result.pacedMsgsPerS.toFixed(0)} msg/s: p50 ${result.p50Ms.toFixed(2)} ms  p99 ${result.p99Ms.toFixed(2)} ms  p99.9 ${result.p999Ms.toFixed(2)} ms`,
        );
      }
    }
  } finally {
    await stopSetup(setup);
  }
}
if (JSON_OUTPUT) console.log(JSON.stringify(results));
else {
  for (const messageBytes of [100, 1024]) {
    const single = results.find((r) => r.setup.startsWith("1 node") && r.messageBytes === messageBytes)!;
    const replicated = results.find((r) => r.setup.startsWith("3 nodes") && r.messageBytes === messageBytes)!;
    console.log(`${messageBytes} B: replicated throughput is ${((100 * replicated.maxMsgsPerS) / single.maxMsgsPerS).toFixed(0)}% of the single node's`);
  }
}
