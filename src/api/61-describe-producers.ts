import { ErrorCode } from "../protocol/error-codes.ts";
import type { DescribeProducersRequest, DescribeProducersResponse } from "../protocol/generated/61-describe-producers.ts";
import { ApiKey } from "../protocol/generated/index.ts";
import type { ApiHandler } from "./handler.ts";

export const describeProducersHandler: ApiHandler<DescribeProducersRequest, DescribeProducersResponse> = {
  apiKey: ApiKey.DescribeProducers,
  minVersion: 0,
  maxVersion: 0,
  handle(request, ctx) {
    const { replicas } = ctx.broker;
    return {
      throttleTimeMs: 0,
      topics: request.topics.map((topic) => ({
        name: topic.name,
        partitions: topic.partitionIndexes.map((partitionIndex) => {
          const lookup = replicas.lookup(topic.name, partitionIndex);
          if (!lookup.ok) return { partitionIndex, errorCode: lookup.errorCode, errorMessage: null, activeProducers: [] };
          const state = lookup.replica.producers;
          const activeProducers = state.producerIds().map((producerId) => {
            const entry = state.producer(producerId)!;
            const last = entry.batches[entry.batches.length - 1];
            return {
              producerId,
              producerEpoch: entry.producerEpoch,
              lastSequence: last ? last.lastSequence : -1,
              lastTimestamp: entry.lastTimestampMs,
              // Chronik has no transactions, so no coordinator and no open transaction.
              coordinatorEpoch: -1,
              currentTxnStartOffset: -1,
            };
          });
          return { partitionIndex, errorCode: ErrorCode.NONE, errorMessage: null, activeProducers };
        }),
      })),
    };
  },
  errorResponse(request, errorCode) {
    return {
      topics: request.topics.map((t) => ({
        name: t.name,
        partitions: t.partitionIndexes.map((partitionIndex) => ({ partitionIndex, errorCode, errorMessage: null, activeProducers: [] })),
      })),
    };
  },
};
