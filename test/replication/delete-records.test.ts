/**
 * DeleteRecords on a replicated partition: the leader's log start offset reaches the followers with the
 * replication stream (as Kafka's fetch response carries it), and the answer waits until every live replica's log
 * start has reached the requested offset (Kafka's DelayedDeleteRecords and low watermark), or times out. So after
 * the leader dies the new leader's log starts where the old one's did, and the deleted records do not come back.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { Producer } from "../../src/client/producer.ts";
import { ErrorCode } from "../../src/protocol/error-codes.ts";
import { ApiKey } from "../../src/protocol/generated/index.ts";
import { startCluster, type BrokerProcess, type ClusterProcess } from "../helpers/broker-process.ts";
import { RawClient } from "../helpers/raw-client.ts";
import { runProcess } from "../helpers/run-process.ts";
import { waitFor } from "../helpers/wait.ts";
import { CLUSTER_ARGS, deleteRecords, agreedLeaders, createTopic, kcatPartitions, runningNodes, type DeleteRecordsAnswer } from "./cluster-helpers.ts";

const TOPIC = "deleted-records";
const WAIT_TOPIC = "deleted-records-wait";
const MESSAGES = 100;
const DELETED_TO = 60;
/**
 * Far longer than a follower stays paused here: a paused follower must stay registered and unfenced, so the
 * leader keeps waiting for it. Each test also checks that it was not fenced.
 */
const SESSION_TIMEOUT_MS = 8_000;

let cluster: ClusterProcess;
beforeAll(async () => {
  const args = [...CLUSTER_ARGS];
  args[args.indexOf("--broker-session-timeout-ms") + 1] = String(SESSION_TIMEOUT_MS);
  cluster = await startCluster(3, args);
}, 90_000);
afterAll(async () => {
  await cluster?.cleanup();
});

async function logStartOffset(node: BrokerProcess, topic = TOPIC): Promise<number | null> {
  const response = await fetch(`http://127.0.0.1:${node.httpPort}/api/topics/${topic}`);
  if (!response.ok) return null;
  const body = (await response.json()) as { partitionDetails: { logStartOffset: number | null }[] };
  return body.partitionDetails[0]?.logStartOffset ?? null;
}

/** Whether `node` sees broker `id` registered and unfenced: a leader waits for the log start of such a broker's replica. */
async function seesUnfenced(node: BrokerProcess, id: number): Promise<boolean> {
  const cluster = (await (await fetch(`http://127.0.0.1:${node.httpPort}/api/cluster`)).json()) as { brokers: { nodeId: number; fenced: boolean }[] };
  return cluster.brokers.some((b) => b.nodeId === id && !b.fenced);
}

async function controllerId(node: BrokerProcess): Promise<number> {
  return ((await (await fetch(`http://127.0.0.1:${node.httpPort}/api/cluster`)).json()) as { controllerId: number }).controllerId;
}

async function produceMessages(node: BrokerProcess, topic: string): Promise<void> {
  const producer = await Producer.connect(node.bootstrap, { acks: -1 });
  await Promise.all(Array.from({ length: MESSAGES }, (_, i) => producer.send({ topic, partition: 0, value: new TextEncoder().encode(`m-${i}`) })));
  await producer.close();
}

async function earliestOffset(node: BrokerProcess): Promise<{ errorCode: number; offset: number }> {
  const client = await RawClient.connect(node.kafkaPort);
  try {
    const response = await client.request(ApiKey.ListOffsets, 7, {
      replicaId: -1,
      isolationLevel: 0,
      topics: [{ name: TOPIC, partitions: [{ partitionIndex: 0, currentLeaderEpoch: -1, timestamp: -2 }] }],
    });
    return response.topics[0].partitions[0];
  } finally {
    client.close();
  }
}

