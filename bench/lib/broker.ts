/** Starts a Chronik broker process for a benchmark (temporary data dir, free ports) and reads its metrics. */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

/** CHRONIK_BENCH_BROKER_ROOT runs the broker from another checkout (e.g. a `git archive` of a commit to compare). */
const ROOT = resolve(process.env.CHRONIK_BENCH_BROKER_ROOT ?? resolve(import.meta.dir, "../.."));
const START_TIMEOUT_MS = 30_000;

export interface BenchBroker {
  readonly bootstrap: string;
  readonly kafkaPort: number;
  readonly httpPort: number;
  readonly dataDir: string;
  readonly pid: number;
  /** Everything the broker printed so far. */
  output(): string;
  /** Prometheus text from GET /metrics. */
  metrics(): Promise<string>;
  stop(): Promise<void>;
}

export async function startBenchBroker(options: { args?: string[]; bunArgs?: string[]; dataDir?: string } = {}): Promise<BenchBroker> {
  const dataDir = options.dataDir ?? mkdtempSync(join(process.env.CHRONIK_BENCH_DIR ?? tmpdir(), "chronik-bench-"));
  const child = Bun.spawn(
    [process.execPath, ...(options.bunArgs ?? []), join(ROOT, "src/main.ts"), "start", "--host", "127.0.0.1", "--kafka-port", "0", "--http-port", "0", "--raft-port", "0", "--replication-port", "0", "--data-dir", dataDir, ...(options.args ?? [])],
    { cwd: ROOT, stdout: "pipe", stderr: "pipe" },
  );
  let output = "";
  const decoder = new TextDecoder();
  const drain = async (stream: ReadableStream<Uint8Array>) => {
    for await (const chunk of stream) output += decoder.decode(chunk);
  };
  void drain(child.stderr as ReadableStream<Uint8Array>);
  void drain(child.stdout as ReadableStream<Uint8Array>);
  const deadlineMs = performance.now() + START_TIMEOUT_MS;
  let match: RegExpExecArray | null = null;
  while (match === null) {
    if (child.exitCode !== null) throw new Error(`broker exited with ${child.exitCode}:\n${output}`);
    if (performance.now() > deadlineMs) {
      child.kill("SIGKILL");
      throw new Error(`broker did not log "broker started" within ${START_TIMEOUT_MS} ms:\n${output}`);
    }
    match = /broker started .*kafkaPort=(\d+) httpPort=(\d+)/.exec(output);
    if (match === null) await Bun.sleep(20);
  }
  const kafkaPort = Number(match[1]);
  const httpPort = Number(match[2]);
  return {
    bootstrap: `127.0.0.1:${kafkaPort}`,
    kafkaPort,
    httpPort,
    dataDir,
    pid: child.pid,
    output: () => output,
    metrics: async () => await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text(),
    async stop() {
      if (child.exitCode === null) {
        child.kill("SIGTERM");
        const exited = await Promise.race([child.exited, Bun.sleep(10_000).then(() => null)]);
        if (exited === null) {
          child.kill("SIGKILL");
          await child.exited;
        }
      }
      if (options.dataDir === undefined) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** CPU time (user + system, every thread) a process used so far, in ms; Linux only (from /proc), else NaN. */
export function processCpuMs(pid: number): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
    const ticksPerSecond = 100; // USER_HZ, which /proc counts in: 100 on Linux
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / ticksPerSecond;
  } catch {
    return Number.NaN;
  }
}

/** Sum of a metric's samples (all label sets) in Prometheus text; NaN when absent. */
export function metricValue(text: string, name: string, labels = ""): number {
  let sum = NaN;
  for (const line of text.split("\n")) {
    if (!line.startsWith(name) || line.startsWith("#")) continue;
    const rest = line.slice(name.length);
    if (rest[0] !== " " && rest[0] !== "{") continue;
    if (labels !== "" && !rest.includes(labels)) continue;
    const value = Number(rest.slice(rest.lastIndexOf(" ") + 1));
    sum = Number.isNaN(sum) ? value : sum + value;
  }
  return sum;
}
