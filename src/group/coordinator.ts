/**
 * The classic group coordinator as a pure state machine, after Kafka's GroupCoordinator. Requests go
 * in with the current time; JoinGroup and SyncGroup answers that must wait for a rebalance come out
 * later as completions, and durable state changes as records, both collected with takeReady().
 * Time moves only through the nowMs arguments: every call first fires the timers due by then.
 */
import { ClassicGroup, deadGroup, describeGroup, joinError, protocolsMatch, restoreStableGeneration, stableGenerationOf, syncError, type Member } from "./group.ts";
import { ErrorCode } from "../protocol/error-codes.ts";
import { OffsetStore, validateOffsetCommit } from "./offsets.ts";
import type {
  Completion,
  DescribedGroup,
  GroupConfig,
  GroupRecord,
  GroupState,
  HeartbeatInput,
  JoinInput,
  JoinResponse,
  LeaveResponse,
  LeavingMember,
  ListedGroup,
  OffsetCommitInput,
  OffsetDeleteResponse,
  OffsetFetchResponse,
  Ready,
  StableGeneration,
  SyncInput,
  SyncResponse,
  Token,
  TopicPartitionResults,
} from "./types.ts";

const EMPTY_BYTES = new Uint8Array(0);
/** Timer firings per group per call; more means a timer re-arms itself at the same instant (a bug). */
const MAX_TIMER_FIRINGS_PER_GROUP = 10_000;

export interface GroupCoordinatorOptions {
  config: GroupConfig;
  /** Returns a fresh unique id (Kafka uses a random UUID); member ids are `${clientId}-${uuid}`. */
  generateUuid: () => string;
  /** The time the core starts at; later calls must not go back before it. */
  nowMs: number;
}

export class GroupCoordinator {
  private readonly config: GroupConfig;
  private readonly generateUuid: () => string;
  private readonly groups = new Map<string, ClassicGroup>();
  private readonly offsetStore: OffsetStore;
  private completions: Completion[] = [];
  private records: GroupRecord[] = [];
  private nowMs: number;
  private nextRetentionCheckMs: number;
  /**
   * No timer is due before this. Arming a timer lowers it; pushing one later (a heartbeat) does not
   * raise it, so calls between deadlines skip the scan of every group.
   */
  private timersDueNotBeforeMs: number;

  constructor(options: GroupCoordinatorOptions) {
    const config = options.config;
    if (config.minSessionTimeoutMs > config.maxSessionTimeoutMs) throw new Error("minSessionTimeoutMs > maxSessionTimeoutMs");
    if (config.maxGroupSize < 1) throw new Error("maxGroupSize must be at least 1");
    if (config.offsetsRetentionCheckIntervalMs <= 0) throw new Error("offsetsRetentionCheckIntervalMs must be positive");
    this.config = config;
    this.generateUuid = options.generateUuid;
    this.nowMs = options.nowMs;
    this.nextRetentionCheckMs = options.nowMs + config.offsetsRetentionCheckIntervalMs;
    this.timersDueNotBeforeMs = this.nextRetentionCheckMs;
    this.offsetStore = new OffsetStore(config, (record) => this.records.push(record));
  }

  /** Hands out everything produced since the last call: persist the records, then send the answers. */
  takeReady(): Ready {
    const ready = { completions: this.completions, records: this.records };
    this.completions = [];
    this.records = [];
    return ready;
  }

  /** When tick() must be called next at the latest; an early tick is harmless. */
  nextDeadlineMs(): number {
    return this.timersDueNotBeforeMs;
  }

  private earliestDeadlineMs(): number {
    let next = this.nextRetentionCheckMs;
    for (const group of this.groups.values()) {
      for (const deadlineMs of group.pendingMembers.values()) next = Math.min(next, deadlineMs);
      for (const member of group.members.values()) next = Math.min(next, member.heartbeatDeadlineMs);
      if (group.joinDeadlineMs !== null) next = Math.min(next, group.joinDeadlineMs);
      if (group.syncDeadlineMs !== null) next = Math.min(next, group.syncDeadlineMs);
    }
    return next;
  }

  /** Expires sessions, completes delayed joins and syncs, and sweeps expired offsets due by nowMs. */
  tick(nowMs: number): void {
    this.advanceTo(nowMs);
  }

  /** Rebuilds state from persisted records; only on a fresh core. A Stable generation's members are back, with fresh sessions. */
  restore(records: Iterable<GroupRecord>, nowMs: number): void {
    if (this.groups.size !== 0) throw new Error("restore into a coordinator that already has groups");
    this.advanceTo(nowMs);
    this.load(records, true);
  }

