/**
 * Chronik against librdkafka's in-memory mock broker, with real clients (/work/shared/tools/kbench.py on
 * Debian's python3-confluent-kafka), in one run: the throughput, seed and latency produce presets, a consume
 * comparison, and the disk's own append+fdatasync latency as the floor for durable acks.
 *
 *   bun bench/kbench.ts [--quick] [--rounds N] [--flush-mode durable|fast] [--json FILE]
 *
 * The throughput preset runs --rounds times (default 3), alternating Chronik and the mock, and compares medians:
 * on a shared 2-core machine one run of either moves by 15% or more, and the client takes most of the CPU.
 * kbench.py is looked up at ../shared/tools/kbench.py next to the repository (or $CHRONIK_KBENCH); without it
 * this benchmark is skipped. A fresh broker (temporary data dir) serves each preset.
 */
import { existsSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { resolve } from "node:path";
import { startBenchBroker, metricValue } from "./lib/broker.ts";
import { measureDiskSync, formatDiskSync, type SyncSample } from "./lib/disk-sync.ts";

const ROOT = resolve(import.meta.dir, "..");
const KBENCH = process.env.CHRONIK_KBENCH ?? resolve(ROOT, "../shared/tools/kbench.py");
const PYTHON = "/usr/bin/python3";
/** librdkafka on an earlier Chronik, seed preset (kbench.py docstring): the goal is 5x this. */
const SEED_BASELINE_MSGS_PER_S = 3_537;

const args = process.argv.slice(2);
const flag = (name: string): string | undefined => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const quick = args.includes("--quick");
const flushMode = flag("--flush-mode");
const timeoutS = quick ? 120 : 300;
const rounds = Number(flag("--rounds") ?? 3);
if (!(Number.isInteger(rounds) && rounds >= 1)) {
  console.error(`kbench: --rounds must be a whole number of at least 1, got ${flag("--rounds")}`);
  process.exit(2);
}
/** --quick shortens the presets; the shapes (size, acks, concurrency, linger) stay the same. */
const MESSAGES: Record<string, number> = quick ? { throughput: 200_000, seed: 10_000, latency: 1_000 } : { throughput: 1_000_000, seed: 50_000, latency: 5_000 };

interface KbenchResult {
  msgs_per_s: number;
  mb_per_s: number;
  delivered_ok?: number;
  errors?: number;
  consumed?: number;
  lat_ms?: { p50: number; p99: number; p999: number; max: number; mean: number };
  timed_out?: boolean;
}

async function kbench(argv: string[]): Promise<KbenchResult> {
  const child = Bun.spawn([PYTHON, KBENCH, ...argv, "--json", "--timeout", String(timeoutS)], { stdout: "pipe", stderr: "pipe" });
  const [stdout, stderr, code] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text(), child.exited]);
  const json = stdout.split("\n").filter((line) => line.startsWith("{")).pop();
  if (code !== 0 || json === undefined) throw new Error(`kbench.py ${argv.join(" ")} exited ${code}:\n${stdout}\n${stderr}`);
  process.stderr.write(`  ${stdout.split("\n").find((line) => line.startsWith("produce") || line.startsWith("consume")) ?? ""}\n`);
  return JSON.parse(json) as KbenchResult;
}

interface FlushStats {
  fsyncs: number;
  rounds: number;
  appendsPerRound: number;
  msPerRound: number;
}

