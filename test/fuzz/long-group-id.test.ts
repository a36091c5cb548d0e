import { afterAll, beforeAll, expect, test } from "bun:test";
import { startBroker, type BrokerProcess } from "../helpers/broker-process.ts";
import { RawClient } from "../helpers/raw-client.ts";
import { ApiKey } from "../../src/protocol/generated/index.ts";

// Found by the protocol fuzzer: a group id longer than LMDB's key limit once failed the group write, and the
// rejection killed the broker. Group records now go through the metadata log, where the id is a value, so such a
// group works like any other, as in Kafka.
let broker: BrokerProcess;

beforeAll(async () => {
  broker = await startBroker({ args: ["--group-initial-rebalance-delay-ms", "0"] });
}, 60_000);

afterAll(async () => {
  await broker?.cleanup();
});

test("a group id of 5,000 characters joins, commits and fetches like any other group, beside other groups", async () => {
  const client = await RawClient.connect(broker.kafkaPort);
  const longId = "g".repeat(5000);
  try {
    const join = await client.request(ApiKey.JoinGroup, 1, {
      groupId: longId,
      sessionTimeoutMs: 10_000,
      rebalanceTimeoutMs: 10_000,
      memberId: "",
      protocolType: "consumer",
      protocols: [{ name: "range", metadata: new Uint8Array(0) }],
    });
    expect(join.errorCode).toBe(0);
    expect(join.memberId).not.toBe("");

    for (const groupId of ["beside-it", `${longId}-2`]) {
      const commit = await client.request(ApiKey.OffsetCommit, 2, {
        groupId,
        generationIdOrMemberEpoch: -1,
        memberId: "",
        retentionTimeMs: -1,
        topics: [],
      });
      expect(commit.topics).toEqual([]);
      const fetched = await client.request(ApiKey.OffsetFetch, 1, { groupId, topics: [] });
      expect(fetched.errorCode).toBe(0);
    }
    expect(broker.process.exitCode).toBeNull();
    expect((await fetch(`http://127.0.0.1:${broker.httpPort}/health`)).ok).toBe(true);
  } finally {
    client.close();
  }
}, 60_000);
