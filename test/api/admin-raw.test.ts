import { afterAll, beforeAll, expect, test } from "bun:test";
import { ErrorCode } from "../../src/protocol/error-codes.ts";
import { ApiKey } from "../../src/protocol/generated/index.ts";
import { buildRecordBatch, text } from "../../src/protocol/record-batch-builder.ts";
import { ZERO_UUID } from "../../src/protocol/reader.ts";
import { startBroker, type BrokerProcess } from "../helpers/broker-process.ts";
import { RawClient } from "../helpers/raw-client.ts";

const TOPIC = 2;
const BROKER = 4;
const BROKER_LOGGER = 8;
const SET = 0;
const DELETE = 1;
const APPEND = 2;
const SUBTRACT = 3;

let broker: BrokerProcess;
let client: RawClient;
beforeAll(async () => {
  broker = await startBroker({ args: ["--retention-ms", "86400000"] });
  client = await RawClient.connect(broker.kafkaPort);
  const created = await client.request(ApiKey.CreateTopics, 5, {
    topics: ["cfg", "parts", "records", "producers"].map((name) => ({ name, numPartitions: 2, replicationFactor: 1, assignments: [], configs: [] })),
    timeoutMs: 5000,
  });
  expect(created.topics.map((t: { errorCode: number }) => t.errorCode)).toEqual([0, 0, 0, 0]);
});
afterAll(async () => {
  client.close();
  await broker.cleanup();
});

async function produce(topic: string, partition: number, values: string[], options = {}) {
  const records = buildRecordBatch(values.map((v) => ({ key: null, value: text(v) })), options);
  const response = await client.request(ApiKey.Produce, 9, {
    transactionalId: null,
    acks: -1,
    timeoutMs: 5000,
    topicData: [{ name: topic, partitionData: [{ index: partition, records }] }],
  });
  return response.responses[0].partitionResponses[0];
}

async function fetchAt(topic: string, partition: number, fetchOffset: number) {
  const response = await client.request(ApiKey.Fetch, 12, {
    replicaId: -1,
    maxWaitMs: 0,
    minBytes: 0,
    maxBytes: 1 << 20,
    isolationLevel: 0,
    sessionId: 0,
    sessionEpoch: -1,
    topics: [{ topic, partitions: [{ partition, currentLeaderEpoch: -1, fetchOffset, lastFetchedEpoch: -1, logStartOffset: -1, partitionMaxBytes: 1 << 20 }] }],
    forgottenTopicsData: [],
    rackId: "",
  });
  return response.responses[0].partitions[0];
}

async function describeConfigs(version: number, resources: { resourceType: number; resourceName: string; configurationKeys: string[] | null }[], extra = {}) {
  const response = await client.request(ApiKey.DescribeConfigs, version, { resources, includeSynonyms: true, includeDocumentation: true, ...extra });
  return response.results;
}

async function incremental(resourceType: number, resourceName: string, configs: { name: string; configOperation: number; value: string | null }[], validateOnly = false) {
  const response = await client.request(ApiKey.IncrementalAlterConfigs, 1, { resources: [{ resourceType, resourceName, configs }], validateOnly });
  return response.responses[0];
}

async function topicConfig(name: string, topic = "cfg") {
  const [result] = await describeConfigs(4, [{ resourceType: TOPIC, resourceName: topic, configurationKeys: [name] }]);
  return result.configs[0];
}

test("DescribeConfigs reports topic configs with sources, synonyms, types and docs, filtered by key", async () => {
  const [result] = await describeConfigs(4, [{ resourceType: TOPIC, resourceName: "cfg", configurationKeys: ["retention.ms", "cleanup.policy"] }]);
  expect(result.errorCode).toBe(ErrorCode.NONE);
  const byName = Object.fromEntries(result.configs.map((c: { name: string }) => [c.name, c]));
  expect(Object.keys(byName).sort()).toEqual(["cleanup.policy", "retention.ms"]);
  expect(byName["retention.ms"]).toMatchObject({ value: "86400000", readOnly: false, configSource: 4, isSensitive: false, configType: 5 });
  expect(byName["retention.ms"].synonyms).toEqual([
    { name: "log.retention.ms", value: "86400000", source: 4 },
    { name: "log.retention.ms", value: "604800000", source: 5 },
  ]);
  expect(byName["retention.ms"].documentation).toContain("segments");
  expect(byName["cleanup.policy"]).toMatchObject({ value: "delete", configSource: 5, configType: 7 });

  const [v0] = await describeConfigs(0, [{ resourceType: TOPIC, resourceName: "cfg", configurationKeys: ["cleanup.policy"] }]);
  expect(v0.configs[0]).toMatchObject({ name: "cleanup.policy", value: "delete", isDefault: true, readOnly: false });
});

