import { ErrorCode } from "../protocol/error-codes.ts";
import type { ApiVersionsRequest, ApiVersionsResponse } from "../protocol/generated/18-api-versions.ts";
import { ApiKey } from "../protocol/generated/index.ts";
import type { ApiHandler } from "./handler.ts";

export const apiVersionsHandler: ApiHandler<ApiVersionsRequest, ApiVersionsResponse> = {
  apiKey: ApiKey.ApiVersions,
  minVersion: 0,
  maxVersion: 4,
  handle(_request, ctx) {
    return {
      errorCode: ErrorCode.NONE,
      apiKeys: ctx.broker.supportedApis(),
      throttleTimeMs: 0,
      supportedFeatures: [],
      finalizedFeaturesEpoch: -1,
      finalizedFeatures: [],
      zkMigrationReady: false,
    };
  },
};
