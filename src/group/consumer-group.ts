/**
 * Consumer groups of the consumer rebalance protocol (KIP-848) as a pure state machine, after Kafka's
 * GroupMetadataManager.consumerGroupHeartbeat. Every member heartbeats with its subscription and the
 * partitions it owns; the coordinator bumps the group epoch when membership, a subscription or a
 * subscribed topic's partition count changes, computes the target assignment with a server-side
 * assignor, and moves each member towards its target (consumer-reconciliation.ts) so that no partition
 * is ever held by two members. Time comes in as nowMs; member ids (v0) come from generateUuid.
 * Whatever a group's next coordinator needs (members, epochs, assignments, the target) comes out of
 * takeRecords() as one record per changed group, and load() takes a group back from its record: its
 * members carry on with fresh sessions. A heartbeat that only keeps a session alive changes nothing durable.
 */
import { ErrorCode } from "../protocol/error-codes.ts";
import { compareIds, toAssignment, type Assignment, type ServerAssignor } from "./assignors/assignor.ts";
import { rangeAssignor } from "./assignors/range.ts";
import { uniformAssignor } from "./assignors/uniform.ts";
import { reconcile, sameAssignment, type MemberState } from "./consumer-reconciliation.ts";
import { partitionKey } from "../lib/partition-key.ts";
import type { GroupRecord, PersistedConsumerGroup, PersistedConsumerMember, TopicPartitions } from "./types.ts";

export type { TopicPartitions };

export const ASSIGNORS: ReadonlyMap<string, ServerAssignor> = new Map([
  [uniformAssignor.name, uniformAssignor],
  [rangeAssignor.name, rangeAssignor],
]);

/** Epochs in a heartbeat that mean "leave" (-1) and "static member leaves, will come back" (-2). */
export const LEAVE_GROUP_MEMBER_EPOCH = -1;
export const LEAVE_GROUP_STATIC_MEMBER_EPOCH = -2;

export interface ConsumerGroupConfig {
  /** group.consumer.heartbeat.interval.ms */
  heartbeatIntervalMs: number;
  /** group.consumer.session.timeout.ms */
  sessionTimeoutMs: number;
  /** group.consumer.max.size */
  maxGroupSize: number;
  /** The assignor used when no member names one: the first of group.consumer.assignors. */
  defaultAssignor: string;
}

export const defaultConsumerGroupConfig: ConsumerGroupConfig = {
  heartbeatIntervalMs: 5000,
  sessionTimeoutMs: 45_000,
  maxGroupSize: 2_147_483_647,
  defaultAssignor: "uniform",
};

export interface TopicInfo {
  name: string;
  topicId: string;
  partitionCount: number;
}

/** The cluster's topics as the core sees them during one call. */
export interface TopicLookup {
  byName(name: string): TopicInfo | undefined;
}

export interface ConsumerHeartbeatInput {
  apiVersion: number;
  memberId: string;
  memberEpoch: number;
  instanceId: string | null;
  rackId: string | null;
  rebalanceTimeoutMs: number;
  subscribedTopicNames: string[] | null;
  subscribedTopicRegex: string | null;
  serverAssignor: string | null;
  topicPartitions: TopicPartitions[] | null;
  clientId: string;
  clientHost: string;
}

export interface ConsumerHeartbeatResponse {
  errorCode: number;
  errorMessage: string | null;
  memberId: string | null;
  memberEpoch: number;
  heartbeatIntervalMs: number;
  /** The member's whole current assignment when it changed or the member needs it again; else null. */
  assignment: TopicPartitions[] | null;
}

export type ConsumerGroupState = "Empty" | "Assigning" | "Reconciling" | "Stable";

export interface DescribedConsumerMember {
  memberId: string;
  instanceId: string | null;
  rackId: string | null;
  memberEpoch: number;
  clientId: string;
  clientHost: string;
  subscribedTopicNames: string[];
  assignment: TopicPartitions[];
  targetAssignment: TopicPartitions[];
}

export interface DescribedConsumerGroup {
  groupId: string;
  groupState: ConsumerGroupState;
  groupEpoch: number;
  assignmentEpoch: number;
  assignorName: string;
  members: DescribedConsumerMember[];
}

