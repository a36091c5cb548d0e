import { ErrorCode } from "../protocol/error-codes.ts";
import type { OffsetFetchRequest, OffsetFetchResponse, OffsetFetchResponseTopic } from "../protocol/generated/09-offset-fetch.ts";
import { ApiKey } from "../protocol/generated/index.ts";
import type { Encodable } from "../protocol/encodable.ts";
import type { OffsetFetchResponse as GroupOffsets } from "../group/types.ts";
import type { ApiHandler } from "./handler.ts";

/**
 * OffsetFetch. From v8 several groups come in one request. requireStable (v7+) needs no waiting:
 * without transactions no offset commit is ever pending.
 */
export const offsetFetchHandler: ApiHandler<OffsetFetchRequest, OffsetFetchResponse> = {
  apiKey: ApiKey.OffsetFetch,
  minVersion: 0,
  maxVersion: 9,
  async handle(request, ctx) {
    const groups = ctx.broker.groups;
    if (ctx.apiVersion >= 8) {
      const answers = await Promise.all(request.groups.map((group) => groups.fetchOffsets(group.groupId, group.topics, group)));
      return {
        throttleTimeMs: 0,
        groups: request.groups.map((group, i) => ({ groupId: group.groupId, errorCode: answers[i]!.errorCode, topics: toTopics(answers[i]!) })),
      };
    }
    // v0 and v1 have no "all topics" null; an empty list there asks for nothing.
    const answer = await groups.fetchOffsets(request.groupId, request.topics);
    return { throttleTimeMs: 0, errorCode: answer.errorCode, topics: toTopics(answer) };
  },
  errorResponse(request, errorCode, ctx) {
    if (ctx.apiVersion >= 8) return { groups: request.groups.map((group) => ({ groupId: group.groupId, errorCode, topics: [] })) };
    // v0 and v1 have no top-level error code: the client reads it from each partition.
    const topics = (request.topics ?? []).map((topic) => ({
      name: topic.name,
      partitions: topic.partitionIndexes.map((partitionIndex) => ({ partitionIndex, committedOffset: -1, metadata: "", errorCode })),
    }));
    return { errorCode, topics };
  },
};

function toTopics(answer: GroupOffsets): Encodable<OffsetFetchResponseTopic>[] {
  return answer.topics.map((topic) => ({
    name: topic.name,
    partitions: topic.partitions.map((partition) => ({
      partitionIndex: partition.partitionIndex,
      committedOffset: partition.committedOffset,
      committedLeaderEpoch: partition.committedLeaderEpoch,
      metadata: partition.metadata,
      errorCode: partition.errorCode,
    })),
  }));
}
