/**
 * Preferred-leader election on a 3-node cluster with a replication factor 3 topic: after a kill -9 moves a
 * broker's partitions away, the automatic rebalance hands them back once it is in sync again, while an
 * acks=all librdkafka producer keeps going and loses nothing; and ElectLeaders answers per partition as Kafka does.
 */
import { afterEach, expect, test } from "bun:test";
import { join } from "node:path";
import { ErrorCode } from "../../src/protocol/error-codes.ts";
import { ApiKey } from "../../src/protocol/generated/index.ts";
import { startCluster, type ClusterProcess } from "../helpers/broker-process.ts";
import { RawClient } from "../helpers/raw-client.ts";
import { runProcess } from "../helpers/run-process.ts";
import { waitFor } from "../helpers/wait.ts";
import { CLUSTER_ARGS, agreedLeaders, createTopic, kcatPartitions, runningNodes, type PartitionMetadata } from "../replication/cluster-helpers.ts";

const PARTITIONS = 3;
const PY = join(import.meta.dir, "../replication/py");
const MESSAGES = 30_000;
// Paced so the stream outlasts the kill, the restart, the catch-up and the rebalance on a slow machine.
const RATE_PER_S = 1_000;

let cluster: ClusterProcess | null = null;
let producer: ReturnType<typeof Bun.spawn> | null = null;

afterEach(async () => {
  if (producer && producer.exitCode === null) producer.kill("SIGKILL");
  producer = null;
  await cluster?.cleanup();
  cluster = null;
});

const preferred = (p: PartitionMetadata) => p.replicas[0]!.id;

async function createSpreadTopic(c: ClusterProcess, topic: string): Promise<PartitionMetadata[]> {
  await createTopic(c.node(1), topic, PARTITIONS, 3);
  await agreedLeaders(c, topic, PARTITIONS);
  const partitions = await waitFor(async () => {
    const view = await kcatPartitions(c.node(1), topic);
    return view.every((p) => p.isrs.length === 3) && view;
  }, "every partition's ISR to hold 3 replicas");
  expect(new Set(partitions.map(preferred)).size).toBe(PARTITIONS);
  expect(partitions.every((p) => p.leader === preferred(p))).toBe(true);
  return partitions;
}

/** Waits until every running broker reports the preferred replica as the leader of every partition. */
async function waitForPreferredLeaders(c: ClusterProcess, topic: string, timeoutMs: number): Promise<void> {
  await waitFor(
    async () => {
      const views = await Promise.all(runningNodes(c).map((n) => kcatPartitions(n, topic)));
      return views.every((view) => view.length === PARTITIONS && view.every((p) => p.leader === preferred(p)));
    },
    `every broker to report the preferred replicas as leaders of ${topic}`,
    timeoutMs,
    200,
  );
}

function startProducer(topic: string, bootstrap: string) {
  const child = Bun.spawn(["/usr/bin/python3", join(PY, "failover_producer.py"), bootstrap, topic, String(MESSAGES), String(RATE_PER_S)], { stdout: "pipe", stderr: "pipe" });
  producer = child;
  const lines: string[] = [];
  const output = { stderr: "" };
  const reading = (async () => {
    let partial = "";
    for await (const chunk of child.stdout as ReadableStream<Uint8Array>) {
      partial += new TextDecoder().decode(chunk);
      const parts = partial.split("\n");
      partial = parts.pop()!;
      lines.push(...parts);
    }
  })();
  (async () => {
    for await (const chunk of child.stderr as ReadableStream<Uint8Array>) output.stderr += new TextDecoder().decode(chunk);
  })();
  return { child, lines, output, reading };
}

test("a restarted broker gets its preferred partitions back once in sync, and acks=all producing loses nothing across the moves", async () => {
  const c = (cluster = await startCluster(3, [...CLUSTER_ARGS, "--leader-imbalance-check-interval-ms", "500"]));
  const topic = "preferred-auto";
  const initial = await createSpreadTopic(c, topic);
  const run = startProducer(topic, c.nodes.map((n) => n!.bootstrap).join(","));
  await waitFor(() => run.lines.length >= 2_000, "the first 2,000 messages to be acknowledged", 60_000);

  const victim = preferred(initial[0]!);
  const kafkaPort = c.node(victim).kafkaPort;
  c.node(victim).process.kill("SIGKILL");
  await c.node(victim).process.exited;
  const survivor = runningNodes(c)[0]!;
  await waitFor(
    async () => (await kcatPartitions(survivor, topic)).every((p) => p.leader >= 0 && p.leader !== victim),
    `the partitions of broker ${victim} to move to another ISR member`,
    30_000,
    100,
  );
  const ackedAtKill = run.lines.length;

  await c.restart(victim, ["--kafka-port", String(kafkaPort), "--leader-imbalance-check-interval-ms", "500"]);
  await waitForPreferredLeaders(c, topic, 90_000);
  const ackedAtRebalance = run.lines.length;
  const controllerLogs = runningNodes(c).map((n) => n.output()).join("\n");
  expect(controllerLogs).toContain("leadership imbalanced: electing preferred leaders");
  console.log(`preferred leaders back; acks: ${ackedAtKill} at the kill, ${ackedAtRebalance} at the rebalance`);

  expect(await run.child.exited).toBe(0);
  await run.reading;
  expect(run.output.stderr).toContain("done, 0 undelivered");
  expect(run.lines.filter((l) => l.startsWith("failed"))).toEqual([]);
  expect(ackedAtRebalance).toBeLessThan(MESSAGES);
  const acked = run.lines.map((l) => l.split(" ")).map(([p, o, v]) => ({ partition: Number(p), offset: Number(o), value: v! }));
  expect(acked.length).toBe(MESSAGES);
  const read = await runProcess(["/usr/bin/python3", join(PY, "read_all.py"), runningNodes(c).map((n) => n.bootstrap).join(","), topic, String(PARTITIONS)], { timeoutMs: 120_000 });
  expect(read.exitCode).toBe(0);
  const consumed = read.stdout.trim().split("\n").map((l) => l.split(" ")).map(([p, o, v]) => ({ partition: Number(p), offset: Number(o), value: v! }));
  expect(new Set(consumed.map((m) => m.value)).size).toBe(consumed.length);
  const byPosition = new Map(consumed.map((m) => [`${m.partition}:${m.offset}`, m.value]));
  expect(acked.filter((a) => byPosition.get(`${a.partition}:${a.offset}`) !== a.value)).toEqual([]);
}, 300_000);

