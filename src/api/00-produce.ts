import { ErrorCode } from "../protocol/error-codes.ts";
import type { ProduceRequest, ProduceResponse } from "../protocol/generated/00-produce.ts";
import { ApiKey } from "../protocol/generated/index.ts";
import type { AppendOutcome } from "../replication/replica-manager.ts";
import { NO_RESPONSE, type ApiHandler } from "./handler.ts";

const VALID_ACKS = new Set([0, 1, -1]);

type Durability = "pending" | "durable" | "failed";

interface PartitionResult {
  index: number;
  outcome: AppendOutcome;
  durability: Durability;
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
        if (!VALID_ACKS.has(request.acks)) {
          outcome = failed(ErrorCode.INVALID_REQUIRED_ACKS, `acks must be 0, 1 or -1, not ${request.acks}`);
        } else if (request.transactionalId !== null) {
          outcome = failed(ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED, "transactions are not supported by this broker");
        } else {
          const lookup = replicas.lookup(topic.name, p.index);
          outcome = lookup.ok ? replicas.append(lookup.replica, p.records, nowMs) : failed(lookup.errorCode, null);
        }
        const result: PartitionResult = { index: p.index, outcome, durability: outcome.durable ? "pending" : "durable" };
        if (outcome.durable) {
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
    // acks=1 and acks=-1 are both answered once the write is durable under the flush policy.
    await settleWithin(waits, request.timeoutMs);
    return {
      throttleTimeMs: 0,
      responses: topics.map((t) => ({
        name: t.name,
        partitionResponses: t.partitions.map(({ index, outcome, durability }) => ({
          index,
          errorCode:
            outcome.errorCode !== ErrorCode.NONE
              ? outcome.errorCode
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

async function settleWithin(waits: Promise<void>[], timeoutMs: number): Promise<void> {
  if (waits.length === 0) return;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, Math.max(timeoutMs, 1));
  });
  await Promise.race([Promise.all(waits), timeout]);
  clearTimeout(timer);
}
