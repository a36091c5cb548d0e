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

interface Report {
  followerId: number;
  endOffset: number;
  logStartOffset: number;
}

/** A leader's replication server for one partition and a follower's fetcher subscribed to it, in this process. */
function replicate(leaderPartition: LeaderPartition, follower: FollowerPartition, reportIntervalMs: number): { server: ReplicationServer; reports: Report[] } {
  const reports: Report[] = [];
  const server = new ReplicationServer(
    { host: "127.0.0.1", port: 0, maxFrameBytes: 1 << 20, maxQueuedBytes: 1 << 20, maxSendBytes: 1 << 16 },
    {
      subscribe: () => ({ kind: "stream", partition: leaderPartition }),
      followerReport: (followerId, _topic, _partition, endOffset, logStartOffset) => void reports.push({ followerId, endOffset, logStartOffset }),
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
    reportIntervalMs,
  });
  cleanups.push(() => fetcher.close());
  fetcher.follow(follower, 1);
  return { server, reports };
}

/** A follower that already holds everything an idle leader has; its log start follows the leader's. */
function idleFollower(logEndOffset: number): FollowerPartition {
  const follower = {
    topic: "idle",
    partition: 0,
    leaderEpoch: 3,
    logEndOffset,
    logStartOffset: 0,
    latestEpoch: 3,
    appendReplicated: () => Promise.reject(new Error("an idle leader pushes no batches")),
    truncateForDivergence: () => {
      throw new Error("no divergence expected");
    },
    restartAt: () => {
      throw new Error("no restart expected");
    },
    setLeaderHighWatermark: () => {},
    setLeaderLogStartOffset: (leaderLogStartOffset: number) => {
      follower.logStartOffset = Math.max(follower.logStartOffset, leaderLogStartOffset);
    },
  };
  return follower;
}

test("a subscribed follower reports its end offset again with no new batches", async () => {
  const LOG_END = 42;
  const idleLog = { logStartOffset: 0, logEndOffset: LOG_END, onAppend: () => () => {} } as unknown as PartitionLog;
  const { reports } = replicate({ log: idleLog, highWatermark: LOG_END }, idleFollower(LOG_END), 20);

  // The subscription itself counts as the first report; the timer's re-reports follow it.
  await waitFor(() => reports.length >= 3, "the idle follower to report its end offset again");
  expect(reports.every((r) => r.followerId === 2 && r.endOffset === LOG_END && r.logStartOffset === 0)).toBe(true);
});

test("a follower reports its moved log start at once, not on the next periodic report", async () => {
  const LOG_END = 42;
  const idleLog = { logStartOffset: 0, logEndOffset: LOG_END, onAppend: () => () => {} } as unknown as PartitionLog;
  // No periodic report within the test: every report after the subscription is the follower's own.
  const { server, reports } = replicate({ log: idleLog, highWatermark: LOG_END }, idleFollower(LOG_END), 600_000);
  await waitFor(() => reports.length >= 1, "the subscription to count as a report");
  (idleLog as { logStartOffset: number }).logStartOffset = 30;
  server.logStartChanged("idle", 0);
  await waitFor(() => reports.length >= 2, "the follower to report its moved log start");
  expect(reports).toEqual([
    { followerId: 2, endOffset: LOG_END, logStartOffset: 0 },
    { followerId: 2, endOffset: LOG_END, logStartOffset: 30 },
  ]);
});