interface ElectResult {
  errorCode: number;
  replicaElectionResults: { topic: string; partitionResult: { partitionId: number; errorCode: number; errorMessage: string | null }[] }[];
}

const codes = (response: ElectResult) =>
  Object.fromEntries(response.replicaElectionResults.flatMap((t) => t.partitionResult.map((p) => [`${t.topic}-${p.partitionId}`, p.errorCode])));

test("ElectLeaders with automatic rebalance off: per-partition answers, and a preferred election hands leadership back", async () => {
  const c = (cluster = await startCluster(3, [...CLUSTER_ARGS, "--auto-leader-rebalance", "false"]));
  const topic = "preferred-manual";
  const initial = await createSpreadTopic(c, topic);
  const all = Array.from({ length: PARTITIONS }, (_, p) => p);
  const elect = async (version: number, body: object): Promise<ElectResult> => {
    const client = await RawClient.connect(runningNodes(c)[0]!.kafkaPort);
    try {
      return await client.request<ElectResult>(ApiKey.ElectLeaders, version, { timeoutMs: 10_000, ...body });
    } finally {
      client.close();
    }
  };
  const notNeeded = Object.fromEntries(all.map((p) => [`${topic}-${p}`, ErrorCode.ELECTION_NOT_NEEDED]));

  const first = await elect(2, { electionType: 0, topicPartitions: [{ topic, partitions: [...all, 7] }, { topic: "missing", partitions: [0] }] });
  expect(first.errorCode).toBe(ErrorCode.NONE);
  expect(codes(first)).toEqual({ ...notNeeded, [`${topic}-7`]: ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, "missing-0": ErrorCode.UNKNOWN_TOPIC_OR_PARTITION });
  expect(codes(await elect(0, { topicPartitions: [{ topic, partitions: all }] }))).toEqual(notNeeded);
  expect(codes(await elect(2, { electionType: 1, topicPartitions: [{ topic, partitions: all }] }))).toEqual(notNeeded);
  // Every partition already led by its preferred replica: nothing to report.
  expect((await elect(1, { electionType: 0, topicPartitions: null })).replicaElectionResults).toEqual([]);

  const victim = preferred(initial[0]!);
  const kafkaPort = c.node(victim).kafkaPort;
  c.node(victim).process.kill("SIGKILL");
  await c.node(victim).process.exited;
  await waitFor(
    async () => (await kcatPartitions(runningNodes(c)[0]!, topic)).every((p) => p.leader >= 0 && p.leader !== victim && p.isrs.length === 2),
    `broker ${victim} to be fenced out of every ISR`,
    30_000,
    100,
  );
  const victimPartitions = initial.filter((p) => preferred(p) === victim).map((p) => p.partition);
  const unavailable = await elect(2, { electionType: 0, topicPartitions: [{ topic, partitions: victimPartitions }] });
  expect(Object.values(codes(unavailable))).toEqual(victimPartitions.map(() => ErrorCode.PREFERRED_LEADER_NOT_AVAILABLE));

  await c.restart(victim, ["--kafka-port", String(kafkaPort), "--auto-leader-rebalance", "false"]);
  await waitFor(async () => (await kcatPartitions(c.node(victim), topic)).every((p) => p.isrs.length === 3), `broker ${victim} to rejoin every ISR`, 60_000, 200);
  const moved = await kcatPartitions(c.node(victim), topic);
  expect(moved.filter((p) => p.leader !== preferred(p)).map((p) => p.partition)).toEqual(victimPartitions);

  const elected = await elect(1, { electionType: 0, topicPartitions: null });
  expect(codes(elected)).toEqual(Object.fromEntries(victimPartitions.map((p) => [`${topic}-${p}`, ErrorCode.NONE])));
  await waitForPreferredLeaders(c, topic, 30_000);
}, 240_000);
