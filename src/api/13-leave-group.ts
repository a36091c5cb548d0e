import { ErrorCode } from "../protocol/error-codes.ts";
import type { LeaveGroupRequest, LeaveGroupResponse } from "../protocol/generated/13-leave-group.ts";
import { ApiKey } from "../protocol/generated/index.ts";
import type { ApiHandler } from "./handler.ts";

export const leaveGroupHandler: ApiHandler<LeaveGroupRequest, LeaveGroupResponse> = {
  apiKey: ApiKey.LeaveGroup,
  minVersion: 0,
  maxVersion: 5,
  async handle(request, ctx) {
    // From v3 members leave in batches; before that one member per request.
    const batched = ctx.apiVersion >= 3;
    if (request.groupId === "") return { throttleTimeMs: 0, errorCode: ErrorCode.INVALID_GROUP_ID, members: [] };
    const leaving = batched
      ? request.members.map((member) => ({ memberId: member.memberId, groupInstanceId: member.groupInstanceId }))
      : [{ memberId: request.memberId, groupInstanceId: null }];
    const response = await ctx.broker.groups.leave(request.groupId, leaving);
    if (!batched) return { throttleTimeMs: 0, errorCode: response.members[0]!.errorCode };
    return { throttleTimeMs: 0, errorCode: response.errorCode, members: response.members };
  },
  errorResponse(_request, errorCode) {
    return { errorCode, members: [] };
  },
};