  /**
   * Takes a group over from its records, when this broker becomes its coordinator: what was held for it is
   * forgotten first. A Stable generation keeps its members, whose sessions start now; otherwise it starts Empty.
   */
  loadGroup(groupId: string, records: Iterable<GroupRecord>, nowMs: number): void {
    this.advanceTo(nowMs);
    this.forgetGroup(groupId);
    this.load([...records].filter((record) => record.groupId === groupId), true);
  }

  /**
   * Applies records that another process wrote for groups held here (an earlier run of this broker whose write
   * landed late): offsets always, a generation only while the group has no members, which would be ahead of it.
   */
  replay(records: Iterable<GroupRecord>, nowMs: number): void {
    this.advanceTo(nowMs);
    for (const record of records) {
      if (record.type === "consumer-group") continue;
      const hasMembers = (this.groups.get(record.groupId)?.members.size ?? 0) > 0;
      if (record.type === "offset" || record.type === "offset-deleted") this.offsetStore.apply(this.getOrCreateGroup(record.groupId), record);
      else if (!hasMembers) this.load([record], false);
    }
  }

  /** Drops a group this broker no longer coordinates, recording nothing; its waiting joins and syncs get NOT_COORDINATOR. */
  forgetGroup(groupId: string): void {
    const group = this.groups.get(groupId);
    if (group === undefined) return;
    for (const member of group.members.values()) {
      if (member.joinToken !== null) this.answerJoin(group, member, joinError(member.memberId, ErrorCode.NOT_COORDINATOR));
      if (member.syncToken !== null) this.answerSync(group, member, ErrorCode.NOT_COORDINATOR);
    }
    this.groups.delete(groupId);
  }

  /** Ids of the groups held here. */
  groupIds(): string[] {
    return [...this.groups.keys()];
  }

  /**
   * Applies records in order; `withMembers` brings back the members of a recorded Stable generation. Consumer-group
   * records belong to the consumer protocol's coordinator (consumer-group.ts).
   */
  private load(records: Iterable<GroupRecord>, withMembers: boolean): void {
    const emptySince = new Map<string, number | null>();
    const stable = new Map<string, StableGeneration>();
    for (const record of records) {
      if (record.type === "consumer-group") continue;
      if (record.type === "group-deleted") {
        this.groups.delete(record.groupId);
        emptySince.delete(record.groupId);
        stable.delete(record.groupId);
        continue;
      }
      const group = this.getOrCreateGroup(record.groupId);
      if (record.type === "group") {
        group.protocolType = record.protocolType;
        group.generationId = record.generationId;
        emptySince.set(record.groupId, record.emptySinceMs);
        if (record.stable !== undefined && withMembers) stable.set(record.groupId, record.stable);
        else stable.delete(record.groupId);
      } else {
        this.offsetStore.apply(group, record);
      }
    }
    for (const [groupId, since] of emptySince) {
      const group = this.groups.get(groupId);
      if (group === undefined) continue;
      group.stateTimestampMs = since ?? this.nowMs;
      const generation = stable.get(groupId);
      if (generation === undefined || group.members.size > 0) continue;
      for (const member of restoreStableGeneration(group, generation, this.nowMs)) this.scheduleHeartbeat(member);
    }
  }

  join(groupId: string, input: JoinInput, nowMs: number, token: Token): void {
    this.advanceTo(nowMs);
    const answer = (response: JoinResponse): void => {
      this.completions.push({ kind: "join", groupId, token, response });
    };
    if (input.sessionTimeoutMs < this.config.minSessionTimeoutMs || input.sessionTimeoutMs > this.config.maxSessionTimeoutMs) {
      answer(joinError(input.memberId, ErrorCode.INVALID_SESSION_TIMEOUT));
      return;
    }
    const isUnknownMember = input.memberId === "";
    const existing = this.groups.get(groupId);
    if (existing === undefined && !isUnknownMember) {
      answer(joinError(input.memberId, ErrorCode.UNKNOWN_MEMBER_ID));
      return;
    }
    const group = existing ?? this.getOrCreateGroup(groupId);
    if (!this.acceptJoiningMember(group, input.memberId)) {
      if (group.has(input.memberId)) this.removeMemberAndUpdateGroup(group, group.get(input.memberId));
      else group.pendingMembers.delete(input.memberId);
      answer(joinError("", ErrorCode.GROUP_MAX_SIZE_REACHED));
    } else if (!group.supportsProtocols(input.protocolType, input.protocols)) {
      answer(joinError(input.memberId, ErrorCode.INCONSISTENT_GROUP_PROTOCOL));
    } else if (isUnknownMember) {
      this.newMemberJoin(group, input, token);
    } else {
      this.currentMemberJoin(group, input, token);
    }
    if (group.state === "PreparingRebalance") this.tryCompleteJoin(group);
  }

