import { ErrorCode } from "../protocol/error-codes.ts";
import type { HeartbeatRequest, HeartbeatResponse } from "../protocol/generated/12-heartbeat.ts";
import { ApiKey } from "../protocol/generated/index.ts";
import type { ApiHandler } from "./handler.ts";

export const heartbeatHandler: ApiHandler<HeartbeatRequest, HeartbeatResponse> = {
  apiKey: ApiKey.Heartbeat,
  minVersion: 0,
  maxVersion: 4,
  async handle(request, ctx) {
    if (request.groupId === "") return { throttleTimeMs: 0, errorCode: ErrorCode.INVALID_GROUP_ID };
    const { errorCode } = await ctx.broker.groups.heartbeat(request.groupId, {
      memberId: request.memberId,
      groupInstanceId: request.groupInstanceId,
      generationId: request.generationId,
    });
    return { throttleTimeMs: 0, errorCode };
  },
};
