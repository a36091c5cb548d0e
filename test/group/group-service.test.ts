import { afterEach, beforeEach, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { LmdbGroupRecordStore } from "../../src/group/group-record-store.ts";
import { GroupService } from "../../src/group/group-service.ts";
import { MetadataStore } from "../../src/metadata/store.ts";
import { ErrorCode } from "../../src/protocol/error-codes.ts";
import type { JoinInput } from "../../src/group/types.ts";
import { subscription, testConfig } from "./harness.ts";

let dataDir: string;
let store: MetadataStore;
let nowMs: number;
let uuids: number;

beforeEach(() => {
  dataDir = mkdtempSync(join(tmpdir(), "chronik-groups-"));
  store = MetadataStore.open(dataDir);
  nowMs = 1_000_000;
  uuids = 0;
});
afterEach(async () => {
  await store.close();
  rmSync(dataDir, { recursive: true, force: true });
});

/** A service on the fake clock; tests call tick() themselves, so no real timer is armed. */
async function service(initialRebalanceDelayMs = 0): Promise<GroupService> {
  const groups = new GroupService({
    config: { ...testConfig, initialRebalanceDelayMs },
    store: new LmdbGroupRecordStore(store.database("group-records")),
    nowMs: () => nowMs,
    generateUuid: () => `uuid-${++uuids}`,
    armTimer: false,
  });
  await groups.start();
  return groups;
}

function joinInput(memberId = ""): JoinInput {
  return {
    apiVersion: 3,
    memberId,
    groupInstanceId: null,
    clientId: "client",
    clientHost: "/127.0.0.1",
    sessionTimeoutMs: 1_000,
    rebalanceTimeoutMs: 2_000,
    protocolType: "consumer",
    protocols: [{ name: "range", metadata: subscription(["t"]) }],
  };
}

/** Joins and fires the initial-delay timer, which a real broker's timer fires at once with a zero delay. */
async function joinNow(groups: GroupService, groupId: string) {
  const answer = groups.join(groupId, joinInput());
  groups.tick();
  return await answer;
}

function commitInput(offset: number) {
  return {
    generationId: -1,
    memberId: "",
    groupInstanceId: null,
    topics: [{ name: "t", partitions: [{ partitionIndex: 0, committedOffset: offset, committedLeaderEpoch: 3, committedMetadata: "meta" }] }],
  };
}

test("a join is answered only once its group record is durable", async () => {
  const groups = await service();
  const db = store.database<unknown, (string | number)[]>("group-records");
  const response = await joinNow(groups, "g");
  expect(response).toMatchObject({ errorCode: ErrorCode.NONE, generationId: 1, memberId: "client-uuid-1" });
  expect(db.get(["g", "g"])).toMatchObject({ type: "group", generationId: 1, emptySinceMs: null });
  await groups.stop();
});

test("committed offsets and generations survive a restart; deleting a group removes only its keys", async () => {
  const first = await service();
  expect((await first.commitOffsets("g", commitInput(42))).topics[0]!.partitions[0]!.errorCode).toBe(ErrorCode.NONE);
  expect((await first.commitOffsets("g2", commitInput(7))).topics[0]!.partitions[0]!.errorCode).toBe(ErrorCode.NONE);
  await joinNow(first, "h");
  await first.stop();

  const second = await service();
  expect((await second.fetchOffsets("g", null)).topics).toEqual([
    { name: "t", partitions: [{ partitionIndex: 0, committedOffset: 42, committedLeaderEpoch: 3, metadata: "meta", errorCode: 0 }] },
  ]);
  // Members do not survive a restart: the group is back Empty with its generation.
  expect(second.groupState("h")).toMatchObject({ state: "Empty", generationId: 1, memberIds: [] });
  expect(await second.deleteGroups(["g"])).toEqual([{ groupId: "g", errorCode: ErrorCode.NONE }]);
  await second.stop();

  const third = await service();
  expect((await third.fetchOffsets("g", null)).topics).toEqual([]);
  expect((await third.fetchOffsets("g2", null)).topics[0]!.partitions[0]!.committedOffset).toBe(7);
  expect(third.listGroups([]).map((group) => group.groupId).sort()).toEqual(["g2", "h"]);
  await third.stop();
});

test("a member that stops heartbeating is expired by tick(), and the Empty group is persisted", async () => {
  const groups = await service();
  const joined = await joinNow(groups, "g");
  const synced = await groups.sync("g", {
    memberId: joined.memberId,
    groupInstanceId: null,
    generationId: joined.generationId,
    protocolType: null,
    protocolName: null,
    assignments: [{ memberId: joined.memberId, assignment: new Uint8Array([1]) }],
  });
  expect(synced.errorCode).toBe(ErrorCode.NONE);
  nowMs += 999;
  groups.tick();
  expect(groups.groupState("g")!.state).toBe("Stable");
  nowMs += 2;
  groups.tick();
  // The expiry's rebalance finds nobody and completes at once.
  expect(groups.groupState("g")).toMatchObject({ state: "Empty", generationId: 2, memberIds: [] });
  await groups.stop();
  const restarted = await service();
  expect(restarted.groupState("g")).toMatchObject({ state: "Empty", generationId: 2 });
  await restarted.stop();
});

test("stop answers a join still waiting for the rebalance with COORDINATOR_NOT_AVAILABLE", async () => {
  const groups = await service(5_000);
  const waiting = groups.join("g", joinInput());
  await groups.stop();
  expect((await waiting).errorCode).toBe(ErrorCode.COORDINATOR_NOT_AVAILABLE);
  expect((await groups.join("g", joinInput())).errorCode).toBe(ErrorCode.COORDINATOR_NOT_AVAILABLE);
});

test("a broker that does not coordinate a group answers each of its requests NOT_COORDINATOR, group by group", async () => {
  const groups = new GroupService({
    config: testConfig,
    store: new LmdbGroupRecordStore(store.database("group-records")),
    nowMs: () => nowMs,
    generateUuid: () => `uuid-${++uuids}`,
    armTimer: false,
    coordinates: (groupId) => groupId.startsWith("mine"),
  });
  await groups.start();
  const commit = { generationId: -1, memberId: "", groupInstanceId: null, topics: [{ name: "t", partitions: [{ partitionIndex: 0, committedOffset: 5, committedLeaderEpoch: -1, committedMetadata: null }] }] };
  expect((await groups.commitOffsets("mine-1", commit)).topics[0]!.partitions[0]!.errorCode).toBe(ErrorCode.NONE);
  await expect(groups.commitOffsets("theirs", commit)).rejects.toMatchObject({ errorCode: ErrorCode.NOT_COORDINATOR });
  await expect(groups.heartbeat("theirs", { memberId: "m", generationId: 1, groupInstanceId: null })).rejects.toMatchObject({ errorCode: ErrorCode.NOT_COORDINATOR });
  expect((await groups.join("theirs", joinInput())).errorCode).toBe(ErrorCode.NOT_COORDINATOR);
  expect((await groups.fetchOffsets("theirs", null)).errorCode).toBe(ErrorCode.NOT_COORDINATOR);
  expect((await groups.fetchOffsets("mine-1", null)).topics[0]!.partitions[0]!.committedOffset).toBe(5);
  expect(groups.describeGroups(["mine-1", "theirs"]).map((g) => [g.groupId, g.errorCode])).toEqual([
    ["mine-1", ErrorCode.NONE],
    ["theirs", ErrorCode.NOT_COORDINATOR],
  ]);
  expect(await groups.deleteGroups(["mine-1", "theirs"])).toEqual([
    { groupId: "mine-1", errorCode: ErrorCode.NONE },
    { groupId: "theirs", errorCode: ErrorCode.NOT_COORDINATOR },
  ]);
  await groups.stop();
});

test("a broker takes a group over from its replicated records when it gains it, and answers its waiting joins NOT_COORDINATOR when it loses it", async () => {
  let mine = false;
  const replicatedRecords = [
    { type: "group", groupId: "g", protocolType: "consumer", generationId: 4, emptySinceMs: 0 },
    { type: "offset", groupId: "g", topic: "t", partition: 0, offset: 5, leaderEpoch: -1, metadata: "", commitTimestampMs: nowMs },
  ] as const;
  const groups = new GroupService({
    config: { ...testConfig, initialRebalanceDelayMs: 1_000 },
    store: new LmdbGroupRecordStore(store.database("group-records")),
    nowMs: () => nowMs,
    generateUuid: () => `uuid-${++uuids}`,
    armTimer: false,
    coordinates: () => mine,
    replicated: { groupIds: () => ["g"], recordsOf: () => [...replicatedRecords] },
  });
  await groups.start();
  groups.resync();
  expect((await groups.fetchOffsets("g", null)).errorCode).toBe(ErrorCode.NOT_COORDINATOR);

  mine = true;
  groups.resync();
  expect((await groups.fetchOffsets("g", null)).topics[0]!.partitions[0]!.committedOffset).toBe(5);
  expect(groups.groupState("g")).toMatchObject({ state: "Empty", generationId: 4 });
  groups.replay([{ type: "offset", groupId: "g", topic: "t", partition: 0, offset: 9, leaderEpoch: -1, metadata: "", commitTimestampMs: nowMs }]);
  expect((await groups.fetchOffsets("g", null)).topics[0]!.partitions[0]!.committedOffset).toBe(9);

  // A join waits for the initial rebalance delay; the group moves away meanwhile.
  const waiting = groups.join("g", joinInput());
  mine = false;
  groups.resync();
  expect((await waiting).errorCode).toBe(ErrorCode.NOT_COORDINATOR);
  expect(groups.groupState("g")).toBeNull();
  await groups.stop();
});
