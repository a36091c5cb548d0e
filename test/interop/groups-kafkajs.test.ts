import { afterAll, beforeAll, expect, test } from "bun:test";
import { Admin as PlatformaticAdmin, Consumer as PlatformaticConsumer, MessagesStreamModes, stringDeserializers } from "@platformatic/kafka";
import { Kafka, logLevel, type Consumer } from "kafkajs";
import { startBroker, type BrokerProcess } from "../helpers/broker-process.ts";
import { runProcess } from "../helpers/run-process.ts";
import { waitFor } from "../helpers/wait.ts";

const PARTITIONS = 6;

let broker: BrokerProcess;
let kafka: Kafka;
beforeAll(async () => {
  broker = await startBroker({
    args: ["--default-partitions", String(PARTITIONS), "--group-initial-rebalance-delay-ms", "0", "--group-min-session-timeout-ms", "1000"],
  });
  kafka = new Kafka({ clientId: "chronik-groups", brokers: [broker.bootstrap], logLevel: logLevel.NOTHING, retry: { retries: 8, initialRetryTime: 100 } });
}, 40_000);
afterAll(async () => {
  await broker?.cleanup();
});

interface Consumed {
  member: string;
  partition: number;
  offset: number;
  value: number;
  atMs: number;
}

async function createTopic(topic: string): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    await admin.createTopics({ topics: [{ topic, numPartitions: PARTITIONS }], waitForLeaders: true });
  } finally {
    await admin.disconnect();
  }
}

async function produceWithKcat(topic: string, fromValue: number, count: number): Promise<void> {
  const lines = Array.from({ length: count }, (_, i) => String(fromValue + i)).join("\n") + "\n";
  const result = await runProcess(["kcat", "-P", "-b", broker.bootstrap, "-t", topic, "-X", "acks=all"], { stdin: lines, timeoutMs: 60_000 });
  expect(result.exitCode).toBe(0);
}

test("kafkajs: three members consume 60,000 messages over 6 partitions; a fourth joins and one leaves mid-stream; nothing is lost", async () => {
  const topic = "js-group";
  const groupId = "js-group";
  const total = 60_000;
  await createTopic(topic);
  const consumed: Consumed[] = [];
  const commits: { partition: number; offset: number; atMs: number }[] = [];
  const assigned = new Map<string, number>();
  const members = new Map<string, Consumer>();

  const join = async (name: string) => {
    const consumer = kafka.consumer({ groupId, sessionTimeout: 6_000, heartbeatInterval: 300, rebalanceTimeout: 10_000 });
    consumer.on(consumer.events.GROUP_JOIN, (event) => {
      assigned.set(name, event.payload.memberAssignment[topic]?.length ?? 0);
    });
    consumer.on(consumer.events.COMMIT_OFFSETS, (event) => {
      for (const committed of event.payload.topics) {
        for (const partition of committed.partitions) commits.push({ partition: partition.partition, offset: Number(partition.offset), atMs: performance.now() });
      }
    });
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      autoCommitInterval: 200,
      eachMessage: async ({ partition, message }) => {
        consumed.push({ member: name, partition, offset: Number(message.offset), value: Number(message.value!.toString()), atMs: performance.now() });
      },
    });
    members.set(name, consumer);
  };
  const distinct = () => new Set(consumed.map((c) => c.value)).size;

  try {
    await Promise.all(["j1", "j2", "j3"].map(join));
    await waitFor(() => ["j1", "j2", "j3"].every((name) => assigned.get(name) === 2), "three members to hold two partitions each", 30_000);
    const chunk = 2_000;
    for (let produced = 0; produced < total; ) {
      await produceWithKcat(topic, produced, chunk);
      produced += chunk;
      // Membership changes while messages are still flowing.
      if (produced === 16_000) await join("j4");
      if (produced === 36_000) {
        await members.get("j1")!.disconnect();
        members.delete("j1");
      }
      await waitFor(() => distinct() >= produced - 6_000, `members to come within 6,000 of ${produced} produced`, 60_000);
    }
    await waitFor(() => distinct() === total, `all ${total} messages to be consumed`, 60_000).catch((error) => {
      throw new Error(`${error.message} (have ${distinct()})`);
    });
    expect(assigned.get("j4")).toBeGreaterThan(0);

    // A message read twice is never below what was committed for its partition when it was read again.
    const firstRead = new Map<string, Consumed>();
    const belowCommitted: string[] = [];
    for (const message of consumed) {
      const key = `${message.partition}:${message.offset}`;
      const first = firstRead.get(key);
      if (first === undefined) {
        firstRead.set(key, message);
        continue;
      }
      expect(message.value).toBe(first.value);
      let committed = -1;
      for (const commit of commits) if (commit.partition === message.partition && commit.atMs < message.atMs) committed = Math.max(committed, commit.offset);
      if (message.offset < committed) belowCommitted.push(`${key} by ${message.member} below ${committed}`);
    }
    expect(belowCommitted.slice(0, 5)).toEqual([]);
  } finally {
    await Promise.all([...members.values()].map((consumer) => consumer.disconnect()));
  }
}, 150_000);

