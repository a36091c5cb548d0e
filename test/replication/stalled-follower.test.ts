/**
 * A stalled follower (issue #10): three brokers, one follower stopped with SIGSTOP while staying registered (its
 * session outlasts the stall), so its partitions leave it only through replica.lag.time.max.ms. Producers with
 * acks=all to a partition it does not replicate keep going; a partition it replicates continues once the ISR
 * shrinks; the leader's queue of bytes for the stopped follower stays within its bound while far more is
 * produced. Resumed, the follower catches up byte for byte. Latencies are printed for the record, never asserted.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { KafkaConnection } from "../../src/client/connection.ts";
import { Producer } from "../../src/client/producer.ts";
import { ErrorCode } from "../../src/protocol/error-codes.ts";
import { ApiKey } from "../../src/protocol/generated/index.ts";
import { startCluster, type ClusterProcess } from "../helpers/broker-process.ts";
import { produceOneByOne, readPartition, showLatency } from "../helpers/load.ts";
import { waitFor } from "../helpers/wait.ts";
import { kcatPartitions, metricSamples, storedBatches } from "./cluster-helpers.ts";

const APART = "apart";
const THROUGH = "through";
const LEADER = 1;
const STALLED = 3;
const REPLICA_LAG_TIME_MAX_MS = 2000;
/** --replication-queue-max-bytes, below its default so the test shows the flag is what bounds the queue. */
const REPLICATION_QUEUE_MAX_BYTES = 4 << 20;
/** The leader's bound per follower connection: the configured queue plus one read of 1 MiB, and framing slack. */
const REPLICATION_QUEUE_BOUND_BYTES = REPLICATION_QUEUE_MAX_BYTES + (1 << 20) + (64 << 10);
/** Produced to the stalled follower's partition while it is stopped: well beyond the bound and the kernel's socket buffers. */
const BULK_BYTES = 64 << 20;
const RECORD_BYTES = 1024;
const ACKS_PER_PHASE = 300;
const MIB = 2 ** 20;

let cluster: ClusterProcess;

beforeAll(async () => {
  cluster = await startCluster(3, [
    "--raft-election-timeout-ms",
    "1000",
    "--broker-heartbeat-interval-ms",
    "300",
    // The stalled broker stays registered: only the ISR check takes it out of its partitions.
    "--broker-session-timeout-ms",
    "120000",
    "--replica-lag-time-max-ms",
    String(REPLICA_LAG_TIME_MAX_MS),
    "--replication-queue-max-bytes",
    String(REPLICATION_QUEUE_MAX_BYTES),
  ]);
}, 90_000);

afterAll(async () => {
  await cluster?.cleanup();
});

/** One partition on the given brokers (the first leads), min.insync.replicas 2. */
async function createPlaced(name: string, brokerIds: number[]): Promise<void> {
  const connection = await KafkaConnection.connect({ host: "127.0.0.1", port: cluster.node(LEADER).kafkaPort, requestTimeoutMs: 30_000 });
  try {
    await connection.negotiateVersions();
    const response = await connection.request<{ topics: { errorCode: number; errorMessage: string | null }[] }>(ApiKey.CreateTopics, 4, {
      topics: [{ name, numPartitions: -1, replicationFactor: -1, assignments: [{ partitionIndex: 0, brokerIds }], configs: [{ name: "min.insync.replicas", value: "2" }] }],
      timeoutMs: 30_000,
      validateOnly: false,
    });
    expect(response.topics[0]!.errorCode).toBe(ErrorCode.NONE);
  } finally {
    connection.close();
  }
}

const isrOf = async (topic: string) => (await kcatPartitions(cluster.node(LEADER), topic))[0]?.isrs.map((r) => r.id).sort() ?? [];
const queuedForStalled = async () => (await metricSamples(cluster.node(LEADER), "chronik_replication_queued_bytes")).get(`{follower="${STALLED}"}`) ?? 0;
const rssMiB = async (id: number) => ((await metricSamples(cluster.node(id), "process_resident_memory_bytes")).get("") ?? 0) / MIB;
const logEnd = async (id: number, topic: string) => (await metricSamples(cluster.node(id), "chronik_log_end_offset")).get(`{topic="${topic}",partition="0"}`) ?? -1;

