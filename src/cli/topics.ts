/** `chronik topics ...`: create, list, describe, alter and delete topics. */
import { KafkaError, type KafkaConnection } from "../client/connection.ts";
import { ErrorCode } from "../protocol/error-codes.ts";
import {
  ApiKey,
  type CreatePartitionsResponse,
  type CreateTopicsResponse,
  type DeleteTopicsResponse,
  type DescribeConfigsResponse,
  type IncrementalAlterConfigsResponse,
} from "../protocol/generated/index.ts";
import { BOOTSTRAP_FLAG, JSON_FLAG, UsageError, boolFlag, intFlag, keyValueFlag, listFlag } from "./args.ts";
import { table, writeJson, writeStdout, type CliCommand } from "./output.ts";
import { CliError, EARLIEST_TIMESTAMP, LATEST_TIMESTAMP } from "./session.ts";

const TIMEOUT_MS = 30_000;
const TOPIC_RESOURCE_TYPE = 2;
const SET_OPERATION = 0;
const DELETE_OPERATION = 1;
/** Kafka's ConfigSource enum, indexed by its code. */
const CONFIG_SOURCES = [
  "UNKNOWN",
  "DYNAMIC_TOPIC_CONFIG",
  "DYNAMIC_BROKER_CONFIG",
  "DYNAMIC_DEFAULT_BROKER_CONFIG",
  "STATIC_BROKER_CONFIG",
  "DEFAULT_CONFIG",
  "DYNAMIC_BROKER_LOGGER_CONFIG",
  "CLIENT_METRICS_CONFIG",
  "GROUP_CONFIG",
];
const DYNAMIC_TOPIC_CONFIG = 1;

const TOPIC_ARG = { name: "NAME", description: "topic name" };
const CONFIG_FLAG = { name: "config", value: "KEY=VALUE", repeatable: true, description: "topic config, e.g. retention.ms=86400000" };

const create: CliCommand = {
  spec: {
    name: "topics create",
    summary: "Create a topic.",
    positionals: [TOPIC_ARG],
    flags: [
      { name: "partitions", value: "N", description: "partition count (default: the broker's --default-partitions)" },
      { name: "replication-factor", value: "N", description: "replicas per partition (default: the broker's --default-replication-factor)" },
      CONFIG_FLAG,
      { name: "if-not-exists", description: "succeed when the topic already exists" },
      BOOTSTRAP_FLAG,
    ],
  },
  async run({ args, connect }) {
    const name = args.positionals[0]!;
    const partitions = intFlag(args, "topics create", "partitions", 1) ?? -1;
    const replicationFactor = intFlag(args, "topics create", "replication-factor", 1, 32767) ?? -1;
    const configs = keyValueFlag(args, "topics create", "config").map(([key, value]) => ({ name: key, value }));
    const session = await connect();
    const connection = session.bootstrap;
    const version = connection.pickVersion(ApiKey.CreateTopics, 7);
    if (version < 4 && (partitions < 0 || replicationFactor < 0)) {
      throw new UsageError("this broker's CreateTopics has no defaults: give --partitions and --replication-factor", "topics create");
    }
    const response = await connection.request<CreateTopicsResponse>(ApiKey.CreateTopics, version, {
      topics: [{ name, numPartitions: partitions, replicationFactor, assignments: [], configs }],
      timeoutMs: TIMEOUT_MS,
      validateOnly: false,
    });
    const result = response.topics[0];
    if (result === undefined) throw new CliError(`CreateTopics returned no result for ${name}`);
    if (result.errorCode === ErrorCode.TOPIC_ALREADY_EXISTS && boolFlag(args, "if-not-exists")) {
      await writeStdout(`topic ${name} already exists\n`);
      return 0;
    }
    if (result.errorCode !== ErrorCode.NONE) throw new KafkaError(result.errorCode, `create topic ${name}${result.errorMessage ? ` (${result.errorMessage})` : ""}`);
    const shape = version >= 5 ? ` with ${result.numPartitions} partitions, replication factor ${result.replicationFactor}` : "";
    await writeStdout(`created topic ${name}${shape}\n`);
    return 0;
  },
};

