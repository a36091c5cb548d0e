/**
 * One classic consumer group's membership: members, static instance ids, protocol votes, leader,
 * generation, and the deadlines of its delayed operations. Kafka's GroupMetadata/ClassicGroup.
 * Pure data plus invariant-keeping mutators; the protocol decisions live in coordinator.ts.
 */
import { decodeSubscriptionTopics } from "./consumer-protocol.ts";
import { ErrorCode } from "../protocol/error-codes.ts";
import type { DescribedGroup, GroupState, JoinMember, JoinResponse, Protocol, StableGeneration, StableMember, SyncResponse, Token } from "./types.ts";

export const CONSUMER_PROTOCOL_TYPE = "consumer";

/** A member: what a Stable generation's record keeps of it, and its requests and timers here. */
export interface Member extends StableMember {
  protocolType: string;
  /** The JoinGroup waiting for the rebalance to complete; non-null means "awaiting join". */
  joinToken: Token | null;
  /** The SyncGroup waiting for the leader's assignment; non-null means "awaiting sync". */
  syncToken: Token | null;
  /** Joined during the current rebalance and never answered: expires by the new-member join timeout. */
  isNew: boolean;
  /** When the member is expired unless it heartbeats, syncs or joins first; Infinity when none runs. */
  heartbeatDeadlineMs: number;
}

export interface CommittedOffset {
  offset: number;
  leaderEpoch: number;
  metadata: string;
  commitTimestampMs: number;
}

/** The initial rebalance delay in progress: extended while new members keep arriving (Kafka's InitialDelayedJoin). */
export interface InitialJoinDelay {
  delayMs: number;
  remainingMs: number;
}

export class ClassicGroup {
  state: GroupState = "Empty";
  generationId = 0;
  protocolType: string | null = null;
  protocolName: string | null = null;
  leaderId: string | null = null;
  /** Insertion-ordered: the first remaining member becomes leader when the leader leaves. */
  readonly members = new Map<string, Member>();
  readonly staticMembers = new Map<string, string>();
  /** Member ids handed out with MEMBER_ID_REQUIRED, with the time they expire unless they rejoin. */
  readonly pendingMembers = new Map<string, number>();
  /** Members of this generation that have not sent SyncGroup yet. */
  readonly pendingSyncMembers = new Set<string>();
  syncDeadlineMs: number | null = null;
  joinDeadlineMs: number | null = null;
  initialJoinDelay: InitialJoinDelay | null = null;
  newMemberAdded = false;
  stateTimestampMs: number;
  /** Topics the members subscribe to, when the protocol is "consumer" and the metadata parses. */
  subscribedTopics: Set<string> | null = null;
  readonly offsets = new Map<string, Map<number, CommittedOffset>>();

  constructor(
    readonly groupId: string,
    nowMs: number,
  ) {
    this.stateTimestampMs = nowMs;
  }

  transitionTo(state: GroupState, nowMs: number): void {
    const allowedFrom: Record<GroupState, GroupState[]> = {
      Empty: ["PreparingRebalance"],
      PreparingRebalance: ["Stable", "CompletingRebalance", "Empty"],
      CompletingRebalance: ["PreparingRebalance"],
      Stable: ["CompletingRebalance"],
      Dead: ["Stable", "PreparingRebalance", "CompletingRebalance", "Empty", "Dead"],
    };
    if (!allowedFrom[state].includes(this.state)) {
      throw new Error(`group ${this.groupId}: illegal transition ${this.state} -> ${state}`);
    }
    this.state = state;
    this.stateTimestampMs = nowMs;
  }

  has(memberId: string): boolean {
    return this.members.has(memberId);
  }

  get(memberId: string): Member {
    const member = this.members.get(memberId);
    if (member === undefined) throw new Error(`group ${this.groupId}: no member ${memberId}`);
    return member;
  }

  /** Kafka's validateCurrentMember: a static member must map to this member id; a dynamic one must exist. */
  validateCurrentMember(memberId: string, groupInstanceId: string | null): number {
    if (groupInstanceId !== null) {
      const currentMemberId = this.staticMembers.get(groupInstanceId);
      if (currentMemberId === memberId) return ErrorCode.NONE;
      return currentMemberId === undefined ? ErrorCode.UNKNOWN_MEMBER_ID : ErrorCode.FENCED_INSTANCE_ID;
    }
    return this.members.has(memberId) ? ErrorCode.NONE : ErrorCode.UNKNOWN_MEMBER_ID;
  }

