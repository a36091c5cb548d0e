import { afterAll, beforeAll, expect, test } from "bun:test";
import { ErrorCode } from "../../src/protocol/error-codes.ts";
import { ApiKey } from "../../src/protocol/generated/index.ts";
import { startBroker, type BrokerProcess } from "../helpers/broker-process.ts";
import { RawClient } from "../helpers/raw-client.ts";
import { subscription } from "../group/harness.ts";

/** Version edges no client in the other tests reaches: v0 requests, batched forms, filters and error paths. */
let broker: BrokerProcess;
let client: RawClient;
beforeAll(async () => {
  broker = await startBroker({ args: ["--default-partitions", "2", "--group-initial-rebalance-delay-ms", "0", "--group-min-session-timeout-ms", "1000"] });
  client = await RawClient.connect(broker.kafkaPort);
  const metadata = await client.request(ApiKey.Metadata, 4, { topics: [{ name: "raw" }], allowAutoTopicCreation: true });
  expect(metadata.topics[0].errorCode).toBe(ErrorCode.NONE);
}, 40_000);
afterAll(async () => {
  client?.close();
  await broker?.cleanup();
});

test("FindCoordinator: this broker for groups, single and batched; no coordinator for transactions", async () => {
  const v0 = await client.request(ApiKey.FindCoordinator, 0, { key: "g" });
  expect(v0).toMatchObject({ errorCode: ErrorCode.NONE, nodeId: 1, host: "127.0.0.1", port: broker.kafkaPort });
  const txn = await client.request(ApiKey.FindCoordinator, 3, { key: "t", keyType: 1 });
  expect(txn.errorCode).toBe(ErrorCode.COORDINATOR_NOT_AVAILABLE);
  const batched = await client.request(ApiKey.FindCoordinator, 4, { keyType: 0, coordinatorKeys: ["a", "b"] });
  expect(batched.coordinators.map((c: { key: string; nodeId: number; errorCode: number }) => [c.key, c.nodeId, c.errorCode])).toEqual([
    ["a", 1, 0],
    ["b", 1, 0],
  ]);
});