/** A member: what its record keeps, with its partitions as maps, and its timers here. */
interface Member extends Omit<PersistedConsumerMember, "assigned" | "revoking"> {
  assigned: Assignment;
  revoking: Assignment;
  sessionDeadlineMs: number;
  /** When a member that must revoke partitions is fenced if it has not; Infinity when none are due. */
  revocationDeadlineMs: number;
}

interface Group {
  groupId: string;
  groupEpoch: number;
  assignmentEpoch: number;
  assignorName: string;
  members: Map<string, Member>;
  target: Map<string, Assignment>;
  /** The subscribed topics' ids and partition counts the target was computed from. */
  topicsSignature: string;
  /** Who holds each partition, assigned or revoking: the one-owner invariant lives here. */
  holders: Map<string, string>;
}

class HeartbeatError extends Error {
  constructor(
    readonly errorCode: number,
    message: string,
  ) {
    super(message);
  }
}

export interface ConsumerGroupCoordinatorOptions {
  config: ConsumerGroupConfig;
  generateUuid: () => string;
  nowMs: number;
}

export class ConsumerGroupCoordinator {
  private readonly config: ConsumerGroupConfig;
  private readonly generateUuid: () => string;
  private readonly groups = new Map<string, Group>();
  /** Groups whose durable state changed since the last takeRecords(). */
  private readonly changed = new Set<string>();
  private nowMs: number;
  /** No deadline falls before this: setting one lowers it, a scan raises it, so most calls skip the scan. */
  private deadlinesNotBeforeMs = Infinity;

  constructor(options: ConsumerGroupCoordinatorOptions) {
    const config = options.config;
    if (config.heartbeatIntervalMs <= 0) throw new Error("heartbeatIntervalMs must be positive");
    if (config.sessionTimeoutMs <= config.heartbeatIntervalMs) throw new Error("sessionTimeoutMs must exceed heartbeatIntervalMs");
    if (config.maxGroupSize < 1) throw new Error("maxGroupSize must be at least 1");
    if (!ASSIGNORS.has(config.defaultAssignor)) throw new Error(`unknown default assignor ${config.defaultAssignor}`);
    this.config = config;
    this.generateUuid = options.generateUuid;
    this.nowMs = options.nowMs;
  }

  hasGroup(groupId: string): boolean {
    return this.groups.has(groupId);
  }

  memberCount(groupId: string): number {
    return this.groups.get(groupId)?.members.size ?? 0;
  }

  /** Forgets an empty group, when the classic protocol takes its id over or it is deleted. */
  deleteEmptyGroup(groupId: string): void {
    const group = this.groups.get(groupId);
    if (group === undefined) return;
    if (group.members.size !== 0) throw new Error(`consumer group ${groupId}: deleting a group with members`);
    this.groups.delete(groupId);
    this.changed.add(groupId);
  }

  /** Drops a group, members and all, when this broker stops coordinating it; its members' next heartbeat finds the new coordinator. */
  forgetGroup(groupId: string): void {
    this.groups.delete(groupId);
    this.changed.delete(groupId);
  }

  /** One record per group whose members, epochs or assignments changed since the last call: persist them before answering. */
  takeRecords(): GroupRecord[] {
    const records: GroupRecord[] = [];
    for (const groupId of this.changed) {
      const group = this.groups.get(groupId);
      records.push({ type: "consumer-group", groupId, group: group === undefined ? null : persistedOf(group) });
    }
    this.changed.clear();
    return records;
  }

