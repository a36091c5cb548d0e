/**
 * Every broker option in one table: its flag, environment variable, config-file key, default and help.
 * `--help`, the README and the parser are all driven from this table so they cannot drift apart.
 */
export type OptionType = "string" | "int" | "bool" | "enum";

export interface OptionSpec {
  /** camelCase key in BrokerConfig; the flag is its kebab-case, the env var CHRONIK_ + SNAKE_CASE. */
  readonly key: keyof BrokerConfig;
  readonly type: OptionType;
  readonly defaultValue: string | number | boolean;
  readonly help: string;
  readonly values?: readonly string[];
  readonly min?: number;
  readonly max?: number;
}

export interface BrokerConfig {
  dataDir: string;
  host: string;
  advertisedHost: string;
  kafkaPort: number;
  httpPort: number;
  nodeId: number;
  clusterId: string;
  logLevel: string;
  maxFrameBytes: number;
  maxConnections: number;
  maxInflightRequests: number;
  queuedMaxRequestBytes: number;
  maxQueuedResponseBytes: number;
  autoCreateTopics: boolean;
  defaultPartitions: number;
  defaultReplicationFactor: number;
  flushMode: string;
  flushIntervalMs: number;
  segmentBytes: number;
  retentionMs: number;
  retentionBytes: number;
  maxMessageBytes: number;
  fetchMaxBytes: number;
  groupInitialRebalanceDelayMs: number;
  groupMinSessionTimeoutMs: number;
  groupMaxSessionTimeoutMs: number;
  offsetsRetentionMinutes: number;
  controllerQuorumVoters: string;
  raftPort: number;
  raftElectionTimeoutMs: number;
  brokerHeartbeatIntervalMs: number;
  brokerSessionTimeoutMs: number;
  replicationPort: number;
  replicaLagTimeMaxMs: number;
  replicationQueueMaxBytes: number;
  raftQueueMaxBytes: number;
  metadataSnapshotBytes: number;
  minInsyncReplicas: number;
  autoLeaderRebalance: boolean;
  leaderImbalanceCheckIntervalMs: number;
  testFsyncDelayMs: number;
}

const INT32_MAX = 2_147_483_647;

