import { ErrorCode } from "../protocol/error-codes.ts";
import type { DescribeGroupsRequest, DescribeGroupsResponse } from "../protocol/generated/15-describe-groups.ts";
import { ApiKey } from "../protocol/generated/index.ts";
import type { ApiHandler } from "./handler.ts";

/** Kafka's "no authorized operations were requested" marker. */
const AUTHORIZED_OPERATIONS_OMITTED = -2147483648;

export const describeGroupsHandler: ApiHandler<DescribeGroupsRequest, DescribeGroupsResponse> = {
  apiKey: ApiKey.DescribeGroups,
  minVersion: 0,
  maxVersion: 5,
  handle(request, ctx) {
    return {
      throttleTimeMs: 0,
      groups: ctx.broker.groups.describeGroups(request.groups).map((group) => ({
        errorCode: group.groupId === "" ? ErrorCode.INVALID_GROUP_ID : group.errorCode,
        groupId: group.groupId,
        groupState: group.groupState,
        protocolType: group.protocolType,
        protocolData: group.protocolData,
        members: group.members,
        authorizedOperations: AUTHORIZED_OPERATIONS_OMITTED,
      })),
    };
  },
  errorResponse(request, errorCode) {
    return { groups: request.groups.map((groupId) => ({ errorCode, groupId, groupState: "", protocolType: "", protocolData: "", members: [] })) };
  },
};
