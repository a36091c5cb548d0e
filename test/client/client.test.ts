import { afterAll, beforeAll, expect, test } from "bun:test";
import { createTopics, Consumer, KafkaConnection, KafkaError, Producer, type ConsumerRecord, type DeliveryReport } from "../../src/client/index.ts";
import { ApiKey } from "../../src/protocol/generated/index.ts";
import { startBroker, type BrokerProcess } from "../helpers/broker-process.ts";
import { runProcess } from "../helpers/run-process.ts";

let broker: BrokerProcess;
let admin: KafkaConnection;
const text = new TextEncoder();
const fromText = new TextDecoder();

beforeAll(async () => {
  broker = await startBroker();
  admin = await KafkaConnection.connect({ host: "127.0.0.1", port: broker.kafkaPort });
  await admin.negotiateVersions();
});
afterAll(async () => {
  admin?.close();
  await broker.cleanup();
});

async function consumeAll(topic: string, partition: number, count: number, timeoutMs = 10_000): Promise<ConsumerRecord[]> {
  const consumer = await Consumer.connect(broker.bootstrap, { maxWaitMs: 200 });
  consumer.assign([{ topic, partition, offset: 0 }]);
  const records: ConsumerRecord[] = [];
  const deadline = performance.now() + timeoutMs;
  while (records.length < count) {
    if (performance.now() > deadline) throw new Error(`consumed ${records.length} of ${count} records from ${topic}-${partition}`);
    records.push(...(await consumer.poll()));
  }
  consumer.close();
  return records;
}

test("ApiVersions negotiation picks versions both sides speak", async () => {
  const versions = await admin.negotiateVersions();
  const produce = versions.get(ApiKey.Produce)!;
  expect(produce.maxVersion).toBe(11);
  expect(admin.pickVersion(ApiKey.Produce)).toBe(11);
  expect(admin.pickVersion(ApiKey.Fetch, 12)).toBe(12);
  if (produce.minVersion > 0) expect(() => admin.pickVersion(ApiKey.Produce, produce.minVersion - 1)).toThrow(/no common version/);
  expect(() => admin.pickVersion(ApiKey.DescribeAcls)).toThrow(/does not support DescribeAcls/);
});

test("pipelined requests on one connection resolve in order, past the in-flight bound", async () => {
  const connection = await KafkaConnection.connect({ host: "127.0.0.1", port: broker.kafkaPort, maxInFlightRequests: 4 });
  const responses = await Promise.all(
    Array.from({ length: 100 }, () => connection.request<{ errorCode: number }>(ApiKey.ApiVersions, 3, { clientSoftwareName: "t", clientSoftwareVersion: "1" })),
  );
  expect(responses.every((r) => r.errorCode === 0)).toBe(true);
  expect(connection.pendingRequests).toBe(0);
  connection.close();
  await expect(connection.request(ApiKey.ApiVersions, 3, {})).rejects.toThrow(/closed/);
});

test("producer returns per-record offsets; records, keys, headers and timestamps come back", async () => {
  await createTopics(admin, [{ name: "client-roundtrip", partitions: 2 }]);
  const producer = await Producer.connect(broker.bootstrap, { lingerMs: 5 });
  const sends: Promise<number>[] = [];
  for (let i = 0; i < 50; i++) {
    sends.push(
      producer.send({
        topic: "client-roundtrip",
        partition: i % 2,
        key: i % 5 === 0 ? null : text.encode(`k${i}`),
        value: text.encode(`value-${i}`),
        headers: i === 3 ? [{ key: "h", value: text.encode("hv") }, { key: "n", value: null }] : undefined,
        timestampMs: 1_700_000_000_000 + i,
      }),
    );
  }
  const offsets = await Promise.all(sends);
  expect(offsets.filter((_, i) => i % 2 === 0)).toEqual(Array.from({ length: 25 }, (_, i) => i));
  expect(offsets.filter((_, i) => i % 2 === 1)).toEqual(Array.from({ length: 25 }, (_, i) => i));
  await producer.close();

  const records = await consumeAll("client-roundtrip", 1, 25);
  expect(records.map((r) => r.offset)).toEqual(Array.from({ length: 25 }, (_, i) => i));
  expect(fromText.decode(records[1]!.value!)).toBe("value-3");
  expect(fromText.decode(records[1]!.key!)).toBe("k3");
  expect(records[1]!.headers.map((h) => [h.key, h.value && fromText.decode(h.value)])).toEqual([["h", "hv"], ["n", null]]);
  expect(records[1]!.timestampMs).toBe(1_700_000_000_003);
  expect(records[2]!.key).toBeNull();
  expect(records.every((r) => r.topic === "client-roundtrip" && r.partition === 1)).toBe(true);
});