  /**
   * Takes a group over from its latest record (or drops it, for null): what was held for it is forgotten. Its
   * members' sessions start now, and a member still revoking partitions has a rebalance timeout from now to do so.
   */
  load(groupId: string, persisted: PersistedConsumerGroup | null, nowMs: number): void {
    this.advanceTo(nowMs);
    this.forgetGroup(groupId);
    if (persisted === null) return;
    const group: Group = {
      groupId,
      groupEpoch: persisted.groupEpoch,
      assignmentEpoch: persisted.assignmentEpoch,
      assignorName: persisted.assignorName,
      members: new Map(),
      target: new Map(persisted.target.map(({ memberId, assignment }) => [memberId, fromWire(assignment)])),
      topicsSignature: persisted.topicsSignature,
      holders: new Map(),
    };
    for (const stored of persisted.members) {
      const member: Member = {
        ...stored,
        subscribedTopicNames: [...stored.subscribedTopicNames],
        assigned: new Map(),
        revoking: new Map(),
        sessionDeadlineMs: this.armDeadline(this.nowMs + this.config.sessionTimeoutMs),
        revocationDeadlineMs: stored.state === "unrevoked" ? this.armDeadline(this.nowMs + stored.rebalanceTimeoutMs) : Infinity,
      };
      group.members.set(member.memberId, member);
      this.hold(group, member, fromWire(stored.assigned), fromWire(stored.revoking));
    }
    this.groups.set(groupId, group);
  }

  /** Ids of the groups held here. */
  groupIds(): string[] {
    return [...this.groups.keys()];
  }

  heartbeat(groupId: string, input: ConsumerHeartbeatInput, topics: TopicLookup, nowMs: number): ConsumerHeartbeatResponse {
    this.advanceTo(nowMs);
    try {
      validateRequest(input);
      if (input.memberEpoch === LEAVE_GROUP_MEMBER_EPOCH || input.memberEpoch === LEAVE_GROUP_STATIC_MEMBER_EPOCH) {
        return this.leave(groupId, input, topics);
      }
      return this.join(groupId, input, topics);
    } catch (error) {
      if (!(error instanceof HeartbeatError)) throw error;
      return {
        errorCode: error.errorCode,
        errorMessage: error.message,
        memberId: null,
        memberEpoch: 0,
        heartbeatIntervalMs: 0,
        assignment: null,
      };
    }
  }

  /** Fences members whose session or revocation deadline passed; the next heartbeat recomputes the target. */
  tick(nowMs: number): void {
    this.advanceTo(nowMs);
  }

  /** When tick() must run next at the latest. */
  nextDeadlineMs(): number {
    let next = Infinity;
    for (const group of this.groups.values()) {
      for (const member of group.members.values()) next = Math.min(next, member.sessionDeadlineMs, member.revocationDeadlineMs);
    }
    return next;
  }

  /**
   * OffsetCommit against a consumer group: null when groupId is not one (the classic rules apply), else
   * the error code. A commit outside the group (epoch -1) is only allowed while the group is empty.
   */
  validateOffsetCommit(groupId: string, memberId: string, memberEpoch: number): number | null {
    const group = this.groups.get(groupId);
    if (group === undefined) return null;
    if (memberEpoch < 0 && group.members.size === 0) return ErrorCode.NONE;
    const member = group.members.get(memberId);
    if (member === undefined) return ErrorCode.UNKNOWN_MEMBER_ID;
    return memberEpoch === member.memberEpoch ? ErrorCode.NONE : ErrorCode.STALE_MEMBER_EPOCH;
  }

  /** OffsetFetch v9 from a member: null when groupId is not a consumer group, else the error code. */
  validateOffsetFetch(groupId: string, memberId: string | null, memberEpoch: number): number | null {
    const group = this.groups.get(groupId);
    if (group === undefined) return null;
    // Admin clients fetch without a member epoch.
    if (memberEpoch < 0) return ErrorCode.NONE;
    const member = memberId === null ? undefined : group.members.get(memberId);
    if (member === undefined) return ErrorCode.UNKNOWN_MEMBER_ID;
    return memberEpoch === member.memberEpoch ? ErrorCode.NONE : ErrorCode.STALE_MEMBER_EPOCH;
  }

  listGroups(): { groupId: string; groupState: ConsumerGroupState }[] {
    return [...this.groups.values()].map((group) => ({ groupId: group.groupId, groupState: stateOf(group) }));
  }

