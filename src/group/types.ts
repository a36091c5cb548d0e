/**
 * Plain inputs, outputs, completions and records of the group coordinator core. Field names follow
 * Kafka's JoinGroup/SyncGroup/Heartbeat/LeaveGroup/OffsetCommit/OffsetFetch/OffsetDelete messages.
 */
import type { MemberState } from "./consumer-reconciliation.ts";

/** The edge's handle for a delayed JoinGroup/SyncGroup answer; unique per request. */
export type Token = number;

export type GroupState = "Empty" | "PreparingRebalance" | "CompletingRebalance" | "Stable" | "Dead";

export interface GroupConfig {
  /** group.initial.rebalance.delay.ms */
  initialRebalanceDelayMs: number;
  /** group.min.session.timeout.ms */
  minSessionTimeoutMs: number;
  /** group.max.session.timeout.ms */
  maxSessionTimeoutMs: number;
  /** group.max.size */
  maxGroupSize: number;
  /** offsets.retention.minutes, in ms */
  offsetsRetentionMs: number;
  /** offsets.retention.check.interval.ms: how often expired offsets and dead groups are swept. */
  offsetsRetentionCheckIntervalMs: number;
  /** offset.metadata.max.bytes */
  maxOffsetMetadataBytes: number;
  /** How long a new member's JoinGroup may wait in a rebalance before it is dropped (Kafka: 5 minutes). */
  newMemberJoinTimeoutMs: number;
}

export const defaultGroupConfig: GroupConfig = {
  initialRebalanceDelayMs: 3000,
  minSessionTimeoutMs: 6000,
  maxSessionTimeoutMs: 1_800_000,
  maxGroupSize: 2_147_483_647,
  offsetsRetentionMs: 7 * 24 * 60 * 60 * 1000,
  offsetsRetentionCheckIntervalMs: 600_000,
  maxOffsetMetadataBytes: 4096,
  newMemberJoinTimeoutMs: 300_000,
};

export interface Protocol {
  name: string;
  metadata: Uint8Array;
}

export interface JoinInput {
  /** The JoinGroup request version: from 4 a first join without member id gets MEMBER_ID_REQUIRED. */
  apiVersion: number;
  /** "" for a member joining for the first time. */
  memberId: string;
  groupInstanceId: string | null;
  clientId: string;
  clientHost: string;
  sessionTimeoutMs: number;
  /** Version 0 has none: the edge passes sessionTimeoutMs, as Kafka does. */
  rebalanceTimeoutMs: number;
  protocolType: string;
  protocols: Protocol[];
}

export interface JoinMember {
  memberId: string;
  groupInstanceId: string | null;
  metadata: Uint8Array;
}

export interface JoinResponse {
  errorCode: number;
  generationId: number;
  protocolType: string | null;
  protocolName: string | null;
  leader: string;
  skipAssignment: boolean;
  memberId: string;
  /** Filled for the leader only. */
  members: JoinMember[];
}

export interface SyncInput {
  memberId: string;
  groupInstanceId: string | null;
  generationId: number;
  /** null when the request version does not carry it (below 5). */
  protocolType: string | null;
  protocolName: string | null;
  assignments: { memberId: string; assignment: Uint8Array }[];
}

export interface SyncResponse {
  errorCode: number;
  protocolType: string | null;
  protocolName: string | null;
  assignment: Uint8Array;
}

export interface HeartbeatInput {
  memberId: string;
  groupInstanceId: string | null;
  generationId: number;
}

export interface LeavingMember {
  memberId: string;
  groupInstanceId: string | null;
}

export interface LeaveResponse {
  errorCode: number;
  members: { memberId: string; groupInstanceId: string | null; errorCode: number }[];
}

export type Completion =
  | { kind: "join"; groupId: string; token: Token; response: JoinResponse }
  | { kind: "sync"; groupId: string; token: Token; response: SyncResponse };

/**
 * State that must survive a restart. Records are last-writer-wins per key: an offset record is keyed
 * by (groupId, topic, partition), a group record and a consumer-group record each by groupId;
 * "group-deleted" removes every key of the group and "offset-deleted" one offset key. restore() accepts
 * them in any order per key as long as each key's latest record is given.
 */
