import type { DeleteTopicsRequest, DeleteTopicsResponse } from "../protocol/generated/20-delete-topics.ts";
import { ApiKey } from "../protocol/generated/index.ts";
import { ZERO_UUID } from "../protocol/reader.ts";
import type { ApiHandler } from "./handler.ts";

function targets(request: DeleteTopicsRequest, version: number): { name: string | null; topicId: string | null }[] {
  if (version >= 6) return request.topics.map((t) => ({ name: t.name, topicId: t.name === null ? t.topicId : null }));
  return request.topicNames.map((name) => ({ name, topicId: null }));
}

export const deleteTopicsHandler: ApiHandler<DeleteTopicsRequest, DeleteTopicsResponse> = {
  apiKey: ApiKey.DeleteTopics,
  minVersion: 0,
  maxVersion: 6,
  async handle(request, ctx) {
    const results = await ctx.broker.controller.deleteTopics(targets(request, ctx.apiVersion));
    return {
      throttleTimeMs: 0,
      responses: results.map((r) => ({
        name: r.name,
        topicId: r.topicId ?? ZERO_UUID,
        errorCode: r.errorCode,
        errorMessage: r.errorMessage,
      })),
    };
  },
  errorResponse(request, errorCode, ctx) {
    return { responses: targets(request, ctx.apiVersion).map((t) => ({ name: t.name, topicId: t.topicId ?? ZERO_UUID, errorCode })) };
  },
};
