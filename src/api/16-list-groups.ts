import { ErrorCode } from "../protocol/error-codes.ts";
import type { ListGroupsRequest, ListGroupsResponse } from "../protocol/generated/16-list-groups.ts";
import { ApiKey } from "../protocol/generated/index.ts";
import type { ApiHandler } from "./handler.ts";

/** Every group here speaks the classic protocol. */
const CLASSIC_GROUP_TYPE = "classic";

export const listGroupsHandler: ApiHandler<ListGroupsRequest, ListGroupsResponse> = {
  apiKey: ApiKey.ListGroups,
  minVersion: 0,
  maxVersion: 5,
  handle(request, ctx) {
    const wantedTypes = new Set(request.typesFilter.map((type) => type.toLowerCase()));
    const listed = wantedTypes.size === 0 || wantedTypes.has(CLASSIC_GROUP_TYPE) ? ctx.broker.groups.listGroups(request.statesFilter) : [];
    return {
      throttleTimeMs: 0,
      errorCode: ErrorCode.NONE,
      groups: listed.map((group) => ({
        groupId: group.groupId,
        protocolType: group.protocolType,
        groupState: group.groupState,
        groupType: CLASSIC_GROUP_TYPE,
      })),
    };
  },
};
