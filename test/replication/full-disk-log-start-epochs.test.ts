/**
 * Changes a replica makes besides appending, on a full disk (3 nodes, one partition's log on a small tmpfs bound
 * into a node's data dir; Raft and LMDB stay on the data dir's own disk). DeleteRecords on a leader whose disk is
 * full answers KAFKA_STORAGE_ERROR with the log start unmoved. A follower that cannot save the log start its
 * leader moved, or the epoch a new leader's batches start, retries that partition alone with a backoff (the link
 * and its other partitions carry on) instead of holding a log start or batches the files do not, and catches up
 * once space is freed. Needs root (mount).
 */
import { afterEach, expect, test } from "bun:test";
import { mkdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { KafkaConnection } from "../../src/client/connection.ts";
import { Producer } from "../../src/client/producer.ts";
import { ErrorCode } from "../../src/protocol/error-codes.ts";
import { ApiKey } from "../../src/protocol/generated/index.ts";
import { batchSizeAt, readBatchHeader } from "../../src/protocol/record-batch.ts";
import { LEADER_EPOCH_CHECKPOINT_FILE } from "../../src/replication/local-replica.ts";
import { decodeEpochCheckpoint, type EpochEntry } from "../../src/replication/leader-epoch-cache.ts";
import { LogManager } from "../../src/wal/log-manager.ts";
import { startCluster, type BrokerProcess, type ClusterProcess } from "../helpers/broker-process.ts";
import { fillDisk, mountTmpfs, tmpfsUnavailable, type Tmpfs } from "../helpers/tmpfs.ts";
import { waitFor } from "../helpers/wait.ts";
import { CLUSTER_ARGS, deleteRecords, agreedLeaders, kcatPartitions, metricSamples, storedBatches, type DeleteRecordsAnswer } from "./cluster-helpers.ts";

const TMPFS_BYTES = 16 * 1024 * 1024;
const RECORD_BYTES = 1024;
const DELETED_TO = 40;

const SKIP_REASON = tmpfsUnavailable();
if (SKIP_REASON !== null) test.skip(`a replica's log start and epochs on a full disk (${SKIP_REASON})`, () => {});

let cluster: ClusterProcess | null = null;
const disks: Tmpfs[] = [];
const boundLogDirs: string[] = [];

afterEach(async () => {
  // Lazy unmounts, so a broker still holding files there cannot keep them mounted.
  for (const dir of boundLogDirs.splice(0)) Bun.spawnSync(["umount", "-l", dir]);
  await cluster?.cleanup();
  cluster = null;
  for (const disk of disks.splice(0)) disk.remove();
});

/** Puts `node`'s log of topic-0 on its own small disk, before the topic exists: returns that disk. */
function smallDiskFor(node: BrokerProcess, topic: string): Tmpfs {
  const disk = mountTmpfs(TMPFS_BYTES, "chronik-full-replica-");
  disks.push(disk);
  const logDir = join(node.dataDir, `${topic}-0`);
  mkdirSync(logDir);
  mkdirSync(join(disk.dir, "log"));
  const bind = Bun.spawnSync(["mount", "--bind", join(disk.dir, "log"), logDir], { stderr: "pipe" });
  if (bind.exitCode !== 0) throw new Error(`mount --bind onto ${logDir} failed: ${bind.stderr.toString()}`);
  boundLogDirs.push(logDir);
  return disk;
}

/** Creates topic-0 on replicas [1, 2, 3] (node 1 leads) with the given configs. */
async function createTopic(node: BrokerProcess, topic: string, configs: Record<string, string> = {}): Promise<void> {
  const admin = await KafkaConnection.connect({ host: "127.0.0.1", port: node.kafkaPort });
  try {
    await admin.negotiateVersions();
    const created = await admin.request<{ topics: { errorCode: number }[] }>(ApiKey.CreateTopics, 7, {
      topics: [
        {
          name: topic,
          numPartitions: -1,
          replicationFactor: -1,
          assignments: [{ partitionIndex: 0, brokerIds: [1, 2, 3] }],
          configs: Object.entries(configs).map(([name, value]) => ({ name, value })),
        },
      ],
      timeoutMs: 30_000,
      validateOnly: false,
    });
    expect(created.topics[0]!.errorCode).toBe(ErrorCode.NONE);
  } finally {
    admin.close();
  }
}

async function produce(node: BrokerProcess, topic: string, count: number): Promise<void> {
  const producer = await Producer.connect(node.bootstrap, { acks: -1, lingerMs: 0 });
  try {
    await Promise.all(Array.from({ length: count }, () => producer.send({ topic, partition: 0, value: new Uint8Array(RECORD_BYTES).fill(0x61) })));
  } finally {
    await producer.close();
  }
}

async function isr(node: BrokerProcess, topic: string): Promise<number[]> {
  return ((await kcatPartitions(node, topic))[0]?.isrs ?? []).map((r) => r.id).sort();
}

/** The log start `node` holds in memory for topic-0 (its HTTP view of the partition). */
async function logStartOffset(node: BrokerProcess, topic: string): Promise<number | null> {
  const response = await fetch(`http://127.0.0.1:${node.httpPort}/api/topics/${topic}`);
  if (!response.ok) return null;
  const body = (await response.json()) as { partitionDetails: { logStartOffset: number | null }[] };
  return body.partitionDetails[0]?.logStartOffset ?? null;
}

async function metric(node: BrokerProcess, name: string): Promise<number> {
  return [...(await metricSamples(node, name)).values()].reduce((sum, v) => sum + v, 0);
}

/** The log start a stopped node's files give topic-0. */
async function savedLogStart(node: BrokerProcess, topic: string): Promise<number> {
  const logs = await LogManager.open({ dataDir: node.dataDir, flushMode: "durable" });
  try {
    return logs.get(topic, 0)!.logStartOffset;
  } finally {
    logs.abandon();
  }
}

/** Times `node` dropped its replication link to broker `leaderId`. */
function linkCuts(node: BrokerProcess, leaderId: number): number {
  const cut = (line: string) => line.includes("closing the link to a leader") || line.includes("lost the link to a leader");
  return node.output().split("\n").filter((line) => cut(line) && line.includes(`leaderId=${leaderId} `)).length;
}

test.skipIf(SKIP_REASON !== null)(
  "DeleteRecords on a full disk: the leader answers KAFKA_STORAGE_ERROR with its log start unmoved; a follower that cannot save the log start retries that partition alone and catches up once space is freed",
  async () => {
    cluster = await startCluster(3, CLUSTER_ARGS);
    const c = cluster;
    const [leader, follower, full] = [c.node(1), c.node(2), c.node(3)];
    const leaderFull = "leader-full";
    const followerFull = "follower-full";
    // Takes acks=all only while node 3 replicates it: proof that node 3's link to node 1 still carries data.
    const healthy = "healthy";
    const leaderDisk = smallDiskFor(leader, leaderFull);
    const followerDisk = smallDiskFor(full, followerFull);
    await createTopic(leader, leaderFull);
    await createTopic(leader, followerFull);
    await createTopic(leader, healthy, { "min.insync.replicas": "3" });
    for (const topic of [leaderFull, followerFull, healthy]) {
      expect(await agreedLeaders(c, topic, 1)).toEqual([1]);
      await produce(leader, topic, 100);
      await waitFor(async () => (await isr(leader, topic)).length === 3, `a full ISR for ${topic}`, 30_000, 100);
    }
    fillDisk(join(leaderDisk.dir, "filler"));
    fillDisk(join(followerDisk.dir, "filler"));

    // The leader cannot save the log start: a storage error, and the log start has not moved.
    expect(await deleteRecords(leader, leaderFull, DELETED_TO, 5_000)).toEqual({ partitionIndex: 0, lowWatermark: -1, errorCode: ErrorCode.KAFKA_STORAGE_ERROR });
    expect(await logStartOffset(leader, leaderFull)).toBe(0);

    // Node 3 cannot follow the leader's log start: the request times out at node 3's log start, still 0 as its files say.
    expect(await deleteRecords(leader, followerFull, DELETED_TO, 3_000)).toEqual({ partitionIndex: 0, lowWatermark: 0, errorCode: ErrorCode.REQUEST_TIMED_OUT });
    expect(await logStartOffset(follower, followerFull)).toBe(DELETED_TO);
    expect(await logStartOffset(full, followerFull)).toBe(0);
    // It retries that partition alone, with a backoff, logging once; the link carries the rest.
    await produce(leader, healthy, 20);
    expect(linkCuts(full, 1)).toBe(0);
    const warnings = full.output().split("\n").filter((line) => line.includes("could not apply the leader's change") && line.includes(`topic=${followerFull}`));
    expect(warnings.length).toBe(1);

    // Space freed: node 3's next retry moves its log start, and the same requests succeed.
    rmSync(join(followerDisk.dir, "filler"));
    await waitFor(async () => (await logStartOffset(full, followerFull)) === DELETED_TO, `node 3 to move its log start to ${DELETED_TO}`, 20_000, 100);
    expect(await deleteRecords(leader, followerFull, DELETED_TO, 5_000)).toEqual({ partitionIndex: 0, lowWatermark: DELETED_TO, errorCode: ErrorCode.NONE });
    rmSync(join(leaderDisk.dir, "filler"));
    expect(await deleteRecords(leader, leaderFull, DELETED_TO, 5_000)).toEqual({ partitionIndex: 0, lowWatermark: DELETED_TO, errorCode: ErrorCode.NONE });
    expect(linkCuts(full, 1)).toBe(0);

    for (const node of c.nodes) expect(await node!.stop()).toBe(0);
    expect(await savedLogStart(leader, leaderFull)).toBe(DELETED_TO);
    expect(await savedLogStart(full, followerFull)).toBe(DELETED_TO);
  },
  180_000,
);

/** Where each epoch starts in a stopped node's log of topic-0, read from its batches. */
async function epochsInLog(node: BrokerProcess, topic: string): Promise<EpochEntry[]> {
  const epochs: EpochEntry[] = [];
  for (const view of (await storedBatches(node.dataDir, topic, 1))[0]!) {
    for (let pos = 0; pos < view.length; pos += batchSizeAt(view, pos)) {
      const header = readBatchHeader(view, pos);
      if (header.partitionLeaderEpoch > (epochs.at(-1)?.epoch ?? -1)) epochs.push({ epoch: header.partitionLeaderEpoch, startOffset: header.baseOffset });
    }
  }
  return epochs;
}

test.skipIf(SKIP_REASON !== null)(
  "a follower whose disk is full when a new leader epoch starts takes none of its batches until it can save the epoch, then holds the leader's log and a checkpoint that matches it",
  async () => {
    cluster = await startCluster(3, CLUSTER_ARGS);
    const c = cluster;
    const topic = "epochs-full";
    const full = c.node(3);
    const disk = smallDiskFor(full, topic);
    await createTopic(c.node(1), topic);
    expect(await agreedLeaders(c, topic, 1)).toEqual([1]);
    await produce(c.node(1), topic, 20);
    await waitFor(async () => (await isr(c.node(1), topic)).length === 3, "a full ISR", 30_000, 100);
    fillDisk(join(disk.dir, "filler"));

    // The segment reserved space ahead of its data: batches of the same epoch still fit, with the whole ISR.
    await produce(c.node(1), topic, 5);
    expect(await isr(c.node(1), topic)).toEqual([1, 2, 3]);
    expect(await metric(full, "chronik_partitions_failing_appends")).toBe(0);

    // Node 2 leads the next epoch; node 3 cannot save that epoch, so it takes none of its batches.
    expect(await c.node(1).stop("SIGKILL")).not.toBe(0);
    await waitFor(async () => (await agreedLeaders(c, topic, 1))[0] === 2, "node 2 to lead", 30_000, 100);
    const leader = c.node(2);
    await produce(leader, topic, 5);
    await waitFor(async () => (await metric(full, "chronik_partitions_failing_appends")) === 1, "node 3 to report that its appends fail", 30_000, 100);
    expect(await isr(leader, topic)).toEqual([2]);
    expect(linkCuts(full, 2)).toBe(0);

    // Space freed: node 3 saves the epoch, takes the batches and rejoins the ISR.
    rmSync(join(disk.dir, "filler"));
    await waitFor(async () => (await isr(leader, topic)).join() === "2,3", "node 3 to catch up and rejoin the ISR", 60_000, 100);
    const lagOfNode3 = async () => [...(await metricSamples(leader, "chronik_replica_lag_offsets"))].find(([labels]) => labels.includes('follower="3"'))?.[1];
    await waitFor(async () => (await lagOfNode3()) === 0, "node 3 to hold the leader's whole log", 30_000, 100);
    expect(await metric(full, "chronik_partitions_failing_appends")).toBe(0);

    expect(await full.stop()).toBe(0);
    expect(await leader.stop()).toBe(0);
    const epochs = await epochsInLog(full, topic);
    expect(epochs.length).toBe(2);
    const checkpoint = decodeEpochCheckpoint(readFileSync(join(full.dataDir, `${topic}-0`, LEADER_EPOCH_CHECKPOINT_FILE), "utf8"));
    expect(checkpoint).toEqual(epochs);
    const [leaderLog, followerLog] = await Promise.all([leader, full].map(async (n) => Buffer.concat((await storedBatches(n.dataDir, topic, 1))[0]!)));
    expect(followerLog.equals(leaderLog!)).toBe(true);
  },
  180_000,
);
