/**
 * The group coordinator's edge: wraps the pure GroupCoordinator with a clock, a timer and a record store.
 * After every call into the core the produced records are written in one go, and only once they (and every
 * earlier write) are durable do the call's answer and any completed JoinGroup or SyncGroup answers go out.
 * In a cluster each group has one coordinator (coordinator-placement.ts): the core holds the groups this broker
 * coordinates, loads one from the replicated records when the broker gains it, and forgets one it loses.
 */
import { logger } from "../lib/logger.ts";
import { ErrorCode, KafkaCodedError } from "../protocol/error-codes.ts";
import { GroupCoordinator } from "./coordinator.ts";
import { deadGroup, joinError, syncError } from "./group.ts";
import type { GroupRecordStore } from "./group-record-store.ts";
import {
  ConsumerGroupCoordinator,
  defaultConsumerGroupConfig,
  type ConsumerGroupConfig,
  type ConsumerHeartbeatInput,
  type ConsumerHeartbeatResponse,
  type DescribedConsumerGroup,
  type TopicLookup,
} from "./consumer-group.ts";
import type {
  Completion,
  DescribedGroup,
  GroupConfig,
  GroupRecord,
  HeartbeatInput,
  JoinInput,
  JoinResponse,
  LeaveResponse,
  LeavingMember,
  ListedGroup,
  OffsetCommitInput,
  OffsetDeleteResponse,
  OffsetFetchResponse,
  SyncInput,
  SyncResponse,
  Token,
  TopicPartitionResults,
} from "./types.ts";

const log = logger("groups");

/** setTimeout takes a signed 32-bit delay; longer ones fire at once. */
const MAX_TIMER_DELAY_MS = 2_147_483_647;

type Pending =
  | { kind: "join"; memberId: string; resolve: (response: JoinResponse) => void; reject: (error: unknown) => void }
  | { kind: "sync"; resolve: (response: SyncResponse) => void; reject: (error: unknown) => void };

export interface GroupServiceOptions {
  config: GroupConfig;
  /** Consumer-protocol (KIP-848) groups; Kafka's defaults when absent. */
  consumerConfig?: ConsumerGroupConfig;
  store: GroupRecordStore;
  /** Wall clock; tests pass a fake one. */
  nowMs?: () => number;
  generateUuid?: () => string;
  /** Whether to arm a real timer for the core's deadlines; tests driving tick() themselves pass false. */
  armTimer?: boolean;
  /** Whether this broker coordinates the group (one broker per group in a cluster); every group when absent. */
  coordinates?: (groupId: string) => boolean;
  /** The groups' replicated records, for taking a group over; absent when `store` alone holds them. */
  replicated?: ReplicatedGroups;
}

/** Every group's records as the metadata log holds them. */
export interface ReplicatedGroups {
  groupIds(): string[];
  recordsOf(groupId: string): GroupRecord[];
}

export class GroupService {
  private readonly store: GroupRecordStore;
  private readonly replicated: ReplicatedGroups | undefined;
  private readonly clock: () => number;
  private readonly core: GroupCoordinator;
  /** KIP-848 groups; their committed offsets live in `core`, as a group there with no members. */
  private readonly consumerCore: ConsumerGroupCoordinator;
  private readonly armTimer: boolean;
  private readonly coordinates: (groupId: string) => boolean;
  private readonly pending = new Map<Token, Pending>();
  private nextToken: Token = 1;
  /** Settles when every write issued so far is durable; LMDB commits in issue order. */
  private lastWrite: Promise<void> = Promise.resolve();
  private timer: ReturnType<typeof setTimeout> | null = null;
  private timerDeadlineMs = Infinity;
  private stopped = false;

  constructor(options: GroupServiceOptions) {
    this.store = options.store;
    this.replicated = options.replicated;
    this.clock = options.nowMs ?? Date.now;
    this.armTimer = options.armTimer ?? true;
    this.coordinates = options.coordinates ?? (() => true);
    this.core = new GroupCoordinator({
      config: options.config,
      generateUuid: options.generateUuid ?? (() => crypto.randomUUID()),
      nowMs: this.clock(),
    });
    this.consumerCore = new ConsumerGroupCoordinator({
      config: options.consumerConfig ?? defaultConsumerGroupConfig,
      generateUuid: options.generateUuid ?? (() => crypto.randomUUID()),
      nowMs: this.clock(),
    });
  }

