import { TOPIC_CONFIGS } from "./topic-configs.ts";

/** Kafka's ConfigSource values as DescribeConfigs and CreateTopics report them. */
export const ConfigSource = {
  UNKNOWN: 0,
  DYNAMIC_TOPIC_CONFIG: 1,
  DYNAMIC_BROKER_CONFIG: 2,
  DYNAMIC_DEFAULT_BROKER_CONFIG: 3,
  STATIC_BROKER_CONFIG: 4,
  DEFAULT_CONFIG: 5,
} as const;

export interface EffectiveConfig {
  name: string;
  value: string;
  source: number;
}

/** Every topic config with the value in force: the topic override, else the broker's default. */
export function describeTopicConfigs(brokerDefaults: Readonly<Record<string, string>>, overrides: Readonly<Record<string, string>>): EffectiveConfig[] {
  return TOPIC_CONFIGS.map((spec) => {
    const override = overrides[spec.name];
    if (override !== undefined) return { name: spec.name, value: override, source: ConfigSource.DYNAMIC_TOPIC_CONFIG };
    const brokerValue = brokerDefaults[spec.name] ?? spec.defaultValue;
    return {
      name: spec.name,
      value: brokerValue,
      source: brokerValue === spec.defaultValue ? ConfigSource.DEFAULT_CONFIG : ConfigSource.STATIC_BROKER_CONFIG,
    };
  });
}

/** The merged config map a partition log is opened with. */
export function effectiveTopicConfigs(brokerDefaults: Readonly<Record<string, string>>, overrides: Readonly<Record<string, string>>): Record<string, string> {
  return { ...brokerDefaults, ...overrides };
}
