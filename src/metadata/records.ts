/**
 * The cluster metadata as records, the commands the Raft metadata log carries, and the changes applying a
 * command makes. Every node applies the same commands in the same order and so reaches the same state;
 * listeners (the replica manager, the controller's liveness tracking) see the changes.
 */
import type { GroupRecord, TopicPartitions } from "../group/types.ts";

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
  | { readonly type: "elect-leader"; readonly topic: string; readonly partition: number; readonly election: LeaderElection }
  /**
   * Consumer group changes (committed offsets, generations, deletions) from the group's coordinator, as Kafka writes
   * them to __consumer_offsets. Kept only for the groups `coordinatorId` coordinates when they apply; `incarnation`
   * names the proposing process, which holds them already.
   */
  | { readonly type: "group-records"; readonly coordinatorId: number; readonly incarnation: string; readonly records: readonly GroupRecord[] };

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
  /** The records of a "group-records" command that were kept. */
  | { readonly type: "group-records"; readonly coordinatorId: number; readonly incarnation: string; readonly records: readonly GroupRecord[] }
  /** The whole state was replaced from a snapshot sent by the leader: listeners resynchronise. */
  | { readonly type: "restored" };

/**
 * What applying one command did. A command that is invalid against the state at apply time (two proposers
 * raced) is a rejected no-op on every node, and its proposer gets the error to answer its client with.
 */
export type CommandOutcome =
  | { readonly errorCode: 0; readonly topic?: TopicRecord; readonly firstProducerId?: number; readonly brokerEpoch?: number }
  | { readonly errorCode: number; readonly errorMessage: string };

/**
 * Why `command` is not a well-formed metadata command, or null when it is. The log is data: a record a bug or
 * another build wrote must be refused the same way on every node, before it touches the state.
 */
export function commandProblem(command: unknown): string | null {
  if (!isObject(command)) return "not a command object";
  const c = command as Record<string, unknown>;
  switch (c.type) {
    case "init-cluster":
      return isString(c.clusterId) ? null : "clusterId must be a string";
    case "register-broker":
      return brokerProblem(c.broker);
    case "broker-heartbeat":
      return isInteger(c.nodeId) && isInteger(c.brokerEpoch) ? null : "nodeId and brokerEpoch must be integers";
    case "fence-broker":
      if (!isInteger(c.nodeId) || !isInteger(c.brokerEpoch)) return "nodeId and brokerEpoch must be integers";
      return c.reason === "session-timeout" || c.reason === "controlled-shutdown" ? null : `unknown fence reason ${String(c.reason)}`;
    case "create-topic":
      if (!isString(c.name) || !isString(c.topicId)) return "name and topicId must be strings";
      return isStringMap(c.configs, false) ? placementProblem(c.placement) : "configs must map names to strings";
    case "delete-topic":
      return isString(c.name) ? null : "name must be a string";
    case "alter-topic-configs":
      if (!isString(c.name)) return "name must be a string";
      return isStringMap(c.configs, true) ? null : "configs must map names to strings or null";
    case "create-partitions":
      if (!isString(c.name) || !isCount(c.firstPartition)) return "name must be a string and firstPartition a count";
      return placementProblem(c.placement);
    case "allocate-producer-ids":
      return isCount(c.count) && (c.count as number) > 0 ? null : `a producer id block of ${String(c.count)}`;
    case "alter-partition":
      if (!isString(c.topic) || !isCount(c.partition)) return "topic must be a string and partition a count";
      if (!isInteger(c.leaderEpoch) || !isInteger(c.partitionEpoch)) return "leaderEpoch and partitionEpoch must be integers";
      return isNodeList(c.isr) ? null : "isr must list node ids";
    case "elect-leader":
      if (!isString(c.topic) || !isCount(c.partition)) return "topic must be a string and partition a count";
      return c.election === "preferred" || c.election === "unclean" ? null : `unknown election ${String(c.election)}`;
    case "group-records": {
      if (!isCount(c.coordinatorId) || !isString(c.incarnation)) return "coordinatorId must be a count and incarnation a string";
      if (!Array.isArray(c.records) || c.records.length === 0) return "records must be a non-empty list";
      for (const record of c.records) {
        const problem = groupRecordProblem(record);
        if (problem !== null) return problem;
      }
      return null;
    }
    default:
      return `unknown command type ${String(c.type)}`;
  }
}