  isLeader(memberId: string): boolean {
    return this.leaderId === memberId;
  }

  numAwaitingJoin(): number {
    let count = 0;
    for (const member of this.members.values()) if (member.joinToken !== null) count++;
    return count;
  }

  hasAllMembersJoined(): boolean {
    return this.numAwaitingJoin() === this.members.size && this.pendingMembers.size === 0;
  }

  /** The largest rebalance timeout of the members: how long a rebalance waits for rejoins. */
  rebalanceTimeoutMs(): number {
    let timeoutMs = 0;
    for (const member of this.members.values()) timeoutMs = Math.max(timeoutMs, member.rebalanceTimeoutMs);
    return timeoutMs;
  }

  /** How many members support each protocol name. */
  protocolVotes(): Map<string, number> {
    const votes = new Map<string, number>();
    for (const member of this.members.values()) {
      for (const protocol of member.protocols) votes.set(protocol.name, (votes.get(protocol.name) ?? 0) + 1);
    }
    return votes;
  }

  supportsProtocols(memberProtocolType: string, memberProtocols: Protocol[]): boolean {
    if (this.state === "Empty") return memberProtocolType !== "" && memberProtocols.length > 0;
    if (this.protocolType !== memberProtocolType) return false;
    const votes = this.protocolVotes();
    // A group whose members all left during a rebalance accepts any protocol of its type.
    return memberProtocols.some((protocol) => (votes.get(protocol.name) ?? 0) === this.members.size);
  }

  /**
   * The protocol every member supports, chosen by votes: each member votes for its most preferred
   * candidate. Ties go to the candidate voted for first in member order, to stay deterministic.
   */
  selectProtocol(): string {
    if (this.members.size === 0) throw new Error(`group ${this.groupId}: selecting a protocol without members`);
    const votes = this.protocolVotes();
    const candidates = new Set<string>();
    for (const [name, count] of votes) if (count === this.members.size) candidates.add(name);
    const ballots = new Map<string, number>();
    for (const member of this.members.values()) {
      const choice = member.protocols.find((protocol) => candidates.has(protocol.name));
      if (choice === undefined) throw new Error(`group ${this.groupId}: member ${member.memberId} has no common protocol`);
      ballots.set(choice.name, (ballots.get(choice.name) ?? 0) + 1);
    }
    let best: string | null = null;
    let bestCount = 0;
    for (const [name, count] of ballots) {
      if (count > bestCount) {
        best = name;
        bestCount = count;
      }
    }
    if (best === null) throw new Error(`group ${this.groupId}: no protocol selected`);
    return best;
  }

  add(member: Member): void {
    if (this.members.has(member.memberId)) throw new Error(`group ${this.groupId}: member ${member.memberId} added twice`);
    if (member.groupInstanceId !== null) {
      if (this.staticMembers.has(member.groupInstanceId)) {
        throw new Error(`group ${this.groupId}: instance ${member.groupInstanceId} added twice`);
      }
      this.staticMembers.set(member.groupInstanceId, member.memberId);
    }
    if (this.members.size === 0) this.protocolType = member.protocolType;
    if (this.protocolType !== member.protocolType || !this.supportsProtocols(member.protocolType, member.protocols)) {
      throw new Error(`group ${this.groupId}: member ${member.memberId} added with an unsupported protocol`);
    }
    if (this.leaderId === null) this.leaderId = member.memberId;
    this.members.set(member.memberId, member);
    this.pendingMembers.delete(member.memberId);
  }

  /** Removes a member; the caller has answered its pending join/sync requests already. */
  remove(memberId: string): void {
    const member = this.members.get(memberId);
    if (member !== undefined) {
      if (member.joinToken !== null || member.syncToken !== null) {
        throw new Error(`group ${this.groupId}: removing member ${memberId} with an unanswered request`);
      }
      this.members.delete(memberId);
      if (member.groupInstanceId !== null) this.staticMembers.delete(member.groupInstanceId);
    }
    if (this.leaderId === memberId) {
      const next = this.members.keys().next();
      this.leaderId = next.done ? null : next.value;
    }
    this.pendingMembers.delete(memberId);
    this.pendingSyncMembers.delete(memberId);
  }