  sync(groupId: string, input: SyncInput, nowMs: number, token: Token): void {
    this.advanceTo(nowMs);
    const group = this.groups.get(groupId);
    const answer = (errorCode: number): void => {
      this.completions.push({ kind: "sync", groupId, token, response: syncError(errorCode, group) });
    };
    if (group === undefined) return answer(ErrorCode.UNKNOWN_MEMBER_ID);
    const memberError = group.validateCurrentMember(input.memberId, input.groupInstanceId);
    if (memberError !== ErrorCode.NONE) return answer(memberError);
    if (input.generationId !== group.generationId) return answer(ErrorCode.ILLEGAL_GENERATION);
    if (input.protocolType !== null && input.protocolType !== group.protocolType) {
      return answer(ErrorCode.INCONSISTENT_GROUP_PROTOCOL);
    }
    if (input.protocolName !== null && input.protocolName !== group.protocolName) {
      return answer(ErrorCode.INCONSISTENT_GROUP_PROTOCOL);
    }
    const member = group.get(input.memberId);
    switch (group.state) {
      case "Empty":
      case "Dead":
        return answer(ErrorCode.UNKNOWN_MEMBER_ID);
      case "PreparingRebalance":
        return answer(ErrorCode.REBALANCE_IN_PROGRESS);
      case "CompletingRebalance": {
        if (member.syncToken !== null) this.answerSync(group, member, ErrorCode.REBALANCE_IN_PROGRESS);
        member.syncToken = token;
        this.removePendingSyncMember(group, member.memberId);
        if (group.isLeader(member.memberId)) {
          const assignments = new Map(input.assignments.map((entry) => [entry.memberId, entry.assignment]));
          for (const each of group.members.values()) each.assignment = assignments.get(each.memberId) ?? EMPTY_BYTES;
          this.propagateAssignment(group, ErrorCode.NONE);
          group.transitionTo("Stable", this.nowMs);
          this.recordGeneration(group);
        }
        return;
      }
      case "Stable": {
        this.removePendingSyncMember(group, member.memberId);
        this.completions.push({
          kind: "sync",
          groupId,
          token,
          response: {
            errorCode: ErrorCode.NONE,
            protocolType: group.protocolType,
            protocolName: group.protocolName,
            assignment: member.assignment,
          },
        });
        this.scheduleHeartbeat(member);
        return;
      }
    }
  }

  heartbeat(groupId: string, input: HeartbeatInput, nowMs: number): { errorCode: number } {
    this.advanceTo(nowMs);
    const group = this.groups.get(groupId);
    if (group === undefined) return { errorCode: ErrorCode.UNKNOWN_MEMBER_ID };
    const memberError = group.validateCurrentMember(input.memberId, input.groupInstanceId);
    if (memberError !== ErrorCode.NONE) return { errorCode: memberError };
    if (input.generationId !== group.generationId) return { errorCode: ErrorCode.ILLEGAL_GENERATION };
    switch (group.state) {
      case "Empty":
      case "Dead":
        return { errorCode: ErrorCode.UNKNOWN_MEMBER_ID };
      case "PreparingRebalance":
        this.scheduleHeartbeat(group.get(input.memberId));
        return { errorCode: ErrorCode.REBALANCE_IN_PROGRESS };
      case "CompletingRebalance":
      case "Stable":
        this.scheduleHeartbeat(group.get(input.memberId));
        return { errorCode: ErrorCode.NONE };
    }
  }

  /** LeaveGroup (batched from v3): a member id of "" removes the static member by instance id. */
  leave(groupId: string, members: LeavingMember[], nowMs: number): LeaveResponse {
    this.advanceTo(nowMs);
    const group = this.groups.get(groupId);
    const results = members.map((leaving) => ({
      memberId: leaving.memberId,
      groupInstanceId: leaving.groupInstanceId,
      errorCode: group === undefined ? ErrorCode.UNKNOWN_MEMBER_ID : this.leaveOne(group, leaving),
    }));
    return { errorCode: ErrorCode.NONE, members: results };
  }