test("DescribeConfigs answers a BROKER resource with read-only broker configs under Kafka's names", async () => {
  const [result] = await describeConfigs(3, [{ resourceType: BROKER, resourceName: "1", configurationKeys: null }]);
  expect(result.errorCode).toBe(ErrorCode.NONE);
  const byName = Object.fromEntries(result.configs.map((c: { name: string }) => [c.name, c]));
  expect(byName["num.partitions"]).toMatchObject({ value: "1", readOnly: true, configSource: 5, configType: 3 });
  expect(byName["log.retention.ms"]).toMatchObject({ value: "86400000", readOnly: true, configSource: 4 });
  for (const name of ["message.max.bytes", "log.segment.bytes", "socket.request.max.bytes", "group.initial.rebalance.delay.ms", "offsets.retention.minutes", "log.cleanup.policy"]) {
    expect(byName[name]?.readOnly).toBe(true);
  }
  expect(byName["listeners"].value).toBe(`PLAINTEXT://127.0.0.1:${broker.kafkaPort}`);
  expect(byName["log.dirs"].value).toBe(broker.dataDir);
  const [clusterDefaults] = await describeConfigs(3, [{ resourceType: BROKER, resourceName: "", configurationKeys: null }]);
  expect(clusterDefaults).toMatchObject({ errorCode: ErrorCode.NONE, configs: [] });
});

test("DescribeConfigs errors: unknown topic, another broker, a logger resource", async () => {
  const results = await describeConfigs(4, [
    { resourceType: TOPIC, resourceName: "missing", configurationKeys: null },
    { resourceType: BROKER, resourceName: "7", configurationKeys: null },
    { resourceType: BROKER, resourceName: "one", configurationKeys: null },
    { resourceType: BROKER_LOGGER, resourceName: "1", configurationKeys: null },
  ]);
  expect(results.map((r: { errorCode: number }) => r.errorCode)).toEqual([
    ErrorCode.UNKNOWN_TOPIC_OR_PARTITION,
    ErrorCode.INVALID_REQUEST,
    ErrorCode.INVALID_REQUEST,
    ErrorCode.INVALID_REQUEST,
  ]);
  expect(results[1].errorMessage).toContain("Unexpected broker id");
});

test("AlterConfigs replaces the whole override set; validate_only changes nothing", async () => {
  const alter = async (configs: { name: string; value: string }[], validateOnly = false) =>
    (await client.request(ApiKey.AlterConfigs, 2, { resources: [{ resourceType: TOPIC, resourceName: "cfg", configs }], validateOnly })).responses[0];
  expect((await alter([{ name: "retention.ms", value: "5000" }, { name: "segment.ms", value: "60000" }])).errorCode).toBe(ErrorCode.NONE);
  expect(await topicConfig("segment.ms")).toMatchObject({ value: "60000", configSource: 1 });
  expect((await alter([{ name: "retention.ms", value: "7000" }])).errorCode).toBe(ErrorCode.NONE);
  expect(await topicConfig("retention.ms")).toMatchObject({ value: "7000", configSource: 1 });
  expect(await topicConfig("segment.ms")).toMatchObject({ value: "604800000", configSource: 5 });

  expect((await alter([{ name: "retention.ms", value: "9000" }], true)).errorCode).toBe(ErrorCode.NONE);
  expect((await topicConfig("retention.ms")).value).toBe("7000");

  const unknown = await alter([{ name: "no.such.config", value: "1" }]);
  expect(unknown.errorCode).toBe(ErrorCode.INVALID_CONFIG);
  expect(unknown.errorMessage).toContain("no.such.config");
  expect((await alter([{ name: "retention.ms", value: "soon" }])).errorCode).toBe(ErrorCode.INVALID_CONFIG);
  expect((await topicConfig("retention.ms")).value).toBe("7000");
});

