import { brokerResourceProblem, ConfigResourceType } from "../metadata/broker-configs.ts";
import { ConfigOperation, type TopicConfigAlteration } from "../metadata/controller.ts";
import { ErrorCode } from "../protocol/error-codes.ts";
import type { AlterConfigsRequest, AlterConfigsResponse } from "../protocol/generated/33-alter-configs.ts";
import { ApiKey } from "../protocol/generated/index.ts";
import type { ApiHandler, RequestContext } from "./handler.ts";

export interface ConfigResourceChange {
  resourceType: number;
  resourceName: string;
  /** AlterConfigs replaces the override set; IncrementalAlterConfigs edits it. */
  replaceAll: boolean;
  operations: { name: string; operation: number; value: string | null }[];
}

export interface ConfigResourceOutcome {
  resourceType: number;
  resourceName: string;
  errorCode: number;
  errorMessage: string | null;
}

/**
 * Applies AlterConfigs and IncrementalAlterConfigs resources: topic changes go through the controller,
 * broker configs are static in Chronik and refused as Kafka refuses a non-dynamic broker config.
 */
export async function alterConfigResources(changes: readonly ConfigResourceChange[], validateOnly: boolean, ctx: RequestContext): Promise<ConfigResourceOutcome[]> {
  const key = (c: ConfigResourceChange) => `${c.resourceType}:${c.resourceName}`;
  const counts = new Map<string, number>();
  for (const change of changes) counts.set(key(change), (counts.get(key(change)) ?? 0) + 1);
  const outcomes = changes.map((c): ConfigResourceOutcome => ({ resourceType: c.resourceType, resourceName: c.resourceName, errorCode: ErrorCode.NONE, errorMessage: null }));
  const topicChanges: { index: number; alteration: TopicConfigAlteration }[] = [];
  changes.forEach((change, index) => {
    const fail = (errorCode: number, errorMessage: string) => Object.assign(outcomes[index]!, { errorCode, errorMessage });
    if (counts.get(key(change))! > 1) return fail(ErrorCode.INVALID_REQUEST, `Duplicate resource ${change.resourceName} of type ${change.resourceType}`);
    switch (change.resourceType) {
      case ConfigResourceType.TOPIC:
        topicChanges.push({ index, alteration: { name: change.resourceName, replaceAll: change.replaceAll, operations: change.operations } });
        return;
      case ConfigResourceType.BROKER: {
        const problem = brokerResourceProblem(change.resourceName, ctx.broker.config.nodeId);
        if (problem) return fail(ErrorCode.INVALID_REQUEST, problem);
        if (change.operations.length === 0) return;
        const names = change.operations.map((o) => o.name).join(", ");
        return fail(ErrorCode.INVALID_REQUEST, `Invalid config value for resource BROKER ${change.resourceName}: Cannot update these configs dynamically: ${names}`);
      }
      case ConfigResourceType.BROKER_LOGGER:
        return fail(ErrorCode.INVALID_REQUEST, "Chronik does not expose its loggers as a BROKER_LOGGER resource");
      default:
        return fail(ErrorCode.INVALID_REQUEST, `Unsupported resource type ${change.resourceType}`);
    }
  });
  if (topicChanges.length > 0) {
    const results = await ctx.broker.controller.alterTopicConfigs(topicChanges.map((t) => t.alteration), validateOnly);
    results.forEach((result, i) => Object.assign(outcomes[topicChanges[i]!.index]!, { errorCode: result.errorCode, errorMessage: result.errorMessage }));
  }
  return outcomes;
}

export const alterConfigsHandler: ApiHandler<AlterConfigsRequest, AlterConfigsResponse> = {
  apiKey: ApiKey.AlterConfigs,
  minVersion: 0,
  maxVersion: 2,
  async handle(request, ctx) {
    const changes = request.resources.map((r) => ({
      resourceType: r.resourceType,
      resourceName: r.resourceName,
      replaceAll: true,
      operations: r.configs.map((c) => ({ name: c.name, operation: ConfigOperation.SET, value: c.value })),
    }));
    return { throttleTimeMs: 0, responses: await alterConfigResources(changes, request.validateOnly, ctx) };
  },
  errorResponse(request, errorCode) {
    return { responses: request.resources.map((r) => ({ errorCode, errorMessage: null, resourceType: r.resourceType, resourceName: r.resourceName })) };
  },
};
