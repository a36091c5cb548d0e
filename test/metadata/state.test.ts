import { expect, test } from "bun:test";
import { pack, unpack } from "msgpackr";
import { ErrorCode } from "../../src/protocol/error-codes.ts";
import type { MetadataCommand, Placement } from "../../src/metadata/records.ts";
import { MetadataState, type MetadataSnapshot } from "../../src/metadata/state.ts";

const balanced = (count: number, replicationFactor: number): Placement => ({ kind: "balanced", count, replicationFactor });

function createTopic(name: string, placement: Placement, topicId = `id-${name}`): MetadataCommand {
  return { type: "create-topic", name, topicId, configs: {}, placement };
}

/** A state with brokers 1..n registered at log indexes 1..n (so broker n has epoch n). */
function cluster(n: number): { state: MetadataState; apply(command: MetadataCommand): ReturnType<MetadataState["apply"]> } {
  const state = new MetadataState();
  let index = 0;
  const apply = (command: MetadataCommand) => state.apply(command, ++index);
  for (let id = 1; id <= n; id++) apply({ type: "register-broker", broker: { nodeId: id, host: "127.0.0.1", port: 9091 + id, rack: null } });
  return { state, apply };
}

test("two proposers racing to create one topic: the second command is a rejected no-op with Kafka's error", () => {
  const { state, apply } = cluster(1);
  expect(apply(createTopic("orders", balanced(3, 1), "a")).outcome.errorCode).toBe(ErrorCode.NONE);
  const second = apply(createTopic("orders", balanced(1, 1), "b"));
  expect(second.outcome.errorCode).toBe(ErrorCode.TOPIC_ALREADY_EXISTS);
  expect(second.changes).toEqual([]);
  expect(state.topic("orders")!.topicId).toBe("a");
  expect(state.topic("orders")!.partitions.length).toBe(3);
});

test("races on deletion, config changes and partition increases reject instead of throwing", () => {
  const { apply } = cluster(1);
  apply(createTopic("t", balanced(1, 1)));
  expect(apply({ type: "delete-topic", name: "t" }).outcome.errorCode).toBe(ErrorCode.NONE);
  expect(apply({ type: "delete-topic", name: "t" }).outcome.errorCode).toBe(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION);
  expect(apply({ type: "alter-topic-configs", name: "t", configs: { "retention.ms": "1" } }).outcome.errorCode).toBe(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION);
  apply(createTopic("u", balanced(1, 1)));
  const grow = { type: "create-partitions", name: "u", firstPartition: 1, placement: balanced(1, 1) } as const;
  expect(apply(grow).outcome.errorCode).toBe(ErrorCode.NONE);
  expect(apply(grow).outcome.errorCode).toBe(ErrorCode.INVALID_PARTITIONS);
});

test("placement at apply time balances leaders and replicas by count across unfenced brokers", () => {
  const { state, apply } = cluster(3);
  for (let i = 0; i < 30; i++) apply(createTopic(`t${i}`, balanced(1 + (i % 3), 2)));
  const leaders = [1, 2, 3].map((id) => state.leaders(id));
  const replicas = [1, 2, 3].map((id) => state.replicas(id));
  expect(Math.max(...leaders) - Math.min(...leaders)).toBeLessThanOrEqual(1);
  expect(Math.max(...replicas) - Math.min(...replicas)).toBeLessThanOrEqual(1);
  expect(apply(createTopic("too-wide", balanced(1, 4))).outcome.errorCode).toBe(ErrorCode.INVALID_REPLICATION_FACTOR);
});

test("producer id blocks are handed out by the state machine, so concurrent allocations never overlap", () => {
  const { apply } = cluster(1);
  const a = apply({ type: "allocate-producer-ids", count: 1000 }).outcome;
  const b = apply({ type: "allocate-producer-ids", count: 1000 }).outcome;
  expect([a, b].map((o) => ("firstProducerId" in o ? o.firstProducerId : -1))).toEqual([0, 1000]);
});

