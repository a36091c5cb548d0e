/**
 * A full disk under a follower (3 nodes, RF 3, min.insync.replicas 2, acks=all). The follower's partition log is a
 * small tmpfs; the Raft log and LMDB stores stay on the data dir's own disk, as Kafka keeps metadata.log.dir apart
 * from log.dirs (a full metadata disk is test/metadata/full-disk-metadata.test.ts). While its disk is full the
 * follower must stay up, keep its log intact, retry with a backoff rather than spin, and report the failure; the
 * leader drops it from the ISR after replica.lag.time.max.ms and keeps acknowledging. Once space is freed it
 * catches up, rejoins the ISR and holds the leader's log byte for byte. Needs root (mount).
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { KafkaConnection } from "../../src/client/connection.ts";
import { Producer } from "../../src/client/producer.ts";
import { ErrorCode } from "../../src/protocol/error-codes.ts";
import { ApiKey } from "../../src/protocol/generated/index.ts";
import { validateBatches } from "../../src/protocol/record-batch.ts";
import { startCluster, type ClusterProcess } from "../helpers/broker-process.ts";
import { mountTmpfs, tmpfsUnavailable, type Tmpfs } from "../helpers/tmpfs.ts";
import { waitFor } from "../helpers/wait.ts";
import { CLUSTER_ARGS, agreedLeaders, kcatPartitions, metricSamples, storedBatches } from "./cluster-helpers.ts";

const TOPIC = "follower-full-disk";
const LEADER = 1;
const FOLLOWER = 3;
const TMPFS_BYTES = 16 * 1024 * 1024;
/** Taken from the follower's disk up front, so its log fills it while the leader's has room; freed to recover. */
const BALLAST_BYTES = 12 * 1024 * 1024;
const SEGMENT_BYTES = 1024 * 1024;
const RECORD_BYTES = 8 * 1024;
/** Records sent at once: enough to keep replication busy, few enough that each is either acknowledged or refused soon. */
const CONCURRENCY = 16;
/** A retry every ~50 ms (reconnecting at once) would pass this many per second of being full; a backoff stays far below. */
const MAX_FAILED_APPENDS_PER_SECOND = 4;

const SKIP_REASON = tmpfsUnavailable();
if (SKIP_REASON !== null) test.skip(`a full disk on a follower (${SKIP_REASON})`, () => {});

let cluster: ClusterProcess | null = null;
let tmpfs: Tmpfs | null = null;
/** The follower's partition log dir while the tmpfs is bound there. */
let boundLogDir: string | null = null;

beforeAll(async () => {
  if (SKIP_REASON !== null) return;
  cluster = await startCluster(3, [...CLUSTER_ARGS, "--segment-bytes", String(SEGMENT_BYTES)]);
}, 90_000);

afterAll(async () => {
  // Lazy unmounts, so a broker still holding files there cannot keep them mounted.
  if (boundLogDir !== null) Bun.spawnSync(["umount", "-l", boundLogDir]);
  await cluster?.cleanup();
  tmpfs?.remove();
});

/** Puts the follower's log for TOPIC on a small disk: a tmpfs directory bound where the log will be created. */
function mountFollowerLogDir(dataDir: string): Tmpfs {
  const disk = mountTmpfs(TMPFS_BYTES, "chronik-follower-full-disk-");
  tmpfs = disk;
  const logDir = join(dataDir, `${TOPIC}-0`);
  mkdirSync(logDir);
  mkdirSync(join(disk.dir, "log"));
  const bind = Bun.spawnSync(["mount", "--bind", join(disk.dir, "log"), logDir], { stderr: "pipe" });
  if (bind.exitCode !== 0) throw new Error(`mount --bind onto ${logDir} failed: ${bind.stderr.toString()}`);
  boundLogDir = logDir;
  return disk;
}

/** Record n's value: its number, then a pattern derived from it. */
function valueOf(n: number): Uint8Array {
  const value = new Uint8Array(RECORD_BYTES);
  new DataView(value.buffer).setUint32(0, n);
  for (let i = 4; i < value.length; i++) value[i] = (n * 31 + i * 7) & 0xff;
  return value;
}

async function metric(id: number, name: string): Promise<number> {
  return [...(await metricSamples(cluster!.node(id), name)).values()].reduce((sum, v) => sum + v, 0);
}

async function isr(): Promise<number[]> {
  return ((await kcatPartitions(cluster!.node(LEADER), TOPIC))[0]?.isrs ?? []).map((r) => r.id).sort();
}

