import { afterAll, beforeAll, expect, test } from "bun:test";
import { startBroker, type BrokerProcess } from "../helpers/broker-process.ts";
import { RawClient } from "../helpers/raw-client.ts";
import { ApiKey } from "../../src/protocol/generated/index.ts";

// Found by the protocol fuzzer: a group id longer than LMDB's key limit failed the group write, and the
// rejection escaped `void afterCall()` and killed the broker; every later group write then failed too.
let broker: BrokerProcess;

beforeAll(async () => {
  broker = await startBroker({ args: ["--group-initial-rebalance-delay-ms", "0"] });
}, 60_000);

afterAll(async () => {
  await broker?.cleanup();
});

test("a group id over the storage key limit fails its own request and nothing else", async () => {
  const client = await RawClient.connect(broker.kafkaPort);
  try {
    const join = await client.request(ApiKey.JoinGroup, 1, {
      groupId: "g".repeat(5000),
      sessionTimeoutMs: 10_000,
      rebalanceTimeoutMs: 10_000,
      memberId: "",
      protocolType: "consumer",
      protocols: [{ name: "range", metadata: new Uint8Array(0) }],
    });
    expect(join.errorCode).not.toBe(0);
    expect(broker.output()).toContain("persisting group records failed");

    const commit = await client.request(ApiKey.OffsetCommit, 2, {
      groupId: "after-the-failure",
      generationIdOrMemberEpoch: -1,
      memberId: "",
      retentionTimeMs: -1,
      topics: [],
    });
    expect(commit.topics).toEqual([]);
    const fetched = await client.request(ApiKey.OffsetFetch, 1, { groupId: "after-the-failure", topics: [] });
    expect(fetched.topics).toEqual([]);
    expect(broker.process.exitCode).toBeNull();
    expect((await fetch(`http://127.0.0.1:${broker.httpPort}/health`)).ok).toBe(true);
  } finally {
    client.close();
  }
}, 60_000);
