/**
 * Runs a chaos run in a network namespace of its own when it can (root, `ip`, `setpriv`), so network partitions
 * are possible and nothing touches the host's routing; otherwise in this process on the shared loopback, without
 * partitions. The namespace and every process in it are removed on every way out, including a signal.
 */
import { chmodSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runInside, type RunSummary } from "./runner.ts";

const INSIDE = join(import.meta.dir, "inside.ts");
/** Beyond the fault window: cluster start, recovery, producers' flush, final read, replica comparison. */
const RUN_OVERHEAD_MS = 6 * 60_000;

export const canUseNamespace = (): boolean => process.getuid?.() === 0 && Bun.which("ip") !== null && Bun.which("setpriv") !== null;

export interface ChaosOptions {
  seed: number;
  faultsForMs: number;
  artifactsDir: string;
}

export async function runChaos(options: ChaosOptions): Promise<RunSummary> {
  if (!canUseNamespace()) return await runInside({ ...options, namespaced: false });
  const namespace = `chronik-chaos-${process.pid}-${options.seed >>> 0}`;
  const scratch = mkdtempSync(join(tmpdir(), "chronik-chaos-run-"));
  // The brokers (their own uids) keep their data dirs below it.
  chmodSync(scratch, 0o755);
  const summaryFile = join(scratch, "summary.json");
  const removeNamespace = () => {
    const pids = Bun.spawnSync(["ip", "netns", "pids", namespace]).stdout.toString().trim().split(/\s+/).filter(Boolean);
    for (const pid of pids) {
      try {
        process.kill(Number(pid), "SIGKILL");
      } catch {
        // Already gone.
      }
    }
    Bun.spawnSync(["ip", "netns", "del", namespace]);
    // The brokers' data dirs live here too: a run killed from outside cannot remove them itself.
    rmSync(scratch, { recursive: true, force: true });
  };
  const onSignal = () => {
    removeNamespace();
    process.exit(130);
  };
  process.on("exit", removeNamespace);
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  try {
    const added = Bun.spawnSync(["ip", "netns", "add", namespace]);
    if (added.exitCode !== 0) throw new Error(`ip netns add ${namespace}: ${added.stderr.toString()}`);
    const child = Bun.spawn(["ip", "netns", "exec", namespace, process.execPath, INSIDE, String(options.seed), String(options.faultsForMs), options.artifactsDir, join(scratch, "data"), summaryFile], {
      stdout: "inherit",
      stderr: "inherit",
    });
    const timer = setTimeout(() => child.kill("SIGKILL"), options.faultsForMs + RUN_OVERHEAD_MS);
    const exitCode = await child.exited;
    clearTimeout(timer);
    let summary: RunSummary;
    try {
      summary = JSON.parse(readFileSync(summaryFile, "utf8")) as RunSummary;
    } catch {
      throw new Error(`the chaos run inside ${namespace} ended (${exitCode ?? child.signalCode}) without a summary; logs in ${options.artifactsDir}`);
    }
    return summary;
  } finally {
    removeNamespace();
    process.off("exit", removeNamespace);
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  }
}