test("fencing moves leadership to the next live ISR member with a bumped epoch; RF 1 loses its leader until the broker returns", () => {
  const { state, apply } = cluster(3);
  apply(createTopic("r3", { kind: "explicit", replicas: [[1, 2, 3]] }));
  apply(createTopic("r1", { kind: "explicit", replicas: [[1]] }));
  const fence = apply({ type: "fence-broker", nodeId: 1, brokerEpoch: 1, reason: "session-timeout" });
  expect(fence.outcome.errorCode).toBe(ErrorCode.NONE);
  expect(state.topic("r3")!.partitions[0]).toMatchObject({ leader: 2, isr: [2, 3], leaderEpoch: 1 });
  expect(state.topic("r1")!.partitions[0]).toMatchObject({ leader: -1, isr: [1], leaderEpoch: 1 });
  expect(state.broker(1)!.fenced).toBe(true);
  expect(state.liveBrokers().map((b) => b.nodeId)).toEqual([2, 3]);

  // A heartbeat of a stale epoch is refused; the current one unfences and re-elects where the broker is in the ISR.
  expect(apply({ type: "broker-heartbeat", nodeId: 1, brokerEpoch: 99 }).outcome.errorCode).toBe(ErrorCode.STALE_BROKER_EPOCH);
  expect(apply({ type: "broker-heartbeat", nodeId: 1, brokerEpoch: 1 }).outcome.errorCode).toBe(ErrorCode.NONE);
  expect(state.broker(1)!.fenced).toBe(false);
  expect(state.topic("r1")!.partitions[0]).toMatchObject({ leader: 1, leaderEpoch: 2 });
  expect(state.topic("r3")!.partitions[0]).toMatchObject({ leader: 2, isr: [2, 3] });
});

test("a fence naming an older registration is a no-op", () => {
  const { state, apply } = cluster(2);
  const epoch = apply({ type: "register-broker", broker: { nodeId: 2, host: "h", port: 1, rack: null } }).outcome;
  expect("brokerEpoch" in epoch && epoch.brokerEpoch).toBe(3);
  expect(apply({ type: "fence-broker", nodeId: 2, brokerEpoch: 2, reason: "session-timeout" }).outcome.errorCode).toBe(ErrorCode.STALE_BROKER_EPOCH);
  expect(state.broker(2)!.fenced).toBe(false);
});

test("a snapshot round-trips through msgpack to an equal state, load counters included", () => {
  const { state, apply } = cluster(3);
  apply({ type: "init-cluster", clusterId: "c" });
  for (let i = 0; i < 10; i++) apply(createTopic(`t${i}`, balanced(2, 2)));
  apply({ type: "fence-broker", nodeId: 3, brokerEpoch: 3, reason: "controlled-shutdown" });
  const restored = MetadataState.fromSnapshot(unpack(pack(state.toSnapshot())) as MetadataSnapshot);
  expect(restored.toSnapshot()).toEqual(state.toSnapshot());
  for (const id of [1, 2, 3]) {
    expect(restored.brokerEpoch(id)).toBe(state.brokerEpoch(id));
    expect(restored.leaders(id)).toBe(state.leaders(id));
    expect(restored.replicas(id)).toBe(state.replicas(id));
  }
});