  /** ConsumerGroupDescribe; null for a group this core does not have. */
  describe(groupId: string, topics: TopicLookup): DescribedConsumerGroup | null {
    const group = this.groups.get(groupId);
    if (group === undefined) return null;
    const subscribed = (member: Member): Set<string> => {
      const ids = new Set<string>();
      for (const name of member.subscribedTopicNames) {
        const topic = topics.byName(name);
        if (topic !== undefined) ids.add(topic.topicId);
      }
      return ids;
    };
    return {
      groupId,
      groupState: stateOf(group),
      groupEpoch: group.groupEpoch,
      assignmentEpoch: group.assignmentEpoch,
      assignorName: group.assignorName,
      members: [...group.members.values()].map((member) => ({
        memberId: member.memberId,
        instanceId: member.instanceId,
        rackId: member.rackId,
        memberEpoch: member.memberEpoch,
        clientId: member.clientId,
        clientHost: member.clientHost,
        subscribedTopicNames: [...member.subscribedTopicNames],
        assignment: toWire(member.assigned),
        targetAssignment: toWire(filterTopics(group.target.get(member.memberId) ?? new Map(), subscribed(member))),
      })),
    };
  }

  /** For tests: who holds what and at which epoch. */
  memberView(groupId: string, memberId: string): { state: MemberState; memberEpoch: number; assigned: TopicPartitions[]; revoking: TopicPartitions[] } | null {
    const member = this.groups.get(groupId)?.members.get(memberId);
    if (member === undefined) return null;
    return { state: member.state, memberEpoch: member.memberEpoch, assigned: toWire(member.assigned), revoking: toWire(member.revoking) };
  }

  groupEpoch(groupId: string): number | null {
    return this.groups.get(groupId)?.groupEpoch ?? null;
  }

  /** Throws if a partition has two holders, the holder index disagrees with the members, or a deadline is missed. */
  checkInvariants(): void {
    if (this.deadlinesNotBeforeMs > this.nextDeadlineMs()) throw new Error(`deadline bound ${this.deadlinesNotBeforeMs} is past the earliest deadline`);
    for (const group of this.groups.values()) {
      const seen = new Map<string, string>();
      for (const member of group.members.values()) {
        for (const assignment of [member.assigned, member.revoking]) {
          for (const [topicId, partitions] of assignment) {
            for (const partition of partitions) {
              const key = partitionKey(topicId, partition);
              const other = seen.get(key);
              if (other !== undefined) throw new Error(`group ${group.groupId}: ${key} held by ${other} and ${member.memberId}`);
              seen.set(key, member.memberId);
            }
          }
        }
        if (member.state !== "unrevoked" && member.revoking.size !== 0) throw new Error(`member ${member.memberId}: revoking while ${member.state}`);
        if (member.memberEpoch > group.assignmentEpoch) throw new Error(`member ${member.memberId}: epoch past the assignment epoch`);
      }
      if (seen.size !== group.holders.size) throw new Error(`group ${group.groupId}: holder index has ${group.holders.size} entries, members hold ${seen.size}`);
      for (const [key, memberId] of seen) {
        if (group.holders.get(key) !== memberId) throw new Error(`group ${group.groupId}: holder index disagrees on ${key}`);
      }
    }
  }

  private advanceTo(nowMs: number): void {
    if (!Number.isFinite(nowMs)) throw new Error(`nowMs must be finite, got ${nowMs}`);
    this.nowMs = Math.max(this.nowMs, nowMs);
    if (this.nowMs < this.deadlinesNotBeforeMs) return;
    for (const group of this.groups.values()) {
      for (const member of [...group.members.values()]) {
        if (member.sessionDeadlineMs <= this.nowMs || member.revocationDeadlineMs <= this.nowMs) this.removeMember(group, member);
      }
    }
    this.deadlinesNotBeforeMs = this.nextDeadlineMs();
  }

  private armDeadline(deadlineMs: number): number {
    this.deadlinesNotBeforeMs = Math.min(this.deadlinesNotBeforeMs, deadlineMs);
    return deadlineMs;
  }

