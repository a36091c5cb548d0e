/**
 * The cluster metadata as records, the commands the Raft metadata log carries, and the changes applying a
 * command makes. Every node applies the same commands in the same order and so reaches the same state;
 * listeners (the replica manager, the controller's liveness tracking) see the changes.
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

/** What a broker announces about itself when it registers. */
export interface BrokerRegistration {
  readonly nodeId: number;
  readonly host: string;
  readonly port: number;
  readonly rack: string | null;
  /** Where followers connect to replicate from this broker; absent in registrations from before replication. */
  readonly replicationPort?: number;
}

export interface BrokerRecord extends BrokerRegistration {
  readonly fenced: boolean;
}

/** Where new partitions go: the controller's balanced placement at apply time, or replica lists the client gave. */
export type Placement =
  | { readonly kind: "balanced"; readonly count: number; readonly replicationFactor: number }
  | { readonly kind: "explicit"; readonly replicas: readonly (readonly number[])[] };

export type MetadataCommand =
  | { readonly type: "init-cluster"; readonly clusterId: string }
  | { readonly type: "register-broker"; readonly broker: BrokerRegistration }
  | { readonly type: "broker-heartbeat"; readonly nodeId: number; readonly brokerEpoch: number }
  | { readonly type: "fence-broker"; readonly nodeId: number; readonly brokerEpoch: number; readonly reason: "session-timeout" | "controlled-shutdown" }
  | {
      readonly type: "create-topic";
      readonly name: string;
      readonly topicId: string;
      readonly configs: Readonly<Record<string, string>>;
      readonly placement: Placement;
    }
  | { readonly type: "delete-topic"; readonly name: string }
  /** A null value removes the override. */
  | { readonly type: "alter-topic-configs"; readonly name: string; readonly configs: Readonly<Record<string, string | null>> }
  /** `firstPartition` is the partition count the proposer saw: a concurrent increase makes the command a rejected no-op. */
  | { readonly type: "create-partitions"; readonly name: string; readonly firstPartition: number; readonly placement: Placement }
  | { readonly type: "allocate-producer-ids"; readonly count: number }
  /** A leader changes its partition's ISR (Kafka's AlterPartition), valid only against the epochs it names. */
  | {
      readonly type: "alter-partition";
      readonly topic: string;
      readonly partition: number;
      readonly isr: readonly number[];
      readonly leaderEpoch: number;
      readonly partitionEpoch: number;
    }
  /**
   * Moves a partition's leadership (Kafka's ElectLeaders): `preferred` to its first replica when that one is
   * live and in the ISR; `unclean` to any live replica, only for a leaderless partition whose topic allows it.
   */
  | { readonly type: "elect-leader"; readonly topic: string; readonly partition: number; readonly election: LeaderElection };

export type LeaderElection = "preferred" | "unclean";

export type MetadataChange =
  | { readonly type: "init-cluster"; readonly clusterId: string }
  /** `brokerEpoch` is the log index of the broker's latest registration: heartbeats and fences name it, so stale ones are refused. */
  | { readonly type: "broker"; readonly broker: BrokerRecord; readonly brokerEpoch: number }
  | { readonly type: "broker-heartbeat"; readonly nodeId: number; readonly brokerEpoch: number }
  | { readonly type: "create-topic"; readonly topic: TopicRecord }
  | { readonly type: "delete-topic"; readonly name: string }
  | { readonly type: "alter-topic-configs"; readonly name: string; readonly configs: Readonly<Record<string, string | null>> }
  | { readonly type: "create-partitions"; readonly name: string; readonly partitions: readonly PartitionRecord[] }
  /** Partitions whose leader or ISR changed (fencing, unfencing), with their new records. */
  | { readonly type: "partition-leaders"; readonly name: string; readonly partitions: readonly PartitionRecord[] }
  | { readonly type: "allocate-producer-ids"; readonly firstProducerId: number; readonly count: number }
  /** The whole state was replaced from a snapshot sent by the leader: listeners resynchronise. */
  | { readonly type: "restored" };

/**
 * What applying one command did. A command that is invalid against the state at apply time (two proposers
 * raced) is a rejected no-op on every node, and its proposer gets the error to answer its client with.
 */
export type CommandOutcome =
  | { readonly errorCode: 0; readonly topic?: TopicRecord; readonly firstProducerId?: number; readonly brokerEpoch?: number }
  | { readonly errorCode: number; readonly errorMessage: string };