const list: CliCommand = {
  spec: {
    name: "topics list",
    summary: "List topics with their partition counts.",
    positionals: [],
    flags: [{ name: "internal", description: "include internal topics" }, JSON_FLAG, BOOTSTRAP_FLAG],
  },
  async run({ args, connect, json }) {
    const session = await connect();
    const response = await session.metadata(null);
    const topics = response.topics
      .filter((t) => t.errorCode === ErrorCode.NONE && (boolFlag(args, "internal") || !t.isInternal))
      .map((t) => ({ name: t.name ?? "", partitions: t.partitions.length, internal: t.isInternal }))
      .sort((a, b) => a.name.localeCompare(b.name));
    if (json) await writeJson(topics);
    else if (topics.length > 0) await writeStdout(table(["TOPIC", "PARTITIONS"], topics.map((t) => [t.name, t.partitions])));
    return 0;
  },
};

const describe: CliCommand = {
  spec: {
    name: "topics describe",
    summary: "Show a topic's partitions (leader, replicas, in-sync replicas, offsets) and configs.",
    positionals: [TOPIC_ARG],
    flags: [{ name: "all-configs", description: "list every config, not only the topic's overrides" }, JSON_FLAG, BOOTSTRAP_FLAG],
  },
  async run({ args, connect, json }) {
    const name = args.positionals[0]!;
    const session = await connect();
    const response = await session.metadata([name]);
    const topic = response.topics.find((t) => t.name === name);
    if (topic === undefined) throw new CliError(`the broker's Metadata response does not mention topic ${name}`);
    if (topic.errorCode !== ErrorCode.NONE) throw new KafkaError(topic.errorCode, `describe topic ${name}`);
    const partitionsSorted = [...topic.partitions].sort((a, b) => a.partitionIndex - b.partitionIndex);
    const leaders = { name, leaders: new Map(partitionsSorted.map((p) => [p.partitionIndex, p.leaderId])) };
    const indexes = partitionsSorted.map((p) => p.partitionIndex);
    const [earliest, latest] = [await session.listOffsets(leaders, indexes, EARLIEST_TIMESTAMP), await session.listOffsets(leaders, indexes, LATEST_TIMESTAMP)];
    const configs = await describeTopicConfigs(session.bootstrap, name);
    const partitions = partitionsSorted.map((p) => ({
      partition: p.partitionIndex,
      leader: p.leaderId,
      replicas: p.replicaNodes,
      isr: p.isrNodes,
      earliestOffset: earliest.get(p.partitionIndex) ?? -1,
      latestOffset: latest.get(p.partitionIndex) ?? -1,
    }));
    const shown = boolFlag(args, "all-configs") ? configs : configs.filter((c) => c.source === CONFIG_SOURCES[DYNAMIC_TOPIC_CONFIG]);
    if (json) {
      await writeJson({ name, topicId: topic.topicId, internal: topic.isInternal, partitions, configs: shown });
      return 0;
    }
    let text = `Topic: ${name}  Partitions: ${partitions.length}  ReplicationFactor: ${partitions[0]?.replicas.length ?? 0}  TopicId: ${topic.topicId}\n\n`;
    text += table(
      ["PARTITION", "LEADER", "REPLICAS", "ISR", "EARLIEST", "LATEST"],
      partitions.map((p) => [p.partition, p.leader, p.replicas.join(",") || "-", p.isr.join(",") || "-", p.earliestOffset, p.latestOffset]),
    );
    text += `\nConfigs${boolFlag(args, "all-configs") ? "" : " (overrides)"}:${shown.length === 0 ? " none" : ""}\n`;
    for (const c of shown) text += `  ${c.name}=${c.value ?? "(null)"}${boolFlag(args, "all-configs") ? `  [${c.source}]` : ""}\n`;
    await writeStdout(text);
    return 0;
  },
};

const remove: CliCommand = {
  spec: { name: "topics delete", summary: "Delete a topic and its data.", positionals: [TOPIC_ARG], flags: [BOOTSTRAP_FLAG] },
  async run({ args, connect }) {
    const name = args.positionals[0]!;
    const session = await connect();
    const connection = session.bootstrap;
    // v6 addresses topics by name or id in a list of structs; names alone are enough here.
    const version = connection.pickVersion(ApiKey.DeleteTopics, 5);
    const response = await connection.request<DeleteTopicsResponse>(ApiKey.DeleteTopics, version, { topics: [], topicNames: [name], timeoutMs: TIMEOUT_MS });
    const result = response.responses[0];
    if (result === undefined) throw new CliError(`DeleteTopics returned no result for ${name}`);
    if (result.errorCode !== ErrorCode.NONE) throw new KafkaError(result.errorCode, `delete topic ${name}${result.errorMessage ? ` (${result.errorMessage})` : ""}`);
    await writeStdout(`deleted topic ${name}\n`);
    return 0;
  },
};

