import { ErrorCode } from "../protocol/error-codes.ts";
import type { DeleteRecordsRequest, DeleteRecordsResponse } from "../protocol/generated/21-delete-records.ts";
import { ApiKey } from "../protocol/generated/index.ts";
import type { ApiHandler } from "./handler.ts";

/** Kafka's DeleteRecordsRequest.HIGH_WATERMARK: delete everything committed. */
const HIGH_WATERMARK = -1;

export const deleteRecordsHandler: ApiHandler<DeleteRecordsRequest, DeleteRecordsResponse> = {
  apiKey: ApiKey.DeleteRecords,
  minVersion: 0,
  maxVersion: 2,
  handle(request, ctx) {
    const { replicas } = ctx.broker;
    return {
      throttleTimeMs: 0,
      topics: request.topics.map((topic) => ({
        name: topic.name,
        partitions: topic.partitions.map((p) => {
          const answer = (errorCode: number, lowWatermark = -1) => ({ partitionIndex: p.partitionIndex, lowWatermark, errorCode });
          const lookup = replicas.lookup(topic.name, p.partitionIndex);
          if (!lookup.ok) return answer(lookup.errorCode);
          const partitionLog = lookup.replica.log;
          const offset = p.offset === HIGH_WATERMARK ? partitionLog.highWatermark : p.offset;
          // Only committed records may go: beyond the high watermark a follower could still need them.
          if (offset < 0 || offset > partitionLog.highWatermark) return answer(ErrorCode.OFFSET_OUT_OF_RANGE);
          replicas.deleteRecordsBefore(lookup.replica, offset);
          return answer(ErrorCode.NONE, partitionLog.logStartOffset);
        }),
      })),
    };
  },
  errorResponse(request, errorCode) {
    return {
      topics: request.topics.map((t) => ({ name: t.name, partitions: t.partitions.map((p) => ({ partitionIndex: p.partitionIndex, lowWatermark: -1, errorCode })) })),
    };
  },
};
