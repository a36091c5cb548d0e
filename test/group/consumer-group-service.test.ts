/** GroupService's routing of KIP-848 groups: heartbeats, epoch-checked offsets, and ids shared with classic groups. */
import { afterEach, beforeEach, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { LmdbGroupRecordStore } from "../../src/group/group-record-store.ts";
import { GroupService } from "../../src/group/group-service.ts";
import type { ConsumerHeartbeatInput } from "../../src/group/consumer-group.ts";
import { MetadataStore } from "../../src/metadata/store.ts";
import { ErrorCode as E } from "../../src/protocol/error-codes.ts";
import { subscription, testConfig } from "./harness.ts";

const TOPIC_ID = "00000000-0000-0000-0000-000000000007";
const topics = { byName: (name: string) => (name === "t" ? { name, topicId: TOPIC_ID, partitionCount: 4 } : undefined) };

let dataDir: string;
let store: MetadataStore;
let groups: GroupService;
let nowMs: number;

/** A group service on this test's store, as a broker starts it. */
async function startService(): Promise<GroupService> {
  let uuids = 0;
  const service = new GroupService({
    config: { ...testConfig, initialRebalanceDelayMs: 0 },
    consumerConfig: { heartbeatIntervalMs: 100, sessionTimeoutMs: 1_000, maxGroupSize: 10, defaultAssignor: "uniform" },
    store: new LmdbGroupRecordStore(store.database("group-records")),
    nowMs: () => nowMs,
    generateUuid: () => `uuid-${++uuids}`,
    armTimer: false,
  });
  await service.start();
  return service;
}

beforeEach(async () => {
  dataDir = mkdtempSync(join(tmpdir(), "chronik-consumer-groups-"));
  store = MetadataStore.open(dataDir);
  nowMs = 1_000_000;
  groups = await startService();
});
afterEach(async () => {
  await groups.stop();
  await store.close();
  rmSync(dataDir, { recursive: true, force: true });
});

function heartbeat(input: Partial<ConsumerHeartbeatInput>) {
  return groups.consumerGroupHeartbeat(
    "g",
    {
      apiVersion: 1,
      memberId: "m1",
      memberEpoch: 0,
      instanceId: null,
      rackId: null,
      rebalanceTimeoutMs: 5_000,
      subscribedTopicNames: ["t"],
      subscribedTopicRegex: null,
      serverAssignor: null,
      topicPartitions: [],
      clientId: "client",
      clientHost: "/127.0.0.1",
      ...input,
    },
    topics,
  );
}

function commit(memberId: string, epoch: number) {
  return groups.commitOffsets("g", {
    generationId: epoch,
    memberId,
    groupInstanceId: null,
    topics: [{ name: "t", partitions: [{ partitionIndex: 0, committedOffset: 42, committedLeaderEpoch: -1, committedMetadata: null }] }],
  });
}

test("offsets commit with the member epoch and are fetched back; a stale epoch or unknown member is refused", async () => {
  const joined = await heartbeat({});
  expect(joined).toMatchObject({ errorCode: E.NONE, memberId: "m1", memberEpoch: 1 });
  expect((await commit("m1", 0)).topics[0]!.partitions[0]!.errorCode).toBe(E.STALE_MEMBER_EPOCH);
  expect((await commit("nobody", 1)).topics[0]!.partitions[0]!.errorCode).toBe(E.UNKNOWN_MEMBER_ID);
  expect((await commit("m1", 1)).topics[0]!.partitions[0]!.errorCode).toBe(E.NONE);
  const fetched = await groups.fetchOffsets("g", [{ name: "t", partitionIndexes: [0] }], { memberId: "m1", memberEpoch: 1 });
  expect(fetched.topics[0]!.partitions[0]!.committedOffset).toBe(42);
  expect((await groups.fetchOffsets("g", null, { memberId: "m1", memberEpoch: 3 })).errorCode).toBe(E.STALE_MEMBER_EPOCH);
  // An admin client fetches without a member epoch.
  expect((await groups.fetchOffsets("g", null)).errorCode).toBe(E.NONE);
  expect((await groups.deleteGroups(["g"]))[0]!.errorCode).toBe(E.NON_EMPTY_GROUP);
});

test("a group id is either classic or consumer while it has members", async () => {
  await heartbeat({});
  const classicJoin = await groups.join("g", {
    apiVersion: 3,
    memberId: "",
    groupInstanceId: null,
    clientId: "client",
    clientHost: "/127.0.0.1",
    sessionTimeoutMs: 1_000,
    rebalanceTimeoutMs: 2_000,
    protocolType: "consumer",
    protocols: [{ name: "range", metadata: subscription(["t"]) }],
  });
  expect(classicJoin.errorCode).toBe(E.INCONSISTENT_GROUP_PROTOCOL);
  expect((await heartbeat({ memberEpoch: -1, topicPartitions: null })).memberEpoch).toBe(-1);

  // Empty again: the classic protocol may take the id, and then the consumer protocol may not.
  const answer = groups.join("g", {
    apiVersion: 3,
    memberId: "",
    groupInstanceId: null,
    clientId: "client",
    clientHost: "/127.0.0.1",
    sessionTimeoutMs: 1_000,
    rebalanceTimeoutMs: 2_000,
    protocolType: "consumer",
    protocols: [{ name: "range", metadata: subscription(["t"]) }],
  });
  groups.tick();
  expect((await answer).errorCode).toBe(E.NONE);
  expect((await heartbeat({ memberId: "m2" })).errorCode).toBe(E.GROUP_ID_NOT_FOUND);
});

test("the edge's tick expires a silent member", async () => {
  await heartbeat({});
  nowMs += 1_001;
  groups.tick();
  expect((await heartbeat({ memberEpoch: 1, topicPartitions: [] })).errorCode).toBe(E.UNKNOWN_MEMBER_ID);
});

test("members carry on across a restart of the coordinator: the group is restored from its record", async () => {
  const joined = await heartbeat({});
  expect(joined).toMatchObject({ errorCode: E.NONE, memberEpoch: 1 });
  await groups.stop();
  nowMs += 500;
  groups = await startService();
  const again = await heartbeat({ memberEpoch: 1, topicPartitions: joined.assignment, subscribedTopicNames: null, rebalanceTimeoutMs: -1 });
  expect(again).toMatchObject({ errorCode: E.NONE, memberId: "m1", memberEpoch: 1, assignment: null });
  expect((await commit("m1", 1)).topics[0]!.partitions[0]!.errorCode).toBe(E.NONE);
  // Its session started with the restart; silent past it, it is gone, and that is recorded too.
  nowMs += 1_001;
  groups.tick();
  await groups.stop();
  groups = await startService();
  expect(groups.describeConsumerGroup("g", topics)).toMatchObject({ groupState: "Empty", members: [] });
});
