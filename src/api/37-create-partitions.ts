import { ApiKey } from "../protocol/generated/index.ts";
import type { CreatePartitionsRequest, CreatePartitionsResponse } from "../protocol/generated/37-create-partitions.ts";
import type { ApiHandler } from "./handler.ts";

export const createPartitionsHandler: ApiHandler<CreatePartitionsRequest, CreatePartitionsResponse> = {
  apiKey: ApiKey.CreatePartitions,
  minVersion: 0,
  maxVersion: 3,
  async handle(request, ctx) {
    const results = await ctx.broker.controller.createPartitions(
      request.topics.map((t) => ({
        name: t.name,
        count: t.count,
        assignments: t.assignments === null ? null : t.assignments.map((a) => [...a.brokerIds]),
      })),
      request.validateOnly,
    );
    return { throttleTimeMs: 0, results };
  },
  errorResponse(request, errorCode) {
    return { results: request.topics.map((t) => ({ name: t.name, errorCode, errorMessage: null })) };
  },
};
