/**
 * The consumer rebalance protocol (KIP-848) end to end with @platformatic/kafka's `groupProtocol:
 * "consumer"`: three members share a 6-partition topic, each record is read once, and when a member
 * leaves the others take its partitions over; members outlive a kill -9 of the broker. librdkafka 2.0.2 and
 * kafkajs 2.2.4 do not speak KIP-848.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import { Consumer, MessagesStreamFallbackModes, MessagesStreamModes, stringDeserializers, type MessagesStream } from "@platformatic/kafka";
import { Kafka, logLevel } from "kafkajs";
import { ApiKey } from "../../src/protocol/generated/index.ts";
import { freePorts, startBroker, type BrokerProcess } from "../helpers/broker-process.ts";
import { RawClient } from "../helpers/raw-client.ts";
import { runProcess } from "../helpers/run-process.ts";
import { waitFor } from "../helpers/wait.ts";

const PARTITIONS = 6;

let broker: BrokerProcess;
let kafka: Kafka;
beforeAll(async () => {
  broker = await startBroker({ args: ["--default-partitions", String(PARTITIONS)] });
  kafka = new Kafka({ clientId: "chronik-kip848", brokers: [broker.bootstrap], logLevel: logLevel.NOTHING });
}, 40_000);
afterAll(async () => {
  await broker?.cleanup();
});

async function produceWithKcat(topic: string, fromValue: number, count: number): Promise<void> {
  const lines = Array.from({ length: count }, (_, i) => String(fromValue + i)).join("\n") + "\n";
  const result = await runProcess(["kcat", "-P", "-b", broker.bootstrap, "-t", topic, "-X", "acks=all"], { stdin: lines, timeoutMs: 60_000 });
  expect(result.exitCode).toBe(0);
}

async function committedTotal(groupId: string, topic: string): Promise<number> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const offsets = await admin.fetchOffsets({ groupId, topics: [topic] });
    return offsets[0]!.partitions.reduce((sum, p) => sum + Math.max(Number(p.offset), 0), 0);
  } finally {
    await admin.disconnect();
  }
}

async function describe(groupId: string, kafkaPort = broker.kafkaPort): Promise<any> {
  const client = await RawClient.connect(kafkaPort);
  try {
    const response: any = await client.request(ApiKey.ConsumerGroupDescribe, 0, { groupIds: [groupId], includeAuthorizedOperations: false });
    return response.groups[0];
  } finally {
    client.close();
  }
}

test("three groupProtocol=consumer members read every record once; after one leaves the other two take over", async () => {
  const topic = "kip848";
  const groupId = "kip848-group";
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic, numPartitions: PARTITIONS }], waitForLeaders: true });
  await admin.disconnect();

  const consumed: { member: string; value: number }[] = [];
  const members = new Map<string, { consumer: Consumer<string, string, string, string>; stream: MessagesStream<string, string, string, string> }>();
  const held = (name: string): number => (members.get(name)?.consumer.assignments ?? []).reduce((n, a) => n + a.partitions.length, 0);

  try {
    for (const name of ["a", "b", "c"]) {
      const consumer = new Consumer({
        clientId: `kip848-${name}`,
        bootstrapBrokers: [broker.bootstrap],
        groupId,
        groupProtocol: "consumer",
        deserializers: stringDeserializers,
      });
      const stream = await consumer.consume({
        topics: [topic],
        mode: MessagesStreamModes.COMMITTED,
        fallbackMode: MessagesStreamFallbackModes.EARLIEST,
        autocommit: 100,
      });
      stream.on("data", (message) => consumed.push({ member: name, value: Number(message.value) }));
      members.set(name, { consumer, stream });
    }
    await waitFor(() => ["a", "b", "c"].every((name) => held(name) === 2), "three members to hold two partitions each", 60_000);
    await waitFor(async () => (await describe(groupId)).groupState === "Stable", "ConsumerGroupDescribe to show a Stable group", 30_000);
    const described = await describe(groupId);
    expect(described).toMatchObject({ errorCode: 0, assignorName: "uniform" });
    expect(described.members.length).toBe(3);
    for (const member of described.members) {
      expect(member.memberEpoch).toBe(described.groupEpoch);
      expect(member.assignment.topicPartitions).toEqual([expect.objectContaining({ topicName: topic })]);
      expect(member.assignment.topicPartitions[0].partitions.length).toBe(2);
    }

    const first = 3_000;
    await produceWithKcat(topic, 0, first);
    await waitFor(() => consumed.length >= first, `the group to read ${first} records`, 60_000);
    await waitFor(async () => (await committedTotal(groupId, topic)) === first, `committed offsets to add up to ${first}`, 30_000);
    expect(new Set(consumed.map((c) => c.value)).size).toBe(first);
    expect(consumed.length).toBe(first);

    // "c" leaves (ConsumerGroupHeartbeat with epoch -1): a and b take its two partitions over.
    const leaving = members.get("c")!;
    members.delete("c");
    await leaving.stream.close();
    await leaving.consumer.close(true);
    await waitFor(() => held("a") === 3 && held("b") === 3, "the two remaining members to hold three partitions each", 60_000);

    const second = 2_000;
    await produceWithKcat(topic, first, second);
    await waitFor(() => consumed.length >= first + second, `the group to read ${first + second} records`, 60_000);
    await waitFor(async () => (await committedTotal(groupId, topic)) === first + second, "committed offsets to cover every record", 30_000);
    expect(new Set(consumed.map((c) => c.value)).size).toBe(first + second);
    expect(consumed.length).toBe(first + second);
    expect(consumed.slice(first).every((c) => c.member === "a" || c.member === "b")).toBe(true);
  } finally {
    for (const { stream, consumer } of members.values()) {
      await stream.close().catch(() => {});
      await consumer.close(true).catch(() => {});
    }
  }
}, 240_000);

test("members keep their ids, epochs and partitions across a kill -9 and restart of the broker, and go on reading", async () => {
  const [kafkaPort] = freePorts(1);
  const args = ["--default-partitions", String(PARTITIONS), "--kafka-port", String(kafkaPort)];
  let restartable = await startBroker({ args, keepData: true });
  const dataDir = restartable.dataDir;
  const topic = "kip848-restart";
  const groupId = "kip848-restart-group";
  const read: number[] = [];
  const members: { consumer: Consumer<string, string, string, string>; stream: MessagesStream<string, string, string, string> }[] = [];
  const held = () => members.map(({ consumer }) => (consumer.assignments ?? []).reduce((n, a) => n + a.partitions.length, 0));
  const produce = async (from: number, count: number) => {
    const lines = Array.from({ length: count }, (_, i) => String(from + i)).join("\n") + "\n";
    const result = await runProcess(["kcat", "-P", "-b", restartable.bootstrap, "-t", topic, "-X", "acks=all"], { stdin: lines, timeoutMs: 60_000 });
    expect(result.exitCode).toBe(0);
  };
  const describeHere = () => describe(groupId, restartable.kafkaPort);
  const membersOf = (group: any) => group.members.map((m: any) => `${m.memberId}@${m.memberEpoch}`).sort();
  try {
    await produce(0, 1);
    for (const name of ["a", "b"]) {
      const consumer = new Consumer({
        clientId: `kip848-restart-${name}`,
        bootstrapBrokers: [restartable.bootstrap],
        groupId,
        groupProtocol: "consumer",
        deserializers: stringDeserializers,
        retries: 200,
        retryDelay: 100,
      });
      const stream = await consumer.consume({ topics: [topic], mode: MessagesStreamModes.COMMITTED, fallbackMode: MessagesStreamFallbackModes.EARLIEST, autocommit: 100 });
      stream.on("data", (message) => read.push(Number(message.value)));
      members.push({ consumer, stream });
    }
    await waitFor(() => held().join() === "3,3", "two members to hold three partitions each", 60_000);
    await produce(1, 499);
    await waitFor(() => new Set(read).size >= 500, "the members to read the first 500 records", 60_000);
    await waitFor(async () => (await describeHere()).groupState === "Stable", "the group to be Stable", 30_000);
    const before = membersOf(await describeHere());

    await restartable.stop("SIGKILL");
    restartable = await startBroker({ dataDir, args, keepData: true });
    // The restarted broker has the group from its record: the same members at the same epochs.
    expect(membersOf(await describeHere())).toEqual(before);
    await produce(500, 500);
    await waitFor(() => new Set(read).size >= 1000, "the same members to read the next 500 records", 90_000);
    expect(held()).toEqual([3, 3]);
    expect(membersOf(await describeHere())).toEqual(before);
  } finally {
    // Bounded: a consumer that lost its group never finishes closing, and the broker must still be cleaned up.
    const close = async ({ stream, consumer }: (typeof members)[number]) => {
      await stream.close().catch(() => {});
      await consumer.close(true).catch(() => {});
    };
    await Promise.race([Promise.all(members.map(close)), Bun.sleep(10_000)]);
    await restartable.cleanup();
    rmSync(dataDir, { recursive: true, force: true });
  }
}, 240_000);