test.skipIf(SKIP_REASON !== null)(
  "a follower whose disk fills up stays up and intact, leaves the ISR while the leader keeps acknowledging, and rejoins with the leader's log once space is freed",
  async () => {
    const c = cluster!;
    const disk = mountFollowerLogDir(c.node(FOLLOWER).dataDir);
    const ballast = join(disk.dir, "ballast");
    writeFileSync(ballast, new Uint8Array(BALLAST_BYTES));

    const admin = await KafkaConnection.connect({ host: "127.0.0.1", port: c.node(LEADER).kafkaPort });
    try {
      await admin.negotiateVersions();
      const created = await admin.request<{ topics: { errorCode: number }[] }>(ApiKey.CreateTopics, 7, {
        topics: [
          {
            name: TOPIC,
            numPartitions: -1,
            replicationFactor: -1,
            assignments: [{ partitionIndex: 0, brokerIds: [LEADER, 2, FOLLOWER] }],
            configs: [{ name: "min.insync.replicas", value: "2" }],
          },
        ],
        timeoutMs: 30_000,
        validateOnly: false,
      });
      expect(created.topics[0]!.errorCode).toBe(ErrorCode.NONE);
    } finally {
      admin.close();
    }
    expect(await agreedLeaders(c, TOPIC, 1)).toEqual([LEADER]);
    await waitFor(async () => (await isr()).length === 3, "a full ISR", 30_000, 100);

    const producer = await Producer.connect(c.node(LEADER).bootstrap, { acks: -1, lingerMs: 0 });
    /** Offset to record number, for every record the leader acknowledged. */
    const acknowledged = new Map<number, number>();
    let next = 0;
    const produceRound = async () => {
      const numbers = Array.from({ length: CONCURRENCY }, () => next++);
      const offsets = await Promise.all(numbers.map((n) => producer.send({ topic: TOPIC, partition: 0, value: valueOf(n) })));
      offsets.forEach((offset, i) => acknowledged.set(offset, numbers[i]!));
    };

    // Fill the follower's disk: every record is acknowledged, by the full ISR until the follower drops out of it.
    const fillStartMs = performance.now();
    const roundsToFill = Math.ceil((TMPFS_BYTES - BALLAST_BYTES) / RECORD_BYTES / CONCURRENCY) * 2;
    for (let round = 0; round < roundsToFill && (await metric(FOLLOWER, "chronik_partitions_failing_appends")) === 0; round++) await produceRound();
    await waitFor(async () => (await metric(FOLLOWER, "chronik_partitions_failing_appends")) === 1, "the follower to report that its appends fail", 30_000, 100);

    // The leader drops the follower after replica.lag.time.max.ms and acknowledges with the two replicas left.
    await waitFor(async () => (await isr()).join() === [LEADER, 2].join(), "the full follower to leave the ISR", 30_000, 100);
    const acknowledgedWhileFull = acknowledged.size;
    for (let round = 0; round < 8; round++) await produceRound();
    expect(acknowledged.size).toBe(acknowledgedWhileFull + 8 * CONCURRENCY);
    expect(c.node(FOLLOWER).process.exitCode).toBeNull();
    expect(await metric(FOLLOWER, "chronik_partitions_failing_appends")).toBe(1);
    // The follower keeps retrying, with a backoff rather than in a loop, over the link it already had: the
    // replication of other partitions from this leader is not cut.
    const failedSoFar = await metric(FOLLOWER, "chronik_append_failures_total");
    await waitFor(async () => (await metric(FOLLOWER, "chronik_append_failures_total")) > failedSoFar, "the follower to retry its refused append", 20_000, 100);
    const failed = await metric(FOLLOWER, "chronik_append_failures_total");
    const fullForSeconds = (performance.now() - fillStartMs) / 1000;
    expect(failed).toBeLessThanOrEqual(Math.ceil(fullForSeconds * MAX_FAILED_APPENDS_PER_SECOND) + 5);
    expect(c.node(FOLLOWER).output()).not.toContain("lost the link to a leader");

    // Space freed: the follower catches up and rejoins, with no restart.
    rmSync(ballast);
    await waitFor(async () => (await isr()).length === 3, "the follower to catch up and rejoin the ISR", 60_000, 100);
    expect(await metric(FOLLOWER, "chronik_partitions_failing_appends")).toBe(0);
    for (let round = 0; round < 2; round++) await produceRound();
    await producer.close();
    const highWatermark = acknowledged.size;
    expect([...acknowledged.keys()].sort((a, b) => a - b)).toEqual(Array.from({ length: highWatermark }, (_, i) => i));
    await waitFor(
      async () => (await metric(LEADER, "chronik_replica_lag_offsets")) === 0,
      "every follower to hold the leader's whole log",
      30_000,
      100,
    );

    // Stopped, the follower's log equals the leader's byte for byte, and every batch in it is whole (its CRC holds).
    for (const node of c.nodes) expect(await node!.stop()).toBe(0);
    const leaderLog = Buffer.concat((await storedBatches(c.node(LEADER).dataDir, TOPIC, 1))[0]!);
    const followerLog = Buffer.concat((await storedBatches(c.node(FOLLOWER).dataDir, TOPIC, 1))[0]!);
    expect(followerLog.length).toBe(leaderLog.length);
    expect(followerLog.equals(leaderLog)).toBe(true);
    const validation = validateBatches(followerLog, 1 << 20);
    if (!validation.ok) throw new Error(`the follower's log does not validate: ${validation.message}`);
    expect(validation.totalRecords).toBe(highWatermark);
  },
  180_000,
);
