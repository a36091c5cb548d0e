/**
 * A replica's leader epoch checkpoint on a full disk (a small tmpfs). A follower's append that starts a new epoch
 * is refused whole if the checkpoint cannot be saved: the log, the epoch cache, the producer state and the file
 * stay as they were, and agree again once the append succeeds. An epoch a new leader starts on a full disk keeps
 * the partition serving: the checkpoint goes, and the next open rebuilds it from the log. Needs root (mount).
 */
import { afterEach, expect, test } from "bun:test";
import * as fs from "node:fs";
import * as path from "node:path";
import { PartitionProducerState } from "../../src/idempotence/producer-state.ts";
import { buildRecordBatch, text } from "../../src/protocol/record-batch-builder.ts";
import { LEADER_EPOCH_CHECKPOINT_FILE, LocalReplica } from "../../src/replication/local-replica.ts";
import { decodeEpochCheckpoint } from "../../src/replication/leader-epoch-cache.ts";
import { LogManager } from "../../src/wal/log-manager.ts";
import { isStorageError } from "../../src/wal/segment.ts";
import { fillDisk, mountTmpfs, tmpfsUnavailable, type Tmpfs } from "../helpers/tmpfs.ts";

const TMPFS_BYTES = 4 * 1024 * 1024;
const PRODUCER_ID = 7;
const RECORDS_PER_BATCH = 4;

const SKIP_REASON = tmpfsUnavailable();
if (SKIP_REASON !== null) test.skip(`a replica's epoch checkpoint on a full disk (${SKIP_REASON})`, () => {});

let disk: Tmpfs | null = null;
let logs: LogManager | null = null;

afterEach(() => {
  logs?.abandon();
  logs = null;
  disk?.remove();
  disk = null;
});

/** A replica of t-0 that this broker (2) follows, on whatever the log directory holds. */
async function openReplica(): Promise<LocalReplica> {
  logs?.abandon();
  logs = await LogManager.open({ dataDir: path.join(disk!.dir, "data"), flushMode: "durable" });
  const partitionLog = logs.create("t", 0);
  const record = { partition: 0, replicas: [1, 2], isr: [1, 2], leader: 1, leaderEpoch: 1, partitionEpoch: 1 };
  return new LocalReplica("t", "AAAAAAAAAAAAAAAAAAAAAA", 0, partitionLog, new PartitionProducerState(), record, { "max.message.bytes": "1048588" }, 2);
}

/** The leader's batch of records baseOffset.. written in `epoch`, by the idempotent producer with sequences from baseOffset. */
function leaderBatch(baseOffset: number, epoch: number): Uint8Array {
  const records = Array.from({ length: RECORDS_PER_BATCH }, (_, i) => ({ key: null, value: text(`record-${baseOffset + i}`), timestampMs: 1_700_000_000_000 + i }));
  return buildRecordBatch(records, { baseOffset, partitionLeaderEpoch: epoch, producerId: PRODUCER_ID, producerEpoch: 0, baseSequence: baseOffset });
}

function savedEpochs(replica: LocalReplica): { epoch: number; startOffset: number }[] | null {
  const file = path.join(replica.log.dir, LEADER_EPOCH_CHECKPOINT_FILE);
  return fs.existsSync(file) ? decodeEpochCheckpoint(fs.readFileSync(file, "utf8")) : null;
}

function lastSequence(replica: LocalReplica): number | undefined {
  return replica.producers.producer(PRODUCER_ID)?.batches.at(-1)?.lastSequence;
}

test.skipIf(SKIP_REASON !== null)("a follower's append that starts an epoch the disk cannot checkpoint is refused, and nothing disagrees", async () => {
  disk = mountTmpfs(TMPFS_BYTES, "chronik-full-epochs-");
  const replica = await openReplica();
  await replica.appendReplicated(leaderBatch(0, 1)).durable;
  expect(savedEpochs(replica)).toEqual([{ epoch: 1, startOffset: 0 }]);
  const filler = path.join(disk.dir, "filler");
  fillDisk(filler);

  // The active segment reserved space ahead of its data: a batch of the same epoch still fits.
  await replica.appendReplicated(leaderBatch(4, 1)).durable;
  expect(replica.log.logEndOffset).toBe(8);
  // A new epoch needs the checkpoint first, which the disk refuses: nothing changes.
  let thrown: unknown = null;
  try {
    replica.appendReplicated(leaderBatch(8, 2));
  } catch (error) {
    thrown = error;
  }
  expect(isStorageError(thrown)).toBe(true);
  expect(replica.log.logEndOffset).toBe(8);
  expect(replica.epochCache.all).toEqual([{ epoch: 1, startOffset: 0 }]);
  expect(savedEpochs(replica)).toEqual([{ epoch: 1, startOffset: 0 }]);
  expect(lastSequence(replica)).toBe(7);

  // With room again the same append goes through, and the log, the cache, the file and producer state agree.
  fs.rmSync(filler);
  await replica.appendReplicated(leaderBatch(8, 2)).durable;
  const epochs = [
    { epoch: 1, startOffset: 0 },
    { epoch: 2, startOffset: 8 },
  ];
  expect(replica.log.logEndOffset).toBe(12);
  expect(replica.epochCache.all).toEqual(epochs);
  expect(savedEpochs(replica)).toEqual(epochs);
  expect(lastSequence(replica)).toBe(11);
  expect((await openReplica()).epochCache.all).toEqual(epochs);
});

test.skipIf(SKIP_REASON !== null)("an epoch a new leader starts on a full disk is kept in memory, and the next open rebuilds the checkpoint from the log", async () => {
  disk = mountTmpfs(TMPFS_BYTES, "chronik-full-leader-epoch-");
  const replica = await openReplica();
  await replica.appendReplicated(leaderBatch(0, 1)).durable;
  await replica.appendReplicated(leaderBatch(4, 2)).durable;
  fillDisk(path.join(disk.dir, "filler"));

  // Becoming leader in epoch 3 at the log end: the checkpoint cannot be written, so it goes rather than go stale.
  replica.assignEpoch(3, 8);
  expect(replica.latestEpoch).toBe(3);
  expect(savedEpochs(replica)).toBeNull();
  // Epoch 3 wrote nothing yet, so the log holds epochs 1 and 2 only: exactly what a reopen rebuilds.
  expect((await openReplica()).epochCache.all).toEqual([
    { epoch: 1, startOffset: 0 },
    { epoch: 2, startOffset: 4 },
  ]);
});
