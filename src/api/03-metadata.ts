import { ErrorCode } from "../protocol/error-codes.ts";
import type { MetadataRequest, MetadataRequestTopic, MetadataResponse, MetadataResponseTopic } from "../protocol/generated/03-metadata.ts";
import { ApiKey } from "../protocol/generated/index.ts";
import { ZERO_UUID } from "../protocol/reader.ts";
import type { Encodable } from "../protocol/encodable.ts";
import type { TopicRecord } from "../metadata/records.ts";
import type { ApiHandler } from "./handler.ts";

/** Kafka's "no authorized operations were requested" marker. */
const AUTHORIZED_OPERATIONS_OMITTED = -2147483648;

export const metadataHandler: ApiHandler<MetadataRequest, MetadataResponse> = {
  apiKey: ApiKey.Metadata,
  minVersion: 0,
  maxVersion: 12,
  // Clients route by the newest answer they read: one computed before the connection's parked produces finished may
  // name a leader that was fenced meanwhile (librdkafka 2.0 then keeps sending that partition to the dead broker).
  waitsForEarlierRequests: true,
  async handle(request, ctx) {
    const { broker, apiVersion } = ctx;
    const state = broker.metadata.state;
    // v0 sends an empty list for "all topics"; later versions send null.
    const allTopics = request.topics === null || (apiVersion === 0 && request.topics.length === 0);
    const topics: Encodable<MetadataResponseTopic>[] = [];

    if (allTopics) {
      for (const topic of state.topics()) topics.push(describeTopic(topic));
    } else {
      const requested = distinctTopics(request.topics!);
      const allowAutoCreate = broker.config.autoCreateTopics && (apiVersion < 4 || request.allowAutoTopicCreation);
      const missing = requested
        .filter((t) => t.name !== null && !state.topic(t.name))
        .map((t) => t.name!);
      const createErrors = new Map<string, number>();
      if (allowAutoCreate && missing.length > 0) {
        for (const result of await broker.controller.ensureTopics([...new Set(missing)])) {
          if (result.errorCode !== ErrorCode.NONE) createErrors.set(result.name, result.errorCode);
        }
      }
      for (const wanted of requested) {
        // Before v12 a response topic must have a name, so lookups by id are refused as Kafka does.
        if (wanted.name === null && apiVersion < 12) {
          topics.push({ errorCode: ErrorCode.INVALID_REQUEST, name: "", topicId: wanted.topicId, partitions: [] });
          continue;
        }
        const topic = wanted.name !== null ? state.topic(wanted.name) : state.topicById(wanted.topicId);
        if (topic) {
          topics.push(describeTopic(topic));
        } else if (wanted.name === null) {
          topics.push({ errorCode: ErrorCode.UNKNOWN_TOPIC_ID, name: null, topicId: wanted.topicId, partitions: [] });
        } else {
          const errorCode = createErrors.get(wanted.name) ?? ErrorCode.UNKNOWN_TOPIC_OR_PARTITION;
          topics.push({ errorCode, name: wanted.name, topicId: ZERO_UUID, partitions: [] });
        }
      }
    }

    return {
      throttleTimeMs: 0,
      brokers: state
        .brokers()
        .filter((b) => !b.fenced)
        .map((b) => ({ nodeId: b.nodeId, host: b.host, port: b.port, rack: b.rack })),
      clusterId: state.clusterId,
      controllerId: broker.controllerId(),
      topics,
      clusterAuthorizedOperations: AUTHORIZED_OPERATIONS_OMITTED,
    };
  },
};

/**
 * Each topic is answered once however often it is named, as Kafka does (it reads the request's topics into a set):
 * otherwise a small request naming one large topic hundreds of times builds a response hundreds of times its size.
 */
function distinctTopics(requested: readonly MetadataRequestTopic[]): MetadataRequestTopic[] {
  const seen = new Set<string>();
  return requested.filter((t) => {
    const key = t.name !== null ? `name:${t.name}` : `id:${t.topicId}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

function describeTopic(topic: TopicRecord): Encodable<MetadataResponseTopic> {
  return {
    errorCode: ErrorCode.NONE,
    name: topic.name,
    topicId: topic.topicId,
    isInternal: false,
    partitions: topic.partitions.map((p) => ({
      errorCode: p.leader === -1 ? ErrorCode.LEADER_NOT_AVAILABLE : ErrorCode.NONE,
      partitionIndex: p.partition,
      leaderId: p.leader,
      leaderEpoch: p.leaderEpoch,
      replicaNodes: [...p.replicas],
      isrNodes: [...p.isr],
      offlineReplicas: [],
    })),
    topicAuthorizedOperations: AUTHORIZED_OPERATIONS_OMITTED,
  };
}