  /** Rebuilds the groups and offsets from the store and arms the timer. */
  async start(): Promise<void> {
    const records = this.store.load();
    this.core.restore(records, this.clock());
    for (const record of records) if (record.type === "consumer-group") this.consumerCore.load(record.groupId, record.group, this.clock());
    await this.afterCall();
    log.info("groups restored", { records: records.length, groups: this.core.listGroups([]).length });
  }

  /** Answers waiting JoinGroup/SyncGroup requests with COORDINATOR_NOT_AVAILABLE and waits for pending writes. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    for (const [token, waiting] of this.pending) {
      this.pending.delete(token);
      if (waiting.kind === "join") waiting.resolve(joinError(waiting.memberId, ErrorCode.COORDINATOR_NOT_AVAILABLE));
      else waiting.resolve(syncError(ErrorCode.COORDINATOR_NOT_AVAILABLE));
    }
    await this.lastWrite.catch(() => {});
  }

  join(groupId: string, input: JoinInput): Promise<JoinResponse> {
    if (this.stopped) return Promise.resolve(joinError(input.memberId, ErrorCode.COORDINATOR_NOT_AVAILABLE));
    if (!this.coordinates(groupId)) return Promise.resolve(joinError(input.memberId, ErrorCode.NOT_COORDINATOR));
    // A consumer-protocol group with members keeps its id; an empty one gives it up, as in Kafka.
    if (this.consumerCore.memberCount(groupId) > 0) return Promise.resolve(joinError(input.memberId, ErrorCode.INCONSISTENT_GROUP_PROTOCOL));
    this.consumerCore.deleteEmptyGroup(groupId);
    const token = this.nextToken++;
    const answer = new Promise<JoinResponse>((resolve, reject) => {
      this.pending.set(token, { kind: "join", memberId: input.memberId, resolve, reject });
    });
    this.core.join(groupId, input, this.clock(), token);
    this.afterCall().catch(() => {});
    return answer;
  }

  sync(groupId: string, input: SyncInput): Promise<SyncResponse> {
    if (this.stopped) return Promise.resolve(syncError(ErrorCode.COORDINATOR_NOT_AVAILABLE));
    if (!this.coordinates(groupId)) return Promise.resolve(syncError(ErrorCode.NOT_COORDINATOR));
    const token = this.nextToken++;
    const answer = new Promise<SyncResponse>((resolve, reject) => {
      this.pending.set(token, { kind: "sync", resolve, reject });
    });
    this.core.sync(groupId, input, this.clock(), token);
    this.afterCall().catch(() => {});
    return answer;
  }

  heartbeat(groupId: string, input: HeartbeatInput): Promise<{ errorCode: number }> {
    return this.direct(groupId, () => this.core.heartbeat(groupId, input, this.clock()));
  }

  leave(groupId: string, members: LeavingMember[]): Promise<LeaveResponse> {
    return this.direct(groupId, () => this.core.leave(groupId, members, this.clock()));
  }

  commitOffsets(groupId: string, input: OffsetCommitInput): Promise<{ topics: TopicPartitionResults[] }> {
    return this.direct(groupId, () => {
      const consumerCheck = this.consumerCore.validateOffsetCommit(groupId, input.memberId, input.generationId);
      if (consumerCheck === null) return this.core.commitOffsets(groupId, input, this.clock());
      if (consumerCheck !== ErrorCode.NONE) {
        return { topics: input.topics.map((t) => ({ name: t.name, partitions: t.partitions.map((p) => ({ partitionIndex: p.partitionIndex, errorCode: consumerCheck })) })) };
      }
      // Checked against the consumer group: the classic core stores it as a commit outside any generation.
      return this.core.commitOffsets(groupId, { ...input, generationId: -1, memberId: "", groupInstanceId: null }, this.clock());
    });
  }

  /** ConsumerGroupHeartbeat; a classic group with members keeps its id (GROUP_ID_NOT_FOUND, as Kafka answers). */
  consumerGroupHeartbeat(groupId: string, input: ConsumerHeartbeatInput, topics: TopicLookup): Promise<ConsumerHeartbeatResponse> {
    return this.direct(groupId, () => {
      const classic = this.core.groupState(groupId);
      if (classic !== null && classic.memberIds.length > 0) {
        return { errorCode: ErrorCode.GROUP_ID_NOT_FOUND, errorMessage: `Group ${groupId} is not a consumer group.`, memberId: null, memberEpoch: 0, heartbeatIntervalMs: 0, assignment: null };
      }
      return this.consumerCore.heartbeat(groupId, input, topics, this.clock());
    });
  }