  commitOffsets(groupId: string, input: OffsetCommitInput, nowMs: number): { topics: TopicPartitionResults[] } {
    this.advanceTo(nowMs);
    let group = this.groups.get(groupId);
    if (group === undefined) {
      // Only a commit outside group management may create a group; others come from a stale generation.
      if (input.generationId >= 0) return { topics: this.offsetStore.allFailed(input, ErrorCode.ILLEGAL_GENERATION) };
      group = this.getOrCreateGroup(groupId);
    }
    const error = validateOffsetCommit(group, input);
    if (error !== ErrorCode.NONE) return { topics: this.offsetStore.allFailed(input, error) };
    if (group.state === "Stable" || group.state === "PreparingRebalance") this.scheduleHeartbeat(group.get(input.memberId));
    return { topics: this.offsetStore.commit(group, input, this.nowMs) };
  }

  /** OffsetFetch; topics null means every committed offset of the group. */
  fetchOffsets(groupId: string, topics: { name: string; partitionIndexes: number[] }[] | null): OffsetFetchResponse {
    return this.offsetStore.fetch(this.groups.get(groupId), topics);
  }

  deleteOffsets(groupId: string, topics: { name: string; partitionIndexes: number[] }[], nowMs: number): OffsetDeleteResponse {
    this.advanceTo(nowMs);
    const group = this.groups.get(groupId);
    if (group === undefined) return { errorCode: ErrorCode.GROUP_ID_NOT_FOUND, topics: [] };
    return this.offsetStore.delete(group, topics);
  }

  /** ListGroups; an empty filter lists every state. States match case-insensitively, as Kafka's do. */
  listGroups(statesFilter: string[]): ListedGroup[] {
    const wanted = new Set(statesFilter.map((state) => state.toLowerCase()));
    const listed: ListedGroup[] = [];
    for (const group of this.groups.values()) {
      if (wanted.size > 0 && !wanted.has(group.state.toLowerCase())) continue;
      listed.push({ groupId: group.groupId, protocolType: group.protocolType ?? "", groupState: group.state });
    }
    return listed;
  }

  /** DescribeGroups; an unknown group is described as Dead with no error, as Kafka does below v6. */
  describeGroups(groupIds: string[]): DescribedGroup[] {
    return groupIds.map((groupId) => {
      const group = this.groups.get(groupId);
      return group === undefined ? deadGroup(groupId, ErrorCode.NONE) : describeGroup(group);
    });
  }

  /** DeleteGroups: only Empty groups go, with their offsets. */
  deleteGroups(groupIds: string[], nowMs: number): { groupId: string; errorCode: number }[] {
    this.advanceTo(nowMs);
    return groupIds.map((groupId) => {
      const group = this.groups.get(groupId);
      if (group === undefined) return { groupId, errorCode: ErrorCode.GROUP_ID_NOT_FOUND };
      if (group.state !== "Empty") return { groupId, errorCode: ErrorCode.NON_EMPTY_GROUP };
      this.deleteGroup(group);
      return { groupId, errorCode: ErrorCode.NONE };
    });
  }

  /** The state of a group for tests and metrics; null when it does not exist. */
  groupState(groupId: string): { state: GroupState; generationId: number; leaderId: string | null; memberIds: string[] } | null {
    const group = this.groups.get(groupId);
    if (group === undefined) return null;
    return { state: group.state, generationId: group.generationId, leaderId: group.leaderId, memberIds: [...group.members.keys()] };
  }

  /** Throws if a cross-field invariant is broken; the simulation test calls it after every step. */
  checkInvariants(): void {
    if (this.timersDueNotBeforeMs > this.earliestDeadlineMs()) {
      throw new Error(`timer bound ${this.timersDueNotBeforeMs} is past the earliest deadline ${this.earliestDeadlineMs()}`);
    }
    for (const group of this.groups.values()) group.checkInvariants();
  }

  private advanceTo(nowMs: number): void {
    if (!Number.isFinite(nowMs)) throw new Error(`nowMs must be finite, got ${nowMs}`);
    // A wall clock may step back; time inside the core never does.
    this.nowMs = Math.max(this.nowMs, nowMs);
    if (this.nowMs < this.timersDueNotBeforeMs) return;
    for (const group of [...this.groups.values()]) this.fireDueTimers(group);
    if (this.nowMs >= this.nextRetentionCheckMs) {
      this.nextRetentionCheckMs = this.nowMs + this.config.offsetsRetentionCheckIntervalMs;
      this.sweepExpiredOffsets();
    }
    this.timersDueNotBeforeMs = this.earliestDeadlineMs();
  }

