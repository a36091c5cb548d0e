/**
 * The broker configs DescribeConfigs reports for a BROKER resource: Chronik's start options under
 * Kafka's names, plus the broker-level synonyms of every topic config. Chronik's options are fixed
 * at start, so every broker config is read-only.
 */
import { OPTIONS, type BrokerConfig } from "../config/options.ts";
import { ConfigSource } from "./effective-configs.ts";
import { TOPIC_CONFIGS, type ConfigType } from "./topic-configs.ts";

export interface BrokerConfigEntry {
  readonly name: string;
  readonly value: string;
  readonly source: number;
  readonly type: ConfigType;
  readonly doc: string;
}

interface BrokerConfigSpec {
  readonly name: string;
  readonly type: ConfigType;
  readonly doc: string;
  /** The Chronik option behind this config; its default decides DEFAULT_CONFIG against STATIC_BROKER_CONFIG. */
  readonly option: keyof BrokerConfig;
  readonly render?: (config: BrokerConfig) => string;
}

const BROKER_CONFIGS: readonly BrokerConfigSpec[] = [
  { name: "node.id", type: "int", option: "nodeId", doc: "This broker's node id." },
  { name: "broker.id", type: "int", option: "nodeId", doc: "This broker's id (the node id)." },
  { name: "log.dirs", type: "string", option: "dataDir", doc: "Directory holding the partition logs." },
  { name: "listeners", type: "string", option: "kafkaPort", doc: "Listener the broker binds.", render: (c) => `PLAINTEXT://${c.host}:${c.kafkaPort}` },
  {
    name: "advertised.listeners",
    type: "string",
    option: "advertisedHost",
    doc: "Listener clients are told to connect to.",
    render: (c) => `PLAINTEXT://${c.advertisedHost}:${c.kafkaPort}`,
  },
  { name: "num.partitions", type: "int", option: "defaultPartitions", doc: "Partitions of auto-created topics." },
  { name: "default.replication.factor", type: "int", option: "defaultReplicationFactor", doc: "Replication factor of auto-created topics." },
  { name: "auto.create.topics.enable", type: "boolean", option: "autoCreateTopics", doc: "Create unknown topics asked for in Metadata." },
  { name: "message.max.bytes", type: "int", option: "maxMessageBytes", doc: "Largest record batch accepted." },
  { name: "fetch.max.bytes", type: "int", option: "fetchMaxBytes", doc: "Most record bytes one Fetch answer carries." },
  { name: "min.insync.replicas", type: "int", option: "minInsyncReplicas", doc: "Default for topics: in-sync replicas an acks=all write needs." },
  { name: "log.retention.ms", type: "long", option: "retentionMs", doc: "Age after which segments are deleted; -1 keeps them forever." },
  { name: "log.retention.bytes", type: "long", option: "retentionBytes", doc: "Largest partition size before old segments are deleted; -1 for no limit." },
  { name: "log.segment.bytes", type: "int", option: "segmentBytes", doc: "Size at which a segment rolls." },
  { name: "log.flush.scheduler.interval.ms", type: "long", option: "flushIntervalMs", doc: "Background fsync interval when the flush mode is fast." },
  { name: "socket.request.max.bytes", type: "int", option: "maxFrameBytes", doc: "Largest request frame accepted." },
  { name: "max.connections", type: "int", option: "maxConnections", doc: "Connections accepted at once." },
  { name: "queued.max.request.bytes", type: "long", option: "queuedMaxRequestBytes", doc: "Bytes of requests read and not yet answered above which reading pauses." },
  { name: "group.initial.rebalance.delay.ms", type: "int", option: "groupInitialRebalanceDelayMs", doc: "Wait for more members before a new group's first rebalance." },
  { name: "group.min.session.timeout.ms", type: "int", option: "groupMinSessionTimeoutMs", doc: "Smallest session timeout a member may ask for." },
  { name: "group.max.session.timeout.ms", type: "int", option: "groupMaxSessionTimeoutMs", doc: "Largest session timeout a member may ask for." },
  { name: "offsets.retention.minutes", type: "int", option: "offsetsRetentionMinutes", doc: "How long an empty group's offsets are kept." },
];

const OPTION_DEFAULTS = new Map(OPTIONS.map((o) => [o.key, o.defaultValue]));

/** Every broker config with its value and source, sorted by name as Kafka lists them. */
export function describeBrokerConfigs(config: BrokerConfig): BrokerConfigEntry[] {
  const entries = new Map<string, BrokerConfigEntry>();
  for (const spec of BROKER_CONFIGS) {
    const raw = config[spec.option];
    const isDefault = spec.render === undefined && raw === OPTION_DEFAULTS.get(spec.option);
    entries.set(spec.name, {
      name: spec.name,
      value: spec.render ? spec.render(config) : String(raw),
      source: isDefault ? ConfigSource.DEFAULT_CONFIG : ConfigSource.STATIC_BROKER_CONFIG,
      type: spec.type,
      doc: spec.doc,
    });
  }
  // Topic configs Chronik has no option for still have a broker-level default under their synonym.
  for (const topicSpec of TOPIC_CONFIGS) {
    if (entries.has(topicSpec.brokerSynonym)) continue;
    entries.set(topicSpec.brokerSynonym, {
      name: topicSpec.brokerSynonym,
      value: topicSpec.defaultValue,
      source: ConfigSource.DEFAULT_CONFIG,
      type: topicSpec.type,
      doc: topicSpec.doc,
    });
  }
  return [...entries.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/** Kafka's ConfigResource.Type codes. */
export const ConfigResourceType = { TOPIC: 2, BROKER: 4, BROKER_LOGGER: 8 } as const;

/**
 * Why a BROKER resource name does not address this broker, or null when it does. The empty name is
 * the cluster-wide default, which Kafka accepts too.
 */
export function brokerResourceProblem(resourceName: string, nodeId: number): string | null {
  if (resourceName === "") return null;
  if (!/^-?\d+$/.test(resourceName)) return `Broker id must be an integer, but it is: ${resourceName}`;
  if (Number(resourceName) !== nodeId) return `Unexpected broker id, expected ${nodeId} or empty string, but received ${resourceName}`;
  return null;
}
