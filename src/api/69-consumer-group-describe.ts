import { ErrorCode } from "../protocol/error-codes.ts";
import type {
  ConsumerGroupDescribeRequest,
  ConsumerGroupDescribeResponse,
  ConsumerGroupDescribeResponseTopicPartitions,
} from "../protocol/generated/69-consumer-group-describe.ts";
import { ApiKey } from "../protocol/generated/index.ts";
import type { MetadataState } from "../metadata/state.ts";
import type { TopicPartitions } from "../group/consumer-group.ts";
import { topicLookup } from "./68-consumer-group-heartbeat.ts";
import type { ApiHandler } from "./handler.ts";

/** Kafka's "no authorized operations were requested" marker. */
const AUTHORIZED_OPERATIONS_OMITTED = -2147483648;

/** ConsumerGroupDescribe: KIP-848 groups with members, epochs, current and target assignments. */
export const consumerGroupDescribeHandler: ApiHandler<ConsumerGroupDescribeRequest, ConsumerGroupDescribeResponse> = {
  apiKey: ApiKey.ConsumerGroupDescribe,
  minVersion: 0,
  maxVersion: 0,
  handle(request, ctx) {
    const state = ctx.broker.metadata.state;
    const topics = topicLookup(state);
    return {
      throttleTimeMs: 0,
      groups: request.groupIds.map((groupId) => {
        if (groupId === "") return failed(groupId, ErrorCode.INVALID_GROUP_ID, "GroupId can't be empty.");
        if (!ctx.broker.groups.isCoordinatorOf(groupId)) return failed(groupId, ErrorCode.NOT_COORDINATOR, null);
        const group = ctx.broker.groups.describeConsumerGroup(groupId, topics);
        if (group === null) return failed(groupId, ErrorCode.GROUP_ID_NOT_FOUND, `Group ${groupId} not found.`);
        return {
          errorCode: ErrorCode.NONE,
          errorMessage: null,
          groupId,
          groupState: group.groupState,
          groupEpoch: group.groupEpoch,
          assignmentEpoch: group.assignmentEpoch,
          assignorName: group.assignorName,
          authorizedOperations: AUTHORIZED_OPERATIONS_OMITTED,
          members: group.members.map((member) => ({
            memberId: member.memberId,
            instanceId: member.instanceId,
            rackId: member.rackId,
            memberEpoch: member.memberEpoch,
            clientId: member.clientId,
            clientHost: member.clientHost,
            subscribedTopicNames: member.subscribedTopicNames,
            subscribedTopicRegex: null,
            assignment: { topicPartitions: withNames(state, member.assignment) },
            targetAssignment: { topicPartitions: withNames(state, member.targetAssignment) },
          })),
        };
      }),
    };
  },
  errorResponse(request, errorCode) {
    return { groups: request.groupIds.map((groupId) => failed(groupId, errorCode, null)) };
  },
};

function failed(groupId: string, errorCode: number, errorMessage: string | null) {
  return { errorCode, errorMessage, groupId, groupState: "", groupEpoch: -1, assignmentEpoch: -1, assignorName: "", members: [], authorizedOperations: AUTHORIZED_OPERATIONS_OMITTED };
}

/** A topic deleted since it was assigned keeps its id and gets an empty name. */
function withNames(state: MetadataState, assignment: TopicPartitions[]): ConsumerGroupDescribeResponseTopicPartitions[] {
  return assignment.map((tp) => ({ topicId: tp.topicId, topicName: state.topicById(tp.topicId)?.name ?? "", partitions: tp.partitions }));
}
