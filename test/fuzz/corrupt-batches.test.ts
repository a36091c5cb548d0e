import { afterAll, beforeAll, expect, test } from "bun:test";
import { startBroker, type BrokerProcess } from "../helpers/broker-process.ts";
import { RawClient } from "../helpers/raw-client.ts";
import { crc32c } from "../../src/lib/crc32c.ts";
import { ErrorCode } from "../../src/protocol/error-codes.ts";
import { ApiKey } from "../../src/protocol/generated/index.ts";
import { ATTRIBUTES_OFFSET, CRC_OFFSET, LAST_OFFSET_DELTA_OFFSET, RECORD_COUNT_OFFSET, RECORDS_OFFSET } from "../../src/protocol/record-batch.ts";
import { buildRecordBatch, text } from "../../src/protocol/record-batch-builder.ts";

// Found by the protocol fuzzer: batches whose CRC matched but whose contents lied were stored.
let broker: BrokerProcess;
let client: RawClient;

beforeAll(async () => {
  broker = await startBroker();
  client = await RawClient.connect(broker.kafkaPort);
  const created = await client.request(ApiKey.CreateTopics, 4, {
    topics: [{ name: "corrupt", numPartitions: 1, replicationFactor: 1, assignments: [], configs: [] }],
    timeoutMs: 10_000,
  });
  expect(created.topics[0].errorCode).toBe(0);
}, 60_000);

afterAll(async () => {
  client?.close();
  await broker?.cleanup();
});

function batch(): Uint8Array {
  return buildRecordBatch([{ key: text("k1"), value: text("v1") }, { key: null, value: text("v2") }], { baseTimestampMs: 1_700_000_000_000 });
}

function restamp(bytes: Uint8Array, end = bytes.length): Uint8Array {
  new DataView(bytes.buffer, bytes.byteOffset).setUint32(CRC_OFFSET, crc32c(bytes, ATTRIBUTES_OFFSET, end));
  return bytes;
}

const damaged: Record<string, () => Uint8Array> = {
  "compression codec 6": () => {
    const b = batch();
    b[ATTRIBUTES_OFFSET + 1] = 6;
    return restamp(b);
  },
  "control flag from a producer": () => {
    const b = batch();
    b[ATTRIBUTES_OFFSET + 1] = 0x20;
    return restamp(b);
  },
  "record count and last offset delta both lying": () => {
    const b = batch();
    const view = new DataView(b.buffer);
    view.setInt32(RECORD_COUNT_OFFSET, 3);
    view.setInt32(LAST_OFFSET_DELTA_OFFSET, 2);
    return restamp(b);
  },
  "first record length off by one": () => {
    const b = batch();
    b[RECORDS_OFFSET] = b[RECORDS_OFFSET]! + 2;
    return restamp(b);
  },
  "records cut short with a matching length and CRC": () => {
    const b = batch().slice(0, RECORDS_OFFSET + 3);
    new DataView(b.buffer).setInt32(8, b.length - 12);
    return restamp(b);
  },
};

async function produce(records: Uint8Array): Promise<number> {
  const response = await client.request(ApiKey.Produce, 9, {
    transactionalId: null,
    acks: -1,
    timeoutMs: 5000,
    topicData: [{ name: "corrupt", partitionData: [{ index: 0, records }] }],
  });
  return response.responses[0].partitionResponses[0].errorCode;
}

test("batches with a matching CRC but lying contents are rejected and never stored", async () => {
  for (const [name, make] of Object.entries(damaged)) {
    const errorCode = await produce(make());
    expect({ name, rejected: [ErrorCode.CORRUPT_MESSAGE, ErrorCode.INVALID_RECORD].includes(errorCode as 2 | 87) }).toEqual({ name, rejected: true });
  }
  expect(await produce(batch())).toBe(ErrorCode.NONE);
  const listed = await client.request(ApiKey.ListOffsets, 1, {
    replicaId: -1,
    topics: [{ name: "corrupt", partitions: [{ partitionIndex: 0, timestamp: -1 }] }],
  });
  // Only the one valid batch of two records was appended.
  expect(Number(listed.topics[0].partitions[0].offset)).toBe(2);
}, 60_000);
