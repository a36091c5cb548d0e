/**
 * A 3-node Chronik cluster under fault injection: kill -9 and restart, SIGSTOP/SIGCONT, and network partitions.
 *
 * Partitions need the namespaced mode (root, inside a network namespace the caller created, see namespace.ts):
 * each broker runs as its own uid on its own loopback address, its connections leave from that address through
 * a per-uid routing table, and policy rules matching a uid and a destination drop broker-to-broker traffic both
 * ways while clients (root) still reach every broker. Without it, brokers share 127.0.0.1 and partitions are off.
 */
import { appendFileSync, chmodSync, chownSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { join, resolve } from "node:path";
import { createTopics } from "../../../src/client/admin.ts";
import { KafkaConnection } from "../../../src/client/connection.ts";
import { freePorts, startBroker, type BrokerProcess } from "../../helpers/broker-process.ts";
import { runProcess } from "../../helpers/run-process.ts";
import { waitFor } from "../../helpers/wait.ts";

const ROOT = resolve(import.meta.dir, "../../..");
export const NODE_IDS = [1, 2, 3] as const;
export const SESSION_TIMEOUT_MS = 2_500;
const BROKER_ARGS = [
  "--raft-election-timeout-ms", "1000",
  "--broker-heartbeat-interval-ms", "300",
  "--broker-session-timeout-ms", String(SESSION_TIMEOUT_MS),
  "--replica-lag-time-max-ms", "5000",
];
const UID_BASE = 42_000;
const NAMESPACED_KAFKA_PORT = 9092;
const NAMESPACED_RAFT_PORT = 19_001;
const STOP_TIMEOUT_MS = 15_000;

export interface PartitionView {
  partition: number;
  leader: number;
  isrs: { id: number }[];
}

interface Node {
  id: number;
  address: string;
  kafkaPort: number;
  raftPort: number;
  dataDir: string;
  broker: BrokerProcess | null;
  paused: boolean;
}

export class ChaosCluster {
  private readonly nodes: Node[];
  private readonly isolated = new Set<number>();
  private readonly savedLogPids = new Set<number>();

  private constructor(
    readonly namespaced: boolean,
    private readonly logDir: string,
    dataRoot: string,
  ) {
    const ports = namespaced ? [] : freePorts(2 * NODE_IDS.length);
    this.nodes = NODE_IDS.map((id, i) => ({
      id,
      address: namespaced ? `127.0.0.${id + 1}` : "127.0.0.1",
      kafkaPort: namespaced ? NAMESPACED_KAFKA_PORT : ports[2 * i]!,
      raftPort: namespaced ? NAMESPACED_RAFT_PORT : ports[2 * i + 1]!,
      dataDir: mkdtempSync(join(dataRoot, `node-${id}-`)),
      broker: null,
      paused: false,
    }));
    for (const node of this.nodes) if (namespaced) chownSync(node.dataDir, uidOf(node.id), uidOf(node.id));
  }

  /**
   * Starts every node with its data dir under dataRoot; in namespaced mode first sets up the per-uid source
   * addresses inside the namespace.
   */
  static async start(namespaced: boolean, logDir: string, dataRoot: string): Promise<ChaosCluster> {
    mkdirSync(logDir, { recursive: true });
    mkdirSync(dataRoot, { recursive: true });
    // Brokers run as their own uids in namespaced mode and must reach their dirs below this one.
    chmodSync(dataRoot, 0o755);
    const cluster = new ChaosCluster(namespaced, logDir, dataRoot);
    try {
      if (namespaced) await cluster.setUpRouting();
      await Promise.all(NODE_IDS.map((id) => cluster.startNode(id)));
      return cluster;
    } catch (error) {
      await cluster.cleanup();
      throw error;
    }
  }

  get bootstrap(): string {
    return this.nodes.map((n) => `${n.address}:${n.kafkaPort}`).join(",");
  }

  dataDir(id: number): string {
    return this.node(id).dataDir;
  }

  /** Nodes that run and are not paused: the ones that can answer a request. */
  responsive(): number[] {
    return this.nodes.filter((n) => isRunning(n.broker) && !n.paused).map((n) => n.id);
  }

  async controllerId(): Promise<number> {
    for (const id of this.responsive()) {
      const node = this.node(id);
      try {
        const response = await fetch(`http://${node.address}:${node.broker!.httpPort}/api/cluster`, { signal: AbortSignal.timeout(2_000) });
        const { controllerId } = (await response.json()) as { controllerId: number };
        if (controllerId > 0) return controllerId;
      } catch {
        // Another node may know; a node that just restarted may not yet.
      }
    }
    throw new Error("no responsive node knows the controller");
  }

  async kill(id: number): Promise<void> {
    const node = this.node(id);
    if (!node.broker) return;
    node.broker.process.kill("SIGKILL");
    await node.broker.process.exited;
    this.saveLog(node);
    node.paused = false;
  }

  async restart(id: number): Promise<void> {
    const node = this.node(id);
    if (isRunning(node.broker)) throw new Error(`node ${id} still runs`);
    // A broker that exited by itself (a crash, not a kill) has its log saved only here.
    this.saveLog(node);
    await this.startNode(id);
  }

  pause(id: number): void {
    const node = this.node(id);
    if (!isRunning(node.broker)) return;
    process.kill(node.broker!.process.pid, "SIGSTOP");
    node.paused = true;
  }

  resume(id: number): void {
    const node = this.node(id);
    if (isRunning(node.broker)) process.kill(node.broker!.process.pid, "SIGCONT");
    node.paused = false;
  }

  /** Cuts `id` off from the other brokers, both ways; clients still reach every broker. */
  async isolate(id: number): Promise<void> {
    if (!this.namespaced) throw new Error("network partitions need the namespaced cluster");
    for (const rule of partitionRules(id)) await ip("rule", "add", ...rule);
    this.isolated.add(id);
  }

  async heal(): Promise<void> {
    for (const id of [...this.isolated]) {
      for (const rule of partitionRules(id)) await ip("rule", "del", ...rule);
      this.isolated.delete(id);
    }
  }

  /** Undoes every fault: resumes paused nodes, heals partitions, restarts dead nodes. */
  async healAll(): Promise<void> {
    for (const node of this.nodes) if (node.paused) this.resume(node.id);
    await this.heal();
    for (const node of this.nodes) if (!isRunning(node.broker)) await this.restart(node.id);
  }

  async createTopic(topic: string, partitions: number, replicationFactor: number, configs: Record<string, string>): Promise<void> {
    const node = this.node(this.responsive()[0]!);
    const connection = await KafkaConnection.connect({ host: node.address, port: node.kafkaPort, requestTimeoutMs: 15_000 });
    try {
      await connection.negotiateVersions();
      await createTopics(connection, [{ name: topic, partitions, replicationFactor, configs }]);
    } finally {
      connection.close();
    }
  }

  async partitions(id: number, topic: string): Promise<PartitionView[]> {
    const node = this.node(id);
    const result = await runProcess(["kcat", "-L", "-J", "-m", "5", "-t", topic, "-b", `${node.address}:${node.kafkaPort}`], { timeoutMs: 10_000 });
    if (result.exitCode !== 0) throw new Error(`kcat -L against node ${id} failed: ${result.stderr}`);
    const metadata = JSON.parse(result.stdout) as { topics: { topic: string; partitions: PartitionView[] }[] };
    return (metadata.topics.find((t) => t.topic === topic)?.partitions ?? []).sort((a, b) => a.partition - b.partition);
  }

  /** Waits until every running node agrees on a leader for each partition and every ISR holds all nodes. */
  async waitHealthy(topic: string, partitionCount: number, timeoutMs: number): Promise<void> {
    let lastSeen = "nothing";
    await waitFor(
      async () => {
        const ids = this.responsive();
        if (ids.length !== this.nodes.length) {
          lastSeen = this.nodes.filter((n) => !ids.includes(n.id)).map((n) => `node ${n.id} ${isRunning(n.broker) ? "paused" : `exited (${n.broker?.process.exitCode ?? n.broker?.process.signalCode})`}`).join(", ");
          return false;
        }
        const views = await Promise.all(ids.map((id) => this.partitions(id, topic)));
        lastSeen = views.map((v, i) => `node ${ids[i]}: ${v.map((p) => `p${p.partition} leader ${p.leader} isr [${p.isrs.map((r) => r.id)}]`).join(", ")}`).join("; ");
        const leaders = new Set(views.map((v) => JSON.stringify(v.map((p) => p.leader))));
        return leaders.size === 1 && views.every((v) => v.length === partitionCount && v.every((p) => p.leader > 0 && p.isrs.length === this.nodes.length));
      },
      `every node to agree on a leader for each partition of ${topic} with a full ISR`,
      timeoutMs,
      250,
    ).catch((error: Error) => {
      throw new Error(`${error.message}; last seen: ${lastSeen}`);
    });
  }

  /** Stops every node gracefully (SIGTERM), resuming paused ones first, and keeps their data dirs. */
  async stopAll(): Promise<void> {
    for (const node of this.nodes) if (node.paused) this.resume(node.id);
    await Promise.all(
      this.nodes.map(async (node) => {
        if (!isRunning(node.broker)) return;
        const exited = node.broker!.stop("SIGTERM");
        const timer = setTimeout(() => node.broker!.process.kill("SIGKILL"), STOP_TIMEOUT_MS);
        await exited;
        clearTimeout(timer);
        this.saveLog(node);
      }),
    );
  }

  /** For a synchronous exit hook: kills every broker and removes the data dirs. */
  destroySync(): void {
    for (const node of this.nodes) {
      if (isRunning(node.broker)) node.broker!.process.kill("SIGKILL");
      rmSync(node.dataDir, { recursive: true, force: true });
    }
  }

  async cleanup(): Promise<void> {
    for (const node of this.nodes) {
      if (isRunning(node.broker)) {
        node.broker!.process.kill("SIGKILL");
        await node.broker!.process.exited;
        this.saveLog(node);
      }
      rmSync(node.dataDir, { recursive: true, force: true });
    }
    if (this.namespaced) await this.heal().catch(() => {});
  }

  private node(id: number): Node {
    const node = this.nodes[id - 1];
    if (!node) throw new Error(`no node ${id}`);
    return node;
  }

  private async startNode(id: number): Promise<void> {
    const node = this.node(id);
    const voters = this.nodes.map((n) => `${n.id}@${n.address}:${n.raftPort}`).join(",");
    // Its own session (setsid keeps the pid): when a process of the harness's group exits while a broker is
    // paused, a group that becomes orphaned with a stopped member gets SIGHUP from the kernel, which killed brokers.
    const bun = ["setsid", process.execPath, join(ROOT, "src/main.ts")];
    node.broker = await startBroker({
      dataDir: node.dataDir,
      keepData: true,
      command: this.namespaced ? ["setpriv", "--reuid", String(uidOf(id)), "--regid", String(uidOf(id)), "--clear-groups", ...bun] : bun,
      env: { HOME: node.dataDir },
      args: ["--node-id", String(id), "--host", node.address, "--kafka-port", String(node.kafkaPort), "--controller-quorum-voters", voters, ...BROKER_ARGS],
    });
    node.paused = false;
  }

  private saveLog(node: Node): void {
    if (!node.broker || this.savedLogPids.has(node.broker.process.pid)) return;
    this.savedLogPids.add(node.broker.process.pid);
    appendFileSync(join(this.logDir, `node-${node.id}.log`), `--- pid ${node.broker.process.pid} ---\n${node.broker.output()}`);
  }

  private async setUpRouting(): Promise<void> {
    await ip("link", "set", "lo", "up");
    // The local table must come after the partition rules, or it answers every loopback lookup first.
    await ip("rule", "add", "pref", "1000", "lookup", "local");
    await ip("rule", "del", "pref", "0");
    for (const id of NODE_IDS) {
      await ip("route", "add", "local", "127.0.0.0/8", "dev", "lo", "src", `127.0.0.${id + 1}`, "table", String(200 + id));
      await ip("rule", "add", "pref", String(500 + id), "uidrange", `${uidOf(id)}-${uidOf(id)}`, "lookup", String(200 + id));
    }
  }
}

const uidOf = (id: number) => UID_BASE + id;

function isRunning(broker: BrokerProcess | null): boolean {
  return broker !== null && broker.process.exitCode === null && broker.process.signalCode === null;
}

/** Policy rules that drop traffic between `isolated` and every other broker, both ways. */
function partitionRules(isolated: number): string[][] {
  return NODE_IDS.filter((id) => id !== isolated).flatMap((other, i) => [
    ["pref", String(100 + 2 * i), "uidrange", `${uidOf(isolated)}-${uidOf(isolated)}`, "to", `127.0.0.${other + 1}`, "prohibit"],
    ["pref", String(101 + 2 * i), "uidrange", `${uidOf(other)}-${uidOf(other)}`, "to", `127.0.0.${isolated + 1}`, "prohibit"],
  ]);
}

async function ip(...args: string[]): Promise<void> {
  const result = await runProcess(["ip", ...args], { timeoutMs: 10_000 });
  if (result.exitCode !== 0) throw new Error(`ip ${args.join(" ")}: ${result.stderr}`);
}
