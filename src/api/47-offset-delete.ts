import { ErrorCode } from "../protocol/error-codes.ts";
import type { OffsetDeleteRequest, OffsetDeleteResponse } from "../protocol/generated/47-offset-delete.ts";
import { ApiKey } from "../protocol/generated/index.ts";
import { partitionExists } from "./08-offset-commit.ts";
import type { ApiHandler } from "./handler.ts";

export const offsetDeleteHandler: ApiHandler<OffsetDeleteRequest, OffsetDeleteResponse> = {
  apiKey: ApiKey.OffsetDelete,
  minVersion: 0,
  maxVersion: 0,
  async handle(request, ctx) {
    if (request.groupId === "") return { errorCode: ErrorCode.INVALID_GROUP_ID, throttleTimeMs: 0, topics: [] };
    const state = ctx.broker.metadata.state;
    // As in Kafka, partitions the cluster does not have fail on their own.
    const known = request.topics
      .map((topic) => ({
        name: topic.name,
        partitionIndexes: topic.partitions.map((p) => p.partitionIndex).filter((index) => partitionExists(state, topic.name, index)),
      }))
      .filter((topic) => topic.partitionIndexes.length > 0);
    const answer = await ctx.broker.groups.deleteOffsets(request.groupId, known);
    if (answer.errorCode !== ErrorCode.NONE) return { errorCode: answer.errorCode, throttleTimeMs: 0, topics: [] };
    const results = new Map<string, number>();
    for (const topic of answer.topics) {
      for (const partition of topic.partitions) results.set(`${partition.partitionIndex}:${topic.name}`, partition.errorCode);
    }
    return {
      errorCode: ErrorCode.NONE,
      throttleTimeMs: 0,
      topics: request.topics.map((topic) => ({
        name: topic.name,
        partitions: topic.partitions.map(({ partitionIndex }) => ({
          partitionIndex,
          errorCode: results.get(`${partitionIndex}:${topic.name}`) ?? ErrorCode.UNKNOWN_TOPIC_OR_PARTITION,
        })),
      })),
    };
  },
};
