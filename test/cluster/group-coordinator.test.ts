/**
 * Consumer groups on a 3-node cluster: a group has one coordinator, whichever broker a client asks, so two members
 * that bootstrap through different brokers share the partitions instead of each getting all of them. Other brokers
 * answer the group's requests with NOT_COORDINATOR. Committed offsets and Stable generations go through the metadata
 * log, so when the coordinator dies the group moves to a live broker with its offsets and members, and back when the
 * broker returns. So do consumer-protocol (KIP-848) groups' members, epochs and assignments.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { Kafka, logLevel, type Consumer } from "kafkajs";
import { createTopics } from "../../src/client/admin.ts";
import { KafkaConnection } from "../../src/client/connection.ts";
import { ErrorCode } from "../../src/protocol/error-codes.ts";
import { ApiKey } from "../../src/protocol/generated/index.ts";
import { startCluster, type BrokerProcess, type ClusterProcess } from "../helpers/broker-process.ts";
import { runProcess } from "../helpers/run-process.ts";
import { waitFor } from "../helpers/wait.ts";

const TOPIC = "shared-by-one-group";
const PARTITIONS = 6;
const MESSAGES = 600;
const SESSION_TIMEOUT_MS = 4000;
const ARGS = ["--raft-election-timeout-ms", "1000", "--broker-heartbeat-interval-ms", "300", "--broker-session-timeout-ms", String(SESSION_TIMEOUT_MS)];

let cluster: ClusterProcess;
const connections: KafkaConnection[] = [];
const consumers: Consumer[] = [];

beforeAll(async () => {
  cluster = await startCluster(3, ARGS);
}, 60_000);

afterAll(async () => {
  for (const consumer of consumers) await consumer.disconnect().catch(() => {});
  for (const connection of connections) connection.close();
  await cluster?.cleanup();
});

async function connect(node: BrokerProcess): Promise<KafkaConnection> {
  const connection = await KafkaConnection.connect({ host: "127.0.0.1", port: node.kafkaPort, requestTimeoutMs: 20_000 });
  connections.push(connection);
  await connection.negotiateVersions();
  return connection;
}

type Found = { nodeId: number; errorCode: number };

async function findCoordinator(node: BrokerProcess, groupId: string): Promise<Found> {
  const connection = await connect(node);
  const answer = await connection.request<{ coordinators: Found[] }>(ApiKey.FindCoordinator, 4, { keyType: 0, coordinatorKeys: [groupId] });
  return answer.coordinators[0]!;
}

async function commit(node: BrokerProcess, groupId: string, offset: number): Promise<number> {
  const connection = await connect(node);
  const answer = await connection.request<{ topics: { partitions: { errorCode: number }[] }[] }>(ApiKey.OffsetCommit, 8, {
    groupId,
    generationIdOrMemberEpoch: -1,
    memberId: "",
    groupInstanceId: null,
    topics: [{ name: TOPIC, partitions: [{ partitionIndex: 0, committedOffset: offset, committedLeaderEpoch: -1, committedMetadata: null }] }],
  });
  return answer.topics[0]!.partitions[0]!.errorCode;
}

test("a group has one coordinator on every broker; members bootstrapped through different brokers share its partitions", async () => {
  await createTopics(await connect(cluster.node(1)), [{ name: TOPIC, partitions: PARTITIONS, replicationFactor: 3 }]);

  // Every broker names the same coordinator, and only it takes the group's requests.
  const groupId = "one-group";
  const found = await Promise.all([1, 2, 3].map((id) => findCoordinator(cluster.node(id), groupId)));
  expect(found.map((f) => f.errorCode)).toEqual([ErrorCode.NONE, ErrorCode.NONE, ErrorCode.NONE]);
  const coordinatorId = found[0]!.nodeId;
  expect(found.map((f) => f.nodeId)).toEqual([coordinatorId, coordinatorId, coordinatorId]);
  for (const id of [1, 2, 3]) {
    expect(await commit(cluster.node(id), groupId, 7)).toBe(id === coordinatorId ? ErrorCode.NONE : ErrorCode.NOT_COORDINATOR);
  }

  // Two members, each bootstrapped through a different broker that is not the coordinator.
  const [first, second] = [1, 2, 3].filter((id) => id !== coordinatorId);
  const assignments = new Map<string, number[]>();
  const read = new Map<string, string[]>();
  const startMember = async (name: string, via: BrokerProcess) => {
    const kafka = new Kafka({ clientId: name, brokers: [via.bootstrap], logLevel: logLevel.NOTHING, retry: { retries: 20, initialRetryTime: 100 } });
    const consumer = kafka.consumer({ groupId, sessionTimeout: 10_000, heartbeatInterval: 500 });
    consumers.push(consumer);
    consumer.on(consumer.events.GROUP_JOIN, (event) => assignments.set(name, [...(event.payload.memberAssignment[TOPIC] ?? [])].sort()));
    await consumer.connect();
    await consumer.subscribe({ topic: TOPIC, fromBeginning: true });
    read.set(name, []);
    await consumer.run({ eachMessage: async ({ message }) => void read.get(name)!.push(message.value!.toString()) });
  };
  await startMember("a", cluster.node(first!));
  await startMember("b", cluster.node(second!));
  await waitFor(
    () => assignments.size === 2 && (assignments.get("a")!.length ?? 0) + (assignments.get("b")!.length ?? 0) === PARTITIONS,
    "both members to hold a share of the partitions",
    60_000,
  );
  const a = assignments.get("a")!;
  const b = assignments.get("b")!;
  expect(a.length).toBeGreaterThan(0);
  expect(b.length).toBeGreaterThan(0);
  expect([...a, ...b].sort()).toEqual(Array.from({ length: PARTITIONS }, (_, p) => p));

  const lines = Array.from({ length: MESSAGES }, (_, i) => `m${i}`).join("\n") + "\n";
  const produced = await runProcess(["kcat", "-P", "-b", cluster.node(coordinatorId).bootstrap, "-t", TOPIC, "-X", "acks=all"], { stdin: lines, timeoutMs: 60_000 });
  expect(produced.exitCode).toBe(0);
  await waitFor(() => read.get("a")!.length + read.get("b")!.length >= MESSAGES, "the members to read every message", 60_000);
  // Each message once: a member that held every partition would read them all again.
  const all = [...read.get("a")!, ...read.get("b")!];
  expect(all.length).toBe(MESSAGES);
  expect(new Set(all).size).toBe(MESSAGES);
}, 180_000);

async function committed(node: BrokerProcess, groupId: string): Promise<{ errorCode: number; offset: number }> {
  const connection = await connect(node);
  const fetched = await connection.request<{ groups: { errorCode: number; topics: { partitions: { committedOffset: number }[] }[] }[] }>(ApiKey.OffsetFetch, 8, {
    groups: [{ groupId, topics: [{ name: TOPIC, partitionIndexes: [0] }] }],
    requireStable: false,
  });
  const group = fetched.groups[0]!;
  return { errorCode: group.errorCode, offset: group.topics[0]?.partitions[0]?.committedOffset ?? -1 };
}

/** Joins `groupId` through `node` as its only member and hands out `assignment`: the group is then Stable. */
async function joinAsOnlyMember(node: BrokerProcess, groupId: string, assignment: Uint8Array): Promise<{ memberId: string; generationId: number }> {
  const connection = await connect(node);
  const join = (memberId: string) =>
    connection.request<{ errorCode: number; memberId: string; generationId: number; leader: string }>(ApiKey.JoinGroup, 5, {
      groupId,
      sessionTimeoutMs: 60_000,
      rebalanceTimeoutMs: 60_000,
      memberId,
      groupInstanceId: null,
      protocolType: "consumer",
      protocols: [{ name: "range", metadata: new Uint8Array([0, 1, 0, 0, 0, 0]) }],
      reason: null,
    });
  const first = await join("");
  expect(first.errorCode).toBe(ErrorCode.MEMBER_ID_REQUIRED);
  const joined = await join(first.memberId);
  expect(joined).toMatchObject({ errorCode: ErrorCode.NONE, leader: first.memberId });
  const synced = await connection.request<{ errorCode: number; assignment: Uint8Array }>(ApiKey.SyncGroup, 5, {
    groupId,
    generationId: joined.generationId,
    memberId: first.memberId,
    groupInstanceId: null,
    protocolType: "consumer",
    protocolName: "range",
    assignments: [{ memberId: first.memberId, assignment }],
  });
  expect(synced.errorCode).toBe(ErrorCode.NONE);
  return { memberId: first.memberId, generationId: joined.generationId };
}