  /** Moves a static member to a new member id; the caller has answered the old id's pending requests. */
  replaceStaticMember(groupInstanceId: string, oldMemberId: string, newMemberId: string): Member {
    const member = this.get(oldMemberId);
    if (member.joinToken !== null || member.syncToken !== null) {
      throw new Error(`group ${this.groupId}: replacing member ${oldMemberId} with an unanswered request`);
    }
    this.members.delete(oldMemberId);
    member.memberId = newMemberId;
    this.members.set(newMemberId, member);
    if (this.leaderId === oldMemberId) this.leaderId = newMemberId;
    if (this.pendingSyncMembers.delete(oldMemberId)) this.pendingSyncMembers.add(newMemberId);
    this.staticMembers.set(groupInstanceId, newMemberId);
    return member;
  }

  /** If the leader has not rejoined, hand leadership to a member that has; false when none has. */
  maybeElectNewJoinedLeader(): boolean {
    if (this.leaderId === null) return false;
    if (this.get(this.leaderId).joinToken !== null) return true;
    for (const member of this.members.values()) {
      if (member.joinToken !== null) {
        this.leaderId = member.memberId;
        return true;
      }
    }
    return false;
  }

  currentMemberMetadata(): JoinMember[] {
    const protocolName = this.protocolName;
    if (protocolName === null) throw new Error(`group ${this.groupId}: member metadata without a protocol`);
    return [...this.members.values()].map((member) => ({
      memberId: member.memberId,
      groupInstanceId: member.groupInstanceId,
      metadata: memberMetadata(member, protocolName),
    }));
  }

  computeSubscribedTopics(): Set<string> | null {
    if (this.protocolType !== CONSUMER_PROTOCOL_TYPE) return null;
    if (this.members.size === 0) return new Set();
    if (this.protocolName === null) return null;
    const topics = new Set<string>();
    for (const member of this.members.values()) {
      const memberTopics = decodeSubscriptionTopics(memberMetadata(member, this.protocolName));
      if (memberTopics === null) return null;
      for (const topic of memberTopics) topics.add(topic);
    }
    return topics;
  }

  isSubscribedToTopic(topic: string): boolean {
    return this.subscribedTopics !== null && this.subscribedTopics.has(topic);
  }

  hasOffsets(): boolean {
    return this.offsets.size > 0;
  }
  /** Throws if a cross-field invariant is broken. */
  checkInvariants(): void {
    const assert = (ok: boolean, what: string) => {
      if (!ok) throw new Error(`group ${this.groupId} (${this.state}, generation ${this.generationId}): ${what}`);
    };
    assert((this.members.size === 0) === (this.leaderId === null), "a leader exactly when there are members");
    assert(this.leaderId === null || this.members.has(this.leaderId), "the leader is a member");
    assert(this.state !== "Empty" || this.members.size === 0, "an Empty group has no members");
    assert(this.state !== "Dead", "a Dead group is not kept");
    assert((this.state === "PreparingRebalance") === (this.joinDeadlineMs !== null), "a join timer exactly while preparing");
    assert(this.initialJoinDelay === null || this.state === "PreparingRebalance", "an initial delay only while preparing");
    for (const [instanceId, memberId] of this.staticMembers) {
      assert(this.members.get(memberId)?.groupInstanceId === instanceId, `static member ${instanceId} maps to its member`);
    }
    for (const memberId of this.pendingSyncMembers) assert(this.members.has(memberId), "pending sync members are members");
    for (const memberId of this.pendingMembers.keys()) assert(!this.members.has(memberId), "pending members are not members");
    const generationFormed = this.state === "CompletingRebalance" || this.state === "Stable";
    assert(!generationFormed || this.protocolName !== null, "a formed generation has a protocol");
    for (const member of this.members.values()) {
      const prefix = `member ${member.memberId}`;
      assert(member.joinToken === null || this.state === "PreparingRebalance", `${prefix} awaits join only while preparing`);
      assert(member.syncToken === null || this.state === "CompletingRebalance", `${prefix} awaits sync only while completing`);
      if (generationFormed) memberMetadata(member, this.protocolName!);
    }
  }
}

