/**
 * A 3-node cluster as real processes: every node a Raft voter and a broker. Checks what clients see (kcat -L on
 * every broker), admin requests through a non-controller, controller failover after kill -9, and a full restart.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { join, resolve } from "node:path";
import { KafkaConnection } from "../../src/client/connection.ts";
import { createTopics } from "../../src/client/admin.ts";
import { ApiKey } from "../../src/protocol/generated/index.ts";
import { startCluster, type BrokerProcess, type ClusterProcess } from "../helpers/broker-process.ts";
import { runProcess } from "../helpers/run-process.ts";
import { waitFor } from "../helpers/wait.ts";

const ROOT = resolve(import.meta.dir, "../..");
const ELECTION_TIMEOUT_MS = 1000;
const SESSION_TIMEOUT_MS = 5000;
const ARGS = ["--raft-election-timeout-ms", String(ELECTION_TIMEOUT_MS), "--broker-heartbeat-interval-ms", "300", "--broker-session-timeout-ms", String(SESSION_TIMEOUT_MS)];

let cluster: ClusterProcess;

beforeAll(async () => {
  cluster = await startCluster(3, ARGS);
}, 60_000);

afterAll(async () => {
  await cluster?.cleanup();
});

interface KcatMetadata {
  controllerid: number;
  brokers: { id: number; name: string }[];
  topics: { topic: string; partitions: { partition: number; leader: number; replicas: { id: number }[] }[] }[];
}

async function kcatMetadata(node: BrokerProcess): Promise<KcatMetadata> {
  const result = await runProcess(["kcat", "-L", "-J", "-b", node.bootstrap], { timeoutMs: 20_000 });
  if (result.exitCode !== 0) throw new Error(`kcat -L failed: ${result.stderr}`);
  return JSON.parse(result.stdout);
}

/** Topic name -> leaders by partition, as one broker reports them. */
function leaders(metadata: KcatMetadata, prefix: string): Record<string, number[]> {
  const view: Record<string, number[]> = {};
  for (const t of metadata.topics.filter((t) => t.topic.startsWith(prefix)).sort((a, b) => a.topic.localeCompare(b.topic))) {
    view[t.topic] = t.partitions.sort((a, b) => a.partition - b.partition).map((p) => p.leader);
  }
  return view;
}

async function createThrough(node: BrokerProcess, topics: { name: string; partitions: number; replicationFactor?: number }[]): Promise<void> {
  const connection = await KafkaConnection.connect({ host: "127.0.0.1", port: node.kafkaPort, requestTimeoutMs: 15_000 });
  try {
    await connection.negotiateVersions();
    await createTopics(connection, topics);
  } finally {
    connection.close();
  }
}

async function clusterInfo(node: BrokerProcess): Promise<{ controllerId: number; brokers: { nodeId: number; fenced: boolean }[] }> {
  const response = await fetch(`http://127.0.0.1:${node.httpPort}/api/cluster`);
  return (await response.json()) as any;
}

const running = () => cluster.nodes.filter((n): n is BrokerProcess => n !== null && n.process.exitCode === null && n.process.signalCode === null);

/** Waits until every running broker reports the same view of the topics with `prefix`, and returns it. */
async function agreedView(prefix: string, expectedTopics: number, brokerCount: number): Promise<Record<string, number[]>> {
  return await waitFor(async () => {
    const views = await Promise.all(running().map(kcatMetadata));
    const first = JSON.stringify(leaders(views[0]!, prefix));
    if (Object.keys(leaders(views[0]!, prefix)).length !== expectedTopics) return null;
    if (!views.every((v) => JSON.stringify(leaders(v, prefix)) === first && v.brokers.length === brokerCount)) return null;
    return leaders(views[0]!, prefix);
  }, `every broker to list the same ${expectedTopics} '${prefix}' topics and ${brokerCount} brokers`, 30_000, 100);
}