test("a v0 member joins, syncs, heartbeats and commits; OffsetFetch and OffsetDelete at their edges; leave, list, describe, delete", async () => {
  const group = "raw-group";
  const join = await client.request(ApiKey.JoinGroup, 0, {
    groupId: group,
    sessionTimeoutMs: 5_000,
    memberId: "",
    protocolType: "consumer",
    protocols: [{ name: "range", metadata: subscription(["raw"]) }],
  });
  expect(join).toMatchObject({ errorCode: ErrorCode.NONE, generationId: 1, protocolName: "range" });
  expect(join.leader).toBe(join.memberId);
  expect(join.memberId.startsWith("raw-test-")).toBe(true);
  const memberId = join.memberId;
  const assignment = new Uint8Array([0, 1, 2, 3]);
  const sync = await client.request(ApiKey.SyncGroup, 0, { groupId: group, generationId: 1, memberId, assignments: [{ memberId, assignment }] });
  expect(sync.errorCode).toBe(ErrorCode.NONE);
  expect([...sync.assignment]).toEqual([...assignment]);
  expect((await client.request(ApiKey.Heartbeat, 0, { groupId: group, generationId: 1, memberId })).errorCode).toBe(ErrorCode.NONE);
  expect((await client.request(ApiKey.Heartbeat, 0, { groupId: group, generationId: 7, memberId })).errorCode).toBe(ErrorCode.ILLEGAL_GENERATION);

  const commit = await client.request(ApiKey.OffsetCommit, 2, {
    groupId: group,
    generationIdOrMemberEpoch: 1,
    memberId,
    retentionTimeMs: -1,
    topics: [
      { name: "raw", partitions: [{ partitionIndex: 0, committedOffset: 10, committedMetadata: "m" }, { partitionIndex: 5, committedOffset: 1 }] },
      { name: "missing", partitions: [{ partitionIndex: 0, committedOffset: 1 }] },
    ],
  });
  expect(commit.topics.map((t: any) => t.partitions.map((p: any) => [p.partitionIndex, p.errorCode]))).toEqual([
    [
      [0, ErrorCode.NONE],
      [5, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION],
    ],
    [[0, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION]],
  ]);
  const flexible = await client.request(ApiKey.OffsetCommit, 9, {
    groupId: group,
    generationIdOrMemberEpoch: 1,
    memberId,
    groupInstanceId: null,
    topics: [{ name: "raw", partitions: [{ partitionIndex: 1, committedOffset: 20, committedLeaderEpoch: 0, committedMetadata: null }] }],
  });
  expect(flexible.topics[0].partitions[0].errorCode).toBe(ErrorCode.NONE);

  const v1 = await client.request(ApiKey.OffsetFetch, 1, { groupId: group, topics: [{ name: "raw", partitionIndexes: [0, 1, 3] }] });
  expect(v1.topics[0].partitions.map((p: any) => [p.partitionIndex, p.committedOffset, p.metadata])).toEqual([
    [0, 10, "m"],
    [1, 20, ""],
    [3, -1, ""],
  ]);
  const batched = await client.request(ApiKey.OffsetFetch, 8, {
    groups: [
      { groupId: group, topics: null },
      { groupId: "nobody", topics: [{ name: "raw", partitionIndexes: [0] }] },
    ],
    requireStable: true,
  });
  expect(batched.groups[0].topics[0].partitions.map((p: any) => [p.partitionIndex, p.committedOffset])).toEqual([
    [0, 10],
    [1, 20],
  ]);
  expect(batched.groups[1].topics[0].partitions[0].committedOffset).toBe(-1);

  // A live consumer group keeps the offsets of the topics it subscribes to.
  const subscribed = await client.request(ApiKey.OffsetDelete, 0, { groupId: group, topics: [{ name: "raw", partitions: [{ partitionIndex: 0 }] }] });
  expect(subscribed.topics[0].partitions[0].errorCode).toBe(ErrorCode.GROUP_SUBSCRIBED_TO_TOPIC);

  const stable = await client.request(ApiKey.ListGroups, 4, { statesFilter: ["stable"] });
  expect(stable.groups.map((g: any) => g.groupId)).toContain(group);
  expect((await client.request(ApiKey.ListGroups, 4, { statesFilter: ["Empty"] })).groups.map((g: any) => g.groupId)).not.toContain(group);
  const classic = await client.request(ApiKey.ListGroups, 5, { statesFilter: [], typesFilter: ["classic"] });
  expect(classic.groups.find((g: any) => g.groupId === group)).toMatchObject({ groupState: "Stable", groupType: "classic", protocolType: "consumer" });
  expect((await client.request(ApiKey.ListGroups, 5, { statesFilter: [], typesFilter: ["consumer"] })).groups).toEqual([]);
  const described = await client.request(ApiKey.DescribeGroups, 5, { groups: [group, "nobody"], includeAuthorizedOperations: false });
  expect(described.groups[0]).toMatchObject({ errorCode: 0, groupState: "Stable", protocolType: "consumer", protocolData: "range" });
  expect(described.groups[0].members[0]).toMatchObject({ memberId, clientId: "raw-test", clientHost: "/127.0.0.1" });
  expect([...described.groups[0].members[0].memberAssignment]).toEqual([...assignment]);
  expect(described.groups[1]).toMatchObject({ groupId: "nobody", groupState: "Dead" });
  expect((await client.request(ApiKey.DeleteGroups, 2, { groupsNames: [group] })).results[0].errorCode).toBe(ErrorCode.NON_EMPTY_GROUP);

  expect((await client.request(ApiKey.LeaveGroup, 0, { groupId: group, memberId })).errorCode).toBe(ErrorCode.NONE);
  const deleted = await client.request(ApiKey.OffsetDelete, 0, {
    groupId: group,
    topics: [{ name: "raw", partitions: [{ partitionIndex: 0 }, { partitionIndex: 9 }] }],
  });
  expect(deleted.topics[0].partitions.map((p: any) => [p.partitionIndex, p.errorCode])).toEqual([
    [0, ErrorCode.NONE],
    [9, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION],
  ]);
  const remaining = await client.request(ApiKey.OffsetFetch, 5, { groupId: group, topics: null, requireStable: false });
  expect(remaining.topics.map((t: any) => t.partitions.map((p: any) => p.partitionIndex))).toEqual([[1]]);
  const groupsDeleted = await client.request(ApiKey.DeleteGroups, 2, { groupsNames: [group, "nobody"] });
  expect(groupsDeleted.results.map((r: any) => [r.groupId, r.errorCode])).toEqual([
    [group, ErrorCode.NONE],
    ["nobody", ErrorCode.GROUP_ID_NOT_FOUND],
  ]);
});

test("JoinGroup v4+ asks a new member for its id first; LeaveGroup v3+ leaves in a batch", async () => {
  const group = "raw-v9";
  const joinRequest = (memberId: string) => ({
    groupId: group,
    sessionTimeoutMs: 5_000,
    rebalanceTimeoutMs: 5_000,
    memberId,
    groupInstanceId: null,
    protocolType: "consumer",
    protocols: [{ name: "range", metadata: subscription(["raw"]) }],
    reason: null,
  });
  const first = await client.request(ApiKey.JoinGroup, 9, joinRequest(""));
  expect(first.errorCode).toBe(ErrorCode.MEMBER_ID_REQUIRED);
  const joined = await client.request(ApiKey.JoinGroup, 9, joinRequest(first.memberId));
  expect(joined).toMatchObject({ errorCode: ErrorCode.NONE, memberId: first.memberId, leader: first.memberId, protocolType: "consumer", protocolName: "range" });
  const sync = await client.request(ApiKey.SyncGroup, 5, {
    groupId: group,
    generationId: joined.generationId,
    memberId: joined.memberId,
    groupInstanceId: null,
    protocolType: "consumer",
    protocolName: "roundrobin",
    assignments: [],
  });
  expect(sync.errorCode).toBe(ErrorCode.INCONSISTENT_GROUP_PROTOCOL);
  const leave = await client.request(ApiKey.LeaveGroup, 5, {
    groupId: group,
    members: [
      { memberId: joined.memberId, groupInstanceId: null, reason: "done" },
      { memberId: "stranger", groupInstanceId: null, reason: null },
    ],
  });
  expect(leave.members.map((m: any) => [m.memberId, m.errorCode])).toEqual([
    [joined.memberId, ErrorCode.NONE],
    ["stranger", ErrorCode.UNKNOWN_MEMBER_ID],
  ]);
  expect((await client.request(ApiKey.JoinGroup, 5, { ...joinRequest(""), groupId: "" })).errorCode).toBe(ErrorCode.INVALID_GROUP_ID);
});