  private fireDueTimers(group: ClassicGroup): void {
    const now = this.nowMs;
    for (let firings = 0; ; firings++) {
      if (firings > MAX_TIMER_FIRINGS_PER_GROUP) throw new Error(`group ${group.groupId}: timers keep firing at ${now}`);
      const pending = [...group.pendingMembers].find(([, deadlineMs]) => deadlineMs <= now);
      if (pending !== undefined) {
        group.pendingMembers.delete(pending[0]);
        if (group.state === "PreparingRebalance") this.tryCompleteJoin(group);
        continue;
      }
      const expired = [...group.members.values()].find((member) => member.heartbeatDeadlineMs <= now);
      if (expired !== undefined) {
        const awaiting = expired.joinToken !== null || expired.syncToken !== null;
        // A member waiting on the group owes no heartbeat; the rebalance timeout bounds its wait instead.
        if (awaiting && !expired.isNew) expired.heartbeatDeadlineMs = Infinity;
        else this.removeMemberAndUpdateGroup(group, expired);
        continue;
      }
      if (group.joinDeadlineMs !== null && group.joinDeadlineMs <= now) {
        this.onJoinDeadline(group);
        continue;
      }
      if (group.syncDeadlineMs !== null && group.syncDeadlineMs <= now) {
        this.expirePendingSync(group);
        continue;
      }
      return;
    }
  }

  private sweepExpiredOffsets(): void {
    for (const group of [...this.groups.values()]) {
      this.offsetStore.removeExpired(group, this.nowMs);
      if (group.state === "Empty" && !group.hasOffsets()) this.deleteGroup(group);
    }
  }

  private deleteGroup(group: ClassicGroup): void {
    if (group.state !== "Empty") throw new Error(`group ${group.groupId}: deleting a ${group.state} group`);
    group.transitionTo("Dead", this.nowMs);
    this.groups.delete(group.groupId);
    this.records.push({ type: "group-deleted", groupId: group.groupId });
  }

  private getOrCreateGroup(groupId: string): ClassicGroup {
    let group = this.groups.get(groupId);
    if (group === undefined) {
      group = new ClassicGroup(groupId, this.nowMs);
      this.groups.set(groupId, group);
    }
    return group;
  }

  private acceptJoiningMember(group: ClassicGroup, memberId: string): boolean {
    switch (group.state) {
      case "Empty":
      case "Dead":
        return true;
      // Counting awaiting members rather than all lets the last members to rejoin be the ones turned away.
      case "PreparingRebalance": {
        const member = group.members.get(memberId);
        return (member !== undefined && member.joinToken !== null) || group.numAwaitingJoin() < this.config.maxGroupSize;
      }
      case "CompletingRebalance":
      case "Stable":
        return group.has(memberId) || group.members.size < this.config.maxGroupSize;
    }
  }

  private newMemberJoin(group: ClassicGroup, input: JoinInput, token: Token): void {
    const newMemberId = `${input.clientId}-${this.generateUuid()}`;
    if (group.members.has(newMemberId) || group.pendingMembers.has(newMemberId)) {
      throw new Error(`generated member id ${newMemberId} is not unique`);
    }
    if (input.groupInstanceId !== null) {
      const oldMemberId = group.staticMembers.get(input.groupInstanceId);
      if (oldMemberId !== undefined) this.updateStaticMemberAndRebalance(group, oldMemberId, newMemberId, input, token);
      else this.addMemberAndRebalance(group, newMemberId, input, token);
    } else if (input.apiVersion >= 4) {
      group.pendingMembers.set(newMemberId, this.arm(this.nowMs + input.sessionTimeoutMs));
      this.completions.push({
        kind: "join",
        groupId: group.groupId,
        token,
        response: joinError(newMemberId, ErrorCode.MEMBER_ID_REQUIRED),
      });
    } else {
      this.addMemberAndRebalance(group, newMemberId, input, token);
    }
  }

  private currentMemberJoin(group: ClassicGroup, input: JoinInput, token: Token): void {
    const answer = (response: JoinResponse): void => {
      this.completions.push({ kind: "join", groupId: group.groupId, token, response });
    };
    if (group.pendingMembers.has(input.memberId)) {
      if (input.groupInstanceId !== null) throw new Error("a pending member cannot be static");
      this.addMemberAndRebalance(group, input.memberId, input, token);
      return;
    }
    const memberError = group.validateCurrentMember(input.memberId, input.groupInstanceId);
    if (memberError !== ErrorCode.NONE) return answer(joinError(input.memberId, memberError));
    const member = group.get(input.memberId);
    switch (group.state) {
      case "PreparingRebalance":
        return this.updateMemberAndRebalance(group, member, input, token);
      case "CompletingRebalance":
        // Same metadata: the member missed its JoinGroup answer, so it gets this generation's again.
        if (protocolsMatch(member.protocols, input.protocols)) return answer(this.currentGenerationJoin(group, member, group.isLeader(member.memberId)));
        return this.updateMemberAndRebalance(group, member, input, token);
      case "Stable":
        // A leader's rejoin forces a rebalance: it may have seen metadata changes the members have not.
        if (group.isLeader(member.memberId) || !protocolsMatch(member.protocols, input.protocols)) {
          return this.updateMemberAndRebalance(group, member, input, token);
        }
        return answer(this.currentGenerationJoin(group, member, false));
      case "Empty":
      case "Dead":
        return answer(joinError(input.memberId, ErrorCode.UNKNOWN_MEMBER_ID));
    }
  }

