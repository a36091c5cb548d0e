/**
 * OffsetForLeaderEpoch (23) and Fetch's DivergingEpoch (v12+), the broker's half of KIP-320: a consumer that
 * knows the epoch of the last record it read learns where that epoch ends in the leader's log, and truncates its
 * position there instead of resetting it after a leader change.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { ErrorCode } from "../../src/protocol/error-codes.ts";
import { ApiKey } from "../../src/protocol/generated/index.ts";
import { startBroker, type BrokerProcess } from "../helpers/broker-process.ts";
import { RawClient } from "../helpers/raw-client.ts";
import { runProcess } from "../helpers/run-process.ts";

const TOPIC = "epochs";
let broker: BrokerProcess;
let client: RawClient;
let leaderEpoch: number;

beforeAll(async () => {
  broker = await startBroker();
  await runProcess(["kcat", "-P", "-b", broker.bootstrap, "-t", TOPIC], { stdin: "a\nb\nc\n" });
  client = await RawClient.connect(broker.kafkaPort);
  const metadata = await client.request(ApiKey.Metadata, 12, { topics: [{ name: TOPIC }], allowAutoTopicCreation: false, includeTopicAuthorizedOperations: false });
  leaderEpoch = metadata.topics[0].partitions[0].leaderEpoch;
});

afterAll(async () => {
  client?.close();
  await broker?.cleanup();
});

const ask = (version: number, partitions: { partition: number; currentLeaderEpoch?: number; leaderEpoch: number }[], topic = TOPIC) =>
  client.request(ApiKey.OffsetForLeaderEpoch, version, { replicaId: -1, topics: [{ topic, partitions }] });

test("ApiVersions advertises OffsetForLeaderEpoch 0-4", async () => {
  const versions = await client.request(ApiKey.ApiVersions, 3, { clientSoftwareName: "raw", clientSoftwareVersion: "1" });
  expect(versions.apiKeys).toContainEqual({ apiKey: ApiKey.OffsetForLeaderEpoch, minVersion: 0, maxVersion: 4 });
});

test("the current epoch ends at the log end, in every version", async () => {
  for (let version = 0; version <= 4; version++) {
    const answer = (await ask(version, [{ partition: 0, currentLeaderEpoch: leaderEpoch, leaderEpoch }])).topics[0];
    expect(answer.topic).toBe(TOPIC);
    // v0 has no leader epoch in the answer; it reads back as the default.
    expect(answer.partitions[0]).toEqual(expect.objectContaining({ errorCode: ErrorCode.NONE, partition: 0, endOffset: 3, leaderEpoch: version >= 1 ? leaderEpoch : -1 }));
  }
});

test("an epoch newer than the leader knows has no end; stale or newer current epochs and unknown partitions are Kafka's errors", async () => {
  const [newer] = (await ask(4, [{ partition: 0, leaderEpoch: leaderEpoch + 1 }])).topics[0].partitions;
  expect(newer).toEqual(expect.objectContaining({ errorCode: ErrorCode.NONE, leaderEpoch: -1, endOffset: -1 }));
  const [ahead] = (await ask(4, [{ partition: 0, currentLeaderEpoch: leaderEpoch + 1, leaderEpoch }])).topics[0].partitions;
  expect(ahead.errorCode).toBe(ErrorCode.UNKNOWN_LEADER_EPOCH);
  if (leaderEpoch > 0) {
    const [fenced] = (await ask(4, [{ partition: 0, currentLeaderEpoch: leaderEpoch - 1, leaderEpoch }])).topics[0].partitions;
    expect(fenced.errorCode).toBe(ErrorCode.FENCED_LEADER_EPOCH);
  }
  const [missingPartition] = (await ask(4, [{ partition: 9, leaderEpoch }])).topics[0].partitions;
  expect(missingPartition.errorCode).toBe(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION);
  const [missingTopic] = (await ask(2, [{ partition: 0, leaderEpoch }], "no-such-topic")).topics[0].partitions;
  expect(missingTopic.errorCode).toBe(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION);
});

const fetchAt = (fetchOffset: number, lastFetchedEpoch: number) =>
  client.request(ApiKey.Fetch, 12, {
    replicaId: -1,
    maxWaitMs: 0,
    minBytes: 0,
    maxBytes: 1 << 20,
    topics: [{ topic: TOPIC, partitions: [{ partition: 0, currentLeaderEpoch: leaderEpoch, fetchOffset, lastFetchedEpoch, partitionMaxBytes: 1 << 20 }] }],
  });

test("Fetch v12 answers a position past the end of the fetcher's last epoch with DivergingEpoch, not OFFSET_OUT_OF_RANGE", async () => {
  const diverged = (await fetchAt(5, leaderEpoch)).responses[0].partitions[0];
  expect(diverged.errorCode).toBe(ErrorCode.NONE);
  expect(diverged.divergingEpoch).toEqual({ epoch: leaderEpoch, endOffset: 3 });
  expect(diverged.records?.byteLength ?? 0).toBe(0);
  // Without a last fetched epoch the same position is out of range, as before KIP-320.
  expect((await fetchAt(5, -1)).responses[0].partitions[0].errorCode).toBe(ErrorCode.OFFSET_OUT_OF_RANGE);
  // A position the epoch covers reads records and no divergence.
  const ok = (await fetchAt(1, leaderEpoch)).responses[0].partitions[0];
  expect(ok.errorCode).toBe(ErrorCode.NONE);
  expect(ok.divergingEpoch).toEqual({ epoch: -1, endOffset: -1 });
  expect(ok.records.byteLength).toBeGreaterThan(0);
});

test("Fetch v12 from a fetcher that read a newer epoch than this leader's is UNKNOWN_LEADER_EPOCH: this broker's metadata is behind", async () => {
  expect((await fetchAt(3, leaderEpoch + 1)).responses[0].partitions[0].errorCode).toBe(ErrorCode.UNKNOWN_LEADER_EPOCH);
});
