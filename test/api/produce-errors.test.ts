import { afterAll, beforeAll, expect, test } from "bun:test";
import { ErrorCode } from "../../src/protocol/error-codes.ts";
import { ApiKey } from "../../src/protocol/generated/index.ts";
import { buildRecordBatch, text } from "../../src/protocol/record-batch-builder.ts";
import { startBroker, type BrokerProcess } from "../helpers/broker-process.ts";
import { RawClient } from "../helpers/raw-client.ts";

let broker: BrokerProcess;
let client: RawClient;
beforeAll(async () => {
  broker = await startBroker({ args: ["--max-message-bytes", "2000"] });
  client = await RawClient.connect(broker.kafkaPort);
  const created = await client.request(ApiKey.CreateTopics, 5, {
    topics: [
      { name: "errors", numPartitions: 1, replicationFactor: 1, assignments: [], configs: [] },
      { name: "append-time", numPartitions: 1, replicationFactor: 1, assignments: [], configs: [{ name: "message.timestamp.type", value: "LogAppendTime" }] },
    ],
    timeoutMs: 5000,
  });
  expect(created.topics.map((t: { errorCode: number }) => t.errorCode)).toEqual([0, 0]);
});
afterAll(async () => {
  client.close();
  await broker.cleanup();
});

function batch(values: string[], options = {}): Uint8Array {
  return buildRecordBatch(values.map((v) => ({ key: null, value: text(v) })), options);
}

async function produce(topic: string, partition: number, records: Uint8Array | null, acks = -1, version = 9) {
  const response = await client.request(ApiKey.Produce, version, {
    transactionalId: null,
    acks,
    timeoutMs: 5000,
    topicData: [{ name: topic, partitionData: [{ index: partition, records }] }],
  });
  return response.responses[0].partitionResponses[0];
}

test("offsets are assigned in order and returned as base offsets", async () => {
  expect((await produce("errors", 0, batch(["a", "b", "c"]))).baseOffset).toBe(0);
  const second = await produce("errors", 0, batch(["d"]), 1, 3);
  expect(second.errorCode).toBe(ErrorCode.NONE);
  expect(second.baseOffset).toBe(3);
});

test("unknown partitions, bad acks and bad batches get Kafka's error codes", async () => {
  expect((await produce("errors", 7, batch(["x"]))).errorCode).toBe(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION);
  expect((await produce("nope", 0, batch(["x"]))).errorCode).toBe(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION);
  expect((await produce("errors", 0, batch(["x"]), 2)).errorCode).toBe(ErrorCode.INVALID_REQUIRED_ACKS);

  const corrupt = batch(["x"]);
  corrupt[corrupt.length - 1]! ^= 0xff;
  expect((await produce("errors", 0, corrupt)).errorCode).toBe(ErrorCode.CORRUPT_MESSAGE);

  const oldMagic = batch(["x"]);
  oldMagic[16] = 1;
  expect((await produce("errors", 0, oldMagic)).errorCode).toBe(ErrorCode.UNSUPPORTED_FOR_MESSAGE_FORMAT);

  expect((await produce("errors", 0, batch(["y".repeat(3000)]))).errorCode).toBe(ErrorCode.MESSAGE_TOO_LARGE);
  expect((await produce("errors", 0, batch(["x"]).subarray(0, 40))).errorCode).toBe(ErrorCode.CORRUPT_MESSAGE);
  expect((await produce("errors", 0, null)).errorCode).toBe(ErrorCode.CORRUPT_MESSAGE);
});

test("Produce v2 with a pre-v2 message format is UNSUPPORTED_FOR_MESSAGE_FORMAT", async () => {
  // A magic 1 message set: offset, size, crc, magic 1, attributes, timestamp, null key, 1-byte value.
  const message = new Uint8Array(8 + 4 + 4 + 1 + 1 + 8 + 4 + 4 + 1);
  const view = new DataView(message.buffer);
  view.setInt32(8, message.length - 12);
  view.setInt8(16, 1);
  view.setInt32(26, -1);
  view.setInt32(30, 1);
  message[34] = 0x61;
  expect((await produce("errors", 0, message, -1, 2)).errorCode).toBe(ErrorCode.UNSUPPORTED_FOR_MESSAGE_FORMAT);
});

