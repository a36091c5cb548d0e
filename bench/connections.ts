/**
 * Held connections: N client connections (default 10,000) stay open and each sends a Metadata request every
 * interval, while one producer sends acks=all records at a fixed rate. Reports the producer's latency before and
 * while the connections are held, Metadata latency, connections the broker refused, and the broker's memory.
 *
 *   bun bench/connections.ts [--quick] [--connections N] [--interval-ms MS] [--seconds S] [--rate MSGS_PER_S]
 *                            [--json FILE]
 *
 * Both this process and the broker hold N sockets: the open-file limit (ulimit -n) must allow a little more.
 */
import { writeFileSync } from "node:fs";
import { ApiKey } from "../src/protocol/generated/index.ts";
import { createTopics, KafkaConnection, Producer } from "../src/client/index.ts";
import { metricValue, startBenchBroker } from "./lib/broker.ts";
import { Histogram } from "./lib/histogram.ts";

const args = process.argv.slice(2);
const flag = (name: string): string | undefined => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const quick = args.includes("--quick");
const connectionCount = Number(flag("--connections") ?? (quick ? 2_000 : 10_000));
const intervalMs = Number(flag("--interval-ms") ?? 5_000);
const seconds = Number(flag("--seconds") ?? (quick ? 5 : 15));
const ratePerS = Number(flag("--rate") ?? 1_000);
const jsonPath = flag("--json");
const TOPIC = "held-connections";
const OPEN_CONCURRENCY = 200;

const broker = await startBenchBroker({ args: ["--max-connections", String(connectionCount + 100)] });
const mib = async () => metricValue(await broker.metrics(), "process_resident_memory_bytes") / 2 ** 20;

/** One acks=all record at a time at the given rate, each timed from send to acknowledgement. */
async function producePaced(producer: Producer, durationS: number): Promise<Histogram> {
  const latency = new Histogram();
  const value = new Uint8Array(100);
  const startMs = performance.now();
  const pending: Promise<void>[] = [];
  for (let sent = 0; performance.now() - startMs < durationS * 1000; sent++) {
    const dueMs = startMs + (sent * 1000) / ratePerS;
    const waitMs = dueMs - performance.now();
    if (waitMs > 0) await Bun.sleep(waitMs);
    const sentAt = performance.now();
    pending.push(producer.send({ topic: TOPIC, partition: sent % 4, value }).then(() => latency.record(performance.now() - sentAt)));
  }
  await Promise.all(pending);
  return latency;
}

const summary = (h: Histogram) => ({ count: h.count, p50: h.quantileMs(0.5), p99: h.quantileMs(0.99), p999: h.quantileMs(0.999), max: h.maxMs });
const show = (h: Histogram) => `p50 ${h.quantileMs(0.5).toFixed(2)} ms, p99 ${h.quantileMs(0.99).toFixed(2)} ms, p99.9 ${h.quantileMs(0.999).toFixed(2)} ms, max ${h.maxMs.toFixed(1)} ms`;

const held: KafkaConnection[] = [];
let metadataStop = false;
try {
  const admin = await KafkaConnection.connect({ host: "127.0.0.1", port: broker.kafkaPort });
  await admin.negotiateVersions();
  await createTopics(admin, [{ name: TOPIC, partitions: 4, replicationFactor: 1 }]);
  const producer = await Producer.create(admin, { acks: -1, lingerMs: 0 });
  const rssIdle = await mib();

  const before = await producePaced(producer, seconds);
  console.log(`producer alone (${ratePerS} msg/s, acks=all): ${show(before)}`);

  const openStart = performance.now();
  let refused = 0;
  for (let i = 0; i < connectionCount; i += OPEN_CONCURRENCY) {
    const opened = await Promise.allSettled(
      Array.from({ length: Math.min(OPEN_CONCURRENCY, connectionCount - i) }, () => KafkaConnection.connect({ host: "127.0.0.1", port: broker.kafkaPort, requestTimeoutMs: 60_000 })),
    );
    for (const result of opened) if (result.status === "fulfilled") held.push(result.value);
    else refused++;
  }
  const openMs = performance.now() - openStart;
  console.log(`opened ${held.length} connections in ${(openMs / 1000).toFixed(1)} s (${refused} failed to open)`);

  // Each held connection asks for metadata every interval, spread evenly over it.
  const metadataLatency = new Histogram();
  let metadataErrors = 0;
  const pollers = held.map(async (connection, i) => {
    await Bun.sleep((i * intervalMs) / held.length);
    while (!metadataStop) {
      const sentAt = performance.now();
      try {
        await connection.request(ApiKey.Metadata, 9, { topics: [{ name: TOPIC }], allowAutoTopicCreation: false, includeClusterAuthorizedOperations: false, includeTopicAuthorizedOperations: false });
        metadataLatency.record(performance.now() - sentAt);
      } catch {
        metadataErrors++;
      }
      await Bun.sleep(Math.max(0, intervalMs - (performance.now() - sentAt)));
    }
  });
  const during = await producePaced(producer, seconds);
  metadataStop = true;
  const text = await broker.metrics();
  const result = {
    connections: held.length,
    openSeconds: openMs / 1000,
    brokerConnections: metricValue(text, "chronik_connections"),
    refusedByBroker: metricValue(text, "chronik_connections_rejected_total"),
    metadataRequests: metadataLatency.count,
    metadataErrors,
    metadataMs: summary(metadataLatency),
    produceAloneMs: summary(before),
    produceHeldMs: summary(during),
    brokerRssMiB: { idle: rssIdle, held: metricValue(text, "process_resident_memory_bytes") / 2 ** 20 },
  };
  console.log(`producer with ${held.length} held connections: ${show(during)}`);
  console.log(`metadata: ${metadataLatency.count} requests every ${intervalMs} ms per connection, ${metadataErrors} errors, ${show(metadataLatency)}`);
  console.log(`broker: ${result.brokerConnections} connections open, ${result.refusedByBroker} refused, RSS ${rssIdle.toFixed(0)} MiB idle -> ${result.brokerRssMiB.held.toFixed(0)} MiB held`);
  if (jsonPath !== undefined) writeFileSync(jsonPath, JSON.stringify(result, null, 2));
  for (const connection of held) connection.close();
  await Promise.allSettled(pollers);
  admin.close();
} finally {
  metadataStop = true;
  for (const connection of held) connection.close();
  await broker.stop();
}