async function heartbeat(node: BrokerProcess, groupId: string, member: { memberId: string; generationId: number }): Promise<number> {
  const connection = await connect(node);
  const answer = await connection.request<{ errorCode: number }>(ApiKey.Heartbeat, 4, { groupId, generationId: member.generationId, memberId: member.memberId, groupInstanceId: null });
  return answer.errorCode;
}

/** The group's coordinator once `dead` is fenced, as broker `asked` names it. */
async function nextCoordinator(groupId: string, dead: number, asked: number): Promise<number> {
  return await waitFor(
    async () => {
      const found = await findCoordinator(cluster.node(asked), groupId);
      return found.errorCode === ErrorCode.NONE && found.nodeId !== dead ? found.nodeId : null;
    },
    "the group to move to a live broker once its coordinator is fenced",
    30_000,
  );
}

test("when its coordinator dies, a group moves to a live broker with its committed offsets, and back once the broker returns", async () => {
  const groupId = "outlives-its-coordinator";
  const coordinatorId = (await findCoordinator(cluster.node(1), groupId)).nodeId;
  expect(await commit(cluster.node(coordinatorId), groupId, 42)).toBe(ErrorCode.NONE);
  const other = [1, 2, 3].find((id) => id !== coordinatorId)!;

  await cluster.node(coordinatorId).stop("SIGKILL");
  const successor = await nextCoordinator(groupId, coordinatorId, other);
  expect(await committed(cluster.node(successor), groupId)).toEqual({ errorCode: ErrorCode.NONE, offset: 42 });
  expect(await commit(cluster.node(successor), groupId, 99)).toBe(ErrorCode.NONE);
  const bystander = [1, 2, 3].find((id) => id !== coordinatorId && id !== successor)!;
  expect(await commit(cluster.node(bystander), groupId, 7)).toBe(ErrorCode.NOT_COORDINATOR);

  const restarted = await cluster.restart(coordinatorId);
  await waitFor(async () => (await findCoordinator(cluster.node(other), groupId)).nodeId === coordinatorId, "the group to return to its broker", 30_000);
  // The returning broker takes the group over from the replicated records, with the commit made while it was gone.
  await waitFor(async () => (await committed(restarted, groupId)).offset === 99, "the returned coordinator to hold the offset committed meanwhile", 30_000);
  expect(await committed(cluster.node(successor), groupId)).toMatchObject({ errorCode: ErrorCode.NOT_COORDINATOR });
}, 120_000);