test("acks=0 gets no response, and the record is still written", async () => {
  client.send(ApiKey.Produce, 9, {
    transactionalId: null,
    acks: 0,
    timeoutMs: 5000,
    topicData: [{ name: "errors", partitionData: [{ index: 0, records: batch(["fire-and-forget"]) }] }],
  });
  // The next response on this connection belongs to the next request.
  const next = await produce("errors", 0, batch(["after"]));
  expect(next.baseOffset).toBe(5);
});

test("idempotent batches: duplicates get the original offset, gaps and stale epochs are rejected", async () => {
  const init = await client.request(ApiKey.InitProducerId, 4, { transactionalId: null, transactionTimeoutMs: 60000, producerId: -1, producerEpoch: -1 });
  expect(init.errorCode).toBe(ErrorCode.NONE);
  const producerId = init.producerId;
  const second = await client.request(ApiKey.InitProducerId, 4, { transactionalId: null, transactionTimeoutMs: 60000, producerId: -1, producerEpoch: -1 });
  expect(second.producerId).not.toBe(producerId);

  const first = await produce("errors", 0, batch(["i0", "i1"], { producerId, producerEpoch: 0, baseSequence: 0 }));
  expect(first.errorCode).toBe(ErrorCode.NONE);
  const retry = await produce("errors", 0, batch(["i0", "i1"], { producerId, producerEpoch: 0, baseSequence: 0 }));
  expect(retry.errorCode).toBe(ErrorCode.NONE);
  expect(retry.baseOffset).toBe(first.baseOffset);
  const gap = await produce("errors", 0, batch(["i5"], { producerId, producerEpoch: 0, baseSequence: 5 }));
  expect(gap.errorCode).toBe(ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER);
  const next = await produce("errors", 0, batch(["i2"], { producerId, producerEpoch: 0, baseSequence: 2 }));
  expect(next.baseOffset).toBe(first.baseOffset + 2);
  const bumped = await produce("errors", 0, batch(["e1"], { producerId, producerEpoch: 1, baseSequence: 0 }));
  expect(bumped.errorCode).toBe(ErrorCode.NONE);
  const stale = await produce("errors", 0, batch(["e0"], { producerId, producerEpoch: 0, baseSequence: 3 }));
  expect(stale.errorCode).toBe(ErrorCode.INVALID_PRODUCER_EPOCH);
});

test("transactional producers are refused clearly", async () => {
  const init = await client.request(ApiKey.InitProducerId, 4, { transactionalId: "tx", transactionTimeoutMs: 60000, producerId: -1, producerEpoch: -1 });
  expect(init.errorCode).toBe(ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED);
});

test("LogAppendTime topics stamp the broker's time; ListOffsets finds offsets by time", async () => {
  const before = Date.now();
  const result = await produce("append-time", 0, batch(["t"], { baseTimestampMs: 1000 }));
  expect(result.errorCode).toBe(ErrorCode.NONE);
  expect(result.logAppendTimeMs).toBeGreaterThanOrEqual(before);

  await produce("errors", 0, batch(["late"], { baseTimestampMs: 4_000_000_000_000 }));
  const list = async (timestamp: number) =>
    (
      await client.request(ApiKey.ListOffsets, 7, {
        replicaId: -1,
        isolationLevel: 0,
        topics: [{ name: "errors", partitions: [{ partitionIndex: 0, currentLeaderEpoch: -1, timestamp }] }],
      })
    ).topics[0].partitions[0];
  const earliest = await list(-2);
  const latest = await list(-1);
  const maxTimestamp = await list(-3);
  const byTime = await list(3_999_999_999_999);
  const future = await list(5_000_000_000_000);
  expect(earliest.offset).toBe(0);
  expect(latest.offset).toBeGreaterThan(5);
  expect(maxTimestamp.timestamp).toBe(4_000_000_000_000);
  expect(maxTimestamp.offset).toBe(latest.offset - 1);
  expect(byTime.offset).toBe(latest.offset - 1);
  expect(future.offset).toBe(-1);
});
