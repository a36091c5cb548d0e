/**
 * Runs every benchmark, each as its own process so one's heap, JIT state and open files do not colour the next:
 * storage micro-benchmarks (bench/wal.ts and bench/wal-*.ts, when present), the end-to-end load test
 * (bench/e2e.ts), the librdkafka comparison (bench/kbench.ts), topic creation through the metadata quorum
 * (bench/topics.ts), replication (bench/replication.ts: 3 nodes with RF 3 against 1 node) and producer latency
 * while 10,000 client connections are held open (bench/connections.ts).
 *
 *   bun bench [--only wal|e2e|kbench|topics|replication|connections[,...]] [--quick] [--json-dir DIR]
 *
 * --quick shortens every part. --json-dir DIR writes each part's results there as PART.json (not wal), for comparing commits.
 * Other flags after `--` are passed to every part.
 */
import { existsSync, mkdirSync, readdirSync } from "node:fs";
import { join, resolve } from "node:path";

const BENCH_DIR = import.meta.dir;
const PARTS = ["wal", "e2e", "kbench", "topics", "replication", "connections"] as const;
type Part = (typeof PARTS)[number];

const args = process.argv.slice(2);
const flag = (name: string): string | undefined => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const passThrough = args.includes("--") ? args.slice(args.indexOf("--") + 1) : [];
const quick = args.includes("--quick");
const only = flag("--only")?.split(",").map((s) => s.trim()) ?? [...PARTS];
const unknown = only.filter((p) => !(PARTS as readonly string[]).includes(p));
if (unknown.length > 0) {
  console.error(`unknown part(s) ${unknown.join(", ")}; choose from ${PARTS.join(", ")}`);
  process.exit(2);
}
const jsonDir = flag("--json-dir");
if (jsonDir !== undefined) mkdirSync(jsonDir, { recursive: true });

function scriptsOf(part: Part): string[] {
  if (part === "wal") {
    return readdirSync(BENCH_DIR)
      .filter((name) => name === "wal.ts" || /^wal-.*\.ts$/.test(name))
      .sort()
      .map((name) => join(BENCH_DIR, name));
  }
  const script = join(BENCH_DIR, `${part}.ts`);
  return existsSync(script) ? [script] : [];
}

async function run(script: string, part: Part): Promise<number> {
  const argv = [process.execPath, script];
  if (quick) argv.push("--quick");
  if (jsonDir !== undefined && part !== "wal") argv.push("--json", resolve(jsonDir, `${part}.json`));
  argv.push(...passThrough);
  console.log(`\n=== ${part}: ${argv.slice(1).join(" ")} ===`);
  const child = Bun.spawn(argv, { stdout: "inherit", stderr: "inherit", stdin: "ignore" });
  return await child.exited;
}

let failures = 0;
for (const part of PARTS.filter((p) => only.includes(p))) {
  const scripts = scriptsOf(part);
  if (scripts.length === 0) {
    console.log(`\n=== ${part}: no benchmark script present, skipped ===`);
    continue;
  }
  for (const script of scripts) {
    const code = await run(script, part);
    if (code !== 0) {
      console.error(`${script} exited with ${code}`);
      failures++;
    }
  }
}
process.exit(failures === 0 ? 0 : 1);
