/**
 * Found by the chaos run: a follower paused or cut off past replica.lag.time.max.ms leaves the ISR, and the
 * leader forgets its end offset until it reports again. On an idle partition nothing new is pushed, so a follower
 * that only acknowledged appended batches never reported again and never rejoined. It now re-reports what it holds
 * on a timer, as a Kafka follower's periodic fetch does.
 */
import { afterEach, expect, test } from "bun:test";
import { IsrTracker } from "../../src/replication/isr-tracker.ts";
import { ReplicaFetcher, type FollowerPartition } from "../../src/replication/replica-fetcher.ts";
import { ReplicationServer, type LeaderPartition } from "../../src/replication/replication-server.ts";
import type { PartitionLog } from "../../src/wal/partition-log.ts";
import { waitFor } from "../helpers/wait.ts";

const cleanups: (() => void)[] = [];

afterEach(() => {
  for (const cleanup of cleanups.splice(0).reverse()) cleanup();
});

test("an idle follower that left the ISR rejoins on a report of the same end offset", () => {
  const tracker = new IsrTracker({ leaderId: 1, replicas: [1, 2], isr: [1, 2], leaderEpoch: 3, partitionEpoch: 5, leaderEpochStartOffset: 40, replicaLagTimeMaxMs: 1_000, nowMs: 0 });
  tracker.onFollowerReport(2, 42, 42, 0);
  // The controller drops follower 2 (fenced while paused): its last report no longer counts.
  tracker.onPartitionRecord([1], 6, 5_000);
  expect(tracker.planIsrChange(42, 42, 5_000)).toBeNull();
  // Nothing was appended meanwhile; the follower reports the same end again.
  tracker.onFollowerReport(2, 42, 42, 6_000);
  expect(tracker.planIsrChange(42, 42, 6_000)).toEqual({ isr: [1, 2], leaderEpoch: 3, partitionEpoch: 6, reason: "expand" });
});

test("a subscribed follower reports its end offset again with no new batches", async () => {
  const LOG_END = 42;
  const idleLog = { logStartOffset: 0, logEndOffset: LOG_END, onAppend: () => () => {} } as unknown as PartitionLog;
  const leaderPartition: LeaderPartition = { log: idleLog, highWatermark: LOG_END };
  const reports: { followerId: number; endOffset: number }[] = [];
  const server = new ReplicationServer(
    { host: "127.0.0.1", port: 0, maxFrameBytes: 1 << 20, maxQueuedBytes: 1 << 20, maxSendBytes: 1 << 16 },
    {
      subscribe: () => ({ kind: "stream", partition: leaderPartition }),
      followerReport: (followerId, _topic, _partition, endOffset) => void reports.push({ followerId, endOffset }),
    },
  );
  server.listen();
  cleanups.push(() => server.stop());

  const fetcher = new ReplicaFetcher({
    nodeId: 2,
    maxFrameBytes: 1 << 20,
    maxQueuedBytes: 1 << 20,
    addressOf: () => ({ host: "127.0.0.1", port: server.port }),
    initialBackoffMs: 10,
    maxBackoffMs: 100,
    reportIntervalMs: 20,
  });
  cleanups.push(() => fetcher.close());
  const follower: FollowerPartition = {
    topic: "idle",
    partition: 0,
    leaderEpoch: 3,
    logEndOffset: LOG_END,
    latestEpoch: 3,
    appendReplicated: () => Promise.reject(new Error("an idle leader pushes no batches")),
    truncateForDivergence: () => {
      throw new Error("no divergence expected");
    },
    restartAt: () => {
      throw new Error("no restart expected");
    },
    setLeaderHighWatermark: () => {},
    setLeaderLogStartOffset: () => {},
  };
  fetcher.follow(follower, 1);

  // The subscription itself counts as the first report; the timer's re-reports follow it.
  await waitFor(() => reports.length >= 3, "the idle follower to report its end offset again");
  expect(reports.every((r) => r.followerId === 2 && r.endOffset === LOG_END)).toBe(true);
});