  private currentGenerationJoin(group: ClassicGroup, member: Member, withMembers: boolean): JoinResponse {
    return {
      errorCode: ErrorCode.NONE,
      generationId: group.generationId,
      protocolType: group.protocolType,
      protocolName: group.protocolName,
      leader: group.leaderId ?? "",
      skipAssignment: false,
      memberId: member.memberId,
      members: withMembers ? group.currentMemberMetadata() : [],
    };
  }

  private addMemberAndRebalance(group: ClassicGroup, memberId: string, input: JoinInput, token: Token): void {
    const member: Member = {
      memberId,
      groupInstanceId: input.groupInstanceId,
      clientId: input.clientId,
      clientHost: input.clientHost,
      rebalanceTimeoutMs: input.rebalanceTimeoutMs,
      sessionTimeoutMs: input.sessionTimeoutMs,
      protocolType: input.protocolType,
      protocols: input.protocols,
      assignment: EMPTY_BYTES,
      joinToken: token,
      syncToken: null,
      isNew: true,
      // A new member cannot heartbeat before its first answer; bound its wait by the join timeout.
      heartbeatDeadlineMs: this.arm(this.nowMs + this.config.newMemberJoinTimeoutMs),
    };
    // More members arriving while the first generation forms extends the initial delay.
    if (group.state === "PreparingRebalance" && group.generationId === 0) group.newMemberAdded = true;
    group.add(member);
    this.maybePrepareRebalance(group);
  }

  private updateMemberAndRebalance(group: ClassicGroup, member: Member, input: JoinInput, token: Token): void {
    this.updateMember(group, member, input, token);
    this.maybePrepareRebalance(group);
  }

  private updateMember(group: ClassicGroup, member: Member, input: JoinInput, token: Token): void {
    // A client has one JoinGroup in flight; an older one still waiting belongs to a dead connection.
    if (member.joinToken !== null) this.answerJoin(group, member, joinError(member.memberId, ErrorCode.REBALANCE_IN_PROGRESS));
    member.protocols = input.protocols;
    member.rebalanceTimeoutMs = input.rebalanceTimeoutMs;
    member.sessionTimeoutMs = input.sessionTimeoutMs;
    member.joinToken = token;
  }

  private updateStaticMemberAndRebalance(
    group: ClassicGroup,
    oldMemberId: string,
    newMemberId: string,
    input: JoinInput,
    token: Token,
  ): void {
    const previousLeaderId = group.leaderId;
    const old = group.get(oldMemberId);
    // The old incarnation is fenced at once if it still waits on the group.
    if (old.joinToken !== null) this.answerJoin(group, old, joinError(oldMemberId, ErrorCode.FENCED_INSTANCE_ID));
    if (old.syncToken !== null) this.answerSync(group, old, ErrorCode.FENCED_INSTANCE_ID);
    const member = group.replaceStaticMember(input.groupInstanceId!, oldMemberId, newMemberId);
    member.clientId = input.clientId;
    member.clientHost = input.clientHost;
    this.scheduleHeartbeat(member);
    this.updateMember(group, member, input, token);
    switch (group.state) {
      case "Stable": {
        if (group.protocolName === group.selectProtocol()) {
          // Nothing changed for the group: answer with the current generation and no rebalance. A
          // leader that cannot skip the assignment (below v9) is told the old leader id, so it
          // does not compute an assignment a Stable group would never hand out.
          const canSkipAssignment = input.apiVersion >= 9 && group.isLeader(newMemberId);
          const response: JoinResponse = {
            ...this.currentGenerationJoin(group, member, canSkipAssignment),
            leader: canSkipAssignment ? newMemberId : (previousLeaderId ?? ""),
            skipAssignment: canSkipAssignment,
          };
          this.answerJoin(group, member, response);
          this.scheduleHeartbeat(member);
          // The record names the new member id: a coordinator that takes over must not fence it.
          this.recordGeneration(group);
        } else {
          this.maybePrepareRebalance(group);
        }
        return;
      }
      case "CompletingRebalance":
        // The leader may be assigning to the old member id; only a new rebalance makes it consistent.
        this.prepareRebalance(group);
        return;
      case "PreparingRebalance":
        return;
      case "Empty":
      case "Dead":
        throw new Error(`group ${group.groupId}: a static member in a ${group.state} group`);
    }
  }

