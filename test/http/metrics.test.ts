import { afterAll, beforeAll, expect, test } from "bun:test";
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

function value(metrics: string, series: string): number | undefined {
  const line = metrics.split("\n").find((l) => l.startsWith(series + " "));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

test("/metrics shows traffic, storage, Raft and consumer lag", async () => {
  await runProcess(["kcat", "-P", "-b", broker.bootstrap, "-t", "metered"], { stdin: Array.from({ length: 10 }, (_, i) => `m${i}`).join("\n") + "\n" });
  const client = await RawClient.connect(broker.kafkaPort);
  const commit = await client.request(ApiKey.OffsetCommit, 2, {
    groupId: "lagging",
    generationIdOrMemberEpoch: -1,
    memberId: "",
    retentionTimeMs: -1,
    topics: [{ name: "metered", partitions: [{ partitionIndex: 0, committedOffset: 4, committedMetadata: null }] }],
  });
  expect(commit.topics[0].partitions[0].errorCode).toBe(0);
  client.close();

  const metrics = await (await fetch(`http://127.0.0.1:${broker.httpPort}/metrics`)).text();
  expect(value(metrics, 'chronik_requests_total{api="Produce"}')).toBeGreaterThan(0);
  expect(value(metrics, 'chronik_request_bytes_total{api="Produce"}')).toBeGreaterThan(0);
  expect(value(metrics, 'chronik_response_bytes_total{api="Metadata"}')).toBeGreaterThan(0);
  expect(value(metrics, 'chronik_log_size_bytes{partition="0",topic="metered"}')).toBeGreaterThan(0);
  expect(value(metrics, 'chronik_high_watermark{partition="0",topic="metered"}')).toBe(10);
  expect(value(metrics, 'chronik_consumer_group_lag{group="lagging",partition="0",topic="metered"}')).toBe(6);
  expect(value(metrics, "chronik_raft_leader")).toBe(1);
  expect(value(metrics, "chronik_raft_term")).toBeGreaterThan(0);
  expect(value(metrics, "chronik_metadata_load_errors_total")).toBe(0);
  expect(value(metrics, "chronik_metadata_apply_errors_total")).toBe(0);
  expect(value(metrics, "chronik_fsyncs_total")).toBeGreaterThan(0);
  expect(metrics).toContain("# TYPE chronik_request_latency_ms histogram");
});
