import { afterAll, beforeAll, expect, test } from "bun:test";
import { Kafka, logLevel } from "kafkajs";
import { startBroker, type BrokerProcess } from "../helpers/broker-process.ts";

let broker: BrokerProcess;
beforeAll(async () => {
  broker = await startBroker({ keepData: true });
});
afterAll(async () => {
  await broker.cleanup();
  (await import("node:fs")).rmSync(broker.dataDir, { recursive: true, force: true });
});

function admin(bootstrap: string) {
  return new Kafka({ clientId: "chronik-test", brokers: [bootstrap], logLevel: logLevel.NOTHING, retry: { retries: 2 } }).admin();
}

test("kafkajs admin creates, lists, describes and deletes topics; a restart keeps them", async () => {
  const client = admin(broker.bootstrap);
  await client.connect();
  try {
    expect(await client.createTopics({ topics: [{ topic: "js-a", numPartitions: 4 }, { topic: "js-b" }], waitForLeaders: true })).toBe(true);
    expect(await client.createTopics({ topics: [{ topic: "js-a" }] })).toBe(false);
    await expect(client.createTopics({ topics: [{ topic: "bad name!" }] })).rejects.toThrow();
    expect((await client.listTopics()).sort()).toEqual(["js-a", "js-b"]);

    const metadata = await client.fetchTopicMetadata({ topics: ["js-a"] });
    expect(metadata.topics[0]!.partitions).toHaveLength(4);
    expect(metadata.topics[0]!.partitions.every((p) => p.leader === 1)).toBe(true);

    const cluster = await client.describeCluster();
    expect(cluster.brokers).toEqual([{ nodeId: 1, host: "127.0.0.1", port: broker.kafkaPort }]);
    expect(cluster.controller).toBe(1);

    await client.deleteTopics({ topics: ["js-b"] });
    expect(await client.listTopics()).toEqual(["js-a"]);
  } finally {
    await client.disconnect();
  }

  expect(await broker.stop("SIGTERM")).toBe(0);
  const restarted = await startBroker({ dataDir: broker.dataDir });
  const again = admin(restarted.bootstrap);
  await again.connect();
  try {
    expect(await again.listTopics()).toEqual(["js-a"]);
    const metadata = await again.fetchTopicMetadata({ topics: ["js-a"] });
    expect(metadata.topics[0]!.partitions).toHaveLength(4);
  } finally {
    await again.disconnect();
    await restarted.cleanup();
  }
});
