import { ErrorCode } from "../protocol/error-codes.ts";
import type { DeleteRecordsRequest, DeleteRecordsResponse } from "../protocol/generated/21-delete-records.ts";
import { ApiKey } from "../protocol/generated/index.ts";
import type { ApiHandler } from "./handler.ts";

/** Kafka's DeleteRecordsRequest.HIGH_WATERMARK: delete everything committed. */
const HIGH_WATERMARK = -1;

type PartitionAnswer = { partitionIndex: number; lowWatermark: number; errorCode: number };

export const deleteRecordsHandler: ApiHandler<DeleteRecordsRequest, DeleteRecordsResponse> = {
  apiKey: ApiKey.DeleteRecords,
  minVersion: 0,
  maxVersion: 2,
  async handle(request, ctx) {
    const { replicas } = ctx.broker;
    // Every partition is deleted now; each answer waits for the partition's low watermark, all within timeoutMs.
    const topics = request.topics.map((topic) => ({
      name: topic.name,
      partitions: topic.partitions.map((p): PartitionAnswer | Promise<PartitionAnswer> => {
        const answer = (errorCode: number, lowWatermark = -1) => ({ partitionIndex: p.partitionIndex, lowWatermark, errorCode });
        const lookup = replicas.lookup(topic.name, p.partitionIndex);
        if (!lookup.ok) return answer(lookup.errorCode);
        const partitionLog = lookup.replica.log;
        const offset = p.offset === HIGH_WATERMARK ? partitionLog.highWatermark : p.offset;
        // Only committed records may go: beyond the high watermark a follower could still need them.
        if (offset < 0 || offset > partitionLog.highWatermark) return answer(ErrorCode.OFFSET_OUT_OF_RANGE);
        return replicas.deleteRecords(lookup.replica, offset, request.timeoutMs).then((outcome) => answer(outcome.errorCode, outcome.lowWatermark));
      }),
    }));
    return {
      throttleTimeMs: 0,
      topics: await Promise.all(topics.map(async (t) => ({ name: t.name, partitions: await Promise.all(t.partitions) }))),
    };
  },
  errorResponse(request, errorCode) {
    return {
      topics: request.topics.map((t) => ({ name: t.name, partitions: t.partitions.map((p) => ({ partitionIndex: p.partitionIndex, lowWatermark: -1, errorCode })) })),
    };
  },
};