test("every broker lists all three brokers, and topics created through broker 2 appear everywhere with the same leaders", async () => {
  await createThrough(cluster.node(2), [
    { name: "c-one", partitions: 3, replicationFactor: 3 },
    { name: "c-two", partitions: 6 },
  ]);
  const view = await agreedView("c-", 2, 3);
  expect(view["c-one"]!.length).toBe(3);
  // Balanced by count: six single-replica partitions plus three led ones spread over three brokers.
  const ledBy = new Map<number, number>();
  for (const partitionLeaders of Object.values(view)) for (const l of partitionLeaders) ledBy.set(l, (ledBy.get(l) ?? 0) + 1);
  expect([...ledBy.keys()].sort()).toEqual([1, 2, 3]);
  expect(Math.max(...ledBy.values()) - Math.min(...ledBy.values())).toBeLessThanOrEqual(1);
  // Auto-creation and producer-id blocks through brokers that are not the controller.
  const controllerId = (await clusterInfo(cluster.node(1))).controllerId;
  const follower = cluster.node([1, 2, 3].find((id) => id !== controllerId)!);
  const autoCreated = await runProcess(["kcat", "-L", "-J", "-b", follower.bootstrap, "-t", "c-auto"], { timeoutMs: 20_000 });
  expect(JSON.parse(autoCreated.stdout).topics[0].topic).toBe("c-auto");
  const producerIds = await Promise.all(
    [1, 2, 3].map(async (id) => {
      const connection = await KafkaConnection.connect({ host: "127.0.0.1", port: cluster.node(id).kafkaPort });
      try {
        await connection.negotiateVersions();
        const response = await connection.request<{ errorCode: number; producerId: number }>(ApiKey.InitProducerId, 2, { transactionalId: null, transactionTimeoutMs: 60_000 });
        expect(response.errorCode).toBe(0);
        return response.producerId;
      } finally {
        connection.close();
      }
    }),
  );
  // Each broker reserved its own block through the quorum: no id is handed out twice.
  expect(new Set(producerIds).size).toBe(3);
  // kcat (librdkafka) produces to a partition led by a broker it did not bootstrap from.
  const metadata = await kcatMetadata(cluster.node(1));
  expect(metadata.brokers.map((b) => b.id).sort()).toEqual([1, 2, 3]);
  const produced = await runProcess(["kcat", "-P", "-b", cluster.node(1).bootstrap, "-t", "c-two", "-p", "0", "-X", "message.timeout.ms=15000"], {
    stdin: "hello\n",
    timeoutMs: 20_000,
  });
  if (produced.exitCode !== 0) {
    const diagnostics = cluster.nodes.map((n, i) => `node ${i + 1}:\n${n?.output().split("\n").filter((l) => /WARN|ERROR/.test(l)).join("\n")}`);
    throw new Error(`kcat -P failed: ${produced.stderr}\n${JSON.stringify(await kcatMetadata(cluster.node(1)))}\n${diagnostics.join("\n")}`);
  }
}, 60_000);

