/**
 * Committed offsets of the groups: OffsetCommit validation and storage, OffsetFetch, OffsetDelete
 * and retention, after Kafka's GroupMetadataManager. Every change is emitted as a record.
 */
import { ErrorCode } from "../protocol/error-codes.ts";
import { CONSUMER_PROTOCOL_TYPE, type ClassicGroup, type CommittedOffset } from "./group.ts";
import type {
  GroupConfig,
  GroupRecord,
  OffsetCommitInput,
  OffsetDeleteResponse,
  OffsetFetchResponse,
  TopicPartitionResults,
} from "./types.ts";

const NO_OFFSET = -1;
const NO_LEADER_EPOCH = -1;

export interface TopicPartitions {
  name: string;
  partitionIndexes: number[];
}

/** Kafka's validateOffsetCommit plus the state check of doCommitOffsets. */
export function validateOffsetCommit(group: ClassicGroup, input: OffsetCommitInput): number {
  if (input.generationId >= 0 || input.memberId !== "" || input.groupInstanceId !== null) {
    const memberError = group.validateCurrentMember(input.memberId, input.groupInstanceId);
    if (memberError !== ErrorCode.NONE) return memberError;
    if (input.generationId !== group.generationId) return ErrorCode.ILLEGAL_GENERATION;
  } else if (group.state !== "Empty") {
    // Outside group management, commits are accepted only while nobody manages the group.
    return ErrorCode.UNKNOWN_MEMBER_ID;
  }
  // The member has its JoinGroup answer but not its assignment yet.
  if (group.state === "CompletingRebalance") return ErrorCode.REBALANCE_IN_PROGRESS;
  return ErrorCode.NONE;
}

export class OffsetStore {
  constructor(
    private readonly config: GroupConfig,
    private readonly emit: (record: GroupRecord) => void,
  ) {}

  /** Replays a persisted offset record. */
  apply(group: ClassicGroup, record: Extract<GroupRecord, { type: "offset" | "offset-deleted" }>): void {
    if (record.groupId !== group.groupId) throw new Error(`record of ${record.groupId} applied to ${group.groupId}`);
    if (record.type === "offset-deleted") {
      removeOffset(group, record.topic, record.partition);
      return;
    }
    setOffset(group, record.topic, record.partition, {
      offset: record.offset,
      leaderEpoch: record.leaderEpoch,
      metadata: record.metadata,
      commitTimestampMs: record.commitTimestampMs,
    });
  }

  allFailed(input: OffsetCommitInput, errorCode: number): TopicPartitionResults[] {
    return input.topics.map((topic) => ({
      name: topic.name,
      partitions: topic.partitions.map((partition) => ({ partitionIndex: partition.partitionIndex, errorCode })),
    }));
  }

  /** Stores a validated commit; metadata over the limit fails its partition only. */
  commit(group: ClassicGroup, input: OffsetCommitInput, nowMs: number): TopicPartitionResults[] {
    return input.topics.map((topic) => ({
      name: topic.name,
      partitions: topic.partitions.map((partition) => {
        const metadata = partition.committedMetadata ?? "";
        if (metadata.length > this.config.maxOffsetMetadataBytes) {
          return { partitionIndex: partition.partitionIndex, errorCode: ErrorCode.OFFSET_METADATA_TOO_LARGE };
        }
        const committed: CommittedOffset = {
          offset: partition.committedOffset,
          leaderEpoch: partition.committedLeaderEpoch,
          metadata,
          commitTimestampMs: nowMs,
        };
        setOffset(group, topic.name, partition.partitionIndex, committed);
        this.emit({ type: "offset", groupId: group.groupId, topic: topic.name, partition: partition.partitionIndex, ...committed });
        return { partitionIndex: partition.partitionIndex, errorCode: ErrorCode.NONE };
      }),
    }));
  }