  private leave(groupId: string, input: ConsumerHeartbeatInput, topics: TopicLookup): ConsumerHeartbeatResponse {
    const group = this.groups.get(groupId);
    if (group === undefined) throw new HeartbeatError(ErrorCode.GROUP_ID_NOT_FOUND, `group ${groupId} not found`);
    const member =
      input.instanceId !== null
        ? [...group.members.values()].find((m) => m.instanceId === input.instanceId)
        : group.members.get(input.memberId);
    if (member === undefined || member.memberId !== input.memberId) {
      throw new HeartbeatError(ErrorCode.UNKNOWN_MEMBER_ID, `member ${input.memberId} is not in group ${groupId}`);
    }
    this.changed.add(groupId);
    if (input.memberEpoch === LEAVE_GROUP_STATIC_MEMBER_EPOCH && member.instanceId !== null) {
      // A static member keeps its partitions for a session timeout, for its next incarnation to take over.
      member.previousMemberEpoch = member.memberEpoch;
      member.memberEpoch = LEAVE_GROUP_STATIC_MEMBER_EPOCH;
    } else {
      this.removeMember(group, member);
      this.refreshTarget(group, topics);
    }
    return this.answer(input.memberId, input.memberEpoch, null);
  }

  private join(groupId: string, input: ConsumerHeartbeatInput, topics: TopicLookup): ConsumerHeartbeatResponse {
    const before = this.durableView(groupId, input.memberId);
    let group = this.groups.get(groupId);
    if (group === undefined) {
      if (input.memberEpoch !== 0) throw new HeartbeatError(ErrorCode.GROUP_ID_NOT_FOUND, `group ${groupId} not found`);
      group = {
        groupId,
        groupEpoch: 0,
        assignmentEpoch: 0,
        assignorName: this.config.defaultAssignor,
        members: new Map(),
        target: new Map(),
        topicsSignature: "",
        holders: new Map(),
      };
    }
    if (input.serverAssignor !== null && !ASSIGNORS.has(input.serverAssignor)) {
      throw new HeartbeatError(ErrorCode.UNSUPPORTED_ASSIGNOR, `assignor ${input.serverAssignor} is not supported; use ${[...ASSIGNORS.keys()].join(" or ")}`);
    }
    const owned = input.topicPartitions === null ? null : toAssignment(input.topicPartitions.flatMap((tp) => tp.partitions.map((p): [string, number] => [tp.topicId, p])));
    const member = input.memberEpoch === 0 ? this.joiningMember(group, input) : this.existingMember(group, input, owned);
    this.groups.set(groupId, group);

    let membershipChanged = !group.members.has(member.memberId);
    group.members.set(member.memberId, member);
    if (input.subscribedTopicNames !== null) {
      const names = [...new Set(input.subscribedTopicNames)].sort(compareIds);
      if (names.join("\u0000") !== member.subscribedTopicNames.join("\u0000")) membershipChanged = true;
      member.subscribedTopicNames = names;
    }
    if (input.serverAssignor !== null && input.serverAssignor !== member.serverAssignor) {
      member.serverAssignor = input.serverAssignor;
      membershipChanged = true;
    }
    if (input.rebalanceTimeoutMs >= 0) member.rebalanceTimeoutMs = input.rebalanceTimeoutMs;
    if (input.rackId !== null) member.rackId = input.rackId;
    member.clientId = input.clientId;
    member.clientHost = input.clientHost;
    member.sessionDeadlineMs = this.armDeadline(this.nowMs + this.config.sessionTimeoutMs);
    if (membershipChanged) group.groupEpoch++;
    this.refreshTarget(group, topics);

    const assignedBefore = member.assigned;
    const next = reconcile({
      current: { state: member.state, memberEpoch: member.memberEpoch, assigned: member.assigned, revoking: member.revoking },
      target: group.target.get(member.memberId) ?? new Map(),
      targetEpoch: group.assignmentEpoch,
      owned,
      holderOf: (topicId, partition) => group.holders.get(partitionKey(topicId, partition)),
      memberId: member.memberId,
    });
    if (next.state === "unrevoked" && member.state !== "unrevoked") member.revocationDeadlineMs = this.armDeadline(this.nowMs + member.rebalanceTimeoutMs);
    if (next.state !== "unrevoked") member.revocationDeadlineMs = Infinity;
    if (next.memberEpoch !== member.memberEpoch) member.previousMemberEpoch = member.memberEpoch;
    member.state = next.state;
    member.memberEpoch = next.memberEpoch;
    this.hold(group, member, next.assigned, next.revoking);

    if (this.durableView(groupId, member.memberId) !== before) this.changed.add(groupId);
    const resend = input.memberEpoch === 0 || !sameAssignment(assignedBefore, member.assigned) || (owned !== null && !sameAssignment(owned, member.assigned));
    return this.answer(member.memberId, member.memberEpoch, resend ? toWire(member.assigned) : null);
  }