test("a Stable group's member goes on heartbeating with the group's next coordinator after the coordinator dies", async () => {
  const groupId = "stable-outlives-its-coordinator";
  const coordinatorId = (await findCoordinator(cluster.node(1), groupId)).nodeId;
  const member = await joinAsOnlyMember(cluster.node(coordinatorId), groupId, new Uint8Array([7, 7]));
  expect(await heartbeat(cluster.node(coordinatorId), groupId, member)).toBe(ErrorCode.NONE);
  const other = [1, 2, 3].find((id) => id !== coordinatorId)!;

  await cluster.node(coordinatorId).stop("SIGKILL");
  const successor = await nextCoordinator(groupId, coordinatorId, other);
  // As Kafka's GroupMetadata record: the next coordinator knows the member, its generation and its assignment.
  expect(await heartbeat(cluster.node(successor), groupId, member)).toBe(ErrorCode.NONE);
  const connection = await connect(cluster.node(successor));
  const described = await connection.request<{ groups: { groupState: string; members: { memberId: string; memberAssignment: Uint8Array }[] }[] }>(ApiKey.DescribeGroups, 5, {
    groups: [groupId],
    includeAuthorizedOperations: false,
  });
  expect(described.groups[0]!.groupState).toBe("Stable");
  expect(described.groups[0]!.members.map((m) => [m.memberId, [...m.memberAssignment]])).toEqual([[member.memberId, [7, 7]]]);
  await cluster.restart(coordinatorId);
}, 120_000);

