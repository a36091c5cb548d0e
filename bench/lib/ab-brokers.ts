/**
 * A/B of broker source trees on one kbench.py preset, interleaved round by round so machine noise hits every
 * build alike. Each build's broker runs from its own tree: a child process per sample, because broker.ts fixes
 * its root when first imported. With --partitions N the topic is created with N partitions first, and
 * librdkafka's default partitioner spreads keyless messages over them.
 *
 *   bun bench/lib/ab-brokers.ts [--preset seed] [--messages N] [--rounds R] [--partitions N] NAME=DIR[,ARG...]...
 */
import { existsSync } from "node:fs";
import { resolve } from "node:path";

const args = process.argv.slice(2);
const valueOf = (name: string): string | undefined => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const preset = valueOf("--preset") ?? "seed";
const messages = valueOf("--messages");
const rounds = Number(valueOf("--rounds") ?? 3);
const partitions = Number(valueOf("--partitions") ?? 1);
const builds = args
  .filter((a, i) => a.includes("=") && !a.startsWith("--") && !args[i - 1]?.startsWith("--"))
  .map((a) => {
    const [dir, ...extra] = a.slice(a.indexOf("=") + 1).split(",");
    return { name: a.slice(0, a.indexOf("=")), dir: resolve(dir!), args: extra };
  });
const KBENCH = process.env.CHRONIK_KBENCH ?? resolve(import.meta.dir, "../../../shared/tools/kbench.py");

interface Sample {
  msgsPerS: number;
  p50Ms: number;
  p99Ms: number;
  fsyncs: number;
  rounds: number;
}

/** One sample: runs in a child process with CHRONIK_BENCH_BROKER_ROOT set, prints a JSON Sample. */
async function sampleInChild(): Promise<void> {
  const { startBenchBroker, metricValue } = await import("./broker.ts");
  const broker = await startBenchBroker({ args: JSON.parse(process.env.AB_BROKER_ARGS ?? "[]") });
  try {
    if (partitions > 1) {
      const response = await fetch(`http://127.0.0.1:${broker.httpPort}/api/topics`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ name: "ab", partitions }),
      });
      if (response.status !== 201) throw new Error(`create topic: ${response.status} ${await response.text()}`);
    }
    const argv = ["/usr/bin/python3", KBENCH, "produce", "--bootstrap", broker.bootstrap, "--topic", "ab", "--preset", preset, "--json"];
    if (messages !== undefined) argv.push("--messages", messages);
    const child = Bun.spawn(argv, { stdout: "pipe", stderr: "pipe" });
    const stdout = await new Response(child.stdout).text();
    await child.exited;
    const json = stdout.split("\n").filter((l) => l.startsWith("{")).pop();
    if (json === undefined) throw new Error(`kbench failed: ${stdout}`);
    const r = JSON.parse(json);
    const metrics = await broker.metrics();
    const sample: Sample = {
      msgsPerS: r.msgs_per_s,
      p50Ms: r.lat_ms.p50,
      p99Ms: r.lat_ms.p99,
      fsyncs: metricValue(metrics, "chronik_fsyncs_total"),
      rounds: metricValue(metrics, "chronik_flush_rounds_total"),
    };
    process.stdout.write(`SAMPLE ${JSON.stringify(sample)}\n`);
  } finally {
    await broker.stop();
  }
}

async function main(): Promise<void> {
  if (!existsSync(KBENCH)) {
    console.log(`ab-brokers: skipped, ${KBENCH} not found`);
    return;
  }
  if (builds.length === 0) throw new Error("give builds as NAME=DIR");
  const samples = new Map<string, Sample[]>(builds.map((b) => [b.name, []]));
  for (let round = 0; round < rounds; round++) {
    for (const build of builds) {
      const child = Bun.spawn([process.execPath, import.meta.path, ...args], {
        env: { ...process.env, AB_CHILD: "1", CHRONIK_BENCH_BROKER_ROOT: build.dir, AB_BROKER_ARGS: JSON.stringify(build.args) },
        stdout: "pipe",
        stderr: "inherit",
      });
      const stdout = await new Response(child.stdout).text();
      const line = stdout.split("\n").find((l) => l.startsWith("SAMPLE "));
      if ((await child.exited) !== 0 || line === undefined) throw new Error(`sample of ${build.name} failed:\n${stdout}`);
      const s = JSON.parse(line.slice(7)) as Sample;
      samples.get(build.name)!.push(s);
      process.stderr.write(`round ${round + 1} ${build.name}: ${s.msgsPerS} msg/s p50 ${s.p50Ms} p99 ${s.p99Ms} fsyncs ${s.fsyncs} rounds ${s.rounds}\n`);
    }
  }
  const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
  console.log(`preset ${preset}${messages ? `, ${messages} messages` : ""}, ${partitions} partition(s), ${rounds} interleaved rounds, medians`);
  console.log(`${"build".padEnd(14)} ${"msgs/s".padStart(9)} ${"p50 ms".padStart(8)} ${"p99 ms".padStart(8)} ${"fsyncs".padStart(8)} ${"rounds".padStart(8)}`);
  for (const build of builds) {
    const s = samples.get(build.name)!;
    const m = (f: (x: Sample) => number) => median(s.map(f));
    console.log(
      `${build.name.padEnd(14)} ${Math.round(m((x) => x.msgsPerS)).toLocaleString().padStart(9)} ${m((x) => x.p50Ms).toFixed(3).padStart(8)} ${m((x) => x.p99Ms).toFixed(3).padStart(8)} ${String(m((x) => x.fsyncs)).padStart(8)} ${String(m((x) => x.rounds)).padStart(8)}`,
    );
  }
}

if (process.env.AB_CHILD === "1") await sampleInChild();
else await main();