  private maybePrepareRebalance(group: ClassicGroup): void {
    if (group.state === "Stable" || group.state === "CompletingRebalance" || group.state === "Empty") this.prepareRebalance(group);
  }

  private prepareRebalance(group: ClassicGroup): void {
    if (group.state === "CompletingRebalance") this.resetAndPropagateAssignmentError(group, ErrorCode.REBALANCE_IN_PROGRESS);
    group.pendingSyncMembers.clear();
    group.syncDeadlineMs = null;
    const rebalanceTimeoutMs = group.rebalanceTimeoutMs();
    if (group.state === "Empty") {
      const delayMs = this.config.initialRebalanceDelayMs;
      group.initialJoinDelay = { delayMs, remainingMs: Math.max(rebalanceTimeoutMs - delayMs, 0) };
      group.newMemberAdded = false;
      group.joinDeadlineMs = this.arm(this.nowMs + delayMs);
    } else {
      group.initialJoinDelay = null;
      group.joinDeadlineMs = this.arm(this.nowMs + rebalanceTimeoutMs);
    }
    group.transitionTo("PreparingRebalance", this.nowMs);
    this.tryCompleteJoin(group);
  }

  /** Completes the rebalance early once every member has rejoined; never during the initial delay. */
  private tryCompleteJoin(group: ClassicGroup): void {
    if (group.state !== "PreparingRebalance" || group.initialJoinDelay !== null) return;
    if (group.hasAllMembersJoined()) this.completeJoin(group);
  }

  private onJoinDeadline(group: ClassicGroup): void {
    const delay = group.initialJoinDelay;
    if (delay !== null && group.newMemberAdded && delay.remainingMs !== 0) {
      group.newMemberAdded = false;
      const nextDelayMs = Math.min(this.config.initialRebalanceDelayMs, delay.remainingMs);
      group.initialJoinDelay = { delayMs: nextDelayMs, remainingMs: Math.max(delay.remainingMs - delay.delayMs, 0) };
      group.joinDeadlineMs = this.arm(this.nowMs + nextDelayMs);
      return;
    }
    this.completeJoin(group);
  }

  private completeJoin(group: ClassicGroup): void {
    if (group.state !== "PreparingRebalance") throw new Error(`group ${group.groupId}: completing a join while ${group.state}`);
    group.initialJoinDelay = null;
    group.joinDeadlineMs = null;
    // Dynamic members that did not rejoin in time are dropped; static ones keep their place.
    for (const member of [...group.members.values()]) {
      if (member.joinToken === null && member.groupInstanceId === null) group.remove(member.memberId);
    }
    if (!group.maybeElectNewJoinedLeader() && group.members.size > 0) {
      // Nobody rejoined: wait another rebalance timeout while session timeouts clear the group.
      group.joinDeadlineMs = this.arm(this.nowMs + group.rebalanceTimeoutMs());
      return;
    }
    group.generationId += 1;
    const hasMembers = group.members.size > 0;
    if (hasMembers) {
      group.protocolName = group.selectProtocol();
      group.subscribedTopics = group.computeSubscribedTopics();
      group.transitionTo("CompletingRebalance", this.nowMs);
    } else {
      group.protocolName = null;
      group.subscribedTopics = group.computeSubscribedTopics();
      group.transitionTo("Empty", this.nowMs);
    }
    group.pendingSyncMembers.clear();
    this.recordGeneration(group);
    if (!hasMembers) return;
    for (const member of group.members.values()) {
      if (member.joinToken !== null) {
        this.answerJoin(group, member, this.currentGenerationJoin(group, member, group.isLeader(member.memberId)));
      }
      this.scheduleHeartbeat(member);
      member.isNew = false;
      group.pendingSyncMembers.add(member.memberId);
    }
    group.syncDeadlineMs = this.arm(this.nowMs + group.rebalanceTimeoutMs());
  }