test("kill -9 of the controller: a new one is elected within 2x the election timeout, its partitions move, and CreateTopics keeps working", async () => {
  const controllerId = (await clusterInfo(cluster.node(1))).controllerId;
  expect([1, 2, 3]).toContain(controllerId);
  const survivors = [1, 2, 3].filter((id) => id !== controllerId);
  const killedAtMs = performance.now();
  cluster.node(controllerId).process.kill("SIGKILL");
  await cluster.node(controllerId).process.exited;
  const newController = await waitFor(async () => {
    const infos = await Promise.all(survivors.map((id) => clusterInfo(cluster.node(id))));
    const ids = new Set(infos.map((i) => i.controllerId));
    const [id] = [...ids];
    return ids.size === 1 && id !== controllerId && survivors.includes(id!) ? id : null;
  }, "the survivors to agree on a new controller", 10_000, 10);
  const electedAfterMs = performance.now() - killedAtMs;
  process.stderr.write(`new controller ${newController} elected ${Math.round(electedAfterMs)} ms after kill -9 of ${controllerId}\n`);
  expect(electedAfterMs).toBeLessThan(2 * ELECTION_TIMEOUT_MS);

  await createThrough(cluster.node(survivors[0]!), [{ name: "c-after-failover", partitions: 2 }]);
  // After the session timeout the dead broker is fenced: it leaves Metadata and leads nothing; RF 1 partitions it led have no leader.
  await waitFor(async () => {
    const metadata = await kcatMetadata(cluster.node(survivors[1]!));
    return !metadata.brokers.some((b) => b.id === controllerId);
  }, `broker ${controllerId} to be fenced`, 20_000, 100);
  // Placed after the fence, a topic lands on live brokers only.
  await createThrough(cluster.node(survivors[1]!), [{ name: "c-after-fence", partitions: 4 }]);
  const view = await waitFor(async () => {
    const v = leaders(await kcatMetadata(cluster.node(survivors[0]!)), "c-");
    return Object.keys(v).length === 5 ? v : null;
  }, "survivor to see the topic created after the fence", 20_000, 100);
  expect(Object.keys(view).sort()).toEqual(["c-after-failover", "c-after-fence", "c-auto", "c-one", "c-two"]);
  for (const l of view["c-one"]!) expect(survivors).toContain(l);
  for (const topic of ["c-two", "c-after-failover"]) for (const l of view[topic]!) expect([...survivors, -1]).toContain(l);
  for (const l of view["c-after-fence"]!) expect(survivors).toContain(l);

  // The killed node comes back: it catches up, registers with a new epoch and is listed again.
  await cluster.restart(controllerId);
  const healed = await agreedView("c-", 5, 3);
  for (const l of healed["c-two"]!) expect([1, 2, 3]).toContain(l);
}, 90_000);

test("SIGTERM is a controlled shutdown: the broker is fenced at once, not after its session timeout, and comes back on restart", async () => {
  const controllerId = (await clusterInfo(cluster.node(1))).controllerId;
  const victim = [1, 2, 3].find((id) => id !== controllerId)!;
  const witness = [1, 2, 3].find((id) => id !== victim)!;
  const stoppedAtMs = performance.now();
  expect(await cluster.node(victim).stop("SIGTERM")).toBe(0);
  const view = await waitFor(async () => {
    const metadata = await kcatMetadata(cluster.node(witness));
    return metadata.brokers.some((b) => b.id === victim) ? null : leaders(metadata, "c-");
  }, `broker ${victim} to leave Metadata`, SESSION_TIMEOUT_MS, 50);
  expect(performance.now() - stoppedAtMs).toBeLessThan(SESSION_TIMEOUT_MS);
  for (const partitionLeaders of Object.values(view)) expect(partitionLeaders).not.toContain(victim);
  await cluster.restart(victim);
  await agreedView("c-", 5, 3);
}, 60_000);

test("restart all nodes: every topic, partition and broker is still there", async () => {
  const before = await agreedView("c-", 5, 3);
  await Promise.all(running().map((n) => n.stop("SIGTERM")));
  await Promise.all([1, 2, 3].map((id) => cluster.restart(id)));
  const after = await agreedView("c-", 5, 3);
  expect(Object.keys(after)).toEqual(Object.keys(before));
  for (const [topic, partitionLeaders] of Object.entries(after)) {
    expect(partitionLeaders.length).toBe(before[topic]!.length);
    for (const l of partitionLeaders) expect([1, 2, 3]).toContain(l);
  }
}, 90_000);

test("bad voter lists exit with code 2 and a clear message", async () => {
  const cases: [string[], RegExp][] = [
    [["--controller-quorum-voters", "1@127.0.0.1"], /is not id@host:port/],
    [["--controller-quorum-voters", "one@127.0.0.1:5001"], /is not id@host:port/],
    [["--node-id", "4", "--controller-quorum-voters", "1@127.0.0.1:5001,2@127.0.0.1:5002"], /node's id 4 .* not among the voters 1, 2/],
    [["--controller-quorum-voters", "1@127.0.0.1:5001,1@127.0.0.1:5002"], /node id 1 appears more than once/],
  ];
  for (const [args, message] of cases) {
    const result = await runProcess([process.execPath, join(ROOT, "src/main.ts"), "start", ...args], { timeoutMs: 20_000 });
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toMatch(message);
  }
}, 60_000);
