/**
 * A full disk under a broker's Raft store (its segmented log and LMDB), which holds the metadata and the groups'
 * committed offsets: writes that need new disk blocks or pages fail with ENOSPC. The broker must answer with Kafka errors (COORDINATOR_NOT_AVAILABLE for an
 * offset commit that is not committed, REQUEST_TIMED_OUT for a metadata change), never crash or hang, and work
 * again once space is freed, without a restart. Needs root (mount).
 */
import { afterAll, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { createTopics } from "../../src/client/admin.ts";
import { KafkaConnection } from "../../src/client/connection.ts";
import { ErrorCode } from "../../src/protocol/error-codes.ts";
import { ApiKey } from "../../src/protocol/generated/index.ts";
import { startBroker, type BrokerProcess } from "../helpers/broker-process.ts";
import { fillDisk, mountTmpfs, tmpfsUnavailable, type Tmpfs } from "../helpers/tmpfs.ts";
import { waitFor } from "../helpers/wait.ts";

const TOPIC = "offsets-on-a-full-disk";
const PARTITIONS = 50;
const TMPFS_BYTES = 24 * 1024 * 1024;
/** Kafka's default offset.metadata.max.bytes: each commit below writes about PARTITIONS times this. */
const METADATA_BYTES = 4096;
/** More commits than the tmpfs can hold: the disk must refuse one of them. */
const MAX_COMMITS = Math.ceil(TMPFS_BYTES / (PARTITIONS * METADATA_BYTES)) * 2;
const ANSWER_DEADLINE_MS = 15_000;

const SKIP_REASON = tmpfsUnavailable();
if (SKIP_REASON !== null) test.skip(`LMDB on a full disk (${SKIP_REASON})`, () => {});

const mounts: Tmpfs[] = [];
const brokers: BrokerProcess[] = [];
const connections: KafkaConnection[] = [];

afterAll(async () => {
  for (const connection of connections) connection.close();
  for (const broker of brokers) await broker.cleanup();
  for (const tmpfs of mounts) tmpfs.remove();
});

function mount(): string {
  const tmpfs = mountTmpfs(TMPFS_BYTES, "chronik-full-disk-metadata-");
  mounts.push(tmpfs);
  return tmpfs.dir;
}

async function start(dataDir: string): Promise<BrokerProcess> {
  const broker = await startBroker({ dataDir, keepData: true });
  brokers.push(broker);
  return broker;
}

function within<T>(promise: Promise<T>, what: string): Promise<T> {
  let timer: Timer | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ANSWER_DEADLINE_MS} ms: ${what}`)), ANSWER_DEADLINE_MS);
  });
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}

async function connect(to: BrokerProcess): Promise<KafkaConnection> {
  const connection = await KafkaConnection.connect({ host: "127.0.0.1", port: to.kafkaPort });
  connections.push(connection);
  await connection.negotiateVersions();
  return connection;
}

/** Commits offset `offset` with large metadata on every partition, outside group management; returns the codes seen. */
async function commit(connection: KafkaConnection, groupId: string, offset: number): Promise<Set<number>> {
  const metadata = `${groupId}:`.padEnd(METADATA_BYTES, "m");
  const response = await within(
    connection.request<{ topics: { partitions: { errorCode: number }[] }[] }>(ApiKey.OffsetCommit, 8, {
      groupId,
      generationIdOrMemberEpoch: -1,
      memberId: "",
      groupInstanceId: null,
      topics: [{ name: TOPIC, partitions: Array.from({ length: PARTITIONS }, (_, p) => ({ partitionIndex: p, committedOffset: offset, committedLeaderEpoch: -1, committedMetadata: metadata })) }],
    }),
    `OffsetCommit of ${groupId}`,
  );
  return new Set(response.topics.flatMap((t) => t.partitions.map((p) => p.errorCode)));
}

async function committedOffsets(connection: KafkaConnection, groupId: string): Promise<number[]> {
  const response = await within(
    connection.request<{ topics: { partitions: { committedOffset: number }[] }[] }>(ApiKey.OffsetFetch, 7, {
      groupId,
      topics: [{ name: TOPIC, partitionIndexes: Array.from({ length: PARTITIONS }, (_, p) => p) }],
      requireStable: false,
    }),
    `OffsetFetch of ${groupId}`,
  );
  return response.topics.flatMap((t) => t.partitions.map((p) => p.committedOffset));
}

test.skipIf(SKIP_REASON !== null)(
  "offset commits on a full disk answer COORDINATOR_NOT_AVAILABLE, the broker stays up, and commits work again once space is freed",
  async () => {
    const dir = mount();
    let broker = await start(dir);
    let connection = await connect(broker);
    await createTopics(connection, [{ name: TOPIC, partitions: PARTITIONS, replicationFactor: 1 }]);
    expect(await commit(connection, "before-the-disk-filled", 1)).toEqual(new Set([ErrorCode.NONE]));

    const filler = join(dir, "filler");
    fillDisk(filler);
    let refused: { groupId: string; codes: Set<number> } | null = null;
    for (let i = 0; i < MAX_COMMITS && refused === null; i++) {
      const groupId = `group-${i}`;
      const codes = await commit(connection, groupId, 2);
      if (!codes.has(ErrorCode.NONE)) refused = { groupId, codes };
    }
    if (refused === null) throw new Error(`${MAX_COMMITS} commits of ${PARTITIONS * METADATA_BYTES} bytes each fit on a full ${TMPFS_BYTES}-byte disk`);
    expect(refused.codes).toEqual(new Set([ErrorCode.COORDINATOR_NOT_AVAILABLE]));
    expect(broker.process.exitCode).toBeNull();
    expect(await committedOffsets(connection, "before-the-disk-filled")).toEqual(Array(PARTITIONS).fill(1));

    rmSync(filler);
    expect(await commit(connection, refused.groupId, 3)).toEqual(new Set([ErrorCode.NONE]));
    expect(await committedOffsets(connection, refused.groupId)).toEqual(Array(PARTITIONS).fill(3));

    // What was acknowledged is on disk: a restart reads it back.
    expect(await broker.stop("SIGTERM")).toBe(0);
    broker = await start(dir);
    connection = await connect(broker);
    expect(await committedOffsets(connection, "before-the-disk-filled")).toEqual(Array(PARTITIONS).fill(1));
    expect(await committedOffsets(connection, refused.groupId)).toEqual(Array(PARTITIONS).fill(3));
  },
  120_000,
);

/** Creates `name` with many partitions (a large metadata record); resolves with the topic's error code. */
async function createTopic(connection: KafkaConnection, name: string): Promise<number> {
  const response = await within(
    connection.request<{ topics: { name: string; errorCode: number }[] }>(ApiKey.CreateTopics, 5, {
      topics: [{ name, numPartitions: 500, replicationFactor: 1, assignments: [], configs: [] }],
      timeoutMs: 5_000,
      validateOnly: false,
    }),
    `CreateTopics of ${name}`,
  );
  return response.topics[0]!.errorCode;
}

async function topicNames(connection: KafkaConnection): Promise<string[]> {
  const response = await within(
    connection.request<{ topics: { name: string }[] }>(ApiKey.Metadata, 9, {
      topics: null,
      allowAutoTopicCreation: false,
      includeClusterAuthorizedOperations: false,
      includeTopicAuthorizedOperations: false,
    }),
    "Metadata",
  );
  return response.topics.map((t) => t.name).sort();
}

test.skipIf(SKIP_REASON !== null)(
  "metadata changes on a full disk time out, the broker stays up, and the Raft store's writes go through once space is freed",
  async () => {
    const dir = mount();
    let broker = await start(dir);
    let connection = await connect(broker);
    expect(await createTopic(connection, "created-before")).toBe(ErrorCode.NONE);
    await createTopics(connection, [{ name: TOPIC, partitions: PARTITIONS, replicationFactor: 1 }]);

    const filler = join(dir, "filler");
    fillDisk(filler);
    // Topic records are small, and the Raft log reserves disk blocks ahead of its writes: large offset commits,
    // which go through the same log, use up what it reserved until the disk refuses one.
    let commitRefused = false;
    for (let i = 0; i < MAX_COMMITS && !commitRefused; i++) commitRefused = !(await commit(connection, `filling-${i}`, 1)).has(ErrorCode.NONE);
    expect(commitRefused).toBe(true);
    const created = ["created-before", TOPIC];
    const refused = { name: "created-on-a-full-disk", errorCode: await createTopic(connection, "created-on-a-full-disk") };
    // The outcome of a timed-out proposal is unknown, as in Kafka: it is still being written.
    expect(refused.errorCode).toBe(ErrorCode.REQUEST_TIMED_OUT);
    expect(broker.output()).toContain("raft store write failed; retrying it");
    expect(broker.process.exitCode).toBeNull();
    expect(await topicNames(connection)).toEqual(created.sort());

    rmSync(filler);
    // The retried write lands: the refused topic appears, and new changes commit.
    await waitFor(async () => (await topicNames(connection)).includes(refused.name), "the topic whose creation timed out to appear", 30_000);
    expect(await createTopic(connection, "created-after")).toBe(ErrorCode.NONE);
    const all = [...created, refused.name, "created-after"].sort();
    expect(await topicNames(connection)).toEqual(all);

    expect(await broker.stop("SIGTERM")).toBe(0);
    broker = await start(dir);
    connection = await connect(broker);
    expect(await topicNames(connection)).toEqual(all);
  },
  120_000,
);