  /** ConsumerGroupDescribe; null for an id that is not a consumer-protocol group. */
  describeConsumerGroup(groupId: string, topics: TopicLookup): DescribedConsumerGroup | null {
    return this.consumerCore.describe(groupId, topics);
  }

  deleteOffsets(groupId: string, topics: { name: string; partitionIndexes: number[] }[]): Promise<OffsetDeleteResponse> {
    return this.direct(groupId, () => this.core.deleteOffsets(groupId, topics, this.clock()));
  }

  deleteGroups(groupIds: string[]): Promise<{ groupId: string; errorCode: number }[]> {
    return this.direct(null, () => {
      const refused = new Map<string, number>();
      for (const groupId of groupIds) {
        if (!this.coordinates(groupId)) refused.set(groupId, ErrorCode.NOT_COORDINATOR);
        else if (this.consumerCore.memberCount(groupId) > 0) refused.set(groupId, ErrorCode.NON_EMPTY_GROUP);
        else this.consumerCore.deleteEmptyGroup(groupId);
      }
      const deleted = this.core.deleteGroups(groupIds.filter((groupId) => !refused.has(groupId)), this.clock());
      return groupIds.map((groupId) => (refused.has(groupId) ? { groupId, errorCode: refused.get(groupId)! } : deleted.find((d) => d.groupId === groupId)!));
    });
  }

  /** Reads wait for earlier writes, so an answer never shows an offset that a crash could still lose. */
  async fetchOffsets(
    groupId: string,
    topics: { name: string; partitionIndexes: number[] }[] | null,
    member: { memberId: string | null; memberEpoch: number } = { memberId: null, memberEpoch: -1 },
  ): Promise<OffsetFetchResponse> {
    if (!this.coordinates(groupId)) return { errorCode: ErrorCode.NOT_COORDINATOR, topics: [] };
    await this.lastWrite;
    const consumerCheck = this.consumerCore.validateOffsetFetch(groupId, member.memberId, member.memberEpoch);
    if (consumerCheck !== null && consumerCheck !== ErrorCode.NONE) return { errorCode: consumerCheck, topics: [] };
    return this.core.fetchOffsets(groupId, topics);
  }

  listGroups(statesFilter: string[]): ListedGroup[] {
    return this.core.listGroups(statesFilter);
  }

  /** Every group's committed offsets as held in memory, for metrics; may include a commit still being written. */
  committedOffsetsNow(): { groupId: string; topic: string; partition: number; offset: number }[] {
    const out: { groupId: string; topic: string; partition: number; offset: number }[] = [];
    for (const { groupId } of this.core.listGroups([])) {
      for (const topic of this.core.fetchOffsets(groupId, null).topics) {
        for (const p of topic.partitions) {
          if (p.committedOffset >= 0) out.push({ groupId, topic: topic.name, partition: p.partitionIndex, offset: p.committedOffset });
        }
      }
    }
    return out;
  }

  describeGroups(groupIds: string[]): DescribedGroup[] {
    return this.core.describeGroups(groupIds).map((group) => (this.coordinates(group.groupId) ? group : deadGroup(group.groupId, ErrorCode.NOT_COORDINATOR)));
  }

  /** Whether this broker coordinates the group; the others answer its requests with NOT_COORDINATOR. */
  isCoordinatorOf(groupId: string): boolean {
    return this.coordinates(groupId);
  }

  /** For tests and metrics. */
  groupState(groupId: string): ReturnType<GroupCoordinator["groupState"]> {
    return this.core.groupState(groupId);
  }