test("batches fill to batchBytes and report deliveries in order; acks=1 and acks=0 also land", async () => {
  await createTopics(admin, [{ name: "client-batches", partitions: 1 }]);
  for (const acks of [-1, 1, 0] as const) {
    const reports: DeliveryReport[] = [];
    const producer = await Producer.connect(broker.bootstrap, { acks, batchBytes: 4096, onDelivery: (r) => reports.push(r) });
    const value = new Uint8Array(100);
    for (let i = 0; i < 1000; i++) producer.append("client-batches", 0, value);
    await producer.close();
    expect(reports.reduce((n, r) => n + r.recordCount, 0)).toBe(1000);
    expect(reports.length).toBeGreaterThan(20);
    expect(reports.every((r) => r.error === null)).toBe(true);
    if (acks !== 0) {
      for (let i = 1; i < reports.length; i++) expect(reports[i]!.baseOffset).toBe(reports[i - 1]!.baseOffset + reports[i - 1]!.recordCount);
    }
  }
  const records = await consumeAll("client-batches", 0, 3000);
  expect(records.length).toBe(3000);
  expect(records[2999]!.offset).toBe(2999);
});

test("an idempotent producer numbers its batches and the broker accepts them", async () => {
  await createTopics(admin, [{ name: "client-idem", partitions: 1 }]);
  const producer = await Producer.connect(broker.bootstrap, { idempotent: true, batchBytes: 2048 });
  const offsets = await Promise.all(Array.from({ length: 300 }, (_, i) => producer.send({ topic: "client-idem", partition: 0, value: text.encode(`m${i}`) })));
  expect(offsets).toEqual(Array.from({ length: 300 }, (_, i) => i));
  await producer.close();
});

test("producing to a missing partition rejects with the broker's error", async () => {
  await createTopics(admin, [{ name: "client-missing", partitions: 1 }]);
  const producer = await Producer.connect(broker.bootstrap);
  const sent = producer.send({ topic: "client-missing", partition: 7, value: text.encode("x") });
  await expect(sent).rejects.toBeInstanceOf(KafkaError);
  await expect(sent).rejects.toThrow(/UNKNOWN_TOPIC_OR_PARTITION|NOT_LEADER/);
  await producer.close();
});

test("the consumer reads what kcat produced (librdkafka batches) and long-polls for more", async () => {
  await createTopics(admin, [{ name: "client-kcat", partitions: 1 }]);
  await runProcess(["kcat", "-P", "-b", broker.bootstrap, "-t", "client-kcat", "-K", ":"], { stdin: "a:one\nb:two\n" });
  const consumer = await Consumer.connect(broker.bootstrap, { maxWaitMs: 3000 });
  consumer.assign([{ topic: "client-kcat", partition: 0, offset: 1 }]);
  const first = await consumer.poll();
  expect(first.map((r) => [r.offset, fromText.decode(r.key!), fromText.decode(r.value!)])).toEqual([[1, "b", "two"]]);
  expect(consumer.position("client-kcat", 0)).toBe(2);
  const next = consumer.poll();
  await runProcess(["kcat", "-P", "-b", broker.bootstrap, "-t", "client-kcat", "-z", "gzip"], { stdin: "three\n" });
  const second = await next;
  expect(second.map((r) => fromText.decode(r.value!))).toEqual(["three"]);
  expect(consumer.highWatermark("client-kcat", 0)).toBe(3);
  consumer.close();
});

test("records waiting on a closed connection fail instead of hanging flush", async () => {
  await createTopics(admin, [{ name: "client-closed", partitions: 1 }]);
  const producer = await Producer.connect(broker.bootstrap);
  producer.connection.close();
  const sent = producer.send({ topic: "client-closed", partition: 0, value: text.encode("x") });
  await expect(sent).rejects.toThrow(/closed/);
  await producer.flush();
});
