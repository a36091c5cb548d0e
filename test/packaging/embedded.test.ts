import { expect, test } from "bun:test";
import { Kafka, logLevel } from "kafkajs";
import { startBroker } from "chronik";

test("an application test starts an embedded broker and uses it with kafkajs", async () => {
  const broker = await startBroker({ options: { "default-partitions": 2 } });
  try {
    const kafka = new Kafka({ clientId: "embedded-test", brokers: [broker.bootstrap], logLevel: logLevel.NOTHING });
    const producer = kafka.producer();
    await producer.connect();
    const [result] = await producer.send({ topic: "embedded", messages: [{ key: "k", value: "hello", partition: 1 }] });
    await producer.disconnect();
    expect(result!.errorCode).toBe(0);

    const admin = kafka.admin();
    await admin.connect();
    const offsets = await admin.fetchTopicOffsets("embedded");
    await admin.disconnect();
    expect(offsets.find((o) => o.partition === 1)!.high).toBe("1");
  } finally {
    await broker.stop();
  }
});
