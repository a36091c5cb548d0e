/**
 * DeleteRecords on a replicated partition: the leader's log start offset reaches the followers with the
 * replication stream (as Kafka's fetch response carries it), so after the leader dies the new leader's log starts
 * where the old one's did, and the deleted records do not come back.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { Producer } from "../../src/client/producer.ts";
import { ErrorCode } from "../../src/protocol/error-codes.ts";
import { ApiKey } from "../../src/protocol/generated/index.ts";
import { startCluster, type BrokerProcess, type ClusterProcess } from "../helpers/broker-process.ts";
import { RawClient } from "../helpers/raw-client.ts";
import { runProcess } from "../helpers/run-process.ts";
import { waitFor } from "../helpers/wait.ts";
import { CLUSTER_ARGS, agreedLeaders, createTopic, runningNodes } from "./cluster-helpers.ts";

const TOPIC = "deleted-records";
const MESSAGES = 100;
const DELETED_TO = 60;

let cluster: ClusterProcess;
beforeAll(async () => {
  cluster = await startCluster(3, CLUSTER_ARGS);
}, 90_000);
afterAll(async () => {
  await cluster?.cleanup();
});

async function logStartOffset(node: BrokerProcess): Promise<number | null> {
  const response = await fetch(`http://127.0.0.1:${node.httpPort}/api/topics/${TOPIC}`);
  if (!response.ok) return null;
  const body = (await response.json()) as { partitionDetails: { logStartOffset: number | null }[] };
  return body.partitionDetails[0]?.logStartOffset ?? null;
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

test("after DeleteRecords and a kill -9 of the leader, the new leader's log starts at the deleted-to offset", async () => {
  await createTopic(cluster.node(1), TOPIC, 1, 3);
  const [leader] = await agreedLeaders(cluster, TOPIC, 1);
  const producer = await Producer.connect(cluster.node(leader!).bootstrap, { acks: -1 });
  await Promise.all(Array.from({ length: MESSAGES }, (_, i) => producer.send({ topic: TOPIC, partition: 0, value: new TextEncoder().encode(`m-${i}`) })));
  await producer.close();

  const raw = await RawClient.connect(cluster.node(leader!).kafkaPort);
  const deleted = await raw.request(ApiKey.DeleteRecords, 2, { topics: [{ name: TOPIC, partitions: [{ partitionIndex: 0, offset: DELETED_TO }] }], timeoutMs: 5000 });
  raw.close();
  expect(deleted.topics[0].partitions[0]).toMatchObject({ errorCode: ErrorCode.NONE, lowWatermark: DELETED_TO });

  const followers = runningNodes(cluster).filter((n) => n !== cluster.node(leader!));
  await waitFor(
    async () => (await Promise.all(followers.map(logStartOffset))).every((offset) => offset === DELETED_TO),
    `both followers to move their log start offset to ${DELETED_TO}`,
    20_000,
    100,
  );

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
