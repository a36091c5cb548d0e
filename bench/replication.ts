/**
 * Replication cost in one run: a 3-node cluster with replication factor 3 and a single node with replication
 * factor 1, both acks=all, 100-byte and 1 KiB messages over 3 partitions (one led by each cluster node).
 * For each: the maximum throughput (sustained for --max-seconds, counted after its first second), then produce
 * latency p50/p99/p99.9 at half that rate (or --rate-fraction of it), sent in 1 ms ticks for --paced-seconds.
 * The load generator runs in this process on the same cores as the brokers; it reports how far it fell behind
 * its schedule, since a sender that cannot keep the rate turns into latency of its own. After each paced run, the
 * disk alone is measured at the same write rate per broker (bench/lib/disk-floor.ts): the floor under any durable
 * ack on this machine, since every broker of a setup writes every record to the one disk they share.
 *
 *   bun bench/replication.ts [--quick] [--max-seconds S] [--paced-seconds S] [--rate-fraction F] [--broker-arg ARG]... [--json FILE]
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { KafkaConnection } from "../src/client/connection.ts";
import { createTopics } from "../src/client/admin.ts";
import { BufferFullError, Producer, type DeliveryReport } from "../src/client/producer.ts";
import { startBenchBroker, type BenchBroker } from "./lib/broker.ts";
import { Histogram } from "./lib/histogram.ts";
import { formatDiskFloor, measureDiskFloor, type DiskFloor } from "./lib/disk-floor.ts";

const args = process.argv.slice(2);
const valueOf = (name: string) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const QUICK = args.includes("--quick");
/** Length of the unpaced run that measures the maximum rate. */
const MAX_SECONDS = Number(valueOf("--max-seconds") ?? (QUICK ? 2 : 4));
const PACED_SECONDS = Number(valueOf("--paced-seconds") ?? (QUICK ? 3 : 5));
/** The latency run's rate as a fraction of the measured maximum. */
const RATE_FRACTION = Number(valueOf("--rate-fraction") ?? 0.5);
/** Where to write the results as JSON as well, for comparing commits (bench/index.ts --json-dir passes it). */
const JSON_PATH = args.includes("--json") ? args[args.indexOf("--json") + 1] : undefined;
/** Extra flags for every broker, e.g. --broker-arg --flush-mode --broker-arg fast. */
const BROKER_ARGS = args.flatMap((a, i) => (args[i - 1] === "--broker-arg" ? [a] : []));
const PARTITIONS = 3;
const TOPIC = "bench-replication";
/** A v2 record's framing around its value on disk (length, attributes, deltas, key and value lengths, headers), about. */
const RECORD_FRAMING_BYTES = 11;
/** Per producer: enough to keep its requests full at the maximum rate, small enough that a backlog drains fast. */
const BUFFERED_BYTES = 8 << 20;

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
  /** How far the paced sender fell behind its schedule at worst: large values mean the rate was not held. */
  pacedBehindMs: number;
  p50Ms: number;
  p99Ms: number;
  p999Ms: number;
  /** The disk alone at the paced run's bytes per second, one writer per broker. */
  diskFloor: DiskFloor;
}

/**
 * The producers of one setup (one per broker, each writing the partitions that broker leads) and the send times
 * of their unacknowledged records. Deliveries come per batch, in send order per partition, so a batch of n records
 * acknowledges the n oldest send times of its partition: no promise or closure per record.
 */
class Load {
  private readonly sentMs: number[][] = Array.from({ length: PARTITIONS }, () => []);
  private readonly sentHead: number[] = new Array(PARTITIONS).fill(0);
  latency: Histogram | null = null;
  acked = 0;
  failures = 0;

  private constructor(
    private readonly producers: Producer[],
    private readonly leaders: number[],
    private readonly topic: string,
    private readonly value: Uint8Array,
  ) {}

  static async connect(setup: Setup, leaders: number[], topic: string, value: Uint8Array): Promise<Load> {
    let load!: Load;
    const producers = await Promise.all(setup.brokers.map((b) => Producer.connect(b.bootstrap, { acks: -1, lingerMs: 1, maxBufferedBytes: BUFFERED_BYTES, onDelivery: (report) => load.onDelivery(report) })));
    load = new Load(producers, leaders, topic, value);
    return load;
  }

  /** Queues the i-th record (round-robin over partitions); false when its producer's buffer is full. */
  trySend(i: number, nowMs: number): boolean {
    const partition = i % PARTITIONS;
    try {
      this.producers[this.leaders[partition]!]!.append(this.topic, partition, this.value);
    } catch (error) {
      if (error instanceof BufferFullError) return false;
      throw error;
    }
    this.sentMs[partition]!.push(nowMs);
    return true;
  }

  waitForSpace(i: number): Promise<void> {
    return this.producers[this.leaders[i % PARTITIONS]!]!.waitForSpace();
  }

  async flush(): Promise<void> {
    await Promise.all(this.producers.map((p) => p.flush()));
  }

  async close(): Promise<void> {
    await Promise.all(this.producers.map((p) => p.close()));
  }

  private onDelivery(report: DeliveryReport): void {
    const sent = this.sentMs[report.partition]!;
    let head = this.sentHead[report.partition]!;
    const nowMs = performance.now();
    if (report.error !== null) this.failures += report.recordCount;
    else {
      this.acked += report.recordCount;
      if (this.latency !== null) for (let k = 0; k < report.recordCount; k++) this.latency.record(nowMs - sent[head + k]!);
    }
    head += report.recordCount;
    if (head > 65_536) {
      sent.splice(0, head);
      head = 0;
    }
    this.sentHead[report.partition] = head;
  }
}

