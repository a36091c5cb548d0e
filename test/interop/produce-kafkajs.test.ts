import { afterAll, beforeAll, expect, test } from "bun:test";
import { CompressionTypes, Kafka, logLevel } from "kafkajs";
import { startBroker, type BrokerProcess } from "../helpers/broker-process.ts";
import { runProcess } from "../helpers/run-process.ts";

let broker: BrokerProcess;
beforeAll(async () => {
  broker = await startBroker();
});
afterAll(async () => {
  await broker.cleanup();
});

test("kafkajs idempotent producer (acks -1) sends keys and headers; records arrive intact", async () => {
  const kafka = new Kafka({ clientId: "chronik-test", brokers: [broker.bootstrap], logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic: "js-produce", numPartitions: 2 }] });
  await admin.disconnect();

  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  const offsets: string[] = [];
  try {
    for (let batch = 0; batch < 10; batch++) {
      const result = await producer.send({
        topic: "js-produce",
        acks: -1,
        compression: batch % 2 === 0 ? CompressionTypes.None : CompressionTypes.GZIP,
        messages: Array.from({ length: 100 }, (_, i) => {
          const n = batch * 100 + i;
          return { key: `key-${n}`, value: `value-${n}`, partition: n % 2, headers: { n: String(n), kind: "test" } };
        }),
      });
      for (const r of result) {
        expect(r.errorCode).toBe(0);
        offsets.push(`${r.partition}:${r.baseOffset}`);
      }
    }
  } finally {
    await producer.disconnect();
  }
  expect(offsets.filter((o) => o.startsWith("0:"))).toHaveLength(10);

  const consumed = await runProcess(["kcat", "-C", "-b", broker.bootstrap, "-t", "js-produce", "-o", "beginning", "-e", "-q", "-f", "%p|%k|%s|%h\\n"]);
  const lines = consumed.stdout.split("\n").filter((l) => l !== "");
  expect(lines).toHaveLength(1000);
  const byPartition = [0, 1].map((p) => lines.filter((l) => l.startsWith(`${p}|`)));
  for (const [p, partitionLines] of byPartition.entries()) {
    const expected = Array.from({ length: 500 }, (_, i) => {
      const n = i * 2 + p;
      return `${p}|key-${n}|value-${n}|n=${n},kind=test`;
    });
    expect(partitionLines).toEqual(expected);
  }
});
