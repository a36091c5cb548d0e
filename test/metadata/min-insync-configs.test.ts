import { expect, test } from "bun:test";
import { parseBrokerConfig } from "../../src/config/parse.ts";
import { describeBrokerConfigs } from "../../src/metadata/broker-configs.ts";
import { ConfigSource, describeTopicConfigs } from "../../src/metadata/effective-configs.ts";
import { brokerTopicDefaults } from "../../src/metadata/topic-configs.ts";

const configOf = (argv: string[]) => parseBrokerConfig(argv, {}, () => "").config;
const entryOf = (entries: readonly { name: string }[], name: string) => entries.find((e) => e.name === name);

test("min.insync.replicas of a topic: the built-in default, the broker's flag, then the topic's override", () => {
  const plain = brokerTopicDefaults(configOf([]));
  expect(entryOf(describeTopicConfigs(plain, {}), "min.insync.replicas")).toEqual({ name: "min.insync.replicas", value: "1", source: ConfigSource.DEFAULT_CONFIG });

  const strict = brokerTopicDefaults(configOf(["--min-insync-replicas", "2"]));
  expect(entryOf(describeTopicConfigs(strict, {}), "min.insync.replicas")).toEqual({ name: "min.insync.replicas", value: "2", source: ConfigSource.STATIC_BROKER_CONFIG });
  expect(entryOf(describeTopicConfigs(strict, { "min.insync.replicas": "3" }), "min.insync.replicas")).toEqual({
    name: "min.insync.replicas",
    value: "3",
    source: ConfigSource.DYNAMIC_TOPIC_CONFIG,
  });
});

test("min.insync.replicas of a broker is its --min-insync-replicas value", () => {
  expect(entryOf(describeBrokerConfigs(configOf([])), "min.insync.replicas")).toMatchObject({ value: "1", source: ConfigSource.DEFAULT_CONFIG, type: "int" });
  expect(entryOf(describeBrokerConfigs(configOf(["--min-insync-replicas", "2"])), "min.insync.replicas")).toMatchObject({
    value: "2",
    source: ConfigSource.STATIC_BROKER_CONFIG,
    type: "int",
  });
});
