/**
 * An acks=all write is committed only in the leader epoch that appended it. Found by the chaos run (seed
 * 20261124): a leader resumed from SIGSTOP appended parked produce requests in its old epoch, learned it was a
 * follower before their flush finished, and the late waiters parked on the follower replica. It truncated those
 * offsets and refilled them from the new leader; when it led again, its first high-watermark advance answered the
 * old requests with success at offsets now holding other producers' records (acknowledged writes lost).
 */
import { afterEach, expect, test } from "bun:test";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import type { RequestContext } from "../../src/api/handler.ts";
import { produceHandler } from "../../src/api/00-produce.ts";
import type { PartitionRecord, TopicRecord } from "../../src/metadata/records.ts";
import type { MetadataState } from "../../src/metadata/state.ts";
import { MetadataStore } from "../../src/metadata/store.ts";
import { ErrorCode } from "../../src/protocol/error-codes.ts";
import type { RecordsView } from "../../src/protocol/encodable.ts";
import type { ProduceRequest, ProduceResponse } from "../../src/protocol/generated/00-produce.ts";
import { ReplicaManager } from "../../src/replication/replica-manager.ts";
import { LogManager } from "../../src/wal/log-manager.ts";
import { seededBatch } from "../wal/batch-builder.ts";

const NODE_ID = 2;
const TOPIC = "chaos";
const cleanups: (() => Promise<void> | void)[] = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function openReplicaManager(): Promise<{ replicas: ReplicaManager; logs: LogManager }> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "chronik-acks-epoch-"));
  cleanups.push(() => fs.rmSync(dataDir, { recursive: true, force: true }));
  const store = MetadataStore.open(dataDir);
  cleanups.push(() => store.close());
  // Durable mode: an append's flush completes in a later task, which is the window the bug needs.
  const logs = await LogManager.open({ dataDir: path.join(dataDir, "logs"), flushMode: "durable" });
  cleanups.push(() => logs.close());
  const replicas = new ReplicaManager(NODE_ID, logs, store.database("producer-state"), { "max.message.bytes": "1048588" }, 16);
  return { replicas, logs };
}

function partitionRecord(leader: number, leaderEpoch: number, isr: number[]): PartitionRecord {
  return { partition: 0, replicas: [1, 2, 3], isr, leader, leaderEpoch, partitionEpoch: leaderEpoch };
}

function applyLeaders(replicas: ReplicaManager, topic: TopicRecord, record: PartitionRecord): TopicRecord {
  const next = { ...topic, partitions: [record] };
  const state = { topic: (name: string) => (name === TOPIC ? next : undefined) } as unknown as MetadataState;
  replicas.onMetadata({ type: "partition-leaders", name: TOPIC, partitions: [record] }, state);
  return next;
}

function produce(replicas: ReplicaManager, seed: number): Promise<ProduceResponse> {
  const request: ProduceRequest = {
    transactionalId: null,
    acks: -1,
    timeoutMs: 2_000,
    topicData: [{ name: TOPIC, partitionData: [{ index: 0, records: seededBatch(seed, 4, 16, 1_700_000_000_000) as RecordsView }] }],
  };
  const ctx = { broker: { replicas } } as unknown as RequestContext;
  return produceHandler.handle(request, ctx) as Promise<ProduceResponse>;
}

function partitionResponse(response: ProduceResponse): { errorCode: number; baseOffset: number } {
  return response.responses[0]!.partitionResponses[0]!;
}

async function leadFollowLeadAgain(flushWhileFollowing: boolean): Promise<void> {
  const { replicas, logs } = await openReplicaManager();
  let topic: TopicRecord = { name: TOPIC, topicId: "AAAAAAAAAAAAAAAAAAAAAA", partitions: [partitionRecord(NODE_ID, 1, [2, 3])], configs: {} };
  const state = { topic: () => topic } as unknown as MetadataState;
  replicas.onMetadata({ type: "create-topic", topic }, state);
  const lookup = replicas.lookup(TOPIC, 0);
  if (!lookup.ok) throw new Error(`node ${NODE_ID} does not lead ${TOPIC}-0 at epoch 1`);
  const partitionLog = lookup.replica.log;

  // Epoch 1: the write is appended; its flush has not completed when the controller's record arrives.
  const parked = produce(replicas, 1);
  topic = applyLeaders(replicas, topic, partitionRecord(1, 2, [1, 3]));
  expect(replicas.lookup(TOPIC, 0).ok).toBe(false);
  if (flushWhileFollowing) {
    // As in the chaos run: the produce starts waiting for its commit while this broker follows epoch 2.
    await logs.flush();
    await Bun.sleep(1);
  }

  // Epoch 3: this broker leads again with only itself in the ISR, so its high watermark covers its whole log.
  topic = applyLeaders(replicas, topic, partitionRecord(NODE_ID, 3, [2]));
  expect(partitionLog.highWatermark).toBe(partitionLog.logEndOffset);

  expect(partitionResponse(await parked).errorCode).toBe(ErrorCode.NOT_LEADER_OR_FOLLOWER);

  // A write of the current epoch is still acknowledged once committed.
  const fresh = partitionResponse(await produce(replicas, 2));
  expect(fresh).toEqual(expect.objectContaining({ errorCode: ErrorCode.NONE, baseOffset: 4 }));
}

test("an acks=all write flushed while its leader follows a newer epoch is not acknowledged when that broker leads again", async () => {
  await leadFollowLeadAgain(true);
});

test("an acks=all write flushed only after its broker leads again in a newer epoch is not acknowledged", async () => {
  await leadFollowLeadAgain(false);
});
