import { afterAll, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import { ErrorCode } from "../../src/protocol/error-codes.ts";
import { ApiKey } from "../../src/protocol/generated/index.ts";
import { buildRecordBatch, text } from "../../src/protocol/record-batch-builder.ts";
import { startBroker, type BrokerProcess } from "../helpers/broker-process.ts";
import { RawClient } from "../helpers/raw-client.ts";

const cleanups: (() => Promise<void> | void)[] = [];
afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

async function produce(client: RawClient, records: Uint8Array) {
  const response = await client.request(ApiKey.Produce, 8, {
    transactionalId: null,
    acks: -1,
    timeoutMs: 5000,
    topicData: [{ name: "idem", partitionData: [{ index: 0, records }] }],
  });
  return response.responses[0].partitionResponses[0];
}

for (const stop of ["SIGTERM", "SIGKILL"] as const) {
  test(`producer state and producer ids survive a restart after ${stop}`, async () => {
    let broker: BrokerProcess = await startBroker({ keepData: true });
    const dataDir = broker.dataDir;
    cleanups.push(() => rmSync(dataDir, { recursive: true, force: true }));
    cleanups.push(() => broker.cleanup());
    let client = await RawClient.connect(broker.kafkaPort);
    await client.request(ApiKey.Metadata, 8, { topics: [{ name: "idem" }], allowAutoTopicCreation: true });
    const init = await client.request(ApiKey.InitProducerId, 2, { transactionalId: null, transactionTimeoutMs: 60000 });
    const producerId = init.producerId;
    const sent = buildRecordBatch([{ key: null, value: text("once") }], { producerId, producerEpoch: 0, baseSequence: 0 });
    const first = await produce(client, sent.slice());
    expect(first.errorCode).toBe(ErrorCode.NONE);
    client.close();

    await broker.stop(stop);
    broker = await startBroker({ dataDir });
    cleanups.push(() => broker.cleanup());
    client = await RawClient.connect(broker.kafkaPort);
    const retry = await produce(client, sent.slice());
    expect(retry.errorCode).toBe(ErrorCode.NONE);
    expect(retry.baseOffset).toBe(first.baseOffset);
    const gap = await produce(client, buildRecordBatch([{ key: null, value: text("gap") }], { producerId, producerEpoch: 0, baseSequence: 3 }));
    expect(gap.errorCode).toBe(ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER);
    const fresh = await client.request(ApiKey.InitProducerId, 2, { transactionalId: null, transactionTimeoutMs: 60000 });
    expect(fresh.producerId).toBeGreaterThan(producerId);
    client.close();
  });
}