  /** OffsetFetch: partitions without a commit answer offset -1; topics null lists every commit. */
  fetch(group: ClassicGroup | undefined, topics: TopicPartitions[] | null): OffsetFetchResponse {
    if (topics === null) {
      const all: OffsetFetchResponse["topics"] = [];
      for (const [name, partitions] of group?.offsets ?? []) {
        all.push({
          name,
          partitions: [...partitions].map(([partitionIndex, committed]) => ({
            partitionIndex,
            committedOffset: committed.offset,
            committedLeaderEpoch: committed.leaderEpoch,
            metadata: committed.metadata,
            errorCode: ErrorCode.NONE,
          })),
        });
      }
      return { errorCode: ErrorCode.NONE, topics: all };
    }
    return {
      errorCode: ErrorCode.NONE,
      topics: topics.map((topic) => ({
        name: topic.name,
        partitions: topic.partitionIndexes.map((partitionIndex) => {
          const committed = group?.offsets.get(topic.name)?.get(partitionIndex);
          return {
            partitionIndex,
            committedOffset: committed?.offset ?? NO_OFFSET,
            committedLeaderEpoch: committed?.leaderEpoch ?? NO_LEADER_EPOCH,
            metadata: committed?.metadata ?? "",
            errorCode: ErrorCode.NONE,
          };
        }),
      })),
    };
  }

  /** OffsetDelete: a live consumer group keeps the offsets of topics it subscribes to. */
  delete(group: ClassicGroup, topics: TopicPartitions[]): OffsetDeleteResponse {
    const liveConsumerGroup =
      group.protocolType === CONSUMER_PROTOCOL_TYPE &&
      (group.state === "Stable" || group.state === "PreparingRebalance" || group.state === "CompletingRebalance");
    if (group.state !== "Empty" && !liveConsumerGroup) return { errorCode: ErrorCode.NON_EMPTY_GROUP, topics: [] };
    return {
      errorCode: ErrorCode.NONE,
      topics: topics.map((topic) => {
        const subscribed = liveConsumerGroup && group.isSubscribedToTopic(topic.name);
        return {
          name: topic.name,
          partitions: topic.partitionIndexes.map((partitionIndex) => {
            if (subscribed) return { partitionIndex, errorCode: ErrorCode.GROUP_SUBSCRIBED_TO_TOPIC };
            if (removeOffset(group, topic.name, partitionIndex)) {
              this.emit({ type: "offset-deleted", groupId: group.groupId, topic: topic.name, partition: partitionIndex });
            }
            return { partitionIndex, errorCode: ErrorCode.NONE };
          }),
        };
      }),
    };
  }

  /**
   * Kafka's removeExpiredOffsets: an Empty group's offsets expire a retention period after it became
   * Empty; a group without protocol type (manual assignment) and a Stable consumer group's offsets of
   * topics it no longer subscribes to expire a retention period after their commit.
   */
  removeExpired(group: ClassicGroup, nowMs: number): void {
    const retentionMs = this.config.offsetsRetentionMs;
    let baseTimestampMs: ((committed: CommittedOffset) => number) | null = null;
    let keptTopics: Set<string> = new Set();
    if (group.protocolType !== null && group.state === "Empty") {
      baseTimestampMs = () => group.stateTimestampMs;
    } else if (group.protocolType === CONSUMER_PROTOCOL_TYPE && group.subscribedTopics !== null && group.state === "Stable") {
      baseTimestampMs = (committed) => committed.commitTimestampMs;
      keptTopics = group.subscribedTopics;
    } else if (group.protocolType === null) {
      baseTimestampMs = (committed) => committed.commitTimestampMs;
    }
    if (baseTimestampMs === null) return;
    for (const [topic, partitions] of [...group.offsets]) {
      if (keptTopics.has(topic)) continue;
      for (const [partition, committed] of [...partitions]) {
        if (nowMs - baseTimestampMs(committed) < retentionMs) continue;
        removeOffset(group, topic, partition);
        this.emit({ type: "offset-deleted", groupId: group.groupId, topic, partition });
      }
    }
  }
}

function setOffset(group: ClassicGroup, topic: string, partition: number, committed: CommittedOffset): void {
  let partitions = group.offsets.get(topic);
  if (partitions === undefined) {
    partitions = new Map();
    group.offsets.set(topic, partitions);
  }
  partitions.set(partition, committed);
}

function removeOffset(group: ClassicGroup, topic: string, partition: number): boolean {
  const partitions = group.offsets.get(topic);
  if (partitions === undefined || !partitions.delete(partition)) return false;
  if (partitions.size === 0) group.offsets.delete(topic);
  return true;
}