export type GroupRecord =
  | {
      type: "offset";
      groupId: string;
      topic: string;
      partition: number;
      offset: number;
      leaderEpoch: number;
      metadata: string;
      commitTimestampMs: number;
    }
  | { type: "offset-deleted"; groupId: string; topic: string; partition: number }
  | {
      type: "group";
      groupId: string;
      protocolType: string | null;
      generationId: number;
      /** When the group last became Empty, or null while it had members. */
      emptySinceMs: number | null;
      /**
       * The generation's members once its assignment went out (Stable), as Kafka's GroupMetadata record keeps them:
       * a coordinator that takes the group over keeps them, and they go on heartbeating instead of rejoining.
       */
      stable?: StableGeneration;
    }
  /**
   * A consumer-protocol (KIP-848) group's members, epochs and assignments, as Kafka's ConsumerGroup* records keep
   * them, written whenever they change; null once the group is gone. A new coordinator carries the group on.
   */
  | { type: "consumer-group"; groupId: string; group: PersistedConsumerGroup | null }
  | { type: "group-deleted"; groupId: string };

/** Partitions of one topic, by topic id, as the consumer protocol names them. */
export interface TopicPartitions {
  topicId: string;
  partitions: number[];
}

export interface PersistedConsumerMember {
  memberId: string;
  instanceId: string | null;
  rackId: string | null;
  clientId: string;
  clientHost: string;
  state: MemberState;
  memberEpoch: number;
  previousMemberEpoch: number;
  subscribedTopicNames: string[];
  serverAssignor: string | null;
  rebalanceTimeoutMs: number;
  assigned: TopicPartitions[];
  revoking: TopicPartitions[];
}

export interface PersistedConsumerGroup {
  groupEpoch: number;
  assignmentEpoch: number;
  assignorName: string;
  /** The subscribed topics' ids and partition counts the target was computed from. */
  topicsSignature: string;
  members: PersistedConsumerMember[];
  target: { memberId: string; assignment: TopicPartitions[] }[];
}

export interface StableGeneration {
  protocolName: string;
  leaderId: string;
  members: StableMember[];
}

export interface StableMember {
  memberId: string;
  groupInstanceId: string | null;
  clientId: string;
  clientHost: string;
  rebalanceTimeoutMs: number;
  sessionTimeoutMs: number;
  protocols: Protocol[];
  assignment: Uint8Array;
}

export interface Ready {
  /** Answers to delayed JoinGroup/SyncGroup requests. Send them only after `records` are durable. */
  completions: Completion[];
  /** Persist these (in order) before sending any response produced since the last takeReady(). */
  records: GroupRecord[];
}

export interface OffsetCommitInput {
  /** -1 with memberId "" for a consumer that manages its own assignment. */
  generationId: number;
  memberId: string;
  groupInstanceId: string | null;
  topics: {
    name: string;
    partitions: {
      partitionIndex: number;
      committedOffset: number;
      committedLeaderEpoch: number;
      committedMetadata: string | null;
    }[];
  }[];
}

export interface PartitionResult {
  partitionIndex: number;
  errorCode: number;
}

export interface TopicPartitionResults {
  name: string;
  partitions: PartitionResult[];
}

export interface OffsetFetchPartition {
  partitionIndex: number;
  committedOffset: number;
  committedLeaderEpoch: number;
  metadata: string;
  errorCode: number;
}

export interface OffsetFetchResponse {
  errorCode: number;
  topics: { name: string; partitions: OffsetFetchPartition[] }[];
}

export interface OffsetDeleteResponse {
  errorCode: number;
  topics: TopicPartitionResults[];
}

export interface ListedGroup {
  groupId: string;
  protocolType: string;
  groupState: GroupState;
}

export interface DescribedMember {
  memberId: string;
  groupInstanceId: string | null;
  clientId: string;
  clientHost: string;
  memberMetadata: Uint8Array;
  memberAssignment: Uint8Array;
}

export interface DescribedGroup {
  groupId: string;
  errorCode: number;
  groupState: GroupState;
  protocolType: string;
  protocolData: string;
  members: DescribedMember[];
}
