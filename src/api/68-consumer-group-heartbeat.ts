import { ErrorCode } from "../protocol/error-codes.ts";
import type { ConsumerGroupHeartbeatRequest, ConsumerGroupHeartbeatResponse } from "../protocol/generated/68-consumer-group-heartbeat.ts";
import { ApiKey } from "../protocol/generated/index.ts";
import type { MetadataState } from "../metadata/state.ts";
import type { TopicLookup } from "../group/consumer-group.ts";
import { CoordinatorStopped } from "../group/group-service.ts";
import type { ApiHandler } from "./handler.ts";

/**
 * ConsumerGroupHeartbeat (KIP-848): join with epoch 0, heartbeat with the owned partitions, leave with
 * -1 (-2 for a static member). Server-side assignors "uniform" (default) and "range"; a subscribed
 * regex (v1) is answered INVALID_REQUEST.
 */
export const consumerGroupHeartbeatHandler: ApiHandler<ConsumerGroupHeartbeatRequest, ConsumerGroupHeartbeatResponse> = {
  apiKey: ApiKey.ConsumerGroupHeartbeat,
  minVersion: 0,
  maxVersion: 1,
  async handle(request, ctx) {
    if (request.groupId === "") return failure(ErrorCode.INVALID_GROUP_ID, "GroupId can't be empty.");
    try {
      const answer = await ctx.broker.groups.consumerGroupHeartbeat(
        request.groupId,
        {
          apiVersion: ctx.apiVersion,
          memberId: request.memberId,
          memberEpoch: request.memberEpoch,
          instanceId: request.instanceId,
          rackId: request.rackId,
          rebalanceTimeoutMs: request.rebalanceTimeoutMs,
          subscribedTopicNames: request.subscribedTopicNames,
          subscribedTopicRegex: request.subscribedTopicRegex,
          serverAssignor: request.serverAssignor,
          topicPartitions: request.topicPartitions,
          clientId: ctx.clientId ?? "",
          clientHost: `/${ctx.clientHost}`,
        },
        topicLookup(ctx.broker.metadata.state),
      );
      return { throttleTimeMs: 0, ...answer, assignment: answer.assignment === null ? null : { topicPartitions: answer.assignment } };
    } catch (error) {
      if (error instanceof CoordinatorStopped) return failure(ErrorCode.COORDINATOR_NOT_AVAILABLE, null);
      throw error;
    }
  },
  errorResponse(_request, errorCode) {
    return failure(errorCode, null);
  },
};

function failure(errorCode: number, errorMessage: string | null) {
  return { throttleTimeMs: 0, errorCode, errorMessage, memberId: null, memberEpoch: 0, heartbeatIntervalMs: 0, assignment: null };
}

/** The cluster's topics as the consumer group core sees them. */
export function topicLookup(state: MetadataState): TopicLookup {
  return {
    byName(name) {
      const topic = state.topic(name);
      return topic === undefined ? undefined : { name, topicId: topic.topicId, partitionCount: topic.partitions.length };
    },
  };
}
