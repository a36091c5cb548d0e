import { brokerResourceProblem, ConfigResourceType, describeBrokerConfigs } from "../metadata/broker-configs.ts";
import { topicNameProblem } from "../metadata/controller.ts";
import { ConfigSource, describeTopicConfigs } from "../metadata/effective-configs.ts";
import { topicConfigSpec, type ConfigType } from "../metadata/topic-configs.ts";
import type { Encodable } from "../protocol/encodable.ts";
import { ErrorCode } from "../protocol/error-codes.ts";
import type {
  DescribeConfigsRequest,
  DescribeConfigsRequestDescribeConfigsResource,
  DescribeConfigsResponse,
  DescribeConfigsResponseDescribeConfigsResourceResult,
  DescribeConfigsResponseDescribeConfigsResult,
  DescribeConfigsResponseDescribeConfigsSynonym,
} from "../protocol/generated/32-describe-configs.ts";
import { ApiKey } from "../protocol/generated/index.ts";
import type { ApiHandler, RequestContext } from "./handler.ts";

/** Kafka's DescribeConfigsResponse.ConfigType codes (v3+). */
const CONFIG_TYPE_CODES: Record<ConfigType, number> = { boolean: 1, string: 2, int: 3, long: 5, double: 6, list: 7, class: 8, password: 9 };

interface Described {
  name: string;
  value: string;
  source: number;
  readOnly: boolean;
  type: ConfigType;
  doc: string;
  synonyms: DescribeConfigsResponseDescribeConfigsSynonym[];
}

export const describeConfigsHandler: ApiHandler<DescribeConfigsRequest, DescribeConfigsResponse> = {
  apiKey: ApiKey.DescribeConfigs,
  minVersion: 0,
  maxVersion: 4,
  handle(request, ctx) {
    return { throttleTimeMs: 0, results: request.resources.map((resource) => describeResource(resource, request, ctx)) };
  },
  errorResponse(request, errorCode) {
    return {
      results: request.resources.map((r) => ({ errorCode, errorMessage: null, resourceType: r.resourceType, resourceName: r.resourceName, configs: [] })),
    };
  },
};

function describeResource(
  resource: DescribeConfigsRequestDescribeConfigsResource,
  request: DescribeConfigsRequest,
  ctx: RequestContext,
): Encodable<DescribeConfigsResponseDescribeConfigsResult> {
  const fail = (errorCode: number, errorMessage: string) => ({
    errorCode,
    errorMessage,
    resourceType: resource.resourceType,
    resourceName: resource.resourceName,
    configs: [],
  });
  let described: Described[];
  switch (resource.resourceType) {
    case ConfigResourceType.TOPIC: {
      const nameProblem = topicNameProblem(resource.resourceName);
      if (nameProblem) return fail(ErrorCode.INVALID_TOPIC_EXCEPTION, nameProblem);
      const topic = ctx.broker.metadata.state.topic(resource.resourceName);
      if (!topic) return fail(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, `Topic ${resource.resourceName} does not exist`);
      described = describeTopic(ctx.broker.topicDefaults(), topic.configs);
      break;
    }
    case ConfigResourceType.BROKER: {
      const problem = brokerResourceProblem(resource.resourceName, ctx.broker.config.nodeId);
      if (problem) return fail(ErrorCode.INVALID_REQUEST, problem);
      // The empty name asks for cluster-wide dynamic defaults, of which Chronik has none.
      described = resource.resourceName === "" ? [] : describeBroker(ctx);
      break;
    }
    case ConfigResourceType.BROKER_LOGGER:
      return fail(ErrorCode.INVALID_REQUEST, "Chronik does not expose its loggers as a BROKER_LOGGER resource");
    default:
      return fail(ErrorCode.INVALID_REQUEST, `Unsupported resource type ${resource.resourceType}`);
  }
  const keys = resource.configurationKeys;
  const wanted = keys === null || keys.length === 0 ? described : described.filter((c) => keys.includes(c.name));
  return {
    errorCode: ErrorCode.NONE,
    errorMessage: null,
    resourceType: resource.resourceType,
    resourceName: resource.resourceName,
    configs: wanted.map((c) => toResult(c, request, ctx.apiVersion)),
  };
}

function toResult(c: Described, request: DescribeConfigsRequest, apiVersion: number): Encodable<DescribeConfigsResponseDescribeConfigsResourceResult> {
  return {
    name: c.name,
    value: c.value,
    readOnly: c.readOnly,
    isDefault: c.source === ConfigSource.DEFAULT_CONFIG,
    configSource: c.source,
    isSensitive: false,
    synonyms: request.includeSynonyms ? c.synonyms : [],
    configType: apiVersion >= 3 ? CONFIG_TYPE_CODES[c.type] : 0,
    documentation: request.includeDocumentation ? c.doc : null,
  };
}

/** A topic config, then the broker configs it falls back to, in Kafka's order of precedence. */
function describeTopic(brokerDefaults: Readonly<Record<string, string>>, overrides: Readonly<Record<string, string>>): Described[] {
  return describeTopicConfigs(brokerDefaults, overrides).map((c) => {
    const spec = topicConfigSpec(c.name)!;
    const synonyms: DescribeConfigsResponseDescribeConfigsSynonym[] = [];
    if (c.source === ConfigSource.DYNAMIC_TOPIC_CONFIG) synonyms.push({ name: c.name, value: c.value, source: c.source });
    const brokerValue = brokerDefaults[c.name] ?? spec.defaultValue;
    if (brokerValue !== spec.defaultValue) synonyms.push({ name: spec.brokerSynonym, value: brokerValue, source: ConfigSource.STATIC_BROKER_CONFIG });
    synonyms.push({ name: spec.brokerSynonym, value: spec.defaultValue, source: ConfigSource.DEFAULT_CONFIG });
    return { name: c.name, value: c.value, source: c.source, readOnly: false, type: spec.type, doc: spec.doc, synonyms };
  });
}

function describeBroker(ctx: RequestContext): Described[] {
  const { broker } = ctx;
  // The port and directory in use, not the options that asked for them (port 0, a relative path).
  const inUse = { ...broker.config, kafkaPort: broker.kafkaPort, dataDir: broker.logs.dataDir };
  return describeBrokerConfigs(inUse).map((c) => ({
    name: c.name,
    value: c.value,
    source: c.source,
    // Chronik's broker options are fixed at start.
    readOnly: true,
    type: c.type,
    doc: c.doc,
    synonyms: [{ name: c.name, value: c.value, source: c.source }],
  }));
}