test("kafkajs admin: list, describe and delete groups, fetch and set offsets", async () => {
  const topic = "js-admin";
  const groupId = "js-admin-group";
  await createTopic(topic);
  await produceWithKcat(topic, 0, 600);
  const admin = kafka.admin();
  await admin.connect();
  const consumer = kafka.consumer({ groupId, sessionTimeout: 6_000, heartbeatInterval: 300 });
  try {
    let seen = 0;
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({ autoCommitInterval: 100, eachMessage: async () => void (seen += 1) });
    await waitFor(() => seen === 600, "the consumer to read 600 messages");
    await waitFor(async () => {
      const offsets = await admin.fetchOffsets({ groupId, topics: [topic] });
      // A partition kcat happened to leave empty has no commit (-1).
      return offsets[0]!.partitions.reduce((sum, p) => sum + Math.max(0, Number(p.offset)), 0) === 600;
    }, "committed offsets to add up to 600");

    const listed = await admin.listGroups();
    expect(listed.groups).toContainEqual({ groupId, protocolType: "consumer" });
    const described = await admin.describeGroups([groupId]);
    expect(described.groups[0]).toMatchObject({ groupId, state: "Stable", protocolType: "consumer", protocol: "RoundRobinAssigner" });
    expect(described.groups[0]!.members).toHaveLength(1);
    expect(described.groups[0]!.members[0]!.clientId).toBe("chronik-groups");
    await expect(admin.deleteGroups([groupId])).rejects.toThrow();

    await consumer.disconnect();
    await waitFor(async () => (await admin.describeGroups([groupId])).groups[0]!.state === "Empty", "the group to become Empty");
    await admin.setOffsets({ groupId, topic, partitions: [{ partition: 0, offset: "5" }, { partition: 1, offset: "7" }] });
    const offsets = (await admin.fetchOffsets({ groupId, topics: [topic] }))[0]!.partitions;
    expect(offsets.find((p) => p.partition === 0)!.offset).toBe("5");
    expect(offsets.find((p) => p.partition === 1)!.offset).toBe("7");

    expect(await admin.deleteGroups([groupId])).toEqual([{ groupId, errorCode: 0 }]);
    expect((await admin.listGroups()).groups.map((g) => g.groupId)).not.toContain(groupId);
    const afterDelete = (await admin.fetchOffsets({ groupId, topics: [topic] }))[0]!.partitions;
    expect(afterDelete.every((p) => p.offset === "-1")).toBe(true);
  } finally {
    await consumer.disconnect();
    await admin.disconnect();
  }
}, 90_000);