interface ConsumerHeartbeatAnswer {
  errorCode: number;
  memberId: string | null;
  memberEpoch: number;
  assignment: { topicPartitions: { topicId: string; partitions: number[] }[] } | null;
}

const KIP848_TOPIC = "kip848-topic";

/** One ConsumerGroupHeartbeat (KIP-848); epoch 0 joins, subscribed to KIP848_TOPIC. */
async function consumerHeartbeat(node: BrokerProcess, groupId: string, memberId: string, memberEpoch: number, owned: { topicId: string; partitions: number[] }[]): Promise<ConsumerHeartbeatAnswer> {
  const connection = await connect(node);
  const joining = memberEpoch === 0;
  return await connection.request<ConsumerHeartbeatAnswer>(ApiKey.ConsumerGroupHeartbeat, 1, {
    groupId,
    memberId,
    memberEpoch,
    instanceId: null,
    rackId: null,
    rebalanceTimeoutMs: joining ? 60_000 : -1,
    subscribedTopicNames: joining ? [KIP848_TOPIC] : null,
    serverAssignor: null,
    topicPartitions: owned,
  });
}

test("a consumer-protocol group's member goes on at its epoch with the group's next coordinator after the coordinator dies", async () => {
  const groupId = "kip848-outlives-its-coordinator";
  await createTopics(await connect(cluster.node(1)), [{ name: KIP848_TOPIC, partitions: PARTITIONS, replicationFactor: 3 }]);
  const coordinatorId = (await findCoordinator(cluster.node(1), groupId)).nodeId;
  const memberId = "kip848-member-1";
  const joined = await consumerHeartbeat(cluster.node(coordinatorId), groupId, memberId, 0, []);
  expect(joined).toMatchObject({ errorCode: ErrorCode.NONE, memberId, memberEpoch: 1 });
  const owned = joined.assignment!.topicPartitions;
  expect(owned.flatMap((tp) => tp.partitions).length).toBe(PARTITIONS);
  expect(await consumerHeartbeat(cluster.node(coordinatorId), groupId, memberId, 1, owned)).toMatchObject({ errorCode: ErrorCode.NONE, memberEpoch: 1, assignment: null });
  const other = [1, 2, 3].find((id) => id !== coordinatorId)!;

  await cluster.node(coordinatorId).stop("SIGKILL");
  const successor = await nextCoordinator(groupId, coordinatorId, other);
  // As Kafka's ConsumerGroup* records: the next coordinator knows the member, its epoch and its partitions.
  expect(await consumerHeartbeat(cluster.node(successor), groupId, memberId, 1, owned)).toMatchObject({ errorCode: ErrorCode.NONE, memberEpoch: 1, assignment: null });
  // A second member joins there: the group rebalances from what it held, revoking half from the first member.
  const second = await consumerHeartbeat(cluster.node(successor), groupId, "kip848-member-2", 0, []);
  expect(second).toMatchObject({ errorCode: ErrorCode.NONE, memberEpoch: 2 });
  const revoked = await consumerHeartbeat(cluster.node(successor), groupId, memberId, 1, owned);
  expect(revoked.errorCode).toBe(ErrorCode.NONE);
  expect(revoked.assignment!.topicPartitions.flatMap((tp) => tp.partitions).length).toBe(PARTITIONS / 2);
  await cluster.restart(coordinatorId);
}, 120_000);