async function onChronik(preset: string, consumeAfter: boolean, rounds = 1, mockBetween?: () => Promise<void>): Promise<{ produce: KbenchResult; produceRounds: KbenchResult[]; consume: KbenchResult | null; flush: FlushStats }> {
  const broker = await startBenchBroker({ args: flushMode ? ["--flush-mode", flushMode] : [] });
  try {
    const produceRounds: KbenchResult[] = [];
    for (let round = 0; round < rounds; round++) {
      produceRounds.push(await kbench(["produce", "--bootstrap", broker.bootstrap, "--topic", `kbench-${preset}-${round}`, "--preset", preset, "--messages", String(MESSAGES[preset])]));
      await mockBetween?.();
    }
    const produce = median(produceRounds);
    const text = await broker.metrics();
    const flushRounds = metricValue(text, "chronik_flush_rounds_total");
    const flush = {
      fsyncs: metricValue(text, "chronik_fsyncs_total"),
      rounds: flushRounds,
      appendsPerRound: metricValue(text, "chronik_flushed_appends_total") / flushRounds,
      msPerRound: metricValue(text, "chronik_flush_round_ms_total") / flushRounds,
    };
    const consume = consumeAfter ? await kbench(["consume", "--bootstrap", broker.bootstrap, "--topic", `kbench-${preset}-0`, "--messages", String(MESSAGES[preset])]) : null;
    return { produce, produceRounds, consume, flush };
  } finally {
    await broker.stop();
  }
}

/** The run with the median msgs/s. */
function median(results: readonly KbenchResult[]): KbenchResult {
  return [...results].sort((a, b) => a.msgs_per_s - b.msgs_per_s)[Math.floor((results.length - 1) / 2)]!;
}

interface Row {
  metric: string;
  chronik: number;
  reference: number;
  referenceName: string;
  /** chronik / reference; the goal column says which direction is better. */
  ratio: number;
  goal: string;
  pass: boolean;
}

function formatRows(rows: readonly Row[]): string {
  const num = (v: number) => (Number.isFinite(v) ? (Math.abs(v) >= 100 ? Math.round(v).toLocaleString() : v.toFixed(3)) : "-");
  const header = `${"metric".padEnd(30)} ${"chronik".padStart(11)} ${"reference".padStart(11)}  ${"(of)".padEnd(26)} ${"ratio".padStart(6)}  goal`;
  return [header, ...rows.map((r) => `${r.metric.padEnd(30)} ${num(r.chronik).padStart(11)} ${num(r.reference).padStart(11)}  ${r.referenceName.padEnd(26)} ${r.ratio.toFixed(2).padStart(6)}  ${r.goal} ${r.pass ? "ok" : "MISSED"}`)].join("\n");
}

