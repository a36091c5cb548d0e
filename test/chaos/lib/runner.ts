/**
 * One chaos run inside the cluster's network (see namespace.ts for how it gets there): start a 3-node cluster,
 * create a replication factor 3 topic with min.insync.replicas=2, run the workload, inject the seeded faults
 * until the time is up, heal everything, read every partition to its high watermark, stop the cluster, read each
 * replica's stored log, and check the history.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setLogLevel } from "../../../src/lib/logger.ts";
import { DEBIAN_PYTHON, runProcess } from "../../helpers/run-process.ts";
import { storedBatches } from "../../replication/cluster-helpers.ts";
import { check, formatVerdict, type CheckResult, type ReplicaLog } from "./checker.ts";
import { ChaosCluster, NODE_IDS, SESSION_TIMEOUT_MS } from "./cluster.ts";
import { formatEvent, parseEventLine, type HistoryEvent } from "./history.ts";
import { FAULT_KINDS, FaultSchedule, type Fault, type FaultKind } from "./schedule.ts";
import { isKafkajsProcess, Workload } from "./workload.ts";

const TOPIC = "chaos";
const PARTITIONS = 3;
const RECOVERY_TIMEOUT_MS = 60_000;
const FINAL_READ_DEADLINE_S = 120;
const FINAL_READER = "final";

export interface RunOptions {
  seed: number;
  faultsForMs: number;
  namespaced: boolean;
  artifactsDir: string;
  /** Where the nodes' data dirs go; a temporary dir when omitted. */
  dataRoot?: string;
  producers?: number;
  consumers?: number;
  groupConsumers?: number;
  jsProducers?: number;
  jsGroupConsumers?: number;
  ratePerProducerPerS?: number;
}

export interface RunSummary {
  seed: number;
  namespaced: boolean;
  wallMs: number;
  faults: Record<FaultKind, number>;
  controllerFaults: number;
  /** Faults after which the cluster did not get a full ISR back within the recovery bound. */
  slowRecoveries: string[];
  acknowledged: number;
  read: number;
  /** Records acknowledged per producer process (confluent-kafka's p*, kafkajs's jp*). */
  acksByProcess: Record<string, number>;
  /** Records read per reader process (consumers c*, group members g* and kafkajs's jg*, the final reader). */
  readsByProcess: Record<string, number>;
  /** The workload's acknowledgements and reads by client library (the final reader left out). */
  byLibrary: Record<"kafkajs" | "confluent", { acknowledged: number; read: number }>;
  anomalies: CheckResult["counts"];
  ok: boolean;
  verdict: string;
  notes: string[];
}

export async function runInside(options: RunOptions): Promise<RunSummary> {
  const startedMs = performance.now();
  mkdirSync(options.artifactsDir, { recursive: true });
  const log = (line: string) => process.stderr.write(`[chaos ${((performance.now() - startedMs) / 1000).toFixed(1)}s] ${line}\n`);
  const kinds = FAULT_KINDS.filter((k) => k !== "partition" || options.namespaced);
  const schedule = new FaultSchedule(options.seed, { nodeCount: NODE_IDS.length, kinds, sessionTimeoutMs: SESSION_TIMEOUT_MS });
  const faults: Record<FaultKind, number> = { kill: 0, pause: 0, partition: 0 };
  const slowRecoveries: string[] = [];
  let controllerFaults = 0;

  const ownsDataRoot = options.dataRoot === undefined;
  const dataRoot = options.dataRoot ?? mkdtempSync(join(tmpdir(), "chronik-chaos-data-"));
  let cluster: ChaosCluster | null = null;
  let workload: Workload | null = null;
  const killEverything = () => {
    for (const pid of workload?.pids() ?? []) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        // Already gone.
      }
    }
    cluster?.destroySync();
    if (ownsDataRoot) rmSync(dataRoot, { recursive: true, force: true });
  };
  const exitOnSignal = () => process.exit(130);
  process.on("exit", killEverything);
  process.on("SIGINT", exitOnSignal);
  process.on("SIGTERM", exitOnSignal);
  try {
    cluster = await ChaosCluster.start(options.namespaced, join(options.artifactsDir, "logs"), dataRoot);
    const healthy = cluster;
    /** A cluster that does not get every replica back in the ISR in time fails the run, but the run goes on. */
    const recovered = async (when: string): Promise<boolean> => {
      try {
        await healthy.waitHealthy(TOPIC, PARTITIONS, RECOVERY_TIMEOUT_MS);
        return true;
      } catch (error) {
        slowRecoveries.push(`${when}: ${(error as Error).message}`);
        log(`slow recovery ${when}: ${(error as Error).message}`);
        return false;
      }
    };
    await cluster.createTopic(TOPIC, PARTITIONS, NODE_IDS.length, { "min.insync.replicas": "2" });
    await cluster.waitHealthy(TOPIC, PARTITIONS, RECOVERY_TIMEOUT_MS);
    log(`cluster up (${options.namespaced ? "own network namespace, partitions on" : "shared loopback, partitions off"}); workload starting`);
    workload = new Workload({
      bootstrap: cluster.bootstrap,
      topic: TOPIC,
      partitions: PARTITIONS,
      producers: options.producers ?? 3,
      consumers: options.consumers ?? 2,
      groupConsumers: options.groupConsumers ?? 2,
      jsProducers: options.jsProducers ?? 2,
      jsGroupConsumers: options.jsGroupConsumers ?? 2,
      ratePerProducerPerS: options.ratePerProducerPerS ?? 100,
      logDir: join(options.artifactsDir, "clients"),
    });
    workload.start();

    const faultsUntilMs = performance.now() + options.faultsForMs;
    while (performance.now() < faultsUntilMs) {
      const fault = schedule.next();
      await Bun.sleep(fault.gapMs);
      if (performance.now() >= faultsUntilMs) break;
      const target = fault.target === "controller" ? await cluster.controllerId().catch(() => 1) : fault.target;
      if (fault.target === "controller") controllerFaults++;
      faults[fault.kind]++;
      log(`${describe(fault)} on node ${target}; ${workload.acknowledged()} acknowledged so far`);
      await inject(cluster, fault, target);
      if (!(await recovered(`after ${describe(fault)} on node ${target}`))) await cluster.healAll();
    }

    log("healing; letting the workload run on a healthy cluster");
    await cluster.healAll();
    await recovered("after the last fault was healed");
    await Bun.sleep(2_000);
    await workload.stop();
    log(`workload stopped with ${workload.acknowledged()} acknowledged; final read`);
    const { events: finalEvents, highWatermarks } = await finalRead(cluster.bootstrap);
    const history: HistoryEvent[] = [...workload.history, ...finalEvents];
    // Every replica back in the ISR means each holds the data up to the high watermark; the byte comparison checks it.
    await recovered("with the workload stopped");
    await cluster.stopAll();
    // Opening each stopped node's logs here would otherwise print the log manager's recovery lines.
    setLogLevel("warn");
    const replicas: ReplicaLog[] = [];
    for (const id of NODE_IDS) replicas.push({ node: id, partitions: await storedBatches(cluster.dataDir(id), TOPIC, PARTITIONS) });

    const result = check({ history, finalReader: FINAL_READER, highWatermarks, replicas });
    const availability = slowRecoveries.length > 0 ? `\nAVAILABILITY: FAILED, ${slowRecoveries.length} slow recoveries:\n${slowRecoveries.map((r) => `- ${r}`).join("\n")}` : "";
    const verdict = formatVerdict(result, options.seed) + availability;
    if (!result.ok) writeFileSync(join(options.artifactsDir, "history.txt"), history.map(formatEvent).join("\n"));
    const acksByProcess = countByProcess(history, "ack");
    const readsByProcess = countByProcess(history, "read");
    return {
      seed: options.seed,
      namespaced: options.namespaced,
      wallMs: Math.round(performance.now() - startedMs),
      faults,
      controllerFaults,
      slowRecoveries,
      acknowledged: result.acknowledged,
      read: result.read,
      acksByProcess,
      readsByProcess,
      byLibrary: totalsByLibrary(acksByProcess, readsByProcess),
      anomalies: result.counts,
      ok: result.ok && slowRecoveries.length === 0,
      verdict,
      notes: workload.notes,
    };
  } finally {
    await workload?.stop().catch(() => {});
    await cluster?.cleanup();
    if (ownsDataRoot) rmSync(dataRoot, { recursive: true, force: true });
    process.off("exit", killEverything);
    process.off("SIGINT", exitOnSignal);
    process.off("SIGTERM", exitOnSignal);
  }
}

