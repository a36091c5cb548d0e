/**
 * A/B of broker builds on one kbench.py preset, interleaved in one run so machine noise hits every build alike:
 * for each round, each build gets a fresh broker and one kbench run. Builds are checkouts of the repository
 * (`git archive <commit> | tar -x -C DIR`, plus a node_modules symlink), patched or not.
 *
 *   bun bench/lib/compare-brokers.ts [--preset seed] [--messages N] [--rounds R] [--broker-arg ARG]... NAME=DIR[,ARG...]...
 *
 * Arguments after a build's DIR (comma-separated) go to that build's broker only, e.g. head-fast=DIR,--flush-mode,fast.
 */
import { existsSync } from "node:fs";
import { resolve } from "node:path";

const args = process.argv.slice(2);
const preset = valueOf("--preset") ?? "seed";
const messages = valueOf("--messages");
const rounds = Number(valueOf("--rounds") ?? 3);
const brokerArgs = args.flatMap((a, i) => (args[i - 1] === "--broker-arg" ? [a] : []));
const builds = args.filter((a) => a.includes("=") && !a.startsWith("--")).map((a) => {
  const [dir, ...extra] = a.slice(a.indexOf("=") + 1).split(",");
  return { name: a.slice(0, a.indexOf("=")), dir: dir!, args: extra };
});
const KBENCH = process.env.CHRONIK_KBENCH ?? resolve(import.meta.dir, "../../../shared/tools/kbench.py");

function valueOf(name: string): string | undefined {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
}

if (!existsSync(KBENCH)) {
  console.log(`compare-brokers: skipped, ${KBENCH} not found`);
  process.exit(0);
}
if (builds.length === 0) {
  console.error("give builds as NAME=DIR");
  process.exit(2);
}

interface Sample {
  msgsPerS: number;
  p50Ms: number;
  p99Ms: number;
}
const samples = new Map<string, Sample[]>(builds.map((b) => [b.name, []]));
for (let round = 0; round < rounds; round++) {
  for (const build of builds) {
    process.env.CHRONIK_BENCH_BROKER_ROOT = build.dir;
    const { startBenchBroker } = await import("./broker.ts");
    const broker = await startBenchBroker({ args: [...brokerArgs, ...build.args] });
    try {
      const argv = ["/usr/bin/python3", KBENCH, "produce", "--bootstrap", broker.bootstrap, "--topic", "ab", "--preset", preset, "--json"];
      if (messages !== undefined) argv.push("--messages", messages);
      const child = Bun.spawn(argv, { stdout: "pipe", stderr: "pipe" });
      const stdout = await new Response(child.stdout).text();
      await child.exited;
      const json = stdout.split("\n").filter((l) => l.startsWith("{")).pop();
      if (json === undefined) throw new Error(`kbench failed on ${build.name}: ${stdout}`);
      const r = JSON.parse(json);
      samples.get(build.name)!.push({ msgsPerS: r.msgs_per_s, p50Ms: r.lat_ms.p50, p99Ms: r.lat_ms.p99 });
      process.stderr.write(`round ${round + 1} ${build.name}: ${r.msgs_per_s} msg/s p50 ${r.lat_ms.p50} p99 ${r.lat_ms.p99}\n`);
    } finally {
      await broker.stop();
    }
  }
}
const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
console.log(`preset ${preset}${messages ? `, ${messages} messages` : ""}, ${rounds} interleaved rounds, medians${brokerArgs.length ? `, broker ${brokerArgs.join(" ")}` : ""}`);
console.log(`${"build".padEnd(12)} ${"msgs/s".padStart(9)} ${"p50 ms".padStart(8)} ${"p99 ms".padStart(8)}`);
for (const build of builds) {
  const s = samples.get(build.name)!;
  console.log(`${build.name.padEnd(12)} ${Math.round(median(s.map((x) => x.msgsPerS))).toLocaleString().padStart(9)} ${median(s.map((x) => x.p50Ms)).toFixed(3).padStart(8)} ${median(s.map((x) => x.p99Ms)).toFixed(3).padStart(8)}`);
}
