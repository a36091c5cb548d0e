/** Topic administration over one connection: what the CLI and benchmarks need before producing. */
import { ErrorCode } from "../protocol/error-codes.ts";
import { ApiKey } from "../protocol/generated/index.ts";
import { KafkaError, type KafkaConnection } from "./connection.ts";

export interface NewTopic {
  name: string;
  partitions: number;
  replicationFactor?: number;
  configs?: Record<string, string>;
}

interface CreateTopicsResponse {
  topics: { name: string; errorCode: number; errorMessage: string | null }[];
}

/** Creates topics; one that already exists is not an error. */
export async function createTopics(connection: KafkaConnection, topics: readonly NewTopic[], timeoutMs = 30_000): Promise<void> {
  const version = connection.pickVersion(ApiKey.CreateTopics, 7);
  const response = await connection.request<CreateTopicsResponse>(ApiKey.CreateTopics, version, {
    topics: topics.map((t) => ({
      name: t.name,
      numPartitions: t.partitions,
      replicationFactor: t.replicationFactor ?? 1,
      assignments: [],
      configs: Object.entries(t.configs ?? {}).map(([name, value]) => ({ name, value })),
    })),
    timeoutMs,
    validateOnly: false,
  });
  for (const t of response.topics) {
    if (t.errorCode !== ErrorCode.NONE && t.errorCode !== ErrorCode.TOPIC_ALREADY_EXISTS) {
      throw new KafkaError(t.errorCode, `create topic ${t.name}${t.errorMessage ? ` (${t.errorMessage})` : ""}`);
    }
  }
}
