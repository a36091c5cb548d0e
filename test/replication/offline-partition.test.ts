import { afterAll, beforeAll, expect, test } from "bun:test";
import { join, resolve } from "node:path";
import { ErrorCode } from "../../src/protocol/error-codes.ts";
import { ApiKey } from "../../src/protocol/generated/index.ts";
import { buildRecordBatch, text } from "../../src/protocol/record-batch-builder.ts";
import { startBroker, type BrokerProcess } from "../helpers/broker-process.ts";
import { RawClient } from "../helpers/raw-client.ts";
import { waitFor } from "../helpers/wait.ts";

const MAIN = join(resolve(import.meta.dir, "../.."), "src/main.ts");
let broker: BrokerProcess;
beforeAll(async () => {
  // Too few file descriptors for every partition's files: some partitions cannot be opened.
  broker = await startBroker({ command: ["sh", "-c", 'ulimit -n 256 && exec "$0" "$@"', process.execPath, MAIN] });
});
afterAll(async () => {
  await broker.cleanup();
});

test("out of file descriptors: partitions go offline with KAFKA_STORAGE_ERROR, the broker keeps serving and recovers", async () => {
  const client = await RawClient.connect(broker.kafkaPort);
  const create = (name: string, numPartitions: number) =>
    client.request(ApiKey.CreateTopics, 4, { topics: [{ name, numPartitions, replicationFactor: 1, assignments: [], configs: [] }], timeoutMs: 30_000 });
  const produce = async (topic: string, partition: number) =>
    (
      await client.request(ApiKey.Produce, 8, {
        transactionalId: null,
        acks: -1,
        timeoutMs: 5000,
        topicData: [{ name: topic, partitionData: [{ index: partition, records: buildRecordBatch([{ key: null, value: text("v") }]) }] }],
      })
    ).responses[0].partitionResponses[0].errorCode;

  // A partition's log is created on first use: writing to every partition runs out of descriptors part way.
  expect((await create("crowded", 400)).topics[0].errorCode).toBe(ErrorCode.NONE);
  const errorCodes = new Set<number>();
  for (let partition = 0; partition < 400; partition++) errorCodes.add(await produce("crowded", partition));
  expect([...errorCodes].sort((a, b) => a - b)).toEqual([ErrorCode.NONE, ErrorCode.KAFKA_STORAGE_ERROR]);
  expect(await produce("crowded", 399)).toBe(ErrorCode.KAFKA_STORAGE_ERROR);
  expect(broker.output()).toContain("partition offline on this broker");

  // Deleting the topic gives the descriptors back; new partitions then open and writes become durable again.
  const deleted = await client.request(ApiKey.DeleteTopics, 4, { topicNames: ["crowded"], timeoutMs: 30_000 });
  expect(deleted.responses[0].errorCode).toBe(ErrorCode.NONE);
  expect((await create("roomy", 1)).topics[0].errorCode).toBe(ErrorCode.NONE);
  await waitFor(async () => (await produce("roomy", 0)) === ErrorCode.NONE, "a durable write after the descriptors came back", 20_000);
  expect((await fetch(`http://127.0.0.1:${broker.httpPort}/health`)).status).toBe(200);
  client.close();
}, 90_000);
