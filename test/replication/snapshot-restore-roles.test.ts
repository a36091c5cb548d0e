/**
 * A node that falls behind the metadata log's compaction gets a snapshot instead of the commands it missed.
 * Found by a 30-minute chaos run: a leader paused past its session was replaced while it slept, restored the
 * snapshot on resume, and still acted as leader of its old epoch, proposing ISR changes the controller refused
 * (FENCED_LEADER_EPOCH) and never following the new leader, so it stayed out of the ISR for good.
 */
import { afterEach, expect, test } from "bun:test";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import type { PartitionRecord, TopicRecord } from "../../src/metadata/records.ts";
import type { MetadataState } from "../../src/metadata/state.ts";
import { MetadataStore } from "../../src/metadata/store.ts";
import { ErrorCode } from "../../src/protocol/error-codes.ts";
import { ReplicaManager } from "../../src/replication/replica-manager.ts";
import { LogManager } from "../../src/wal/log-manager.ts";

const NODE_ID = 2;
const TOPIC = "chaos";
const cleanups: (() => Promise<void> | void)[] = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function stateOf(topic: TopicRecord): MetadataState {
  return { topics: () => [topic], topic: (name: string) => (name === topic.name ? topic : undefined) } as unknown as MetadataState;
}

function topicWith(records: PartitionRecord[]): TopicRecord {
  return { name: TOPIC, topicId: "AAAAAAAAAAAAAAAAAAAAAA", partitions: records, configs: {} };
}

test("a restored snapshot moves existing replicas to the leaders and epochs it holds", async () => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "chronik-snapshot-roles-"));
  cleanups.push(() => fs.rmSync(dataDir, { recursive: true, force: true }));
  const store = MetadataStore.open(dataDir);
  cleanups.push(() => store.close());
  const logs = await LogManager.open({ dataDir: path.join(dataDir, "logs"), flushMode: "fast" });
  cleanups.push(() => logs.close());
  const replicas = new ReplicaManager(NODE_ID, logs, store.database("producer-state"), { "max.message.bytes": "1048588" }, 16);

  const led: PartitionRecord = { partition: 0, replicas: [1, 2, 3], isr: [1, 2, 3], leader: NODE_ID, leaderEpoch: 5, partitionEpoch: 9 };
  const followed: PartitionRecord = { partition: 1, replicas: [1, 2, 3], isr: [1, 2, 3], leader: 1, leaderEpoch: 4, partitionEpoch: 7 };
  const before = topicWith([led, followed]);
  replicas.onMetadata({ type: "create-topic", topic: before }, stateOf(before));
  expect(replicas.lookup(TOPIC, 0)).toMatchObject({ ok: true });
  expect(replicas.lookup(TOPIC, 1)).toMatchObject({ ok: false, errorCode: ErrorCode.NOT_LEADER_OR_FOLLOWER });

  // While this node slept, 3 took over partition 0 and this node took over partition 1.
  const after = topicWith([
    { ...led, isr: [1, 3], leader: 3, leaderEpoch: 6, partitionEpoch: 11 },
    { ...followed, isr: [2, 3], leader: NODE_ID, leaderEpoch: 5, partitionEpoch: 8 },
  ]);
  replicas.syncWithMetadata(stateOf(after));

  expect(replicas.lookup(TOPIC, 0)).toMatchObject({ ok: false, errorCode: ErrorCode.NOT_LEADER_OR_FOLLOWER });
  expect(replicas.lookup(TOPIC, 1)).toMatchObject({ ok: true });
  const byPartition = new Map([...replicas.allReplicas()].map((r) => [r.partition, r]));
  expect(byPartition.get(0)).toMatchObject({ leaderId: 3, leaderEpoch: 6, isr: [1, 3] });
  expect(byPartition.get(1)).toMatchObject({ leaderId: NODE_ID, leaderEpoch: 5, isr: [2, 3] });
});