async function inject(cluster: ChaosCluster, fault: Fault, target: number): Promise<void> {
  switch (fault.kind) {
    case "kill":
      await cluster.kill(target);
      await Bun.sleep(fault.durationMs);
      await cluster.restart(target);
      return;
    case "pause":
      cluster.pause(target);
      await Bun.sleep(fault.durationMs);
      cluster.resume(target);
      return;
    case "partition":
      await cluster.isolate(target);
      await Bun.sleep(fault.durationMs);
      await cluster.heal();
      return;
  }
}

function describe(fault: Fault): string {
  const verb = { kill: "kill -9 for", pause: "SIGSTOP for", partition: "network partition for" }[fault.kind];
  return `${verb} ${fault.durationMs} ms (${fault.target === "controller" ? "the controller" : "a node"})`;
}

function countByProcess(history: readonly HistoryEvent[], kind: "ack" | "read"): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const event of history) if (event.kind === kind) counts[event.process] = (counts[event.process] ?? 0) + 1;
  return counts;
}

function totalsByLibrary(acksByProcess: Record<string, number>, readsByProcess: Record<string, number>): RunSummary["byLibrary"] {
  const totals: RunSummary["byLibrary"] = { kafkajs: { acknowledged: 0, read: 0 }, confluent: { acknowledged: 0, read: 0 } };
  const library = (process: string) => (isKafkajsProcess(process) ? totals.kafkajs : totals.confluent);
  for (const [process, count] of Object.entries(acksByProcess)) library(process).acknowledged += count;
  for (const [process, count] of Object.entries(readsByProcess)) if (process !== FINAL_READER) library(process).read += count;
  return totals;
}

async function finalRead(bootstrap: string): Promise<{ events: HistoryEvent[]; highWatermarks: number[] }> {
  const script = join(import.meta.dir, "../py/final_read.py");
  const result = await runProcess([DEBIAN_PYTHON, script, bootstrap, TOPIC, String(PARTITIONS), String(FINAL_READ_DEADLINE_S)], { timeoutMs: (FINAL_READ_DEADLINE_S + 30) * 1000 });
  if (result.exitCode !== 0) throw new Error(`the final read failed (${result.exitCode}): ${result.stderr.slice(-2_000)}`);
  const highWatermarks: number[] = [];
  const events: HistoryEvent[] = [];
  for (const line of result.stdout.split("\n")) {
    const hw = /^hw (\d+) (\d+)$/.exec(line);
    if (hw) highWatermarks[Number(hw[1])] = Number(hw[2]);
    const event = parseEventLine(line, FINAL_READER, 0);
    if (event) events.push(event);
  }
  return { events, highWatermarks };
}