  private expirePendingSync(group: ClassicGroup): void {
    group.syncDeadlineMs = null;
    if (group.state !== "CompletingRebalance" && group.state !== "Stable") return;
    if (group.pendingSyncMembers.size === 0) return;
    for (const memberId of [...group.pendingSyncMembers]) {
      const member = group.get(memberId);
      if (member.syncToken !== null) throw new Error(`group ${group.groupId}: member ${memberId} synced but is pending`);
      group.remove(memberId);
    }
    this.prepareRebalance(group);
  }

  private removePendingSyncMember(group: ClassicGroup, memberId: string): void {
    group.pendingSyncMembers.delete(memberId);
    if (group.pendingSyncMembers.size === 0) group.syncDeadlineMs = null;
  }

  private leaveOne(group: ClassicGroup, leaving: LeavingMember): number {
    if (leaving.memberId === "") {
      const memberId = leaving.groupInstanceId === null ? undefined : group.staticMembers.get(leaving.groupInstanceId);
      if (memberId === undefined) return ErrorCode.UNKNOWN_MEMBER_ID;
      this.removeMemberAndUpdateGroup(group, group.get(memberId));
      return ErrorCode.NONE;
    }
    if (group.pendingMembers.has(leaving.memberId)) {
      group.pendingMembers.delete(leaving.memberId);
      if (group.state === "PreparingRebalance") this.tryCompleteJoin(group);
      return ErrorCode.NONE;
    }
    const memberError = group.validateCurrentMember(leaving.memberId, leaving.groupInstanceId);
    if (memberError !== ErrorCode.NONE) return memberError;
    this.removeMemberAndUpdateGroup(group, group.get(leaving.memberId));
    return ErrorCode.NONE;
  }

  private removeMemberAndUpdateGroup(group: ClassicGroup, member: Member): void {
    // A removed member still waiting is told it is unknown, so a live client rejoins.
    if (member.joinToken !== null) this.answerJoin(group, member, joinError("", ErrorCode.UNKNOWN_MEMBER_ID));
    if (member.syncToken !== null) this.answerSync(group, member, ErrorCode.UNKNOWN_MEMBER_ID);
    group.remove(member.memberId);
    if (group.pendingSyncMembers.size === 0) group.syncDeadlineMs = null;
    switch (group.state) {
      case "Stable":
      case "CompletingRebalance":
        this.maybePrepareRebalance(group);
        return;
      case "PreparingRebalance":
        this.tryCompleteJoin(group);
        return;
      case "Empty":
      case "Dead":
        return;
    }
  }

  private resetAndPropagateAssignmentError(group: ClassicGroup, errorCode: number): void {
    for (const member of group.members.values()) member.assignment = EMPTY_BYTES;
    this.propagateAssignment(group, errorCode);
  }

  private propagateAssignment(group: ClassicGroup, errorCode: number): void {
    for (const member of group.members.values()) {
      if (member.syncToken === null) continue;
      this.completions.push({
        kind: "sync",
        groupId: group.groupId,
        token: member.syncToken,
        response: { errorCode, protocolType: group.protocolType, protocolName: group.protocolName, assignment: member.assignment },
      });
      member.syncToken = null;
      this.scheduleHeartbeat(member);
    }
  }

  private answerJoin(group: ClassicGroup, member: Member, response: JoinResponse): void {
    if (member.joinToken === null) throw new Error(`member ${member.memberId} has no join to answer`);
    this.completions.push({ kind: "join", groupId: group.groupId, token: member.joinToken, response });
    member.joinToken = null;
  }

  private answerSync(group: ClassicGroup, member: Member, errorCode: number): void {
    if (member.syncToken === null) throw new Error(`member ${member.memberId} has no sync to answer`);
    this.completions.push({ kind: "sync", groupId: group.groupId, token: member.syncToken, response: syncError(errorCode, group) });
    member.syncToken = null;
  }

  /** The group's generation record; a Stable group's carries its members and assignments. */
  private recordGeneration(group: ClassicGroup): void {
    const hasMembers = group.members.size > 0;
    this.records.push({
      type: "group",
      groupId: group.groupId,
      protocolType: group.protocolType,
      generationId: group.generationId,
      emptySinceMs: hasMembers ? null : this.nowMs,
      ...(group.state === "Stable" ? { stable: stableGenerationOf(group) } : {}),
    });
  }

  private scheduleHeartbeat(member: Member): void {
    member.heartbeatDeadlineMs = this.arm(this.nowMs + member.sessionTimeoutMs);
  }

  private arm(deadlineMs: number): number {
    this.timersDueNotBeforeMs = Math.min(this.timersDueNotBeforeMs, deadlineMs);
    return deadlineMs;
  }
}