async function main(): Promise<void> {
  if (!existsSync(KBENCH)) {
    console.log(`kbench: skipped, ${KBENCH} not found (set CHRONIK_KBENCH to its path)`);
    return;
  }
  if (!existsSync(PYTHON)) {
    console.log(`kbench: skipped, ${PYTHON} not found (kbench.py needs Debian's python3-confluent-kafka)`);
    return;
  }
  process.stderr.write("disk baseline (append 100 B + fdatasync)\n");
  const disk = await measureDiskSync(process.env.CHRONIK_BENCH_DIR ?? tmpdir(), quick ? 400 : 1500);
  const diskAppend = disk.find((d) => d.layout.startsWith("append"))!;

  process.stderr.write("throughput preset\n");
  const mockRounds: KbenchResult[] = [];
  const throughput = await onChronik("throughput", true, rounds, async () => {
    mockRounds.push(await kbench(["produce", "--mock", "1", "--topic", "kbench-throughput", "--preset", "throughput", "--messages", String(MESSAGES.throughput)]));
  });
  const throughputMock = median(mockRounds);
  process.stderr.write("seed preset\n");
  const seed = await onChronik("seed", false);
  process.stderr.write("latency preset\n");
  const latency = await onChronik("latency", false);
  const latencyMock = await kbench(["produce", "--mock", "1", "--topic", "kbench-latency", "--preset", "latency", "--messages", String(MESSAGES.latency)]);
  process.stderr.write("consume (mock: 64 partitions, it keeps only ~5 MiB per partition)\n");
  const consumeMock = await kbench(["consume", "--mock", "1", "--partitions", "64", "--topic", "kbench-consume", "--messages", String(MESSAGES.throughput)]);

  const seedGoal = 5 * SEED_BASELINE_MSGS_PER_S;
  const rows: Row[] = [
    { metric: "throughput msgs/s", chronik: throughput.produce.msgs_per_s, reference: throughputMock.msgs_per_s, referenceName: "mock", ratio: throughput.produce.msgs_per_s / throughputMock.msgs_per_s, goal: ">= 1.0x", pass: throughput.produce.msgs_per_s >= throughputMock.msgs_per_s },
    { metric: "seed msgs/s", chronik: seed.produce.msgs_per_s, reference: seedGoal, referenceName: `5 x ${SEED_BASELINE_MSGS_PER_S.toLocaleString()}`, ratio: seed.produce.msgs_per_s / seedGoal, goal: ">= 1.0x", pass: seed.produce.msgs_per_s >= seedGoal },
    { metric: "seed p99 ms", chronik: seed.produce.lat_ms!.p99, reference: 2, referenceName: "2 ms", ratio: seed.produce.lat_ms!.p99 / 2, goal: "< 1.0x", pass: seed.produce.lat_ms!.p99 < 2 },
    { metric: "latency p50 ms", chronik: latency.produce.lat_ms!.p50, reference: diskAppend.p50Ms, referenceName: "disk append+fdatasync p50", ratio: latency.produce.lat_ms!.p50 / diskAppend.p50Ms, goal: "<= 1.5x", pass: latency.produce.lat_ms!.p50 <= 1.5 * diskAppend.p50Ms },
    { metric: "latency p50 ms vs mock", chronik: latency.produce.lat_ms!.p50, reference: latencyMock.lat_ms!.p50, referenceName: "mock p50", ratio: latency.produce.lat_ms!.p50 / latencyMock.lat_ms!.p50, goal: "(info)", pass: true },
    { metric: "consume msgs/s", chronik: throughput.consume!.msgs_per_s, reference: consumeMock.msgs_per_s, referenceName: "mock", ratio: throughput.consume!.msgs_per_s / consumeMock.msgs_per_s, goal: ">= 1.0x", pass: throughput.consume!.msgs_per_s >= consumeMock.msgs_per_s },
  ];
  console.log(`kbench: librdkafka (confluent-kafka) presets, Chronik${flushMode ? ` --flush-mode ${flushMode}` : ""} vs mock, same run${quick ? " (--quick: fewer messages)" : ""}`);
  console.log(formatRows(rows));
  const flushLine = (name: string, f: FlushStats) => `${name}: ${f.rounds} flush rounds, ${f.appendsPerRound.toFixed(2)} appends/round, ${f.msPerRound.toFixed(3)} ms/round`;
  console.log(`broker flush: ${flushLine("throughput", throughput.flush)}; ${flushLine("seed", seed.flush)}; ${flushLine("latency", latency.flush)}`);
  const msgsPerS = (results: readonly KbenchResult[]) => results.map((r) => Math.round(r.msgs_per_s).toLocaleString()).join(", ");
  console.log(`throughput rounds (msgs/s, alternating): chronik ${msgsPerS(throughput.produceRounds)}; mock ${msgsPerS(mockRounds)}`);
  console.log(`latency preset p99: chronik ${latency.produce.lat_ms!.p99} ms, mock ${latencyMock.lat_ms!.p99} ms; seed p50 ${seed.produce.lat_ms!.p50} ms`);
  console.log(formatDiskSync(disk));
  const jsonPath = flag("--json");
  if (jsonPath !== undefined) {
    const summary = { bench: "kbench", at: new Date().toISOString(), quick, flushMode: flushMode ?? "durable", rows, throughput, throughputMock, mockRounds, seed, latency, latencyMock, consumeMock, disk: disk as SyncSample[] };
    writeFileSync(jsonPath, JSON.stringify(summary, null, 2));
  }
}

await main();
