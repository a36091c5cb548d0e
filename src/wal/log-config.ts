/** Per-topic log settings with Kafka's defaults, and the one place Kafka's config names map onto them. */

export interface LogConfig {
  segmentBytes: number;
  segmentMs: number;
  indexIntervalBytes: number;
  /** -1 keeps data forever. */
  retentionMs: number;
  /** -1 keeps data forever. */
  retentionBytes: number;
  /** Fast mode: flush a partition once this many messages are unflushed. */
  flushMessages: number;
  /** Fast mode: flush a partition once its oldest unflushed append is this old. */
  flushMs: number;
  maxMessageBytes: number;
}

/** Kafka's Long.MAX_VALUE defaults, clamped to what a JS number holds exactly. */
const NEVER = Number.MAX_SAFE_INTEGER;

export const DEFAULT_LOG_CONFIG: Readonly<LogConfig> = Object.freeze({
  segmentBytes: 1024 * 1024 * 1024,
  segmentMs: 7 * 24 * 60 * 60 * 1000,
  indexIntervalBytes: 4096,
  retentionMs: 7 * 24 * 60 * 60 * 1000,
  retentionBytes: -1,
  flushMessages: NEVER,
  flushMs: NEVER,
  maxMessageBytes: 1024 * 1024 + 12,
});

/** Kafka topic config name -> LogConfig field. */
export const KAFKA_CONFIG_NAMES: Readonly<Record<string, keyof LogConfig>> = Object.freeze({
  "segment.bytes": "segmentBytes",
  "segment.ms": "segmentMs",
  "index.interval.bytes": "indexIntervalBytes",
  "retention.ms": "retentionMs",
  "retention.bytes": "retentionBytes",
  "flush.messages": "flushMessages",
  "flush.ms": "flushMs",
  "max.message.bytes": "maxMessageBytes",
});

/** Smallest segment we accept: Kafka's own lower bound for segment.bytes. */
const MIN_SEGMENT_BYTES = 14;

/** Parses the known Kafka names; unknown names are ignored (other subsystems own them). Throws on bad values. */
export function fromTopicConfigs(configs: Record<string, string>): Partial<LogConfig> {
  const result: Partial<LogConfig> = {};
  for (const [name, raw] of Object.entries(configs)) {
    const field = KAFKA_CONFIG_NAMES[name];
    if (field === undefined) continue;
    const value = Number(raw);
    if (!Number.isInteger(value)) throw new RangeError(`${name}=${raw} is not an integer`);
    // Kafka's Long.MAX_VALUE ("never") does not survive Number(); clamp it.
    result[field] = value > NEVER ? NEVER : value;
  }
  validateConfig(result);
  return result;
}

export function resolveConfig(defaults: LogConfig, overrides: Partial<LogConfig> = {}): LogConfig {
  const config = { ...defaults, ...overrides };
  validateConfig(config);
  return config;
}

function validateConfig(config: Partial<LogConfig>): void {
  const check = (ok: boolean, what: string) => {
    if (!ok) throw new RangeError(`invalid log config: ${what}`);
  };
  if (config.segmentBytes !== undefined) check(config.segmentBytes >= MIN_SEGMENT_BYTES, `segment.bytes=${config.segmentBytes}`);
  if (config.segmentMs !== undefined) check(config.segmentMs >= 1, `segment.ms=${config.segmentMs}`);
  if (config.indexIntervalBytes !== undefined) check(config.indexIntervalBytes >= 0, `index.interval.bytes=${config.indexIntervalBytes}`);
  if (config.retentionMs !== undefined) check(config.retentionMs >= -1, `retention.ms=${config.retentionMs}`);
  if (config.retentionBytes !== undefined) check(config.retentionBytes >= -1, `retention.bytes=${config.retentionBytes}`);
  if (config.flushMessages !== undefined) check(config.flushMessages >= 1, `flush.messages=${config.flushMessages}`);
  if (config.flushMs !== undefined) check(config.flushMs >= 0, `flush.ms=${config.flushMs}`);
  if (config.maxMessageBytes !== undefined) check(config.maxMessageBytes >= 0, `max.message.bytes=${config.maxMessageBytes}`);
}
