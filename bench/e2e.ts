/**
 * End-to-end load test: several producer connections write as fast as the broker takes them (batched like
 * librdkafka with linger.ms and batch.size, pipelined), one consumer reads concurrently, and the run reports
 * throughput and produce and end-to-end latency for 100 B and 1 KiB records with acks=1 and acks=all.
 *
 *   bun bench/e2e.ts [--quick] [--seconds S] [--bootstrap HOST:PORT] [--json FILE]
 *                    [--producers N] [--partitions N] [--linger-ms MS] [--batch-bytes B] [--flush-mode M]
 *                    [--max-buffered-bytes B] [--rate MSGS_PER_S] [--cases 100:1,100:all,1024:1,1024:all]
 *
 * Without --rate the producers saturate the broker and produce latency is mostly queueing in the producers'
 * buffers (bounded by --max-buffered-bytes); with --rate they offer a fixed total load instead.
 *
 * Without --bootstrap it starts a broker (temporary data dir, free ports) and stops it afterwards. The load
 * generator and the broker share this machine's cores, so numbers compare runs, not products.
 */
import { writeFileSync } from "node:fs";
import { createTopics, Consumer, KafkaConnection, parseBootstrap, Producer, type Acks, type DeliveryReport } from "../src/client/index.ts";
import { startBenchBroker, metricValue, type BenchBroker } from "./lib/broker.ts";
import { Histogram } from "./lib/histogram.ts";
import { Progress } from "./lib/progress.ts";

interface CaseResult {
  name: string;
  recordBytes: number;
  acks: string;
  seconds: number;
  produced: number;
  consumed: number;
  msgsPerS: number;
  mbPerS: number;
  produceMs: { p50: number; p99: number; p999: number };
  e2eMs: { p50: number; p99: number; p999: number };
  appendsPerFlushRound: number | null;
  fsyncsPerFlushRound: number | null;
  msPerFlushRound: number | null;
}

const args = process.argv.slice(2);
const flag = (name: string): string | undefined => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const quick = args.includes("--quick");
const seconds = Number(flag("--seconds") ?? (quick ? 3 : 10));
const producerCount = Number(flag("--producers") ?? 4);
const partitionCount = Number(flag("--partitions") ?? 8);
const lingerMs = Number(flag("--linger-ms") ?? 5);
const batchBytes = Number(flag("--batch-bytes") ?? 256 * 1024);
/** Per producer; bounds the queueing part of produce latency when the broker is the bottleneck. */
const maxBufferedBytes = Number(flag("--max-buffered-bytes") ?? 1024 * 1024);
const ratePerS = flag("--rate") === undefined ? Infinity : Number(flag("--rate"));
const warmupMs = Math.min(1000, seconds * 200);
const drainTimeoutMs = 15_000;
/** Records appended per producer before yielding to the event loop. */
const BURST_RECORDS = 200;

/** Append times of records not yet acknowledged, per partition, in append order. */
class TimeQueue {
  private times = new Float64Array(1024);
  private head = 0;
  private tail = 0;

  push(timeMs: number): void {
    if (this.tail === this.times.length) {
      const live = this.tail - this.head;
      const next = live * 2 > this.times.length ? new Float64Array(this.times.length * 2) : this.times;
      next.set(this.times.subarray(this.head, this.tail));
      this.times = next;
      this.head = 0;
      this.tail = live;
    }
    this.times[this.tail++] = timeMs;
  }

  shift(): number {
    return this.times[this.head++]!;
  }
}

