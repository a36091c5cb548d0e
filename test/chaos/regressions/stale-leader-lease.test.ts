/**
 * Found by the chaos run: a partition leader paused (SIGSTOP) past its session is fenced and replaced. Resumed,
 * it believed it still led until its metadata caught up, and answered a consumer's fetch past its stale log end
 * with OFFSET_OUT_OF_RANGE; librdkafka 2.0.2 (no KIP-320) then reset the reader to offset 0. A broker that has
 * not heard from the controller within its session now answers NOT_LEADER_OR_FOLLOWER instead: the client
 * refreshes its metadata and goes to the real leader.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { Producer } from "../../../src/client/producer.ts";
import { ErrorCode } from "../../../src/protocol/error-codes.ts";
import { ApiKey } from "../../../src/protocol/generated/index.ts";
import { startCluster, type ClusterProcess } from "../../helpers/broker-process.ts";
import { RawClient } from "../../helpers/raw-client.ts";
import { waitFor } from "../../helpers/wait.ts";
import { CLUSTER_ARGS, agreedLeaders, createTopic, kcatPartitions } from "../../replication/cluster-helpers.ts";

const TOPIC = "stale-leader";
/** Records written before and after the leader change. */
const MESSAGES = 10;
let cluster: ClusterProcess;

beforeAll(async () => {
  cluster = await startCluster(3, CLUSTER_ARGS);
}, 90_000);

afterAll(async () => {
  await cluster?.cleanup();
});

async function produce(nodeId: number, from: number): Promise<void> {
  const producer = await Producer.connect(cluster.node(nodeId).bootstrap, { acks: -1 });
  try {
    await Promise.all(Array.from({ length: MESSAGES }, (_, i) => producer.send({ topic: TOPIC, partition: 0, value: new TextEncoder().encode(`m-${from + i}`) })));
  } finally {
    await producer.close();
  }
}

/** The latest offset as `client`'s broker answers it. */
async function latestOffset(client: RawClient): Promise<{ errorCode: number; offset: number }> {
  const response = await client.request(ApiKey.ListOffsets, 7, {
    replicaId: -1,
    isolationLevel: 0,
    topics: [{ name: TOPIC, partitions: [{ partitionIndex: 0, currentLeaderEpoch: -1, timestamp: -1 }] }],
  });
  return response.topics[0].partitions[0];
}

test("a leader resumed after being fenced answers a fetch past its stale log end with NOT_LEADER_OR_FOLLOWER", async () => {
  await createTopic(cluster.node(1), TOPIC, 1, 3);
  const [stale] = await agreedLeaders(cluster, TOPIC, 1);
  await waitFor(async () => (await kcatPartitions(cluster.node(stale!), TOPIC))[0]?.isrs.length === 3, "a full ISR");
  await produce(stale!, 0);
  const toStale = await RawClient.connect(cluster.node(stale!).kafkaPort);
  const staleEnd = await latestOffset(toStale);
  expect(staleEnd).toMatchObject({ errorCode: ErrorCode.NONE, offset: MESSAGES });

  // Paused past its session, the leader is fenced; the next leader takes more records.
  cluster.node(stale!).process.kill("SIGSTOP");
  const observer = [1, 2, 3].find((id) => id !== stale)!;
  const next = await waitFor(async () => {
    const leader = (await kcatPartitions(cluster.node(observer), TOPIC))[0]?.leader ?? -1;
    return leader > 0 && leader !== stale ? leader : null;
  }, "a new leader while the old one is paused", 30_000, 200);
  await produce(next, MESSAGES);
  const toNext = await RawClient.connect(cluster.node(next).kafkaPort);
  expect(await latestOffset(toNext)).toMatchObject({ errorCode: ErrorCode.NONE, offset: 2 * MESSAGES });
  toNext.close();

  // Sent while it is paused, the fetch is the first thing the old leader reads when it resumes, before the metadata that demoted it.
  const fetchOffset = MESSAGES + MESSAGES / 2;
  const correlationId = toStale.send(ApiKey.Fetch, 11, {
    replicaId: -1,
    maxWaitMs: 0,
    minBytes: 0,
    maxBytes: 1 << 20,
    isolationLevel: 0,
    sessionId: 0,
    sessionEpoch: -1,
    topics: [{ topic: TOPIC, partitions: [{ partition: 0, currentLeaderEpoch: -1, fetchOffset, logStartOffset: -1, partitionMaxBytes: 1 << 20 }] }],
    forgottenTopicsData: [],
    rackId: "",
  });
  cluster.node(stale!).process.kill("SIGCONT");
  const answer = await toStale.receive(ApiKey.Fetch, 11);
  toStale.close();
  expect(answer.correlationId).toBe(correlationId);
  expect(answer.body.responses[0].partitions[0].errorCode).toBe(ErrorCode.NOT_LEADER_OR_FOLLOWER);
}, 180_000);
