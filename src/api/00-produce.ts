import { ErrorCode } from "../protocol/error-codes.ts";
import type { ProduceRequest, ProduceResponse } from "../protocol/generated/00-produce.ts";
import { ApiKey } from "../protocol/generated/index.ts";
import type { AppendOutcome, LocalReplica } from "../replication/replica-manager.ts";
import { NO_RESPONSE, type ApiHandler } from "./handler.ts";

const VALID_ACKS = new Set([0, 1, -1]);
const RESOLVED = Promise.resolve();

type Durability = "pending" | "durable" | "failed";

interface PartitionResult {
  index: number;
  outcome: AppendOutcome;
  durability: Durability;
  /** acks=all: NOT_ENOUGH_REPLICAS_AFTER_APPEND or NOT_LEADER_OR_FOLLOWER when the commit could not be confirmed. */
  commitErrorCode: number;
}

export const produceHandler: ApiHandler<ProduceRequest, ProduceResponse> = {
  apiKey: ApiKey.Produce,
  // v0-2 carry pre-v2 message formats, answered UNSUPPORTED_FOR_MESSAGE_FORMAT; advertising them is what makes
  // librdkafka before 2.10 compress (it checks that Produce v0 is supported before using gzip, snappy or lz4).
  minVersion: 0,
  maxVersion: 11,
  async handle(request, ctx) {
    const { replicas } = ctx.broker;
    const nowMs = Date.now();
    const topics: { name: string; partitions: PartitionResult[] }[] = [];
    const waits: Promise<void>[] = [];

    for (const topic of request.topicData) {
      const partitions: PartitionResult[] = [];
      for (const p of topic.partitionData) {
        let outcome: AppendOutcome;
        let replica: LocalReplica | null = null;
        if (!VALID_ACKS.has(request.acks)) {
          outcome = failed(ErrorCode.INVALID_REQUIRED_ACKS, `acks must be 0, 1 or -1, not ${request.acks}`);
        } else if (request.transactionalId !== null) {
          outcome = failed(ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED, "transactions are not supported by this broker");
        } else {
          const lookup = replicas.lookup(topic.name, p.index);
          if (!lookup.ok) outcome = failed(lookup.errorCode, null);
          else if (request.acks === -1 && !replicas.enoughReplicas(lookup.replica)) {
            const r = lookup.replica;
            outcome = failed(ErrorCode.NOT_ENOUGH_REPLICAS, `ISR ${r.inSyncReplicas.length} is below min.insync.replicas ${r.minInsyncReplicas}`);
          } else outcome = replicas.append(lookup.replica, p.records, nowMs);
          if (lookup.ok) replica = lookup.replica;
        }
        const result: PartitionResult = { index: p.index, outcome, durability: outcome.durable ? "pending" : "durable", commitErrorCode: ErrorCode.NONE };
        // acks=all: answered once the high watermark (the ISR's minimum end) passes the batch.
        if (request.acks === -1 && replica !== null && outcome.errorCode === ErrorCode.NONE && outcome.endOffset !== undefined && outcome.leaderEpoch !== undefined) {
          result.durability = "pending";
          const leader = replica;
          const endOffset = outcome.endOffset;
          const appendLeaderEpoch = outcome.leaderEpoch;
          const committed = (errorCode: number) => {
            result.commitErrorCode = errorCode;
            result.durability = "durable";
          };
          waits.push(
            (outcome.durable ?? RESOLVED).then(
              () => {
                // The flush may finish after this broker lost the leadership the batch was written under. With the
                // ISR at this broker alone the flush already moved the high watermark: no promise to wait on.
                const now = leader.commitOutcome(endOffset, appendLeaderEpoch);
                if (now !== null) committed(now);
                else return leader.waitForCommit(endOffset, appendLeaderEpoch).then(committed);
              },
              () => void (result.durability = "failed"),
            ),
          );
        } else if (outcome.durable) {
          waits.push(
            outcome.durable.then(
              () => void (result.durability = "durable"),
              () => void (result.durability = "failed"),
            ),
          );
        }
        partitions.push(result);
      }
      topics.push({ name: topic.name, partitions });
    }

    if (request.acks === 0) return NO_RESPONSE;
    // acks=1 is answered once the leader's write is durable under the flush policy; acks=-1 once it is committed.
    await settleWithin(waits, request.timeoutMs);
    return {
      throttleTimeMs: 0,
      responses: topics.map((t) => ({
        name: t.name,
        partitionResponses: t.partitions.map(({ index, outcome, durability, commitErrorCode }) => ({
          index,
          errorCode:
            outcome.errorCode !== ErrorCode.NONE
              ? outcome.errorCode
              : commitErrorCode !== ErrorCode.NONE
                ? commitErrorCode
                : durability === "failed"
                  ? ErrorCode.KAFKA_STORAGE_ERROR
                  : durability === "pending"
                    ? ErrorCode.REQUEST_TIMED_OUT
                    : ErrorCode.NONE,
          baseOffset: outcome.baseOffset,
          logAppendTimeMs: outcome.logAppendTimeMs,
          logStartOffset: outcome.logStartOffset,
          recordErrors: [],
          errorMessage: outcome.errorMessage,
        })),
      })),
    };
  },
  errorResponse(request, errorCode) {
    return {
      responses: request.topicData.map((t) => ({
        name: t.name,
        partitionResponses: t.partitionData.map((p) => ({ index: p.index, errorCode, baseOffset: -1 })),
      })),
    };
  },
};

function failed(errorCode: number, errorMessage: string | null): AppendOutcome {
  return { errorCode, errorMessage, baseOffset: -1, logAppendTimeMs: -1, logStartOffset: -1 };
}

/** Resolves once every wait settled or timeoutMs passed, whichever is first. The waits never reject. */
function settleWithin(waits: Promise<void>[], timeoutMs: number): Promise<void> {
  if (waits.length === 0) return RESOLVED;
  return new Promise((resolve) => {
    let left = waits.length;
    const timer = setTimeout(resolve, Math.max(timeoutMs, 1));
    const settled = () => {
      if (--left > 0) return;
      clearTimeout(timer);
      resolve();
    };
    for (const wait of waits) void wait.then(settled);
  });
}