async function runCase(bootstrap: string, broker: BenchBroker | null, recordBytes: number, acks: Acks): Promise<CaseResult> {
  const name = `${recordBytes === 1024 ? "1 KiB" : `${recordBytes} B`} acks=${acks === -1 ? "all" : acks}`;
  const topic = `e2e-${recordBytes}-${acks === -1 ? "all" : acks}-${process.pid}-${Date.now()}`;
  const admin = await KafkaConnection.connect({ ...parseBootstrap(bootstrap), clientId: "e2e-admin" });
  await admin.negotiateVersions();
  await createTopics(admin, [{ name: topic, partitions: partitionCount }]);
  admin.close();

  const produceHist = new Histogram();
  const e2eHist = new Histogram();
  const queues = Array.from({ length: partitionCount }, () => new TimeQueue());
  let produced = 0;
  let acked = 0;
  let failures = 0;
  let firstError: Error | null = null;
  let measuredFromMs = Infinity;
  const onDelivery = (report: DeliveryReport) => {
    const nowMs = performance.now();
    const queue = queues[report.partition]!;
    if (report.error !== null) {
      failures += report.recordCount;
      firstError ??= report.error;
    }
    for (let i = 0; i < report.recordCount; i++) {
      const sentMs = queue.shift();
      if (sentMs >= measuredFromMs && report.error === null) produceHist.record(nowMs - sentMs);
    }
    acked += report.recordCount;
  };
  const producers = await Promise.all(
    Array.from({ length: producerCount }, (_, i) => Producer.connect(bootstrap, { acks, lingerMs, batchBytes, maxBufferedBytes, onDelivery, clientId: `e2e-producer-${i}` })),
  );
  const consumer = await Consumer.connect(bootstrap, { maxWaitMs: 100, partitionMaxBytes: 4 * 1024 * 1024, clientId: "e2e-consumer" });
  consumer.assign(Array.from({ length: partitionCount }, (_, partition) => ({ topic, partition, offset: 0 })));

  let consumed = 0;
  let consuming = true;
  const consumeLoop = (async () => {
    while (consuming || consumed < acked) {
      await consumer.pollEach((record) => {
        const value = record.value!;
        const sentMs = new DataView(value.buffer, value.byteOffset, 8).getFloat64(0, true);
        if (sentMs >= measuredFromMs) e2eHist.record(performance.now() - sentMs);
        consumed++;
      });
      if (!consuming && consumed >= produced) break;
    }
  })();

  const progress = new Progress(name.padEnd(14));
  const startMs = performance.now();
  const endMs = startMs + seconds * 1000;
  measuredFromMs = startMs + warmupMs;
  let measuredStartCount = -1;
  const produceLoops = producers.map(async (producer, index) => {
    const scratch = new Uint8Array(recordBytes);
    const scratchView = new DataView(scratch.buffer);
    const owned = Array.from({ length: partitionCount }, (_, p) => p).filter((p) => p % producerCount === index);
    let next = 0;
    let appended = 0;
    const ratePerMs = ratePerS / producerCount / 1000;
    while (performance.now() < endMs) {
      const allowed = Number.isFinite(ratePerMs) ? Math.floor((performance.now() - startMs) * ratePerMs) - appended : BURST_RECORDS;
      if (allowed <= 0) {
        await Bun.sleep(1);
        continue;
      }
      if (producer.bufferedBytes >= maxBufferedBytes) {
        await producer.waitForSpace();
        continue;
      }
      for (let i = 0; i < Math.min(allowed, BURST_RECORDS) && producer.bufferedBytes < maxBufferedBytes; i++) {
        appended++;
        const partition = owned[next++ % owned.length]!;
        const nowMs = performance.now();
        scratchView.setFloat64(0, nowMs, true);
        producer.append(topic, partition, scratch, null, undefined, 0);
        queues[partition]!.push(nowMs);
        produced++;
      }
      if (measuredStartCount < 0 && performance.now() >= measuredFromMs) measuredStartCount = acked;
      progress.update((performance.now() - startMs) / (seconds * 1000), `${Math.round(acked / ((performance.now() - startMs) / 1000)).toLocaleString()} msg/s`);
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
    await producer.flush();
  });
  await Promise.all(produceLoops);
  const producedEndMs = performance.now();
  consuming = false;
  const drained = await Promise.race([consumeLoop.then(() => true), Bun.sleep(drainTimeoutMs).then(() => false)]);
  progress.done();
  for (const producer of producers) await producer.close();
  consumer.close();
  if (!drained) process.stderr.write(`${name}: consumer read ${consumed} of ${produced} records within ${drainTimeoutMs} ms\n`);
  if (firstError !== null) process.stderr.write(`${name}: ${failures} records failed; first error: ${(firstError as Error).message}\n`);

  const measuredSeconds = (producedEndMs - measuredFromMs) / 1000;
  const measuredRecords = acked - Math.max(0, measuredStartCount);
  let appendsPerFlushRound: number | null = null;
  let fsyncsPerFlushRound: number | null = null;
  let msPerFlushRound: number | null = null;
  if (broker !== null) {
    const text = await broker.metrics();
    const rounds = metricValue(text, "chronik_flush_rounds_total");
    const perRound = (name: string) => (rounds > 0 && Number.isFinite(metricValue(text, name)) ? metricValue(text, name) / rounds : null);
    appendsPerFlushRound = perRound("chronik_flushed_appends_total");
    fsyncsPerFlushRound = perRound("chronik_fsyncs_total");
    msPerFlushRound = perRound("chronik_flush_round_ms_total");
  }
  const quantiles = (h: Histogram) => ({ p50: h.quantileMs(0.5), p99: h.quantileMs(0.99), p999: h.quantileMs(0.999) });
  return {
    name,
    recordBytes,
    acks: acks === -1 ? "all" : String(acks),
    seconds: measuredSeconds,
    produced,
    consumed,
    msgsPerS: measuredRecords / measuredSeconds,
    mbPerS: (measuredRecords * recordBytes) / measuredSeconds / 1e6,
    produceMs: quantiles(produceHist),
    e2eMs: quantiles(e2eHist),
    appendsPerFlushRound,
    fsyncsPerFlushRound,
    msPerFlushRound,
  };
}

function formatTable(results: readonly CaseResult[]): string {
  const ms = (v: number) => (Number.isFinite(v) ? v.toFixed(2) : "-").padStart(7);
  const header = `${"case".padEnd(14)} ${"msgs/s".padStart(10)} ${"MB/s".padStart(7)} | produce ms ${"p50".padStart(5)} ${"p99".padStart(7)} ${"p99.9".padStart(7)} | e2e ms ${"p50".padStart(5)} ${"p99".padStart(7)} ${"p99.9".padStart(7)}`;
  const rows = results.map(
    (r) =>
      `${r.name.padEnd(14)} ${Math.round(r.msgsPerS).toLocaleString().padStart(10)} ${r.mbPerS.toFixed(1).padStart(7)} |           ${ms(r.produceMs.p50)} ${ms(r.produceMs.p99)} ${ms(r.produceMs.p999)} |       ${ms(r.e2eMs.p50)} ${ms(r.e2eMs.p99)} ${ms(r.e2eMs.p999)}`,
  );
  return [header, ...rows].join("\n");
}

async function main(): Promise<void> {
  const external = flag("--bootstrap");
  const flushMode = flag("--flush-mode");
  const cases: [number, Acks][] = (flag("--cases") ?? "100:1,100:all,1024:1,1024:all").split(",").map((spec) => {
    const [bytes, acks] = spec.split(":");
    return [Number(bytes), acks === "all" ? -1 : (Number(acks) as Acks)];
  });
  const results: CaseResult[] = [];
  for (const [recordBytes, acks] of cases) {
    // A fresh broker per case keeps one case's backlog and metrics out of the next.
    const broker = external === undefined ? await startBenchBroker({ args: flushMode ? ["--flush-mode", flushMode] : [] }) : null;
    try {
      results.push(await runCase(external ?? broker!.bootstrap, broker, recordBytes, acks));
    } catch (error) {
      if (broker !== null) process.stderr.write(`--- broker output (last 3000 chars) ---\n${broker.output().slice(-3000)}\n`);
      throw error;
    } finally {
      await broker?.stop();
    }
  }
  console.log(`e2e: ${producerCount} producers, ${partitionCount} partitions, linger.ms=${lingerMs}, batch ${batchBytes} B, ${Number.isFinite(ratePerS) ? `offered ${ratePerS} msgs/s` : "saturating"}, ${seconds} s per case (first ${warmupMs} ms not measured)${flushMode ? `, --flush-mode ${flushMode}` : ""}`);
  console.log(formatTable(results));
  const flushes = results
    .filter((r) => r.appendsPerFlushRound !== null)
    .map((r) => `${r.name}: ${r.appendsPerFlushRound!.toFixed(1)} appends, ${r.fsyncsPerFlushRound?.toFixed(1)} fsyncs, ${r.msPerFlushRound?.toFixed(2)} ms`);
  if (flushes.length > 0) console.log(`per broker flush round: ${flushes.join("; ")}`);
  const jsonPath = flag("--json");
  if (jsonPath !== undefined) writeFileSync(jsonPath, JSON.stringify({ bench: "e2e", at: new Date().toISOString(), producerCount, partitionCount, lingerMs, batchBytes, seconds, results }, null, 2));
}

await main();