export const OPTIONS: readonly OptionSpec[] = [
  { key: "dataDir", type: "string", defaultValue: "./data", help: "Directory for partition logs and metadata." },
  { key: "host", type: "string", defaultValue: "0.0.0.0", help: "Address the Kafka and HTTP listeners bind to." },
  {
    key: "advertisedHost",
    type: "string",
    defaultValue: "",
    help: "Host name clients are told to connect to (default: --host, or localhost when --host is 0.0.0.0).",
  },
  { key: "kafkaPort", type: "int", defaultValue: 9092, min: 0, max: 65535, help: "Kafka protocol port (0 picks a free port)." },
  { key: "httpPort", type: "int", defaultValue: 8092, min: 0, max: 65535, help: "HTTP port for health, metrics and admin (0 picks a free port)." },
  { key: "nodeId", type: "int", defaultValue: 1, min: 0, max: INT32_MAX, help: "This broker's node id." },
  { key: "clusterId", type: "string", defaultValue: "", help: "Cluster id to use when the data dir is new (default: a random one)." },
  { key: "logLevel", type: "enum", defaultValue: "info", values: ["debug", "info", "warn", "error"], help: "Log level." },
  {
    key: "maxFrameBytes",
    type: "int",
    defaultValue: 104_857_600,
    min: 1024,
    max: INT32_MAX,
    help: "Largest request frame accepted; a larger size prefix closes the connection (Kafka's socket.request.max.bytes).",
  },
  { key: "maxConnections", type: "int", defaultValue: 10_000, min: 1, max: 1_000_000, help: "Connections accepted at once; further ones are closed." },
  {
    key: "maxInflightRequests",
    type: "int",
    defaultValue: 256,
    min: 1,
    max: 65_536,
    help: "Requests one connection may have in progress; reading pauses above it.",
  },
  {
    key: "queuedMaxRequestBytes",
    type: "int",
    defaultValue: 536_870_912,
    min: 1024,
    max: Number.MAX_SAFE_INTEGER,
    help: "Bytes of requests read and not yet answered, over all connections, above which reading pauses (queued.max.request.bytes).",
  },
  {
    key: "maxQueuedResponseBytes",
    type: "int",
    defaultValue: 67_108_864,
    min: 1024,
    max: Number.MAX_SAFE_INTEGER,
    help: "Response bytes one connection may leave unread by its client; above it no further request is read from that connection.",
  },
  { key: "autoCreateTopics", type: "bool", defaultValue: true, help: "Create unknown topics when a client asks for them in Metadata." },
  { key: "defaultPartitions", type: "int", defaultValue: 1, min: 1, max: 100_000, help: "Partitions of auto-created topics and of CreateTopics with -1 (num.partitions)." },
  {
    key: "defaultReplicationFactor",
    type: "int",
    defaultValue: 1,
    min: 1,
    max: 32,
    help: "Replication factor of auto-created topics and of CreateTopics with -1.",
  },
  {
    key: "flushMode",
    type: "enum",
    defaultValue: "durable",
    values: ["durable", "fast"],
    help: "durable: acknowledge after fsync (group-committed); fast: acknowledge after the write, fsync every --flush-interval-ms.",
  },
  { key: "flushIntervalMs", type: "int", defaultValue: 1000, min: 1, max: INT32_MAX, help: "Background fsync interval in fast mode." },
  { key: "segmentBytes", type: "int", defaultValue: 1_073_741_824, min: 1_048_576, max: INT32_MAX, help: "Default segment size (segment.bytes)." },
  { key: "retentionMs", type: "int", defaultValue: 604_800_000, min: -1, max: Number.MAX_SAFE_INTEGER, help: "Default retention.ms; -1 keeps data forever." },
  { key: "retentionBytes", type: "int", defaultValue: -1, min: -1, max: Number.MAX_SAFE_INTEGER, help: "Default retention.bytes per partition; -1 means no limit." },
  { key: "maxMessageBytes", type: "int", defaultValue: 1_048_588, min: 1, max: INT32_MAX, help: "Largest record batch accepted (max.message.bytes)." },
  {
    key: "fetchMaxBytes",
    type: "int",
    defaultValue: 57_671_680,
    min: 1024,
    max: INT32_MAX,
    help: "Most record bytes one Fetch answer carries, whatever the request asks; a larger first batch is still sent whole (fetch.max.bytes).",
  },
  {
    key: "groupInitialRebalanceDelayMs",
    type: "int",
    defaultValue: 3000,
    min: 0,
    max: INT32_MAX,
    help: "Wait for more members before the first rebalance of an empty group (group.initial.rebalance.delay.ms).",
  },
  { key: "groupMinSessionTimeoutMs", type: "int", defaultValue: 6000, min: 1, max: INT32_MAX, help: "Smallest session timeout a group member may ask for." },
  { key: "groupMaxSessionTimeoutMs", type: "int", defaultValue: 1_800_000, min: 1, max: INT32_MAX, help: "Largest session timeout a group member may ask for." },
  {
    key: "offsetsRetentionMinutes",
    type: "int",
    defaultValue: 10_080,
    min: 1,
    max: INT32_MAX,
    help: "How long committed offsets of an empty group are kept (offsets.retention.minutes).",
  },
  {
    key: "controllerQuorumVoters",
    type: "string",
    defaultValue: "",
    help: "Metadata quorum voters as id@host:port,... (default: this node alone, <node-id>@127.0.0.1:<raft-port>).",
  },
  { key: "raftPort", type: "int", defaultValue: 5001, min: 0, max: 65535, help: "Raft port of a one-voter quorum (0 picks a free port); with --controller-quorum-voters, this node's entry gives the port." },
  {
    key: "raftElectionTimeoutMs",
    type: "int",
    defaultValue: 1000,
    min: 20,
    max: 600_000,
    help: "Longest a follower waits without hearing from the leader before it campaigns (randomized in its upper half).",
  },
  {
    key: "raftQueueMaxBytes",
    type: "int",
    defaultValue: 256 << 20,
    min: 1 << 20,
    max: INT32_MAX,
    help: "Bytes of Raft messages queued for one peer that its socket has not taken; above it the oldest unsent ones are dropped (Raft resends what a peer lacks).",
  },
  {
    key: "metadataSnapshotBytes",
    type: "int",
    defaultValue: 20 << 20,
    min: 1024,
    max: Number.MAX_SAFE_INTEGER,
    help: "Bytes of metadata log applied since the last snapshot that make a node snapshot its metadata and drop the log below it (metadata.log.max.record.bytes.between.snapshots).",
  },
  { key: "brokerHeartbeatIntervalMs", type: "int", defaultValue: 2000, min: 10, max: INT32_MAX, help: "How often a broker heartbeats to the controller (broker.heartbeat.interval.ms)." },
  {
    key: "brokerSessionTimeoutMs",
    type: "int",
    defaultValue: 9000,
    min: 20,
    max: INT32_MAX,
    help: "A broker not heard from for this long is fenced and its partitions get new leaders (broker.session.timeout.ms).",
  },
  { key: "replicationPort", type: "int", defaultValue: 9291, min: 0, max: 65535, help: "Port followers replicate partitions from (0 picks a free port)." },
  {
    key: "replicaLagTimeMaxMs",
    type: "int",
    defaultValue: 30_000,
    min: 10,
    max: INT32_MAX,
    help: "A follower that has not caught up for this long leaves the ISR (replica.lag.time.max.ms).",
  },
  {
    key: "replicationQueueMaxBytes",
    type: "int",
    defaultValue: 8 << 20,
    min: 64 * 1024,
    max: INT32_MAX,
    help: "Bytes a leader queues for one follower connection that its socket has not taken; above it the leader stops reading segments for that follower until it drains.",
  },
  { key: "minInsyncReplicas", type: "int", defaultValue: 1, min: 1, max: INT32_MAX, help: "Default min.insync.replicas: acks=all writes need this many in-sync replicas." },
  {
    key: "autoLeaderRebalance",
    type: "bool",
    defaultValue: true,
    help: "The controller moves leadership back to preferred replicas once they are in sync (auto.leader.rebalance.enable).",
  },
  {
    key: "leaderImbalanceCheckIntervalMs",
    type: "int",
    defaultValue: 300_000,
    min: 10,
    max: INT32_MAX,
    help: "How often the controller checks for leadership imbalance (leader.imbalance.check.interval.seconds, in ms).",
  },
  {
    key: "testFsyncDelayMs",
    type: "int",
    defaultValue: 0,
    min: 0,
    max: 600_000,
    help: "Fault injection for tests: every flush round waits this long before its fsync, as on a slow disk. Never set it in production.",
  },
];

export function flagName(key: string): string {
  return key.replace(/[A-Z]/g, (c) => "-" + c.toLowerCase());
}

export function envName(key: string): string {
  return "CHRONIK_" + key.replace(/[A-Z]/g, (c) => "_" + c).toUpperCase();
}

/** Config-file keys are the flag names, e.g. `kafka-port = 9092`. */
export function fileKey(key: string): string {
  return flagName(key);
}
