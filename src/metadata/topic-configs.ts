/**
 * Kafka's topic-level configs that Chronik accepts: name, type, how to validate, and the broker
 * default a topic inherits when it has no override. Unknown names are INVALID_CONFIG, as in Kafka.
 */
export type ConfigType = "long" | "int" | "boolean" | "string" | "list" | "double" | "class" | "password";

export interface TopicConfigSpec {
  readonly name: string;
  readonly type: ConfigType;
  readonly defaultValue: string;
  /** The broker config a default comes from, for DescribeConfigs synonyms. */
  readonly brokerSynonym: string;
  readonly doc: string;
  readonly validate?: (value: string) => string | null;
}

const LONG_MAX = "9223372036854775807";

function integer(min: number, max = Number.MAX_SAFE_INTEGER): (value: string) => string | null {
  return (value) => {
    if (value === LONG_MAX && max >= Number.MAX_SAFE_INTEGER) return null;
    if (!/^-?\d+$/.test(value.trim())) return `not an integer: ${value}`;
    const n = Number(value);
    return n < min || n > max ? `must be between ${min} and ${max}` : null;
  };
}

function oneOf(...values: string[]): (value: string) => string | null {
  return (value) => (values.includes(value) ? null : `must be one of ${values.join(", ")}`);
}

function list(...values: string[]): (value: string) => string | null {
  return (value) => {
    const items = value.split(",").map((s) => s.trim()).filter((s) => s.length > 0);
    const bad = items.find((item) => !values.includes(item));
    return bad !== undefined ? `${bad} is not one of ${values.join(", ")}` : null;
  };
}

function ratio(value: string): string | null {
  const n = Number(value);
  return Number.isFinite(n) && n >= 0 && n <= 1 ? null : "must be between 0 and 1";
}

function bool(value: string): string | null {
  return value === "true" || value === "false" ? null : "must be true or false";
}