  /**
   * What a heartbeat from `memberId` could change that a new coordinator needs, as one string: the group's epochs and
   * membership, and that member's record. Any other member changes only through removeMember or leave, which mark the
   * group themselves. Its client id and host are left out: a change there alone is not worth a write.
   */
  private durableView(groupId: string, memberId: string): string {
    const group = this.groups.get(groupId);
    if (group === undefined) return "";
    const member = group.members.get(memberId);
    const memberView = member === undefined ? null : durableFieldsOf(member);
    return JSON.stringify([group.groupEpoch, group.assignmentEpoch, group.assignorName, group.members.size, memberView]);
  }

  /** The member a heartbeat with epoch 0 joins as: new, rejoining, or a static member's next incarnation. */
  private joiningMember(group: Group, input: ConsumerHeartbeatInput): Member {
    if (input.instanceId !== null) {
      const previous = [...group.members.values()].find((m) => m.instanceId === input.instanceId);
      if (previous !== undefined && previous.memberId !== input.memberId) {
        if (previous.memberEpoch !== LEAVE_GROUP_STATIC_MEMBER_EPOCH) {
          throw new HeartbeatError(ErrorCode.UNRELEASED_INSTANCE_ID, `instance ${input.instanceId} is still used by member ${previous.memberId}`);
        }
        // The new incarnation takes over the partitions and target of the one that left with -2.
        const memberId = input.memberId === "" ? this.generateUuid() : input.memberId;
        const target = group.target.get(previous.memberId);
        group.members.delete(previous.memberId);
        group.target.delete(previous.memberId);
        if (target !== undefined) group.target.set(memberId, target);
        const successor: Member = { ...previous, memberId, memberEpoch: previous.previousMemberEpoch };
        for (const [key, holder] of group.holders) if (holder === previous.memberId) group.holders.set(key, memberId);
        group.members.set(memberId, successor);
        return successor;
      }
    }
    const existing = input.memberId === "" ? undefined : group.members.get(input.memberId);
    if (existing !== undefined) {
      // A member rejoining with epoch 0 owns nothing any more, whatever it held before.
      this.hold(group, existing, new Map(), new Map());
      existing.state = "stable";
      existing.memberEpoch = 0;
      existing.revocationDeadlineMs = Infinity;
      return existing;
    }
    if (group.members.size >= this.config.maxGroupSize) {
      throw new HeartbeatError(ErrorCode.GROUP_MAX_SIZE_REACHED, `group ${group.groupId} has reached its maximum size ${this.config.maxGroupSize}`);
    }
    return {
      memberId: input.memberId === "" ? this.generateUuid() : input.memberId,
      instanceId: input.instanceId,
      rackId: input.rackId,
      clientId: input.clientId,
      clientHost: input.clientHost,
      state: "stable",
      memberEpoch: 0,
      previousMemberEpoch: 0,
      subscribedTopicNames: [],
      serverAssignor: null,
      rebalanceTimeoutMs: input.rebalanceTimeoutMs,
      assigned: new Map(),
      revoking: new Map(),
      sessionDeadlineMs: this.armDeadline(this.nowMs + this.config.sessionTimeoutMs),
      revocationDeadlineMs: Infinity,
    };
  }

  private existingMember(group: Group, input: ConsumerHeartbeatInput, owned: Assignment | null): Member {
    const member = group.members.get(input.memberId);
    if (member === undefined) throw new HeartbeatError(ErrorCode.UNKNOWN_MEMBER_ID, `member ${input.memberId} is not in group ${group.groupId}`);
    if (input.memberEpoch > member.memberEpoch) {
      throw new HeartbeatError(ErrorCode.FENCED_MEMBER_EPOCH, `epoch ${input.memberEpoch} is ahead of the member's ${member.memberEpoch}`);
    }
    if (input.memberEpoch < member.memberEpoch) {
      // The answer that moved the member to its new epoch may have been lost: the previous epoch is
      // fine as long as the member owns no more than it is assigned now.
      const lostAnswer = input.memberEpoch === member.previousMemberEpoch && owned !== null && isSubset(owned, member.assigned);
      if (!lostAnswer) throw new HeartbeatError(ErrorCode.FENCED_MEMBER_EPOCH, `epoch ${input.memberEpoch} is behind the member's ${member.memberEpoch}`);
    }
    return member;
  }

