/**
 * The cluster metadata as records, and the commands that change it. Commands are what the metadata
 * log carries (LMDB on a single node, the Raft log in a cluster), so every node applying the same
 * commands in the same order reaches the same state.
 */
export interface PartitionRecord {
  readonly partition: number;
  readonly replicas: readonly number[];
  readonly isr: readonly number[];
  /** -1 when no replica can lead. */
  readonly leader: number;
  readonly leaderEpoch: number;
  readonly partitionEpoch: number;
}

export interface TopicRecord {
  readonly name: string;
  /** Kafka's text form of the topic's uuid. */
  readonly topicId: string;
  readonly partitions: readonly PartitionRecord[];
  /** Topic-level config overrides; broker defaults apply to the rest. */
  readonly configs: Readonly<Record<string, string>>;
}

export interface BrokerRecord {
  readonly nodeId: number;
  readonly host: string;
  readonly port: number;
  readonly rack: string | null;
  readonly fenced: boolean;
}

export type MetadataCommand =
  | { readonly type: "init-cluster"; readonly clusterId: string }
  | { readonly type: "register-broker"; readonly broker: BrokerRecord }
  | { readonly type: "create-topic"; readonly topic: TopicRecord }
  | { readonly type: "delete-topic"; readonly name: string }
  /** A null value removes the override. */
  | { readonly type: "alter-topic-configs"; readonly name: string; readonly configs: Readonly<Record<string, string | null>> }
  | { readonly type: "create-partitions"; readonly name: string; readonly partitions: readonly PartitionRecord[] }
  | { readonly type: "allocate-producer-ids"; readonly firstProducerId: number; readonly count: number };
