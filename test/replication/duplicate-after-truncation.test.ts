/**
 * An idempotent producer's retry is answered as a duplicate only with offsets that still hold its batch. Found by
 * the chaos run: producer state that remembered a batch of a truncated tail answered its retry with the old
 * offsets, which the new leader's records had refilled, and acks=all acknowledged a batch the log no longer held.
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
import { buildRecordBatch, text } from "../../src/protocol/record-batch-builder.ts";
import { ReplicaManager } from "../../src/replication/replica-manager.ts";
import { LogManager } from "../../src/wal/log-manager.ts";

const NODE_ID = 2;
const TOPIC = "retries";
const PRODUCER_ID = 7;
const cleanups: (() => Promise<void> | void)[] = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function idempotentBatch(baseSequence: number, label: string): Uint8Array {
  const records = Array.from({ length: 4 }, (_, i) => ({ key: null, value: text(`${label}-${i}`), timestampMs: 1_700_000_000_000 + i }));
  return buildRecordBatch(records, { producerId: PRODUCER_ID, producerEpoch: 0, baseSequence });
}

async function open(dataDir: string): Promise<{ replicas: ReplicaManager; close: () => Promise<void> }> {
  const store = MetadataStore.open(dataDir);
  const logs = await LogManager.open({ dataDir: path.join(dataDir, "logs"), flushMode: "fast" });
  const replicas = new ReplicaManager(NODE_ID, logs, store.database("producer-state"), { "max.message.bytes": "1048588" }, 16);
  // A single replica: what is written is committed, so acks=all answers at once.
  const record: PartitionRecord = { partition: 0, replicas: [NODE_ID], isr: [NODE_ID], leader: NODE_ID, leaderEpoch: 1, partitionEpoch: 1 };
  const topic: TopicRecord = { name: TOPIC, topicId: "AAAAAAAAAAAAAAAAAAAAAA", partitions: [record], configs: {} };
  replicas.onMetadata({ type: "create-topic", topic }, { topic: () => topic } as unknown as MetadataState);
  return {
    replicas,
    close: async () => {
      await replicas.snapshotProducerState();
      await logs.close();
      await store.close();
    },
  };
}

async function produce(replicas: ReplicaManager, records: Uint8Array): Promise<{ errorCode: number; baseOffset: number }> {
  const request: ProduceRequest = { transactionalId: null, acks: -1, timeoutMs: 2_000, topicData: [{ name: TOPIC, partitionData: [{ index: 0, records: records as RecordsView }] }] };
  const response = (await produceHandler.handle(request, { broker: { replicas } } as unknown as RequestContext)) as ProduceResponse;
  return response.responses[0]!.partitionResponses[0]!;
}

async function retryAfterRefill(refill: { count: number }[]): Promise<void> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "chronik-dup-truncated-"));
  cleanups.push(() => fs.rmSync(dataDir, { recursive: true, force: true }));

  const first = await open(dataDir);
  expect(await produce(first.replicas, idempotentBatch(0, "a"))).toEqual(expect.objectContaining({ errorCode: ErrorCode.NONE, baseOffset: 0 }));
  expect(await produce(first.replicas, idempotentBatch(4, "b"))).toEqual(expect.objectContaining({ errorCode: ErrorCode.NONE, baseOffset: 4 }));
  // A retry while the batch is held is a duplicate with its original offsets.
  expect(await produce(first.replicas, idempotentBatch(4, "b"))).toEqual(expect.objectContaining({ errorCode: ErrorCode.NONE, baseOffset: 4 }));
  // The snapshot saved here remembers batch "b" at offsets 4-7.
  await first.close();

  // The tail holding "b" is truncated and refilled with another leader's records, past the snapshot's offset.
  const logs = await LogManager.open({ dataDir: path.join(dataDir, "logs"), flushMode: "fast" });
  const partitionLog = logs.get(TOPIC, 0)!;
  partitionLog.truncateTo(4);
  for (const { count } of refill) {
    const records = Array.from({ length: count }, (_, i) => ({ key: null, value: text(`other-${i}`), timestampMs: 1_700_000_000_100 + i }));
    await partitionLog.appendReplicated(buildRecordBatch(records, { baseOffset: partitionLog.logEndOffset, partitionLeaderEpoch: 2 })).durable;
  }
  await logs.close();

  const second = await open(dataDir);
  cleanups.push(() => second.close());
  // The producer never got an answer for "b" and retries it: it must be written again after the other records.
  expect(await produce(second.replicas, idempotentBatch(4, "b"))).toEqual(expect.objectContaining({ errorCode: ErrorCode.NONE, baseOffset: 12 }));
  // And a retry of "a", still held at 0-3, is still a duplicate.
  expect(await produce(second.replicas, idempotentBatch(0, "a"))).toEqual(expect.objectContaining({ errorCode: ErrorCode.NONE, baseOffset: 0 }));
}

test("a retry of a batch that producer state remembers but the log lost is appended again, not answered with the lost offsets", async () => {
  // The refill ends exactly where the saved state did, so the stale state loads without complaint.
  await retryAfterRefill([{ count: 4 }, { count: 4 }]);
});

test("a saved producer state that the refilled log does not continue is rebuilt from the log", async () => {
  await retryAfterRefill([{ count: 8 }]);
});
