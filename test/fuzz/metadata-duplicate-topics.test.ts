import { afterAll, beforeAll, expect, test } from "bun:test";
import { startBroker, type BrokerProcess } from "../helpers/broker-process.ts";
import { RawClient } from "../helpers/raw-client.ts";
import { ErrorCode } from "../../src/protocol/error-codes.ts";
import { ApiKey } from "../../src/protocol/generated/index.ts";

// Found by the protocol fuzzer: a 2 KB Metadata request naming a topic of thousands of partitions a few hundred
// times was answered with the topic described each time (a 36 MB response, ~300 MB of broker memory to build it).
// Kafka answers each requested topic once.
const PARTITIONS = 2_000;
const REPEATS = 300;
let broker: BrokerProcess;

beforeAll(async () => {
  broker = await startBroker();
}, 60_000);

afterAll(async () => {
  await broker?.cleanup();
});

test("Metadata describes a topic named many times once, by name and by id", async () => {
  const client = await RawClient.connect(broker.kafkaPort);
  try {
    const created = await client.request(ApiKey.CreateTopics, 5, {
      topics: [{ name: "wide", numPartitions: PARTITIONS, replicationFactor: 1, assignments: [], configs: [] }],
      timeoutMs: 10_000,
    });
    expect(created.topics[0].errorCode).toBe(ErrorCode.NONE);

    const byName = await client.request(ApiKey.Metadata, 12, {
      topics: [...Array.from({ length: REPEATS }, () => ({ name: "wide" })), { name: "missing" }, { name: "wide" }],
      allowAutoTopicCreation: false,
    });
    expect(byName.topics.map((t: { name: string; errorCode: number }) => [t.name, t.errorCode])).toEqual([
      ["wide", ErrorCode.NONE],
      ["missing", ErrorCode.UNKNOWN_TOPIC_OR_PARTITION],
    ]);
    expect(byName.topics[0].partitions).toHaveLength(PARTITIONS);
    const topicId: string = byName.topics[0].topicId;

    const byId = await client.request(ApiKey.Metadata, 12, {
      topics: Array.from({ length: REPEATS }, () => ({ topicId, name: null })),
      allowAutoTopicCreation: false,
    });
    expect(byId.topics.map((t: { name: string; topicId: string }) => [t.name, t.topicId])).toEqual([["wide", topicId]]);
  } finally {
    client.close();
  }
}, 60_000);