test("@platformatic/kafka: a group consumer with autocommit; its offsets are visible through OffsetFetch", async () => {
  const topic = "pf-group";
  const groupId = "pf-group";
  await createTopic(topic);
  await produceWithKcat(topic, 0, 30);
  const consumer = new PlatformaticConsumer({
    clientId: "chronik-pf",
    bootstrapBrokers: [broker.bootstrap],
    groupId,
    sessionTimeout: 6_000,
    heartbeatInterval: 300,
    deserializers: stringDeserializers,
  });
  const values: string[] = [];
  try {
    const stream = await consumer.consume({ topics: [topic], mode: MessagesStreamModes.EARLIEST, autocommit: 100 });
    stream.on("data", (message) => values.push(message.value));
    await waitFor(() => values.length === 30, "the platformatic consumer to read 30 messages");
    const admin = kafka.admin();
    await admin.connect();
    try {
      await waitFor(async () => {
        const offsets = await admin.fetchOffsets({ groupId, topics: [topic] });
        return offsets[0]!.partitions.reduce((sum, p) => sum + Math.max(Number(p.offset), 0), 0) === 30;
      }, "platformatic's autocommitted offsets to add up to 30");
    } finally {
      await admin.disconnect();
    }
    const committed = await consumer.listCommittedOffsets({ topics: [{ topic, partitions: [0, 1, 2, 3, 4, 5] }] });
    let sum = 0n;
    for (const offsets of committed.values()) for (const offset of offsets) sum += offset > 0n ? offset : 0n;
    expect(sum).toBe(30n);
    await stream.close();
  } finally {
    await consumer.close(true);
  }
  expect(values.map(Number).sort((a, b) => a - b)).toEqual(Array.from({ length: 30 }, (_, i) => i));
}, 60_000);

test("@platformatic/kafka admin (flexible versions): list, describe and delete groups; list, alter and delete offsets", async () => {
  const topic = "pf-admin";
  const groupId = "pf-admin-group";
  await createTopic(topic);
  await produceWithKcat(topic, 0, 12);
  const consumer = new PlatformaticConsumer({ clientId: "chronik-pf", bootstrapBrokers: [broker.bootstrap], groupId, sessionTimeout: 6_000, heartbeatInterval: 300 });
  const admin = new PlatformaticAdmin({ clientId: "chronik-pf-admin", bootstrapBrokers: [broker.bootstrap], retries: 2 });
  try {
    let seen = 0;
    const stream = await consumer.consume({ topics: [topic], mode: MessagesStreamModes.EARLIEST, autocommit: false });
    stream.on("data", () => void (seen += 1));
    await waitFor(() => seen === 12, "the platformatic consumer to read 12 messages");

    const listed = await admin.listGroups({ types: ["classic"] });
    expect(listed.get(groupId)).toMatchObject({ id: groupId, state: "STABLE", groupType: "classic", protocolType: "consumer" });
    const described = (await admin.describeGroups({ groups: [groupId] })).get(groupId)!;
    expect(described.members.size).toBe(1);
    await stream.close();
    await consumer.close(true);
    await waitFor(async () => (await admin.describeGroups({ groups: [groupId] })).get(groupId)!.state === "EMPTY", "the group to become Empty");

    await admin.alterConsumerGroupOffsets({ groupId, topics: [{ name: topic, partitionOffsets: [{ partition: 0, offset: 3n }, { partition: 2, offset: 4n }] }] });
    const offsets = async () => {
      const [group] = await admin.listConsumerGroupOffsets({ groups: [groupId] });
      return group!.topics.flatMap((t) => t.partitions.map((p) => [t.name, p.partitionIndex, p.committedOffset]));
    };
    expect(await offsets()).toEqual([
      [topic, 0, 3n],
      [topic, 2, 4n],
    ]);
    await admin.deleteConsumerGroupOffsets({ groupId, topics: [{ name: topic, partitionIndexes: [0] }] });
    expect(await offsets()).toEqual([[topic, 2, 4n]]);
    await admin.deleteGroups({ groups: [groupId] });
    expect((await admin.listGroups()).has(groupId)).toBe(false);
  } finally {
    await consumer.close(true).catch(() => {});
    await admin.close();
  }
}, 60_000);