  /**
   * Takes over the groups this broker now coordinates, from their replicated records, and forgets those it no
   * longer does (their waiting joins and syncs get NOT_COORDINATOR). Call it whenever the live brokers change.
   */
  resync(): void {
    if (this.stopped || this.replicated === undefined) return;
    const held = new Set([...this.core.groupIds(), ...this.consumerCore.groupIds()]);
    for (const groupId of held) {
      if (this.coordinates(groupId)) continue;
      this.core.forgetGroup(groupId);
      this.consumerCore.forgetGroup(groupId);
    }
    for (const groupId of this.replicated.groupIds()) {
      if (held.has(groupId) || !this.coordinates(groupId)) continue;
      const records = this.replicated.recordsOf(groupId);
      this.core.loadGroup(groupId, records, this.clock());
      const consumerGroup = records.find((record) => record.type === "consumer-group");
      if (consumerGroup !== undefined) this.consumerCore.load(groupId, consumerGroup.group, this.clock());
    }
    this.afterCall().catch(() => {});
  }

  /** Records the metadata log kept from another process (an earlier run of this broker): its groups take them. */
  replay(records: readonly GroupRecord[]): void {
    if (this.stopped) return;
    const coordinated = records.filter((record) => this.coordinates(record.groupId));
    this.core.replay(coordinated, this.clock());
    // As for a classic generation: a consumer group with members here is ahead of a record written before them.
    for (const record of coordinated) {
      if (record.type === "consumer-group" && this.consumerCore.memberCount(record.groupId) === 0) this.consumerCore.load(record.groupId, record.group, this.clock());
    }
    this.afterCall().catch(() => {});
  }

  /** Fires the core's due timers; the real timer calls it, tests with a fake clock call it directly. */
  tick(): void {
    if (this.stopped) return;
    this.core.tick(this.clock());
    this.consumerCore.tick(this.clock());
    this.afterCall().catch(() => {});
  }

  /** Runs a call that answers at once, once its writes are durable; `groupId` must be coordinated here (null: checked by the call). */
  private async direct<T>(groupId: string | null, call: () => T): Promise<T> {
    if (this.stopped) throw new CoordinatorStopped();
    if (groupId !== null && !this.coordinates(groupId)) throw new KafkaCodedError(ErrorCode.NOT_COORDINATOR, `this broker does not coordinate group ${groupId}`);
    const response = call();
    await this.afterCall();
    return response;
  }

  /** Persists what the last core call produced, then sends its completions; re-arms the timer. */
  private afterCall(): Promise<void> {
    const ready = this.core.takeReady();
    const records = [...ready.records, ...this.consumerCore.takeRecords()];
    const durable = records.length > 0 ? this.persist(records) : this.lastWrite;
    // A failed write is reported to the calls that made it; later calls only wait for it, or one
    // failure would fail every call after it.
    this.lastWrite = durable.catch(() => {});
    this.rearm();
    if (ready.completions.length === 0) return durable;
    return durable.then(
      () => this.complete(ready.completions, null),
      (error) => {
        this.complete(ready.completions, error);
        throw error;
      },
    );
  }

  private persist(records: GroupRecord[]): Promise<void> {
    return this.store.write(records);
  }

  private complete(completions: Completion[], error: unknown): void {
    for (const completion of completions) {
      const waiting = this.pending.get(completion.token);
      // Already answered by stop().
      if (waiting === undefined) continue;
      this.pending.delete(completion.token);
      if (error !== null) waiting.reject(error);
      else if (waiting.kind === "join" && completion.kind === "join") waiting.resolve(completion.response);
      else if (waiting.kind === "sync" && completion.kind === "sync") waiting.resolve(completion.response);
      else throw new Error(`token ${completion.token}: a ${completion.kind} completion for a ${waiting.kind} request`);
    }
  }

  private rearm(): void {
    if (!this.armTimer || this.stopped) return;
    const deadlineMs = Math.min(this.core.nextDeadlineMs(), this.consumerCore.nextDeadlineMs());
    if (this.timer !== null && deadlineMs >= this.timerDeadlineMs) return;
    if (this.timer !== null) clearTimeout(this.timer);
    const delayMs = Math.min(Math.max(deadlineMs - this.clock(), 0), MAX_TIMER_DELAY_MS);
    this.timerDeadlineMs = deadlineMs;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.timerDeadlineMs = Infinity;
      this.tick();
    }, delayMs);
    this.timer.unref();
  }
}

/** Thrown by calls after stop(); handlers answer with COORDINATOR_NOT_AVAILABLE. */
export class CoordinatorStopped extends Error {
  constructor() {
    super("group coordinator stopped");
  }
}
