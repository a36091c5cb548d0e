import { ErrorCode } from "../protocol/error-codes.ts";
import type { FetchRequest, FetchResponse } from "../protocol/generated/01-fetch.ts";
import { ApiKey } from "../protocol/generated/index.ts";
import { ZERO_UUID } from "../protocol/reader.ts";
import { divergence, type EpochEndOffset } from "../replication/leader-epoch-cache.ts";
import type { LocalReplica } from "../replication/replica-manager.ts";
import type { ApiHandler, RequestContext } from "./handler.ts";
import { partitionKey } from "../lib/partition-key.ts";

interface PartitionSlot {
  topicName: string | null;
  topicId: string;
  partition: number;
  fetchOffset: number;
  partitionMaxBytes: number;
  currentLeaderEpoch: number;
  replica: LocalReplica | null;
  errorCode: number;
  /** Fetch v12+: where the log diverged from the fetcher's lastFetchedEpoch; answered instead of records. */
  diverging: EpochEndOffset | null;
  batches: Uint8Array[];
  bytes: number;
}

export const fetchHandler: ApiHandler<FetchRequest, FetchResponse> = {
  apiKey: ApiKey.Fetch,
  minVersion: 4,
  maxVersion: 16,
  async handle(request, ctx) {
    const byId = ctx.apiVersion >= 13;
    const slots = resolve(request, ctx, byId);
    const deadline = performance.now() + Math.max(0, request.maxWaitMs);
    // As Kafka's fetch.max.bytes: the broker, not the client, bounds what one answer pins and sends.
    const maxBytes = Math.min(request.maxBytes, ctx.broker.config.fetchMaxBytes);
    let total = readAll(slots, maxBytes, ctx);

    // Long poll: park until a partition's high watermark moves or the wait ends, then read again.
    while (total < Math.max(1, request.minBytes) && !slots.some((s) => s.errorCode !== ErrorCode.NONE || s.diverging !== null)) {
      const remainingMs = deadline - performance.now();
      if (remainingMs <= 0) break;
      const keys = slots.filter((s) => s.replica).map((s) => partitionKey(s.replica!.topic, s.partition));
      const parked = ctx.broker.replicas.waiters.wait(keys, remainingMs);
      if (parked === null) break;
      await parked;
      total = readAll(slots, maxBytes, ctx);
    }

    const responses: { topic: string; topicId: string; partitions: ReturnType<typeof partitionData>[] }[] = [];
    for (const slot of slots) {
      const last = responses[responses.length - 1];
      const sameTopic = last && (byId ? last.topicId === slot.topicId : last.topic === slot.topicName);
      const data = partitionData(slot);
      if (sameTopic) last.partitions.push(data);
      else responses.push({ topic: slot.topicName ?? "", topicId: slot.topicId, partitions: [data] });
    }
    return { throttleTimeMs: 0, errorCode: ErrorCode.NONE, sessionId: 0, responses, nodeEndpoints: [] };
  },
  errorResponse(_request, errorCode) {
    return { errorCode, responses: [] };
  },
};

function resolve(request: FetchRequest, ctx: RequestContext, byId: boolean): PartitionSlot[] {
  const { metadata, replicas } = ctx.broker;
  const slots: PartitionSlot[] = [];
  for (const topic of request.topics) {
    const record = byId ? metadata.state.topicById(topic.topicId) : metadata.state.topic(topic.topic);
    for (const p of topic.partitions) {
      const slot: PartitionSlot = {
        topicName: byId ? (record?.name ?? null) : topic.topic,
        topicId: byId ? topic.topicId : (record?.topicId ?? ZERO_UUID),
        partition: p.partition,
        fetchOffset: p.fetchOffset,
        partitionMaxBytes: p.partitionMaxBytes,
        currentLeaderEpoch: p.currentLeaderEpoch,
        replica: null,
        errorCode: ErrorCode.NONE,
        diverging: null,
        batches: [],
        bytes: 0,
      };
      if (!record) {
        slot.errorCode = byId ? ErrorCode.UNKNOWN_TOPIC_ID : ErrorCode.UNKNOWN_TOPIC_OR_PARTITION;
      } else {
        const lookup = replicas.lookup(record.name, p.partition, p.currentLeaderEpoch);
        if (!lookup.ok) slot.errorCode = lookup.errorCode;
        else {
          slot.replica = lookup.replica;
          if (p.lastFetchedEpoch >= 0) checkPosition(slot, lookup.replica, p.lastFetchedEpoch);
        }
      }
      slots.push(slot);
    }
  }
  return slots;
}

/**
 * KIP-320 for consumers (Kafka's Partition.readRecords): the epoch of the last record the fetcher read must end at
 * or after its fetch offset in this leader's log, or the answer says where it diverged so the fetcher truncates
 * instead of resetting. A fetcher that read an epoch newer than this leader's has seen a later leader: this
 * broker's metadata is behind, and it answers UNKNOWN_LEADER_EPOCH so the client refreshes and retries.
 */
function checkPosition(slot: PartitionSlot, replica: LocalReplica, lastFetchedEpoch: number): void {
  if (lastFetchedEpoch > replica.leaderEpoch) {
    slot.errorCode = ErrorCode.UNKNOWN_LEADER_EPOCH;
    return;
  }
  slot.diverging = divergence(replica.epochCache, replica.log.logEndOffset, lastFetchedEpoch, slot.fetchOffset);
}

/**
 * Reads every partition below its high watermark within the request and partition byte limits. The
 * first partition with data may exceed them by one batch so that a large batch never blocks a consumer.
 * Mapped views are released once the response carrying them has been written.
 */
function readAll(slots: PartitionSlot[], maxBytes: number, ctx: RequestContext): number {
  let total = 0;
  for (const slot of slots) {
    if (!slot.replica || slot.errorCode !== ErrorCode.NONE || slot.diverging !== null) continue;
    const log = slot.replica.log;
    if (slot.fetchOffset < log.logStartOffset || slot.fetchOffset > log.logEndOffset) {
      slot.errorCode = ErrorCode.OFFSET_OUT_OF_RANGE;
      slot.batches = [];
      slot.bytes = 0;
      continue;
    }
    const budget = Math.min(slot.partitionMaxBytes, maxBytes - total);
    if (slot.bytes > 0 || slot.fetchOffset >= log.highWatermark || (budget <= 0 && total > 0)) {
      total += slot.bytes;
      continue;
    }
    const read = log.read(slot.fetchOffset, Math.max(budget, 0), { minOneBatch: total === 0, maxOffset: log.highWatermark });
    if ("outOfRange" in read) {
      slot.errorCode = ErrorCode.OFFSET_OUT_OF_RANGE;
      continue;
    }
    ctx.releaseAfterWrite(read.release);
    slot.batches = read.batches;
    slot.bytes = read.bytes;
    total += read.bytes;
  }
  return total;
}

function partitionData(slot: PartitionSlot) {
  const log = slot.replica?.log;
  const ok = slot.errorCode === ErrorCode.NONE && log !== undefined;
  return {
    partitionIndex: slot.partition,
    errorCode: slot.errorCode,
    highWatermark: ok ? log.highWatermark : -1,
    lastStableOffset: ok ? log.highWatermark : -1,
    logStartOffset: ok ? log.logStartOffset : -1,
    abortedTransactions: null,
    preferredReadReplica: -1,
    records: slot.batches,
    ...(slot.diverging !== null ? { divergingEpoch: { epoch: slot.diverging.epoch, endOffset: slot.diverging.endOffset } } : {}),
  };
}
