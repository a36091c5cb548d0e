import { afterAll, beforeAll, expect, test } from "bun:test";
import { ErrorCode } from "../../src/protocol/error-codes.ts";
import { ApiKey } from "../../src/protocol/generated/index.ts";
import { startBroker, type BrokerProcess } from "../helpers/broker-process.ts";
import { RawClient } from "../helpers/raw-client.ts";
import { runProcess } from "../helpers/run-process.ts";

let broker: BrokerProcess;
beforeAll(async () => {
  broker = await startBroker();
});
afterAll(async () => {
  await broker.cleanup();
});

test("a fetch parked with max_wait 5 s returns as soon as a produce lands, with the record", async () => {
  await runProcess(["kcat", "-P", "-b", broker.bootstrap, "-t", "poll"], { stdin: "first\n" });
  const client = await RawClient.connect(broker.kafkaPort);
  const correlationId = client.send(ApiKey.Fetch, 11, {
    replicaId: -1,
    maxWaitMs: 5000,
    minBytes: 1,
    maxBytes: 1 << 20,
    isolationLevel: 0,
    sessionId: 0,
    sessionEpoch: -1,
    topics: [{ topic: "poll", partitions: [{ partition: 0, currentLeaderEpoch: -1, fetchOffset: 1, logStartOffset: -1, partitionMaxBytes: 1 << 20 }] }],
    forgottenTopicsData: [],
    rackId: "",
  });
  await Bun.sleep(300);
  const producedAt = performance.now();
  await runProcess(["kcat", "-P", "-b", broker.bootstrap, "-t", "poll"], { stdin: "second\n" });
  const response = await client.receive(ApiKey.Fetch, 11);
  const waitedMs = performance.now() - producedAt;
  expect(response.correlationId).toBe(correlationId);
  const partition = response.body.responses[0].partitions[0];
  expect(partition.errorCode).toBe(ErrorCode.NONE);
  expect(partition.highWatermark).toBe(2);
  expect(partition.records.byteLength).toBeGreaterThan(61);
  // Woken by the produce, not by the 5 s timeout.
  expect(waitedMs).toBeLessThan(4000);
  client.close();
});

test("fetching beyond the log end or below its start is OFFSET_OUT_OF_RANGE", async () => {
  await runProcess(["kcat", "-P", "-b", broker.bootstrap, "-t", "range"], { stdin: "a\nb\n" });
  const client = await RawClient.connect(broker.kafkaPort);
  const fetchAt = (fetchOffset: number) =>
    client.request(ApiKey.Fetch, 12, {
      replicaId: -1,
      maxWaitMs: 0,
      minBytes: 0,
      maxBytes: 1 << 20,
      topics: [{ topic: "range", partitions: [{ partition: 0, fetchOffset, partitionMaxBytes: 1 << 20 }] }],
    });
  expect((await fetchAt(100)).responses[0].partitions[0].errorCode).toBe(ErrorCode.OFFSET_OUT_OF_RANGE);
  expect((await fetchAt(-5)).responses[0].partitions[0].errorCode).toBe(ErrorCode.OFFSET_OUT_OF_RANGE);
  const ok = (await fetchAt(0)).responses[0].partitions[0];
  expect(ok.errorCode).toBe(ErrorCode.NONE);
  expect(ok.highWatermark).toBe(2);
  client.close();
});
