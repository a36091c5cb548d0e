import { ErrorCode } from "../protocol/error-codes.ts";
import type { JoinGroupRequest, JoinGroupResponse } from "../protocol/generated/11-join-group.ts";
import { ApiKey } from "../protocol/generated/index.ts";
import type { ApiHandler } from "./handler.ts";

export const joinGroupHandler: ApiHandler<JoinGroupRequest, JoinGroupResponse> = {
  apiKey: ApiKey.JoinGroup,
  minVersion: 0,
  maxVersion: 9,
  async handle(request, ctx) {
    const apiVersion = ctx.apiVersion;
    if (request.groupId === "") return failure(request.memberId, ErrorCode.INVALID_GROUP_ID);
    const response = await ctx.broker.groups.join(request.groupId, {
      apiVersion,
      memberId: request.memberId,
      groupInstanceId: request.groupInstanceId,
      clientId: ctx.clientId ?? "",
      clientHost: `/${ctx.clientHost}`,
      sessionTimeoutMs: request.sessionTimeoutMs,
      // v0 has no rebalance timeout; Kafka uses the session timeout.
      rebalanceTimeoutMs: apiVersion === 0 ? request.sessionTimeoutMs : request.rebalanceTimeoutMs,
      protocolType: request.protocolType,
      protocols: request.protocols.map((protocol) => ({ name: protocol.name, metadata: protocol.metadata })),
    });
    return {
      throttleTimeMs: 0,
      errorCode: response.errorCode,
      generationId: response.generationId,
      protocolType: response.protocolType,
      // Below v7 the protocol name is not nullable.
      protocolName: apiVersion < 7 ? (response.protocolName ?? "") : response.protocolName,
      leader: response.leader,
      skipAssignment: response.skipAssignment,
      memberId: response.memberId,
      members: response.members.map((member) => ({
        memberId: member.memberId,
        groupInstanceId: member.groupInstanceId,
        metadata: member.metadata,
      })),
    };
  },
  errorResponse(request, errorCode) {
    return failure(request.memberId, errorCode);
  },
};

function failure(memberId: string, errorCode: number) {
  return { errorCode, generationId: -1, protocolType: null, protocolName: "", leader: "", memberId, members: [] };
}