  /** Recomputes the target when the group epoch moved or a subscribed topic changed its partitions. */
  private refreshTarget(group: Group, topics: TopicLookup): void {
    const subscribedIds = new Map<string, Set<string>>();
    const partitionCounts = new Map<string, number>();
    for (const member of group.members.values()) {
      const ids = new Set<string>();
      for (const name of member.subscribedTopicNames) {
        const topic = topics.byName(name);
        if (topic === undefined) continue;
        ids.add(topic.topicId);
        partitionCounts.set(topic.topicId, topic.partitionCount);
      }
      subscribedIds.set(member.memberId, ids);
    }
    const signature = [...partitionCounts].sort(([a], [b]) => compareIds(a, b)).map(([id, count]) => `${id}:${count}`).join(",");
    if (signature !== group.topicsSignature) {
      group.topicsSignature = signature;
      if (group.groupEpoch === group.assignmentEpoch) group.groupEpoch++;
    }
    if (group.groupEpoch === group.assignmentEpoch) return;
    const assignor = ASSIGNORS.get(this.preferredAssignor(group))!;
    group.assignorName = assignor.name;
    const target = assignor.assign({
      members: [...group.members.values()].map((m) => ({ memberId: m.memberId, subscribedTopicIds: subscribedIds.get(m.memberId)! })),
      partitionCounts,
      previous: group.target,
    });
    group.target = target;
    group.assignmentEpoch = group.groupEpoch;
  }

  /** The assignor most members ask for, else the default; ties go to the name first in order. */
  private preferredAssignor(group: Group): string {
    const votes = new Map<string, number>();
    for (const member of group.members.values()) {
      if (member.serverAssignor !== null) votes.set(member.serverAssignor, (votes.get(member.serverAssignor) ?? 0) + 1);
    }
    let best = this.config.defaultAssignor;
    let bestVotes = 0;
    for (const [name, count] of [...votes].sort(([a], [b]) => compareIds(a, b))) {
      if (count > bestVotes) [best, bestVotes] = [name, count];
    }
    return best;
  }

  private removeMember(group: Group, member: Member): void {
    this.changed.add(group.groupId);
    this.hold(group, member, new Map(), new Map());
    group.members.delete(member.memberId);
    group.target.delete(member.memberId);
    group.groupEpoch++;
  }

  /** Sets what a member holds, keeping the holder index; throws if another member holds any of it. */
  private hold(group: Group, member: Member, assigned: Assignment, revoking: Assignment): void {
    for (const assignment of [member.assigned, member.revoking]) {
      for (const [topicId, partitions] of assignment) for (const p of partitions) group.holders.delete(partitionKey(topicId, p));
    }
    for (const assignment of [assigned, revoking]) {
      for (const [topicId, partitions] of assignment) {
        for (const p of partitions) {
          const key = partitionKey(topicId, p);
          const holder = group.holders.get(key);
          if (holder !== undefined) throw new Error(`group ${group.groupId}: ${key} given to ${member.memberId} while ${holder} holds it`);
          group.holders.set(key, member.memberId);
        }
      }
    }
    member.assigned = assigned;
    member.revoking = revoking;
  }

  private answer(memberId: string, memberEpoch: number, assignment: TopicPartitions[] | null): ConsumerHeartbeatResponse {
    return {
      errorCode: ErrorCode.NONE,
      errorMessage: null,
      memberId,
      memberEpoch,
      heartbeatIntervalMs: this.config.heartbeatIntervalMs,
      assignment,
    };
  }
}