function groupRecordProblem(record: unknown): string | null {
  if (!isObject(record)) return "a group record must be an object";
  const r = record as Record<string, unknown>;
  if (!isString(r.groupId) || r.groupId === "") return "a group record needs a group id";
  switch (r.type) {
    case "offset":
      if (!isString(r.topic) || !isCount(r.partition)) return "an offset record needs a topic and a partition";
      if (!isInteger(r.offset) || !isInteger(r.leaderEpoch) || !isInteger(r.commitTimestampMs)) return "an offset record needs integer offset, leaderEpoch and commitTimestampMs";
      return isString(r.metadata) ? null : "an offset record's metadata must be a string";
    case "offset-deleted":
      return isString(r.topic) && isCount(r.partition) ? null : "an offset-deleted record needs a topic and a partition";
    case "group":
      if (r.protocolType !== null && !isString(r.protocolType)) return "a group record's protocolType must be a string or null";
      if (!isInteger(r.generationId)) return "a group record needs an integer generationId";
      if (r.emptySinceMs !== null && !isInteger(r.emptySinceMs)) return "a group record's emptySinceMs must be an integer or null";
      if (r.stable === undefined) return null;
      return r.protocolType === null ? "a group record with a stable generation needs a protocolType" : stableGenerationProblem(r.stable);
    case "consumer-group":
      return r.group === null ? null : consumerGroupProblem(r.group);
    case "group-deleted":
      return null;
    default:
      return `unknown group record type ${String(r.type)}`;
  }
}

/** A recorded Stable generation must load as one: distinct members that all support its protocol, its leader among them. */
function stableGenerationProblem(stable: unknown): string | null {
  if (!isObject(stable)) return "a group record's stable generation must be an object";
  const s = stable as Record<string, unknown>;
  if (!isString(s.protocolName) || !isString(s.leaderId) || !Array.isArray(s.members) || s.members.length === 0) {
    return "a stable generation needs a protocolName, a leaderId and members";
  }
  const memberIds = new Set<unknown>();
  const instanceIds = new Set<unknown>();
  for (const member of s.members as unknown[]) {
    if (!isObject(member)) return "a stable member must be an object";
    const m = member as Record<string, unknown>;
    if (!isString(m.memberId) || memberIds.has(m.memberId)) return "stable members need distinct member ids";
    memberIds.add(m.memberId);
    if (m.groupInstanceId !== null && (!isString(m.groupInstanceId) || instanceIds.has(m.groupInstanceId))) return "stable members need distinct instance ids or null";
    instanceIds.add(m.groupInstanceId);
    if (!isString(m.clientId) || !isString(m.clientHost) || !isCount(m.rebalanceTimeoutMs) || !isCount(m.sessionTimeoutMs) || !(m.assignment instanceof Uint8Array)) {
      return "a stable member needs client id and host, timeouts and an assignment";
    }
    const protocols = m.protocols;
    if (!Array.isArray(protocols) || !protocols.every((p) => isObject(p) && isString(p.name) && p.metadata instanceof Uint8Array)) return "a stable member's protocols must be names with metadata";
    if (!protocols.some((p: { name: string }) => p.name === s.protocolName)) return "every stable member must support the generation's protocol";
  }
  return memberIds.has(s.leaderId) ? null : "the stable generation's leader must be one of its members";
}