test("a stopped follower holds back neither other partitions nor, past replica.lag.time.max.ms, its own; the leader's queue for it stays bounded", async () => {
  await createPlaced(APART, [LEADER, 2]);
  await createPlaced(THROUGH, [LEADER, 2, STALLED]);
  await waitFor(async () => (await isrOf(APART)).length === 2 && (await isrOf(THROUGH)).length === 3, "both partitions to have every replica in sync");

  // Separate connections: a connection answers in request order, so one parked produce would hold the other's acks.
  const apart = await Producer.connect(cluster.node(LEADER).bootstrap, { acks: -1 });
  const through = await Producer.connect(cluster.node(LEADER).bootstrap, { acks: -1 });
  const bulk = await Producer.connect(cluster.node(LEADER).bootstrap, { acks: -1, batchBytes: 256 * 1024, lingerMs: 5 });
  const ackedApart = new Set<string>();
  const ackedThrough = new Set<string>();
  const encoder = new TextEncoder();
  /** BULK_BYTES of acks=all records to the stalled follower's partition; resolves with the ms it took. */
  const bulkLoad = async (tag: string) => {
    const startedMs = performance.now();
    const acks: Promise<void>[] = [];
    for (let i = 0; i < BULK_BYTES / RECORD_BYTES; i++) {
      const value = `${tag}-${i}-`.padEnd(RECORD_BYTES, "x");
      acks.push(bulk.send({ topic: THROUGH, partition: 0, value: encoder.encode(value) }).then(() => void ackedThrough.add(value)));
      if (bulk.bufferedBytes > 16 * MIB) await bulk.waitForSpace();
    }
    await Promise.all(acks);
    return performance.now() - startedMs;
  };

  const throughBefore = await produceOneByOne(through, THROUGH, 0, "before", ACKS_PER_PHASE, ackedThrough);
  // The same load with every replica running and with one stopped, so the other partition's figures compare.
  const healthyBulk = bulkLoad("healthy");
  const apartBefore = await produceOneByOne(apart, APART, 0, "before", ACKS_PER_PHASE, ackedApart);
  const healthyBulkMs = await healthyBulk;
  const rssBeforeMiB = await rssMiB(LEADER);

  cluster.node(STALLED).process.kill("SIGSTOP");
  let samples = 0;
  let queuedPeakBytes = 0;
  let rssPeakMiB = 0;
  const sampler = setInterval(async () => {
    try {
      queuedPeakBytes = Math.max(queuedPeakBytes, await queuedForStalled());
      rssPeakMiB = Math.max(rssPeakMiB, await rssMiB(LEADER));
      samples++;
    } catch {
      // A scrape lost to a busy moment: the next one counts.
    }
  }, 50);
  // The bulk to the stalled follower's partition waits for the ISR to shrink, then goes through.
  const stalledBulk = bulkLoad("stalled");
  const apartDuring = await produceOneByOne(apart, APART, 0, "during", ACKS_PER_PHASE, ackedApart);
  const stalledBulkMs = await stalledBulk;
  const throughAfterShrink = await produceOneByOne(through, THROUGH, 0, "shrunk", ACKS_PER_PHASE, ackedThrough);
  const isrWhileStalled = await isrOf(THROUGH);
  clearInterval(sampler);
  expect(samples).toBeGreaterThan(0);
  queuedPeakBytes = Math.max(queuedPeakBytes, await queuedForStalled());
  const queuedAtEndBytes = await queuedForStalled();

  cluster.node(STALLED).process.kill("SIGCONT");
  await waitFor(async () => (await isrOf(THROUGH)).length === 3, "the resumed follower to rejoin the ISR", 60_000);
  await waitFor(async () => (await logEnd(STALLED, THROUGH)) === (await logEnd(LEADER, THROUGH)), "the resumed follower to reach the leader's log end", 60_000);
  const apartAfter = await produceOneByOne(apart, APART, 0, "after", ACKS_PER_PHASE, ackedApart);
  for (const producer of [apart, through, bulk]) await producer.close();

  console.log(
    [
      `stalled follower: ${BULK_BYTES / MIB} MiB of acks=all to its partition took ${healthyBulkMs.toFixed(0)} ms with it running, ` +
        `${stalledBulkMs.toFixed(0)} ms with it stopped (replica.lag.time.max.ms ${REPLICA_LAG_TIME_MAX_MS})`,
      `leader's queue for the stopped follower: peak ${(queuedPeakBytes / MIB).toFixed(2)} MiB, ${(queuedAtEndBytes / MIB).toFixed(2)} MiB at the end; ` +
        `leader RSS ${rssBeforeMiB.toFixed(0)} MiB before, peak ${rssPeakMiB.toFixed(0)} MiB`,
      showLatency("other partition beside the bulk, all running", apartBefore),
      showLatency("other partition beside the bulk, follower stopped", apartDuring),
      showLatency("other partition, follower resumed", apartAfter),
      showLatency("its partition, all running", throughBefore),
      showLatency("its partition, ISR shrunk", throughAfterShrink),
    ].join("\n"),
  );

  expect(isrWhileStalled).toEqual([LEADER, 2]);
  // The queue for the stopped follower filled up to its bound and no further.
  expect(queuedAtEndBytes).toBeGreaterThan(1 * MIB);
  expect(queuedPeakBytes).toBeLessThanOrEqual(REPLICATION_QUEUE_BOUND_BYTES);
  // Every acknowledged record reads back from the leader.
  for (const [topic, acked] of [
    [APART, ackedApart],
    [THROUGH, ackedThrough],
  ] as const) {
    const values = await readPartition(cluster.node(LEADER).bootstrap, topic, 0);
    expect(values.length).toBe(acked.size);
    expect(new Set(values)).toEqual(acked);
  }
  // The resumed follower holds the leader's log byte for byte.
  for (const node of cluster.nodes) expect(await node!.stop("SIGTERM")).toBe(0);
  const stored = await Promise.all(cluster.nodes.map((n) => storedBatches(n!.dataDir, THROUGH, 1)));
  const leaderBytes = Buffer.concat(stored[LEADER - 1]![0]!);
  for (const replica of stored) expect(Buffer.concat(replica[0]!).equals(leaderBytes)).toBe(true);
}, 150_000);
