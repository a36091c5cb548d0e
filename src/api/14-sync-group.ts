import { ErrorCode } from "../protocol/error-codes.ts";
import type { SyncGroupRequest, SyncGroupResponse } from "../protocol/generated/14-sync-group.ts";
import { ApiKey } from "../protocol/generated/index.ts";
import type { ApiHandler } from "./handler.ts";

const EMPTY_ASSIGNMENT = new Uint8Array(0);

export const syncGroupHandler: ApiHandler<SyncGroupRequest, SyncGroupResponse> = {
  apiKey: ApiKey.SyncGroup,
  minVersion: 0,
  maxVersion: 5,
  async handle(request, ctx) {
    if (request.groupId === "") return { errorCode: ErrorCode.INVALID_GROUP_ID, assignment: EMPTY_ASSIGNMENT };
    // Protocol type and name arrive from v5; older requests cannot be checked against them.
    const withProtocol = ctx.apiVersion >= 5;
    const response = await ctx.broker.groups.sync(request.groupId, {
      memberId: request.memberId,
      groupInstanceId: request.groupInstanceId,
      generationId: request.generationId,
      protocolType: withProtocol ? request.protocolType : null,
      protocolName: withProtocol ? request.protocolName : null,
      assignments: request.assignments.map((entry) => ({ memberId: entry.memberId, assignment: entry.assignment })),
    });
    return {
      throttleTimeMs: 0,
      errorCode: response.errorCode,
      protocolType: response.protocolType,
      protocolName: response.protocolName,
      assignment: response.assignment,
    };
  },
  errorResponse(_request, errorCode) {
    return { errorCode, assignment: EMPTY_ASSIGNMENT };
  },
};
