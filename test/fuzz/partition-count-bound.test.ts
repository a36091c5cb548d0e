import { afterAll, beforeAll, expect, test } from "bun:test";
import { startBroker, type BrokerProcess } from "../helpers/broker-process.ts";
import { RawClient } from "../helpers/raw-client.ts";
import { ErrorCode } from "../../src/protocol/error-codes.ts";
import { ApiKey } from "../../src/protocol/generated/index.ts";
import { rssKiB } from "./lib/runner.ts";

// Found by the protocol fuzzer: CreateTopics with numPartitions 2^31-1 (or CreatePartitions with such a count)
// was never answered while the broker's memory grew by gigabytes.
let broker: BrokerProcess;

beforeAll(async () => {
  broker = await startBroker();
}, 60_000);

afterAll(async () => {
  await broker?.cleanup();
});

test("CreateTopics and CreatePartitions refuse more partitions than one request may create", async () => {
  const client = await RawClient.connect(broker.kafkaPort);
  try {
    const created = await client.request(ApiKey.CreateTopics, 5, {
      topics: [
        { name: "huge", numPartitions: 0x7fffffff, replicationFactor: 1, assignments: [], configs: [] },
        { name: "small", numPartitions: 1, replicationFactor: 1, assignments: [], configs: [] },
      ],
      timeoutMs: 10_000,
    });
    expect(created.topics.map((t: { name: string; errorCode: number }) => [t.name, t.errorCode])).toEqual([
      ["huge", ErrorCode.INVALID_PARTITIONS],
      ["small", ErrorCode.NONE],
    ]);
    const grown = await client.request(ApiKey.CreatePartitions, 1, {
      topics: [{ name: "small", count: 0x7fffffff, assignments: null }],
      timeoutMs: 10_000,
      validateOnly: false,
    });
    expect(grown.results[0].errorCode).toBe(ErrorCode.INVALID_PARTITIONS);
    expect(rssKiB(broker.process.pid)).toBeLessThan(1024 * 1024);
  } finally {
    client.close();
  }
}, 60_000);
