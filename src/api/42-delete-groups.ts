import type { DeleteGroupsRequest, DeleteGroupsResponse } from "../protocol/generated/42-delete-groups.ts";
import { ApiKey } from "../protocol/generated/index.ts";
import type { ApiHandler } from "./handler.ts";

export const deleteGroupsHandler: ApiHandler<DeleteGroupsRequest, DeleteGroupsResponse> = {
  apiKey: ApiKey.DeleteGroups,
  minVersion: 0,
  maxVersion: 2,
  async handle(request, ctx) {
    return { throttleTimeMs: 0, results: await ctx.broker.groups.deleteGroups(request.groupsNames) };
  },
  errorResponse(request, errorCode) {
    return { results: request.groupsNames.map((groupId) => ({ groupId, errorCode })) };
  },
};
