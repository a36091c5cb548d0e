import { ErrorCode } from "../protocol/error-codes.ts";
import type { CreateTopicsRequest, CreateTopicsResponse, CreateTopicsResponseCreatableTopicConfigs } from "../protocol/generated/19-create-topics.ts";
import { ApiKey } from "../protocol/generated/index.ts";
import { ZERO_UUID } from "../protocol/reader.ts";
import { describeTopicConfigs } from "../metadata/effective-configs.ts";
import type { ApiHandler } from "./handler.ts";

type ResponseConfigs = readonly CreateTopicsResponseCreatableTopicConfigs[];

/** Per broker defaults object: what a topic without overrides reports, the same for each (most topics are such). */
const configsWithoutOverrides = new WeakMap<object, ResponseConfigs>();

function hasOverrides(overrides: Readonly<Record<string, string>>): boolean {
  for (const _ in overrides) return true;
  return false;
}

/** Every topic config with its value in force, as CreateTopics v5+ reports them (KIP-525). */
function responseConfigs(brokerDefaults: Readonly<Record<string, string>>, overrides: Readonly<Record<string, string>>): ResponseConfigs {
  const shared = !hasOverrides(overrides);
  const cached = shared ? configsWithoutOverrides.get(brokerDefaults) : undefined;
  if (cached) return cached;
  const configs = describeTopicConfigs(brokerDefaults, overrides).map((c) => ({ name: c.name, value: c.value, readOnly: false, configSource: c.source, isSensitive: false }));
  if (shared) configsWithoutOverrides.set(brokerDefaults, configs);
  return configs;
}

export const createTopicsHandler: ApiHandler<CreateTopicsRequest, CreateTopicsResponse> = {
  apiKey: ApiKey.CreateTopics,
  minVersion: 0,
  maxVersion: 7,
  async handle(request, ctx) {
    const { broker } = ctx;
    const results = await broker.controller.createTopics(
      request.topics.map((t) => ({
        name: t.name,
        numPartitions: t.numPartitions,
        replicationFactor: t.replicationFactor,
        assignments: t.assignments.map((a) => ({ partitionIndex: a.partitionIndex, brokerIds: [...a.brokerIds] })),
        configs: t.configs.map((c) => ({ name: c.name, value: c.value })),
      })),
      request.validateOnly,
    );
    return {
      throttleTimeMs: 0,
      topics: results.map((result) => {
        if (!result.topic) {
          return { name: result.name, topicId: ZERO_UUID, errorCode: result.errorCode, errorMessage: result.errorMessage, numPartitions: -1, replicationFactor: -1, configs: null };
        }
        const topic = result.topic;
        return {
          name: topic.name,
          topicId: request.validateOnly ? ZERO_UUID : topic.topicId,
          errorCode: ErrorCode.NONE,
          errorMessage: null,
          numPartitions: topic.partitions.length,
          replicationFactor: topic.partitions[0]!.replicas.length,
          configs: responseConfigs(broker.topicDefaults(), topic.configs),
        };
      }),
    };
  },
  errorResponse(request, errorCode) {
    return { topics: request.topics.map((t) => ({ name: t.name, errorCode, errorMessage: null })) };
  },
};