export function memberMetadata(member: Member, protocolName: string): Uint8Array {
  const protocol = member.protocols.find((candidate) => candidate.name === protocolName);
  if (protocol === undefined) throw new Error(`member ${member.memberId} does not support ${protocolName}`);
  return protocol.metadata;
}

export function protocolsMatch(a: Protocol[], b: Protocol[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    const left = a[i]!;
    const right = b[i]!;
    if (left.name !== right.name || !bytesEqual(left.metadata, right.metadata)) return false;
  }
  return true;
}

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) return false;
  for (let i = 0; i < a.byteLength; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** DescribeGroups' answer for a group that is not here: Dead, with `errorCode` (NONE below v6, as Kafka answers). */
export function deadGroup(groupId: string, errorCode: number): DescribedGroup {
  return { groupId, errorCode, groupState: "Dead", protocolType: "", protocolData: "", members: [] };
}

/** DescribeGroups' view of a group: member metadata and assignments only while it is Stable. */
export function describeGroup(group: ClassicGroup): DescribedGroup {
  const protocolName = group.state === "Stable" ? group.protocolName : null;
  return {
    groupId: group.groupId,
    errorCode: ErrorCode.NONE,
    groupState: group.state,
    protocolType: group.protocolType ?? "",
    protocolData: protocolName ?? "",
    members: [...group.members.values()].map((member) => ({
      memberId: member.memberId,
      groupInstanceId: member.groupInstanceId,
      clientId: member.clientId,
      clientHost: member.clientHost,
      memberMetadata: protocolName !== null ? memberMetadata(member, protocolName) : EMPTY_ASSIGNMENT,
      memberAssignment: protocolName !== null ? member.assignment : EMPTY_ASSIGNMENT,
    })),
  };
}

/** The members of a Stable group and their assignments, for its group record. */
export function stableGenerationOf(group: ClassicGroup): StableGeneration {
  if (group.state !== "Stable" || group.protocolName === null || group.leaderId === null) throw new Error(`group ${group.groupId} is not Stable`);
  const members = [...group.members.values()].map((m) => ({
    memberId: m.memberId,
    groupInstanceId: m.groupInstanceId,
    clientId: m.clientId,
    clientHost: m.clientHost,
    rebalanceTimeoutMs: m.rebalanceTimeoutMs,
    sessionTimeoutMs: m.sessionTimeoutMs,
    protocols: m.protocols,
    assignment: m.assignment,
  }));
  return { protocolName: group.protocolName, leaderId: group.leaderId, members };
}

/** Puts a recorded Stable generation's members back into an Empty group; the caller starts their session timers. */
export function restoreStableGeneration(group: ClassicGroup, stable: StableGeneration, nowMs: number): Member[] {
  if (group.members.size > 0 || group.state !== "Empty") throw new Error(`group ${group.groupId}: restoring members into a group that has some`);
  const protocolType = group.protocolType;
  if (protocolType === null) throw new Error(`group ${group.groupId}: a Stable generation without a protocol type`);
  const members = stable.members.map((m): Member => ({ ...m, protocolType, joinToken: null, syncToken: null, isNew: false, heartbeatDeadlineMs: Infinity }));
  for (const member of members) group.add(member);
  group.leaderId = stable.leaderId;
  group.protocolName = stable.protocolName;
  group.subscribedTopics = group.computeSubscribedTopics();
  // Empty -> PreparingRebalance -> CompletingRebalance -> Stable: the path the generation took.
  group.transitionTo("PreparingRebalance", nowMs);
  group.transitionTo("CompletingRebalance", nowMs);
  group.transitionTo("Stable", nowMs);
  return members;
}

export function joinError(memberId: string, errorCode: number): JoinResponse {
  return { errorCode, generationId: -1, protocolType: null, protocolName: null, leader: "", skipAssignment: false, memberId, members: [] };
}

/** A SyncGroup answer that carries only an error, with the group's protocol when it is known. */
export function syncError(errorCode: number, group?: ClassicGroup): SyncResponse {
  return { errorCode, protocolType: group?.protocolType ?? null, protocolName: group?.protocolName ?? null, assignment: EMPTY_ASSIGNMENT };
}

const EMPTY_ASSIGNMENT = new Uint8Array(0);
