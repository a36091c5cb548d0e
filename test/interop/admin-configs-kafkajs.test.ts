import { afterAll, beforeAll, expect, test } from "bun:test";
import { ConfigResourceTypes, Kafka, logLevel } from "kafkajs";
import { startBroker, type BrokerProcess } from "../helpers/broker-process.ts";
import { runProcess } from "../helpers/run-process.ts";

let broker: BrokerProcess;
beforeAll(async () => {
  broker = await startBroker();
});
afterAll(async () => {
  await broker.cleanup();
});

function admin() {
  return new Kafka({ clientId: "chronik-configs", brokers: [broker.bootstrap], logLevel: logLevel.NOTHING, retry: { retries: 2 } }).admin();
}

async function topicConfigs(client: ReturnType<typeof admin>, topic: string, configNames: string[]) {
  const described = await client.describeConfigs({ resources: [{ type: ConfigResourceTypes.TOPIC, name: topic, configNames }], includeSynonyms: true });
  return Object.fromEntries(described.resources[0]!.configEntries.map((e) => [e.configName, e]));
}

test("kafkajs describes and alters topic configs, and describes the broker", async () => {
  const client = admin();
  await client.connect();
  try {
    await client.createTopics({ topics: [{ topic: "js-cfg", configEntries: [{ name: "segment.ms", value: "120000" }] }] });
    let configs = await topicConfigs(client, "js-cfg", ["retention.ms", "segment.ms"]);
    expect(configs["retention.ms"]).toMatchObject({ configValue: "604800000", isDefault: true, readOnly: false });
    expect(configs["segment.ms"]).toMatchObject({ configValue: "120000", isDefault: false, configSource: 1 });

    await client.alterConfigs({ validateOnly: false, resources: [{ type: ConfigResourceTypes.TOPIC, name: "js-cfg", configEntries: [{ name: "retention.ms", value: "3600000" }] }] });
    configs = await topicConfigs(client, "js-cfg", ["retention.ms", "segment.ms"]);
    expect(configs["retention.ms"]).toMatchObject({ configValue: "3600000", configSource: 1 });
    // AlterConfigs replaces the override set, so segment.ms is back to its default.
    expect(configs["segment.ms"]).toMatchObject({ configValue: "604800000", configSource: 5 });

    await expect(
      client.alterConfigs({ validateOnly: false, resources: [{ type: ConfigResourceTypes.TOPIC, name: "js-cfg", configEntries: [{ name: "no.such", value: "1" }] }] }),
    ).rejects.toThrow();
    await expect(client.describeConfigs({ resources: [{ type: ConfigResourceTypes.TOPIC, name: "js-missing" }], includeSynonyms: false })).rejects.toThrow();

    const brokerConfigs = await client.describeConfigs({ resources: [{ type: ConfigResourceTypes.BROKER, name: "1" }], includeSynonyms: false });
    const byName = Object.fromEntries(brokerConfigs.resources[0]!.configEntries.map((e) => [e.configName, e]));
    expect(byName["num.partitions"]).toMatchObject({ configValue: "1", readOnly: true });
    expect(byName["auto.create.topics.enable"]).toMatchObject({ configValue: "true", readOnly: true });
  } finally {
    await client.disconnect();
  }
});

test("kafkajs adds partitions that kcat then writes and reads; deleteTopicRecords moves the low watermark", async () => {
  const client = admin();
  await client.connect();
  try {
    await client.createTopics({ topics: [{ topic: "js-grow", numPartitions: 1 }] });
    await client.createPartitions({ topicPartitions: [{ topic: "js-grow", count: 3 }] });
    await expect(client.createPartitions({ topicPartitions: [{ topic: "js-grow", count: 2 }] })).rejects.toThrow();
    const metadata = await client.fetchTopicMetadata({ topics: ["js-grow"] });
    expect(metadata.topics[0]!.partitions).toHaveLength(3);

    const produced = await runProcess(["kcat", "-P", "-b", broker.bootstrap, "-t", "js-grow", "-p", "2"], { stdin: "one\ntwo\nthree\n" });
    expect(produced.exitCode).toBe(0);
    const consumed = await runProcess(["kcat", "-C", "-b", broker.bootstrap, "-t", "js-grow", "-p", "2", "-o", "beginning", "-e", "-q"]);
    expect(consumed.stdout.trim().split("\n")).toEqual(["one", "two", "three"]);

    await client.deleteTopicRecords({ topic: "js-grow", partitions: [{ partition: 2, offset: "2" }] });
    const offsets = await client.fetchTopicOffsets("js-grow");
    expect(offsets.find((o) => o.partition === 2)).toMatchObject({ low: "2", high: "3" });
    const rest = await runProcess(["kcat", "-C", "-b", broker.bootstrap, "-t", "js-grow", "-p", "2", "-o", "beginning", "-e", "-q"]);
    expect(rest.stdout.trim()).toBe("three");
  } finally {
    await client.disconnect();
  }
});