test("IncrementalAlterConfigs sets, deletes, appends and subtracts list values", async () => {
  expect((await incremental(TOPIC, "cfg", [{ name: "cleanup.policy", configOperation: APPEND, value: "compact" }])).errorCode).toBe(ErrorCode.NONE);
  expect((await topicConfig("cleanup.policy")).value).toBe("delete,compact");
  expect((await incremental(TOPIC, "cfg", [{ name: "cleanup.policy", configOperation: SUBTRACT, value: "delete" }])).errorCode).toBe(ErrorCode.NONE);
  expect((await topicConfig("cleanup.policy")).value).toBe("compact");
  expect((await incremental(TOPIC, "cfg", [{ name: "max.message.bytes", configOperation: SET, value: "5000" }])).errorCode).toBe(ErrorCode.NONE);
  expect((await topicConfig("retention.ms")).value).toBe("7000");
  expect((await incremental(TOPIC, "cfg", [{ name: "retention.ms", configOperation: DELETE, value: null }])).errorCode).toBe(ErrorCode.NONE);
  expect(await topicConfig("retention.ms")).toMatchObject({ value: "86400000", configSource: 4 });

  // The new max.message.bytes is in force on the partition log.
  const tooBig = await produce("cfg", 0, ["x".repeat(6000)]);
  expect(tooBig.errorCode).toBe(ErrorCode.MESSAGE_TOO_LARGE);

  const appendToLong = await incremental(TOPIC, "cfg", [{ name: "retention.ms", configOperation: APPEND, value: "1" }]);
  expect(appendToLong.errorCode).toBe(ErrorCode.INVALID_CONFIG);
  const duplicate = await incremental(TOPIC, "cfg", [
    { name: "retention.ms", configOperation: SET, value: "1" },
    { name: "retention.ms", configOperation: DELETE, value: null },
  ]);
  expect(duplicate.errorCode).toBe(ErrorCode.INVALID_REQUEST);
  expect((await incremental(TOPIC, "missing", [{ name: "retention.ms", configOperation: SET, value: "1" }])).errorCode).toBe(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION);
  expect((await incremental(TOPIC, "cfg", [{ name: "segment.ms", configOperation: SET, value: "1000" }], true)).errorCode).toBe(ErrorCode.NONE);
  expect((await topicConfig("segment.ms")).value).toBe("604800000");
});

test("broker configs are static: altering them is INVALID_REQUEST", async () => {
  const result = await incremental(BROKER, "1", [{ name: "num.partitions", configOperation: SET, value: "3" }]);
  expect(result.errorCode).toBe(ErrorCode.INVALID_REQUEST);
  expect(result.errorMessage).toContain("num.partitions");
  const legacy = await client.request(ApiKey.AlterConfigs, 0, {
    resources: [{ resourceType: BROKER, resourceName: "1", configs: [{ name: "log.retention.ms", value: "1" }] }],
    validateOnly: false,
  });
  expect(legacy.responses[0].errorCode).toBe(ErrorCode.INVALID_REQUEST);
  expect((await incremental(BROKER_LOGGER, "1", [{ name: "root", configOperation: SET, value: "DEBUG" }])).errorCode).toBe(ErrorCode.INVALID_REQUEST);
});

test("CreatePartitions adds writable partitions and rejects what Kafka rejects", async () => {
  const create = async (topics: { name: string; count: number; assignments: { brokerIds: number[] }[] | null }[], validateOnly = false) =>
    (await client.request(ApiKey.CreatePartitions, 3, { topics, timeoutMs: 5000, validateOnly })).results;
  const codes = (results: { errorCode: number }[]) => results.map((r) => r.errorCode);
  expect(codes(await create([{ name: "parts", count: 3, assignments: null }], true))).toEqual([ErrorCode.NONE]);
  expect(codes(await create([{ name: "parts", count: 2, assignments: null }]))).toEqual([ErrorCode.INVALID_PARTITIONS]);
  expect(codes(await create([{ name: "parts", count: 1, assignments: null }]))).toEqual([ErrorCode.INVALID_PARTITIONS]);
  expect(codes(await create([{ name: "parts", count: 4, assignments: [{ brokerIds: [1] }] }]))).toEqual([ErrorCode.INVALID_REPLICA_ASSIGNMENT]);
  expect(codes(await create([{ name: "parts", count: 3, assignments: [{ brokerIds: [9] }] }]))).toEqual([ErrorCode.INVALID_REPLICA_ASSIGNMENT]);
  expect(codes(await create([{ name: "parts", count: 3, assignments: [{ brokerIds: [1, 1] }] }]))).toEqual([ErrorCode.INVALID_REPLICA_ASSIGNMENT]);
  expect(codes(await create([{ name: "missing", count: 3, assignments: null }]))).toEqual([ErrorCode.UNKNOWN_TOPIC_OR_PARTITION]);
  expect(
    codes(await create([{ name: "parts", count: 5, assignments: null }, { name: "parts", count: 6, assignments: null }])),
  ).toEqual([ErrorCode.INVALID_REQUEST, ErrorCode.INVALID_REQUEST]);

  expect((await produce("parts", 2, ["early"])).errorCode).toBe(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION);
  expect(codes(await create([{ name: "parts", count: 4, assignments: [{ brokerIds: [1] }, { brokerIds: [1] }] }]))).toEqual([ErrorCode.NONE]);
  const metadata = await client.request(ApiKey.Metadata, 12, { topics: [{ topicId: ZERO_UUID, name: "parts" }], allowAutoTopicCreation: false, includeTopicAuthorizedOperations: false });
  expect(metadata.topics[0].partitions.length).toBe(4);
  expect(await produce("parts", 3, ["late"])).toMatchObject({ errorCode: ErrorCode.NONE, baseOffset: 0 });
});