test("group records are kept only from the group's live coordinator, survive a snapshot, and follow deletions", () => {
  const { state, apply } = cluster(3);
  const coordinator = state.groupCoordinator("g")!.nodeId;
  const other = [1, 2, 3].find((id) => id !== coordinator)!;
  const offset = (partition: number, value: number) =>
    ({ type: "offset", groupId: "g", topic: "t", partition, offset: value, leaderEpoch: -1, metadata: "", commitTimestampMs: 1 }) as const;
  const records = (coordinatorId: number, ...list: object[]) => ({ type: "group-records", coordinatorId, incarnation: "x", records: list }) as MetadataCommand;

  const refused = apply(records(other, offset(0, 5)));
  expect(refused.outcome.errorCode).toBe(ErrorCode.NOT_COORDINATOR);
  expect(refused.changes).toEqual([]);
  expect(state.groupRecordsOf("g")).toEqual([]);

  const group = { type: "group", groupId: "g", protocolType: "consumer", generationId: 3, emptySinceMs: null } as const;
  expect(apply(records(coordinator, offset(0, 5), offset(1, 7), group, offset(0, 6))).changes).toHaveLength(1);
  apply(records(coordinator, { type: "offset-deleted", groupId: "g", topic: "t", partition: 1 }));
  expect(state.groupRecordsOf("g")).toEqual([offset(0, 6), group]);
  expect(MetadataState.fromSnapshot(unpack(pack(state.toSnapshot())) as MetadataSnapshot).groupRecordsOf("g")).toEqual([offset(0, 6), group]);

  // Fenced, the coordinator hands the group to a live broker, which alone may write it now.
  apply({ type: "fence-broker", nodeId: coordinator, brokerEpoch: coordinator, reason: "session-timeout" });
  const successor = state.groupCoordinator("g")!.nodeId;
  expect(successor).not.toBe(coordinator);
  expect(apply(records(coordinator, offset(0, 100))).outcome.errorCode).toBe(ErrorCode.NOT_COORDINATOR);
  expect(apply(records(successor, { type: "group-deleted", groupId: "g" })).outcome.errorCode).toBe(ErrorCode.NONE);
  expect(state.groupIds()).toEqual([]);
});

test("a group-records command with a malformed record is refused whole, before it touches the state", () => {
  const { state, apply } = cluster(1);
  const applied = apply({ type: "group-records", coordinatorId: 1, incarnation: "x", records: [{ type: "offset", groupId: "g", topic: "t", partition: 0, offset: "5" }] } as unknown as MetadataCommand);
  expect(applied.fault).toContain("offset record");
  expect(state.groupIds()).toEqual([]);
});

test("a group record's Stable generation is kept and snapshotted with its members; one that could not load is refused", () => {
  const { state, apply } = cluster(1);
  const member = (memberId: string, protocolName = "range") => ({
    memberId,
    groupInstanceId: null,
    clientId: "c",
    clientHost: "/127.0.0.1",
    rebalanceTimeoutMs: 300_000,
    sessionTimeoutMs: 45_000,
    protocols: [{ name: protocolName, metadata: new Uint8Array([1]) }],
    assignment: new Uint8Array([2, 3]),
  });
  const group = (stable: object) => ({ type: "group", groupId: "g", protocolType: "consumer", generationId: 2, emptySinceMs: null, stable });
  const records = (record: object) => ({ type: "group-records", coordinatorId: 1, incarnation: "x", records: [record] }) as unknown as MetadataCommand;

  const valid = group({ protocolName: "range", leaderId: "m1", members: [member("m1"), member("m2")] });
  expect(apply(records(valid)).outcome.errorCode).toBe(ErrorCode.NONE);
  expect(MetadataState.fromSnapshot(unpack(pack(state.toSnapshot())) as MetadataSnapshot).groupRecordsOf("g")).toEqual([valid as never]);

  const faults = [
    group({ protocolName: "range", leaderId: "nobody", members: [member("m1")] }),
    group({ protocolName: "range", leaderId: "m1", members: [member("m1"), member("m1")] }),
    group({ protocolName: "range", leaderId: "m1", members: [member("m1", "roundrobin")] }),
    group({ protocolName: "range", leaderId: "m1", members: [] }),
    { ...group({ protocolName: "range", leaderId: "m1", members: [member("m1")] }), protocolType: null },
  ].map((record) => apply(records(record)).fault);
  expect(faults).toEqual([
    expect.stringContaining("leader must be one of its members"),
    expect.stringContaining("distinct member ids"),
    expect.stringContaining("support the generation's protocol"),
    expect.stringContaining("needs a protocolName, a leaderId and members"),
    expect.stringContaining("a stable generation needs a protocolType"),
  ]);
  expect(state.groupRecordsOf("g")).toEqual([valid as never]);
});