export const TOPIC_CONFIGS: readonly TopicConfigSpec[] = [
  { name: "cleanup.policy", type: "list", defaultValue: "delete", brokerSynonym: "log.cleanup.policy", doc: "delete or compact old segments.", validate: list("delete", "compact") },
  { name: "compression.type", type: "string", defaultValue: "producer", brokerSynonym: "compression.type", doc: "Codec for stored batches; producer keeps the producer's.", validate: oneOf("producer", "uncompressed", "gzip", "snappy", "lz4", "zstd") },
  { name: "delete.retention.ms", type: "long", defaultValue: "86400000", brokerSynonym: "log.cleaner.delete.retention.ms", doc: "How long delete tombstones are kept on compacted topics.", validate: integer(0) },
  { name: "file.delete.delay.ms", type: "long", defaultValue: "60000", brokerSynonym: "log.segment.delete.delay.ms", doc: "Delay before a deleted segment file is removed.", validate: integer(0) },
  { name: "flush.messages", type: "long", defaultValue: LONG_MAX, brokerSynonym: "log.flush.interval.messages", doc: "Force an fsync after this many messages (fast flush mode).", validate: integer(1) },
  { name: "flush.ms", type: "long", defaultValue: LONG_MAX, brokerSynonym: "log.flush.interval.ms", doc: "Force an fsync after this many milliseconds (fast flush mode).", validate: integer(0) },
  { name: "index.interval.bytes", type: "int", defaultValue: "4096", brokerSynonym: "log.index.interval.bytes", doc: "Bytes between offset index entries.", validate: integer(0, 2147483647) },
  { name: "max.compaction.lag.ms", type: "long", defaultValue: LONG_MAX, brokerSynonym: "log.cleaner.max.compaction.lag.ms", doc: "Longest time a message stays uncompacted.", validate: integer(1) },
  { name: "max.message.bytes", type: "int", defaultValue: "1048588", brokerSynonym: "message.max.bytes", doc: "Largest record batch accepted.", validate: integer(0, 2147483647) },
  { name: "message.timestamp.after.max.ms", type: "long", defaultValue: LONG_MAX, brokerSynonym: "log.message.timestamp.after.max.ms", doc: "Largest allowed lead of a CreateTime timestamp over the broker clock.", validate: integer(0) },
  { name: "message.timestamp.before.max.ms", type: "long", defaultValue: LONG_MAX, brokerSynonym: "log.message.timestamp.before.max.ms", doc: "Largest allowed lag of a CreateTime timestamp behind the broker clock.", validate: integer(0) },
  { name: "message.timestamp.type", type: "string", defaultValue: "CreateTime", brokerSynonym: "log.message.timestamp.type", doc: "CreateTime keeps the producer's timestamp; LogAppendTime uses the broker's.", validate: oneOf("CreateTime", "LogAppendTime") },
  { name: "min.cleanable.dirty.ratio", type: "double", defaultValue: "0.5", brokerSynonym: "log.cleaner.min.cleanable.ratio", doc: "Dirty ratio that triggers compaction.", validate: ratio },
  { name: "min.compaction.lag.ms", type: "long", defaultValue: "0", brokerSynonym: "log.cleaner.min.compaction.lag.ms", doc: "Shortest time a message stays uncompacted.", validate: integer(0) },
  { name: "min.insync.replicas", type: "int", defaultValue: "1", brokerSynonym: "min.insync.replicas", doc: "Replicas that must acknowledge an acks=all write.", validate: integer(1, 2147483647) },
  { name: "preallocate", type: "boolean", defaultValue: "false", brokerSynonym: "log.preallocate", doc: "Preallocate segment files.", validate: bool },
  { name: "retention.bytes", type: "long", defaultValue: "-1", brokerSynonym: "log.retention.bytes", doc: "Largest partition size before old segments are deleted; -1 for no limit.", validate: integer(-1) },
  { name: "retention.ms", type: "long", defaultValue: "604800000", brokerSynonym: "log.retention.ms", doc: "Age after which segments are deleted; -1 keeps them forever.", validate: integer(-1) },
  { name: "segment.bytes", type: "int", defaultValue: "1073741824", brokerSynonym: "log.segment.bytes", doc: "Size at which a segment rolls.", validate: integer(14, 2147483647) },
  { name: "segment.index.bytes", type: "int", defaultValue: "10485760", brokerSynonym: "log.index.size.max.bytes", doc: "Largest offset index per segment.", validate: integer(4, 2147483647) },
  { name: "segment.jitter.ms", type: "long", defaultValue: "0", brokerSynonym: "log.roll.jitter.ms", doc: "Random jitter subtracted from segment.ms.", validate: integer(0) },
  { name: "segment.ms", type: "long", defaultValue: "604800000", brokerSynonym: "log.roll.ms", doc: "Age at which a segment rolls.", validate: integer(1) },
  { name: "unclean.leader.election.enable", type: "boolean", defaultValue: "false", brokerSynonym: "unclean.leader.election.enable", doc: "Allow out-of-sync replicas to become leader.", validate: bool },
  { name: "message.downconversion.enable", type: "boolean", defaultValue: "true", brokerSynonym: "log.message.downconversion.enable", doc: "Accepted for compatibility; Chronik serves magic v2 only.", validate: bool },
];

const BY_NAME = new Map(TOPIC_CONFIGS.map((spec) => [spec.name, spec]));

export function topicConfigSpec(name: string): TopicConfigSpec | undefined {
  return BY_NAME.get(name);
}

/** Returns an error message for an unknown name or a bad value, or null when the config is valid. */
export function validateTopicConfig(name: string, value: string | null): string | null {
  const spec = BY_NAME.get(name);
  if (!spec) return `Unknown topic config name: ${name}`;
  if (value === null) return null;
  const problem = spec.validate?.(value) ?? null;
  return problem === null ? null : `Invalid value ${value} for configuration ${name}: ${problem}`;
}

/** Broker-wide defaults for topic configs, from the broker's own options. */
export function brokerTopicDefaults(options: {
  segmentBytes: number;
  retentionMs: number;
  retentionBytes: number;
  maxMessageBytes: number;
  minInsyncReplicas: number;
}): Record<string, string> {
  const defaults: Record<string, string> = {};
  for (const spec of TOPIC_CONFIGS) defaults[spec.name] = spec.defaultValue;
  defaults["segment.bytes"] = String(options.segmentBytes);
  defaults["retention.ms"] = String(options.retentionMs);
  defaults["retention.bytes"] = String(options.retentionBytes);
  defaults["max.message.bytes"] = String(options.maxMessageBytes);
  defaults["min.insync.replicas"] = String(options.minInsyncReplicas);
  return defaults;
}