/**
 * The most the setup sustains: records are sent as fast as the producers' buffers take them for `seconds`, and
 * the rate is what was acknowledged after the first second (a short burst would only measure the page cache and
 * the first fsyncs, and half of it could still overload a replicated cluster).
 */
async function maxRate(load: Load, seconds: number): Promise<number> {
  const startMs = performance.now();
  const warmMs = startMs + Math.min(1000, (seconds * 1000) / 3);
  const endMs = startMs + seconds * 1000;
  let ackedAtWarm = -1;
  let warmAtMs = 0;
  for (let i = 0; ; i++) {
    const nowMs = performance.now();
    if (ackedAtWarm < 0 && nowMs >= warmMs) {
      ackedAtWarm = load.acked;
      warmAtMs = nowMs;
    }
    if (nowMs >= endMs) break;
    if (!load.trySend(i, nowMs)) await load.waitForSpace(i);
    else if (i % 1024 === 1023) await new Promise((resolve) => setImmediate(resolve));
  }
  const rate = (load.acked - ackedAtWarm) / ((performance.now() - warmAtMs) / 1000);
  await load.flush();
  if (load.failures > 0) throw new Error(`${load.failures} records failed`);
  return rate;
}

/**
 * Sends at ratePerS for `seconds`: each 1 ms tick sends the records due by then and yields, so acknowledgements
 * are handled between ticks and a late tick catches up without holding the event loop.
 */
async function paced(load: Load, ratePerS: number, seconds: number): Promise<{ msgsPerS: number; behindMs: number }> {
  const count = Math.round(ratePerS * seconds);
  const startMs = performance.now();
  let sent = 0;
  let behindMs = 0;
  while (sent < count) {
    const nowMs = performance.now();
    const due = Math.min(count, Math.floor(((nowMs - startMs) * ratePerS) / 1000) + 1);
    if (due - sent > 1) behindMs = Math.max(behindMs, nowMs - (startMs + (sent * 1000) / ratePerS));
    while (sent < due) {
      if (!load.trySend(sent, nowMs)) {
        await load.waitForSpace(sent);
        break;
      }
      sent++;
    }
    await Bun.sleep(1);
  }
  await load.flush();
  if (load.failures > 0) throw new Error(`${load.failures} records failed`);
  return { msgsPerS: count / ((performance.now() - startMs) / 1000), behindMs };
}

async function measure(setup: Setup, messageBytes: number): Promise<Result> {
  const topic = `${TOPIC}-${messageBytes}`;
  const leaders = await createBenchTopic(setup, topic);
  const load = await Load.connect(setup, leaders, topic, new Uint8Array(messageBytes).fill(120));
  try {
    await maxRate(load, 1);
    const maxMsgsPerS = await maxRate(load, MAX_SECONDS);
    const pacedRate = maxMsgsPerS * RATE_FRACTION;
    load.latency = new Histogram();
    const run = await paced(load, pacedRate, PACED_SECONDS);
    const latency = load.latency;
    const diskFloor = await measureDiskFloor({
      writers: setup.brokers.length,
      bytesPerMs: Math.max(1, Math.round((run.msgsPerS * (messageBytes + RECORD_FRAMING_BYTES)) / 1000)),
      seconds: PACED_SECONDS,
    });
    return {
      setup: setup.name,
      messageBytes,
      maxMsgsPerS,
      maxMiBPerS: (maxMsgsPerS * messageBytes) / (1 << 20),
      pacedMsgsPerS: run.msgsPerS,
      pacedBehindMs: run.behindMs,
      p50Ms: latency.quantileMs(0.5),
      p99Ms: latency.quantileMs(0.99),
      p999Ms: latency.quantileMs(0.999),
      diskFloor,
    };
  } finally {
    await load.close();
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
      console.log(
        `${name.padEnd(14)} ${String(messageBytes).padStart(5)} B  max ${result.maxMsgsPerS.toFixed(0).padStart(7)} msg/s (${result.maxMiBPerS.toFixed(1)} MiB/s)  ` +
          `at ${result.pacedMsgsPerS.toFixed(0)} msg/s: p50 ${result.p50Ms.toFixed(2)} ms  p99 ${result.p99Ms.toFixed(2)} ms  p99.9 ${result.p999Ms.toFixed(2)} ms` +
          `  (sender behind by up to ${result.pacedBehindMs.toFixed(0)} ms)\n${" ".repeat(22)}${formatDiskFloor(result.diskFloor)}`,
      );
    }
  } finally {
    await stopSetup(setup);
  }
}
if (JSON_PATH !== undefined) writeFileSync(JSON_PATH, JSON.stringify({ benchmark: "replication", results }, null, 2));
for (const messageBytes of [100, 1024]) {
  const single = results.find((r) => r.setup.startsWith("1 node") && r.messageBytes === messageBytes)!;
  const replicated = results.find((r) => r.setup.startsWith("3 nodes") && r.messageBytes === messageBytes)!;
  console.log(`${messageBytes} B: replicated throughput is ${((100 * replicated.maxMsgsPerS) / single.maxMsgsPerS).toFixed(0)}% of the single node's`);
}
