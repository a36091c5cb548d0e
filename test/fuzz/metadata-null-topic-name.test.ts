import { afterAll, beforeAll, expect, test } from "bun:test";
import { startBroker, type BrokerProcess } from "../helpers/broker-process.ts";
import { RawClient } from "../helpers/raw-client.ts";
import { ErrorCode } from "../../src/protocol/error-codes.ts";
import { ApiKey } from "../../src/protocol/generated/index.ts";

// Found by the protocol fuzzer: Metadata v10-11 lets a requested topic have a null name (a lookup by id), but
// the response's name is not nullable before v12, so encoding the answer threw and the connection was closed.
let broker: BrokerProcess;

beforeAll(async () => {
  broker = await startBroker();
}, 60_000);

afterAll(async () => {
  await broker?.cleanup();
});

test("Metadata v10 and v11 answer a topic without a name with INVALID_REQUEST", async () => {
  const client = await RawClient.connect(broker.kafkaPort);
  try {
    for (const version of [10, 11]) {
      const response = await client.request(ApiKey.Metadata, version, {
        topics: [{ topicId: "AAAAAAAAAAAAAAAAAAAAAA", name: null }],
        allowAutoTopicCreation: false,
      });
      expect(response.topics.map((t: { errorCode: number }) => t.errorCode)).toEqual([ErrorCode.INVALID_REQUEST]);
    }
    expect(client.closed).toBe(false);
  } finally {
    client.close();
  }
}, 60_000);