/** Kafka's request checks that answer INVALID_REQUEST before the group is looked at. */
function validateRequest(input: ConsumerHeartbeatInput): void {
  const invalid = (message: string): never => {
    throw new HeartbeatError(ErrorCode.INVALID_REQUEST, message);
  };
  if (input.subscribedTopicRegex !== null) invalid("subscribedTopicRegex is not supported: subscribe to topic names");
  if (input.apiVersion >= 1 && input.memberId === "") invalid("MemberId can't be empty.");
  if (input.memberEpoch === 0) {
    if (input.rebalanceTimeoutMs === -1) invalid("RebalanceTimeoutMs must be provided in first request.");
    if (input.topicPartitions === null || input.topicPartitions.length > 0) invalid("TopicPartitions must be empty when (re-)joining.");
    if (input.subscribedTopicNames === null || input.subscribedTopicNames.length === 0) invalid("SubscribedTopicNames must be set in first request.");
  } else if (input.memberEpoch > 0 || input.memberEpoch === LEAVE_GROUP_MEMBER_EPOCH) {
    if (input.memberId === "") invalid("MemberId can't be empty.");
  } else if (input.memberEpoch === LEAVE_GROUP_STATIC_MEMBER_EPOCH) {
    if (input.memberId === "") invalid("MemberId can't be empty.");
    if (input.instanceId === null) invalid("InstanceId can't be null.");
  } else {
    invalid(`MemberEpoch is invalid: ${input.memberEpoch}`);
  }
}

function stateOf(group: Group): ConsumerGroupState {
  if (group.members.size === 0) return "Empty";
  if (group.groupEpoch > group.assignmentEpoch) return "Assigning";
  for (const member of group.members.values()) {
    if (member.state !== "stable" || member.memberEpoch !== group.assignmentEpoch) return "Reconciling";
  }
  return "Stable";
}

function isSubset(a: Assignment, b: Assignment): boolean {
  for (const [topicId, partitions] of a) {
    const other = new Set(b.get(topicId) ?? []);
    if (partitions.some((p) => !other.has(p))) return false;
  }
  return true;
}

function filterTopics(assignment: Assignment, topicIds: Set<string>): Assignment {
  return new Map([...assignment].filter(([topicId]) => topicIds.has(topicId)));
}

function fromWire(partitions: readonly TopicPartitions[]): Assignment {
  return new Map(partitions.map(({ topicId, partitions }) => [topicId, [...partitions]]));
}

/** A member as its group's record keeps it: its fields without the timers, and its partitions as wire lists. */
function persistedMemberOf(m: Member): PersistedConsumerMember {
  return {
    memberId: m.memberId,
    instanceId: m.instanceId,
    rackId: m.rackId,
    clientId: m.clientId,
    clientHost: m.clientHost,
    state: m.state,
    memberEpoch: m.memberEpoch,
    previousMemberEpoch: m.previousMemberEpoch,
    subscribedTopicNames: [...m.subscribedTopicNames],
    serverAssignor: m.serverAssignor,
    rebalanceTimeoutMs: m.rebalanceTimeoutMs,
    assigned: toWire(m.assigned),
    revoking: toWire(m.revoking),
  };
}

/** The member's record without what names it (its id) or is not worth a write alone (client id and host). */
function durableFieldsOf(member: Member): Omit<PersistedConsumerMember, "memberId" | "clientId" | "clientHost"> {
  const { memberId: _memberId, clientId: _clientId, clientHost: _clientHost, ...fields } = persistedMemberOf(member);
  return fields;
}

function persistedOf(group: Group): PersistedConsumerGroup {
  return {
    groupEpoch: group.groupEpoch,
    assignmentEpoch: group.assignmentEpoch,
    assignorName: group.assignorName,
    topicsSignature: group.topicsSignature,
    members: [...group.members.values()].map(persistedMemberOf),
    target: [...group.target].map(([memberId, assignment]) => ({ memberId, assignment: toWire(assignment) })),
  };
}

function toWire(assignment: Assignment): TopicPartitions[] {
  return [...assignment]
    .filter(([, partitions]) => partitions.length > 0)
    .sort(([a], [b]) => compareIds(a, b))
    .map(([topicId, partitions]) => ({ topicId, partitions: [...partitions] }));
}
