import { ErrorCode } from "../protocol/error-codes.ts";
import type { OffsetCommitRequest, OffsetCommitResponse } from "../protocol/generated/08-offset-commit.ts";
import { ApiKey } from "../protocol/generated/index.ts";
import type { MetadataState } from "../metadata/state.ts";
import type { OffsetCommitInput } from "../group/types.ts";
import type { ApiHandler } from "./handler.ts";

export const offsetCommitHandler: ApiHandler<OffsetCommitRequest, OffsetCommitResponse> = {
  apiKey: ApiKey.OffsetCommit,
  minVersion: 0,
  maxVersion: 9,
  async handle(request, ctx) {
    if (request.groupId === "") return allFailed(request, ErrorCode.INVALID_GROUP_ID);
    const state = ctx.broker.metadata.state;
    // Partitions the cluster does not have fail on their own; the rest go to the coordinator.
    const unknown = new Map<string, Set<number>>();
    const known: OffsetCommitInput["topics"] = [];
    for (const topic of request.topics) {
      const partitions = [];
      for (const partition of topic.partitions) {
        if (partitionExists(state, topic.name, partition.partitionIndex)) {
          partitions.push({
            partitionIndex: partition.partitionIndex,
            committedOffset: partition.committedOffset,
            committedLeaderEpoch: partition.committedLeaderEpoch,
            committedMetadata: partition.committedMetadata,
          });
        } else {
          let missing = unknown.get(topic.name);
          if (missing === undefined) unknown.set(topic.name, (missing = new Set()));
          missing.add(partition.partitionIndex);
        }
      }
      if (partitions.length > 0) known.push({ name: topic.name, partitions });
    }
    const committed = await ctx.broker.groups.commitOffsets(request.groupId, {
      generationId: request.generationIdOrMemberEpoch,
      memberId: request.memberId,
      groupInstanceId: request.groupInstanceId,
      topics: known,
    });
    const results = new Map<string, Map<number, number>>();
    for (const topic of committed.topics) {
      const byPartition = results.get(topic.name) ?? new Map<number, number>();
      for (const partition of topic.partitions) byPartition.set(partition.partitionIndex, partition.errorCode);
      results.set(topic.name, byPartition);
    }
    return {
      throttleTimeMs: 0,
      topics: request.topics.map((topic) => ({
        name: topic.name,
        partitions: topic.partitions.map((partition) => ({
          partitionIndex: partition.partitionIndex,
          errorCode: unknown.get(topic.name)?.has(partition.partitionIndex)
            ? ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
            : (results.get(topic.name)?.get(partition.partitionIndex) ?? ErrorCode.UNKNOWN_SERVER_ERROR),
        })),
      })),
    };
  },
  errorResponse(request, errorCode) {
    return allFailed(request, errorCode);
  },
};

function allFailed(request: OffsetCommitRequest, errorCode: number) {
  return {
    throttleTimeMs: 0,
    topics: request.topics.map((topic) => ({
      name: topic.name,
      partitions: topic.partitions.map((partition) => ({ partitionIndex: partition.partitionIndex, errorCode })),
    })),
  };
}

export function partitionExists(state: MetadataState, topicName: string, partitionIndex: number): boolean {
  const topic = state.topic(topicName);
  return topic !== undefined && topic.partitions.some((partition) => partition.partition === partitionIndex);
}
