import { ApiKey } from "../protocol/generated/index.ts";
import type { IncrementalAlterConfigsRequest, IncrementalAlterConfigsResponse } from "../protocol/generated/44-incremental-alter-configs.ts";
import { alterConfigResources } from "./33-alter-configs.ts";
import type { ApiHandler } from "./handler.ts";

export const incrementalAlterConfigsHandler: ApiHandler<IncrementalAlterConfigsRequest, IncrementalAlterConfigsResponse> = {
  apiKey: ApiKey.IncrementalAlterConfigs,
  minVersion: 0,
  maxVersion: 1,
  async handle(request, ctx) {
    const changes = request.resources.map((r) => ({
      resourceType: r.resourceType,
      resourceName: r.resourceName,
      replaceAll: false,
      operations: r.configs.map((c) => ({ name: c.name, operation: c.configOperation, value: c.value })),
    }));
    return { throttleTimeMs: 0, responses: await alterConfigResources(changes, request.validateOnly, ctx) };
  },
  errorResponse(request, errorCode) {
    return { responses: request.resources.map((r) => ({ errorCode, errorMessage: null, resourceType: r.resourceType, resourceName: r.resourceName })) };
  },
};