test("DeleteRecords answers only once every live replica's log start reached the offset, and times out while a paused follower's has not", async () => {
  await createTopic(cluster.node(1), WAIT_TOPIC, 1, 3);
  const [leaderId] = await agreedLeaders(cluster, WAIT_TOPIC, 1);
  const leader = cluster.node(leaderId!);
  await produceMessages(leader, WAIT_TOPIC);
  await waitFor(async () => (await kcatPartitions(leader, WAIT_TOPIC))[0]?.isrs.length === 3, "a full ISR", 30_000, 100);
  // Not the controller: pausing it must not take the metadata quorum's leader with it.
  const controller = await controllerId(leader);
  const pausedId = [1, 2, 3].find((id) => id !== leaderId && id !== controller)!;
  const paused = cluster.node(pausedId);
  const other = cluster.node([1, 2, 3].find((id) => id !== leaderId && id !== pausedId)!);

  paused.process.kill("SIGSTOP");
  let answered: DeleteRecordsAnswer | null = null;
  const pending = deleteRecords(leader, WAIT_TOPIC, 30, 30_000).then((answer) => (answered = answer));
  try {
    await waitFor(
      async () => (await logStartOffset(leader, WAIT_TOPIC)) === 30 && (await logStartOffset(other, WAIT_TOPIC)) === 30,
      "the leader and the running follower to move their log start to 30",
      20_000,
      50,
    );
    // The paused follower is live (not fenced) and its log start is still behind: no answer may have come.
    expect(await seesUnfenced(leader, pausedId)).toBe(true);
    expect(answered).toBeNull();
  } finally {
    paused.process.kill("SIGCONT");
  }
  expect(await pending).toEqual({ partitionIndex: 0, lowWatermark: 30, errorCode: ErrorCode.NONE });
  // Read right after the answer, with no waiting: every replica was already there when it came.
  expect(await Promise.all(runningNodes(cluster).map((n) => logStartOffset(n, WAIT_TOPIC)))).toEqual([30, 30, 30]);

  // Paused again: the delete happens on the leader, the answer times out with the low watermark reached so far.
  paused.process.kill("SIGSTOP");
  try {
    expect(await deleteRecords(leader, WAIT_TOPIC, DELETED_TO, 1_000)).toEqual({ partitionIndex: 0, lowWatermark: 30, errorCode: ErrorCode.REQUEST_TIMED_OUT });
    expect(await seesUnfenced(leader, pausedId)).toBe(true);
    expect(await logStartOffset(leader, WAIT_TOPIC)).toBe(DELETED_TO);
  } finally {
    paused.process.kill("SIGCONT");
  }
  // Resumed, the follower catches up with the leader's log start, and a repeated request is answered at once.
  await waitFor(async () => (await logStartOffset(paused, WAIT_TOPIC)) === DELETED_TO, `the resumed follower to move its log start to ${DELETED_TO}`, 20_000, 50);
  expect(await deleteRecords(leader, WAIT_TOPIC, DELETED_TO, 5_000)).toEqual({ partitionIndex: 0, lowWatermark: DELETED_TO, errorCode: ErrorCode.NONE });
}, 120_000);

test("after DeleteRecords and a kill -9 of the leader, the new leader's log starts at the deleted-to offset", async () => {
  await createTopic(cluster.node(1), TOPIC, 1, 3);
  const [leader] = await agreedLeaders(cluster, TOPIC, 1);
  await produceMessages(cluster.node(leader!), TOPIC);

  expect(await deleteRecords(cluster.node(leader!), TOPIC, DELETED_TO, 5_000)).toEqual({ partitionIndex: 0, errorCode: ErrorCode.NONE, lowWatermark: DELETED_TO });
  // The answer came once every replica's log start was there: no need to wait for the followers.
  expect(await Promise.all(runningNodes(cluster).map((n) => logStartOffset(n)))).toEqual([DELETED_TO, DELETED_TO, DELETED_TO]);

  cluster.node(leader!).process.kill("SIGKILL");
  await cluster.node(leader!).process.exited;
  const [newLeader] = await waitFor(
    async () => {
      const leaders = await agreedLeaders(cluster, TOPIC, 1);
      return leaders[0] !== leader ? leaders : null;
    },
    "a new leader for the partition",
    30_000,
    200,
  );
  const earliest = await waitFor(
    async () => {
      const answer = await earliestOffset(cluster.node(newLeader!));
      return answer.errorCode === ErrorCode.NONE ? answer : null;
    },
    "the new leader to answer ListOffsets",
    20_000,
    100,
  );
  expect(earliest.offset).toBe(DELETED_TO);

  const consumed = await runProcess(["kcat", "-C", "-b", cluster.node(newLeader!).bootstrap, "-t", TOPIC, "-p", "0", "-o", "beginning", "-e", "-q", "-f", "%o\\n"], { timeoutMs: 30_000 });
  const offsets = consumed.stdout.trim().split("\n").map(Number);
  expect(offsets[0]).toBe(DELETED_TO);
  expect(offsets.length).toBe(MESSAGES - DELETED_TO);
}, 120_000);
