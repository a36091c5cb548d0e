import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import type { Subprocess } from "bun";
import { waitFor } from "./wait.ts";

const ROOT = resolve(import.meta.dir, "../..");

export interface BrokerProcess {
  readonly kafkaPort: number;
  readonly httpPort: number;
  readonly bootstrap: string;
  readonly dataDir: string;
  readonly process: Subprocess;
  /** Everything the broker wrote to stderr so far. */
  output(): string;
  /** Sends a signal and waits for the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number>;
  /** Stops the broker if it still runs (paused or not) and removes its data dir unless keepData. */
  cleanup(): Promise<void>;
}

export interface StartOptions {
  dataDir?: string;
  args?: string[];
  env?: Record<string, string>;
  /** Keep the data dir when cleaning up (for restart tests that own the dir). */
  keepData?: boolean;
  /** The program to run instead of `bun src/main.ts` (e.g. a compiled executable). */
  command?: string[];
}

/** Starts `bun src/main.ts start` on free ports (port 0, read back from the log) with a temporary data dir. */
export async function startBroker(options: StartOptions = {}): Promise<BrokerProcess> {
  const ownsDir = options.dataDir === undefined;
  const dataDir = options.dataDir ?? mkdtempSync(join(tmpdir(), "chronik-test-"));
  const args = options.args ?? [];
  // A one-voter quorum on a free Raft port, unless the test names the quorum itself.
  const raftArgs = args.some((a) => a.startsWith("--raft-port") || a.startsWith("--controller-quorum-voters")) ? [] : ["--raft-port", "0"];
  const replicationArgs = args.some((a) => a.startsWith("--replication-port")) ? [] : ["--replication-port", "0"];
  const child = Bun.spawn(
    [...(options.command ?? [process.execPath, join(ROOT, "src/main.ts")]), "start", "--host", "127.0.0.1", "--kafka-port", "0", "--http-port", "0", "--data-dir", dataDir, ...raftArgs, ...replicationArgs, ...args],
    { cwd: ROOT, stdout: "pipe", stderr: "pipe", env: { ...process.env, ...options.env } },
  );
  let stderr = "";
  const decoder = new TextDecoder();
  (async () => {
    for await (const chunk of child.stderr as ReadableStream<Uint8Array>) stderr += decoder.decode(chunk);
  })();
  (async () => {
    for await (const _ of child.stdout as ReadableStream<Uint8Array>);
  })();
  const started = await waitFor(
    () => {
      if (child.exitCode !== null) throw new Error(`broker exited with ${child.exitCode}:\n${stderr}`);
      return /broker started .*kafkaPort=(\d+) httpPort=(\d+)/.exec(stderr);
    },
    "the broker to log that it started",
    30_000,
  ).catch((error) => {
    child.kill("SIGKILL");
    throw new Error(`${error.message}\n--- broker stderr ---\n${stderr}`);
  });
  const kafkaPort = Number(started[1]);
  const httpPort = Number(started[2]);
  const handle: BrokerProcess = {
    kafkaPort,
    httpPort,
    bootstrap: `127.0.0.1:${kafkaPort}`,
    dataDir,
    process: child,
    output: () => stderr,
    async stop(signal = "SIGTERM") {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return await child.exited;
    },
    async cleanup() {
      if (child.exitCode === null && child.signalCode === null) {
        // A test may have left it paused with SIGSTOP.
        child.kill("SIGCONT");
        child.kill("SIGKILL");
        await child.exited;
      }
      if (ownsDir && !options.keepData) rmSync(dataDir, { recursive: true, force: true });
    },
  };
  return handle;
}

/** Ports that were free a moment ago: bound on port 0 and released (Raft voters need known ports up front). */
export function freePorts(count: number): number[] {
  const listeners = Array.from({ length: count }, () => Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } }));
  const ports = listeners.map((l) => l.port);
  for (const l of listeners) l.stop(true);
  return ports;
}

export interface ClusterProcess {
  readonly nodes: (BrokerProcess | null)[];
  readonly raftPorts: number[];
  readonly voters: string;
  /** Starts node `id` (1-based) again on its data dir and Raft port; Kafka and HTTP ports may change. */
  restart(id: number, extraArgs?: string[]): Promise<BrokerProcess>;
  node(id: number): BrokerProcess;
  /** Kills every node still running and removes the data dirs. */
  cleanup(): Promise<void>;
}

/** Starts an n-node cluster (every node a voter and a broker) as real processes, each with its own data dir. */
export async function startCluster(size: number, args: string[] = []): Promise<ClusterProcess> {
  const raftPorts = freePorts(size);
  const voters = raftPorts.map((port, i) => `${i + 1}@127.0.0.1:${port}`).join(",");
  const dataDirs = raftPorts.map((_, i) => mkdtempSync(join(tmpdir(), `chronik-cluster-${i + 1}-`)));
  const nodes: (BrokerProcess | null)[] = raftPorts.map(() => null);
  const start = (id: number, extraArgs: string[]) =>
    startBroker({
      dataDir: dataDirs[id - 1],
      keepData: true,
      args: ["--node-id", String(id), "--controller-quorum-voters", voters, ...args, ...extraArgs],
    });
  const cluster: ClusterProcess = {
    nodes,
    raftPorts,
    voters,
    async restart(id, extraArgs = []) {
      const previous = nodes[id - 1];
      if (previous && previous.process.exitCode === null && previous.process.signalCode === null) throw new Error(`node ${id} still runs`);
      const node = await start(id, extraArgs);
      nodes[id - 1] = node;
      return node;
    },
    node(id) {
      const node = nodes[id - 1];
      if (!node) throw new Error(`node ${id} is not running`);
      return node;
    },
    async cleanup() {
      await Promise.all(nodes.map((n) => n?.cleanup()));
      for (const dir of dataDirs) rmSync(dir, { recursive: true, force: true });
    },
  };
  // Every node waits for a quorum before it reports itself started, so they must start together.
  const started = await Promise.allSettled(raftPorts.map((_, i) => start(i + 1, [])));
  started.forEach((result, i) => {
    if (result.status === "fulfilled") nodes[i] = result.value;
  });
  const failed = started.find((r) => r.status === "rejected");
  if (failed) {
    await cluster.cleanup();
    throw (failed as PromiseRejectedResult).reason;
  }
  return cluster;
}