const alter: CliCommand = {
  spec: {
    name: "topics alter",
    summary: "Change a topic's configs (IncrementalAlterConfigs) or grow its partition count (CreatePartitions).",
    positionals: [TOPIC_ARG],
    flags: [
      { ...CONFIG_FLAG, description: "set a topic config" },
      { name: "delete-config", value: "KEY", repeatable: true, description: "remove a topic override, back to the broker default" },
      { name: "partitions", value: "N", description: "new total partition count (only grows)" },
      BOOTSTRAP_FLAG,
    ],
  },
  async run({ args, connect }) {
    const name = args.positionals[0]!;
    const sets = keyValueFlag(args, "topics alter", "config");
    const deletes = listFlag(args, "delete-config");
    const partitions = intFlag(args, "topics alter", "partitions", 1);
    if (sets.length === 0 && deletes.length === 0 && partitions === undefined) {
      throw new UsageError("nothing to change: give --config, --delete-config or --partitions", "topics alter");
    }
    const session = await connect();
    const connection = session.bootstrap;
    if (sets.length > 0 || deletes.length > 0) {
      const version = connection.pickVersion(ApiKey.IncrementalAlterConfigs, 1);
      const response = await connection.request<IncrementalAlterConfigsResponse>(ApiKey.IncrementalAlterConfigs, version, {
        resources: [
          {
            resourceType: TOPIC_RESOURCE_TYPE,
            resourceName: name,
            configs: [
              ...sets.map(([key, value]) => ({ name: key, configOperation: SET_OPERATION, value })),
              ...deletes.map((key) => ({ name: key, configOperation: DELETE_OPERATION, value: null })),
            ],
          },
        ],
        validateOnly: false,
      });
      const result = response.responses[0];
      if (result === undefined) throw new CliError(`IncrementalAlterConfigs returned no result for ${name}`);
      if (result.errorCode !== ErrorCode.NONE) throw new KafkaError(result.errorCode, `alter configs of topic ${name}${result.errorMessage ? ` (${result.errorMessage})` : ""}`);
      await writeStdout(`updated configs of topic ${name}\n`);
    }
    if (partitions !== undefined) {
      const version = connection.pickVersion(ApiKey.CreatePartitions, 3);
      const response = await connection.request<CreatePartitionsResponse>(ApiKey.CreatePartitions, version, {
        topics: [{ name, count: partitions, assignments: null }],
        timeoutMs: TIMEOUT_MS,
        validateOnly: false,
      });
      const result = response.results[0];
      if (result === undefined) throw new CliError(`CreatePartitions returned no result for ${name}`);
      if (result.errorCode !== ErrorCode.NONE) throw new KafkaError(result.errorCode, `grow topic ${name} to ${partitions} partitions${result.errorMessage ? ` (${result.errorMessage})` : ""}`);
      await writeStdout(`topic ${name} now has ${partitions} partitions\n`);
    }
    return 0;
  },
};

interface TopicConfig {
  name: string;
  value: string | null;
  source: string;
  readOnly: boolean;
  sensitive: boolean;
}

async function describeTopicConfigs(connection: KafkaConnection, name: string): Promise<TopicConfig[]> {
  const version = connection.pickVersion(ApiKey.DescribeConfigs, 4);
  const response = await connection.request<DescribeConfigsResponse>(ApiKey.DescribeConfigs, version, {
    resources: [{ resourceType: TOPIC_RESOURCE_TYPE, resourceName: name, configurationKeys: null }],
    includeSynonyms: false,
    includeDocumentation: false,
  });
  const result = response.results[0];
  if (result === undefined) throw new CliError(`DescribeConfigs returned no result for ${name}`);
  if (result.errorCode !== ErrorCode.NONE) throw new KafkaError(result.errorCode, `describe configs of topic ${name}${result.errorMessage ? ` (${result.errorMessage})` : ""}`);
  return result.configs
    .map((c) => ({
      name: c.name,
      value: c.isSensitive ? null : c.value,
      // v0 has only isDefault; later versions say where the value comes from.
      source: version === 0 ? (c.isDefault ? "DEFAULT_CONFIG" : "DYNAMIC_TOPIC_CONFIG") : (CONFIG_SOURCES[c.configSource] ?? `SOURCE_${c.configSource}`),
      readOnly: c.readOnly,
      sensitive: c.isSensitive,
    }))
    .sort((a, b) => a.name.localeCompare(b.name));
}

export const TOPIC_COMMANDS: CliCommand[] = [create, list, describe, alter, remove];