test("DeleteRecords advances the log start offset; reads below it are OFFSET_OUT_OF_RANGE", async () => {
  await produce("records", 0, ["a", "b", "c", "d", "e"]);
  const deleteRecords = async (partitions: { partitionIndex: number; offset: number }[]) =>
    (await client.request(ApiKey.DeleteRecords, 2, { topics: [{ name: "records", partitions }], timeoutMs: 5000 })).topics[0].partitions;
  expect(await deleteRecords([{ partitionIndex: 0, offset: 2 }])).toEqual([{ partitionIndex: 0, lowWatermark: 2, errorCode: ErrorCode.NONE }]);
  expect((await fetchAt("records", 0, 1)).errorCode).toBe(ErrorCode.OFFSET_OUT_OF_RANGE);
  expect((await fetchAt("records", 0, 2)).errorCode).toBe(ErrorCode.NONE);
  expect(await deleteRecords([{ partitionIndex: 0, offset: 6 }])).toEqual([{ partitionIndex: 0, lowWatermark: -1, errorCode: ErrorCode.OFFSET_OUT_OF_RANGE }]);
  expect(await deleteRecords([{ partitionIndex: 0, offset: -1 }, { partitionIndex: 1, offset: 0 }, { partitionIndex: 9, offset: 0 }])).toEqual([
    { partitionIndex: 0, lowWatermark: 5, errorCode: ErrorCode.NONE },
    { partitionIndex: 1, lowWatermark: 0, errorCode: ErrorCode.NONE },
    { partitionIndex: 9, lowWatermark: -1, errorCode: ErrorCode.UNKNOWN_TOPIC_OR_PARTITION },
  ]);
  const offsets = await client.request(ApiKey.ListOffsets, 7, {
    replicaId: -1,
    isolationLevel: 0,
    topics: [{ name: "records", partitions: [{ partitionIndex: 0, currentLeaderEpoch: -1, timestamp: -2 }] }],
  });
  expect(offsets.topics[0].partitions[0].offset).toBe(5);
});

test("DescribeLogDirs lists the data dir with every partition's size", async () => {
  await produce("records", 1, ["sized"]);
  const all = await client.request(ApiKey.DescribeLogDirs, 4, { topics: null });
  expect(all.errorCode).toBe(ErrorCode.NONE);
  expect(all.results.length).toBe(1);
  const dir = all.results[0];
  expect(dir.errorCode).toBe(ErrorCode.NONE);
  expect(dir.logDir).toBe(broker.dataDir);
  expect(dir.totalBytes).toBeGreaterThan(0);
  expect(dir.usableBytes).toBeGreaterThan(0);
  expect(dir.topics.map((t: { name: string }) => t.name).sort()).toEqual(["cfg", "parts", "producers", "records"]);

  const some = await client.request(ApiKey.DescribeLogDirs, 1, { topics: [{ topic: "records", partitions: [1, 8] }, { topic: "missing", partitions: [0] }] });
  expect(some.results[0].topics).toEqual([{ name: "records", partitions: [{ partitionIndex: 1, partitionSize: expect.any(Number), offsetLag: 0, isFutureKey: false }] }]);
  expect(some.results[0].topics[0].partitions[0].partitionSize).toBeGreaterThan(61);
});

test("DescribeProducers lists idempotent producers per partition", async () => {
  const init = await client.request(ApiKey.InitProducerId, 4, { transactionalId: null, transactionTimeoutMs: 60000, producerId: -1, producerEpoch: -1 });
  expect(init.errorCode).toBe(ErrorCode.NONE);
  const identity = { producerId: init.producerId, producerEpoch: init.producerEpoch };
  expect((await produce("producers", 0, ["a", "b", "c"], { ...identity, baseSequence: 0 })).errorCode).toBe(ErrorCode.NONE);
  expect((await produce("producers", 0, ["d"], { ...identity, baseSequence: 3 })).errorCode).toBe(ErrorCode.NONE);
  await produce("producers", 1, ["plain"]);

  const response = await client.request(ApiKey.DescribeProducers, 0, { topics: [{ name: "producers", partitionIndexes: [0, 1, 5] }, { name: "missing", partitionIndexes: [0] }] });
  const [topic, missing] = response.topics;
  expect(topic.partitions[0].errorCode).toBe(ErrorCode.NONE);
  expect(topic.partitions[0].activeProducers).toEqual([
    { ...identity, lastSequence: 3, lastTimestamp: expect.any(Number), coordinatorEpoch: -1, currentTxnStartOffset: -1 },
  ]);
  expect(topic.partitions[0].activeProducers[0].lastTimestamp).toBeGreaterThan(0);
  expect(topic.partitions[1]).toMatchObject({ errorCode: ErrorCode.NONE, activeProducers: [] });
  expect(topic.partitions[2].errorCode).toBe(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION);
  expect(missing.partitions[0].errorCode).toBe(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION);
});
