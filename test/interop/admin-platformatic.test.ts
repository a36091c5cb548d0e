import { afterAll, beforeAll, expect, test } from "bun:test";
import { Admin } from "@platformatic/kafka";
import { startBroker, type BrokerProcess } from "../helpers/broker-process.ts";

let broker: BrokerProcess;
beforeAll(async () => {
  broker = await startBroker();
});
afterAll(async () => {
  await broker.cleanup();
});

test("@platformatic/kafka (flexible versions) creates, lists and deletes topics", async () => {
  const admin = new Admin({ clientId: "chronik-test", bootstrapBrokers: [broker.bootstrap], retries: 1 });
  try {
    const created = await admin.createTopics({ topics: ["pf-a", "pf-b"], partitions: 3, replicas: 1 });
    expect(created.map((t) => t.name).sort()).toEqual(["pf-a", "pf-b"]);
    expect(created.every((t) => t.partitions === 3)).toBe(true);
    expect(created.every((t) => /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(t.id))).toBe(true);
    expect(created[0]!.configuration["retention.ms"]).toBe("604800000");

    await expect(admin.createTopics({ topics: ["pf-a"], partitions: 1, replicas: 1 })).rejects.toThrow();
    expect((await admin.listTopics()).sort()).toEqual(["pf-a", "pf-b"]);

    const metadata = await admin.metadata({ topics: ["pf-a"] });
    expect(metadata.topics.get("pf-a")!.partitionsCount).toBe(3);
    expect([...metadata.brokers.values()]).toEqual([{ host: "127.0.0.1", port: broker.kafkaPort, rack: null }]);

    await admin.deleteTopics({ topics: ["pf-b"] });
    expect(await admin.listTopics()).toEqual(["pf-a"]);
  } finally {
    await admin.close();
  }
});