/** A recorded consumer group must load as one: distinct members, known states, and no partition held twice. */
function consumerGroupProblem(group: unknown): string | null {
  if (!isObject(group)) return "a consumer-group record's group must be an object or null";
  const g = group as Record<string, unknown>;
  if (!isInteger(g.groupEpoch) || !isInteger(g.assignmentEpoch) || !isString(g.assignorName) || !isString(g.topicsSignature)) {
    return "a consumer group needs integer epochs, an assignor name and a topics signature";
  }
  if (!Array.isArray(g.members) || !Array.isArray(g.target)) return "a consumer group needs members and a target";
  const memberIds = new Set<unknown>();
  const held = new Set<string>();
  for (const member of g.members as unknown[]) {
    if (!isObject(member)) return "a consumer group member must be an object";
    const m = member as Record<string, unknown>;
    if (!isString(m.memberId) || m.memberId === "" || memberIds.has(m.memberId)) return "consumer group members need distinct, non-empty member ids";
    memberIds.add(m.memberId);
    if ((m.instanceId !== null && !isString(m.instanceId)) || (m.rackId !== null && !isString(m.rackId)) || !isString(m.clientId) || !isString(m.clientHost)) {
      return "a consumer group member needs a client id and host, and an instance id and rack that are strings or null";
    }
    if (m.state !== "stable" && m.state !== "unrevoked" && m.state !== "unreleased") return `unknown consumer group member state ${String(m.state)}`;
    if (!isInteger(m.memberEpoch) || !isInteger(m.previousMemberEpoch) || !isCount(m.rebalanceTimeoutMs)) return "a consumer group member needs integer epochs and a rebalance timeout";
    if (!Array.isArray(m.subscribedTopicNames) || !m.subscribedTopicNames.every(isString) || (m.serverAssignor !== null && !isString(m.serverAssignor))) {
      return "a consumer group member needs subscribed topic names and an assignor name or null";
    }
    for (const assignment of [m.assigned, m.revoking]) {
      if (!isTopicPartitions(assignment)) return "a consumer group member's partitions must be topic ids with partition numbers";
      for (const { topicId, partitions } of assignment) {
        for (const partition of partitions) {
          const key = `${topicId}\0${partition}`;
          if (held.has(key)) return `partition ${partition} of topic ${topicId} is held by two members`;
          held.add(key);
        }
      }
    }
  }
  const targetValid = (g.target as unknown[]).every((t) => isObject(t) && isString((t as { memberId: unknown }).memberId) && isTopicPartitions((t as { assignment: unknown }).assignment));
  return targetValid ? null : "a consumer group's target must be member ids with topic partitions";
}

function isTopicPartitions(v: unknown): v is TopicPartitions[] {
  return Array.isArray(v) && v.every((tp) => isObject(tp) && isString(tp.topicId) && Array.isArray(tp.partitions) && tp.partitions.every(isCount));
}

function brokerProblem(broker: unknown): string | null {
  if (!isObject(broker)) return "broker must be an object";
  const b = broker as Record<string, unknown>;
  if (!isCount(b.nodeId) || !isString(b.host) || !isPort(b.port)) return "broker needs a nodeId, host and port";
  if (b.rack !== null && !isString(b.rack)) return "rack must be a string or null";
  return b.replicationPort === undefined || isPort(b.replicationPort) ? null : "replicationPort must be a port";
}

function placementProblem(placement: unknown): string | null {
  if (!isObject(placement)) return "placement must be an object";
  const p = placement as Record<string, unknown>;
  if (p.kind === "balanced") {
    return isCount(p.count) && (p.count as number) > 0 && isCount(p.replicationFactor) && (p.replicationFactor as number) > 0
      ? null
      : "a balanced placement needs a positive count and replication factor";
  }
  if (p.kind === "explicit") {
    const replicas = p.replicas;
    const valid = Array.isArray(replicas) && replicas.length > 0 && replicas.every((list) => isNodeList(list) && list.length > 0);
    return valid ? null : "an explicit placement needs non-empty replica lists of distinct node ids";
  }
  return `unknown placement kind ${String(p.kind)}`;
}

const isObject = (v: unknown): boolean => typeof v === "object" && v !== null && !Array.isArray(v);
const isString = (v: unknown): boolean => typeof v === "string";
const isInteger = (v: unknown): boolean => Number.isSafeInteger(v);
const isCount = (v: unknown): boolean => Number.isSafeInteger(v) && (v as number) >= 0;
const isPort = (v: unknown): boolean => Number.isInteger(v) && (v as number) >= 0 && (v as number) <= 65_535;

function isNodeList(v: unknown): v is number[] {
  return Array.isArray(v) && v.every(isCount) && new Set(v).size === v.length;
}

function isStringMap(v: unknown, nullable: boolean): boolean {
  return isObject(v) && Object.values(v as object).every((value) => isString(value) || (nullable && value === null));
}
