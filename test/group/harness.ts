/** A fake clock, token counter and answer book around the pure group coordinator. */
import { GroupCoordinator } from "../../src/group/coordinator.ts";
import { defaultGroupConfig } from "../../src/group/types.ts";
import type {
  Completion,
  GroupConfig,
  GroupRecord,
  JoinInput,
  JoinResponse,
  Protocol,
  SyncInput,
  SyncResponse,
  Token,
} from "../../src/group/types.ts";

export const testConfig: GroupConfig = {
  ...defaultGroupConfig,
  initialRebalanceDelayMs: 100,
  minSessionTimeoutMs: 10,
  maxSessionTimeoutMs: 100_000,
  maxGroupSize: 10,
  offsetsRetentionMs: 10_000,
  offsetsRetentionCheckIntervalMs: 100,
  newMemberJoinTimeoutMs: 5_000,
};

export const SESSION_TIMEOUT_MS = 1_000;
export const REBALANCE_TIMEOUT_MS = 2_000;

export function bytes(text: string): Uint8Array {
  return new TextEncoder().encode(text);
}

export function text(data: Uint8Array): string {
  return new TextDecoder().decode(data);
}

/** ConsumerProtocolSubscription v0 with the given topics and no user data. */
export function subscription(topics: string[]): Uint8Array {
  const names = topics.map((topic) => bytes(topic));
  const size = 2 + 4 + names.reduce((sum, name) => sum + 2 + name.byteLength, 0) + 4;
  const out = new Uint8Array(size);
  const view = new DataView(out.buffer);
  let offset = 0;
  view.setInt16(offset, 0);
  offset += 2;
  view.setInt32(offset, names.length);
  offset += 4;
  for (const name of names) {
    view.setInt16(offset, name.byteLength);
    offset += 2;
    out.set(name, offset);
    offset += name.byteLength;
  }
  view.setInt32(offset, -1);
  return out;
}

export function protocols(...names: string[]): Protocol[] {
  return names.map((name) => ({ name, metadata: bytes(`meta-${name}`) }));
}

export class Harness {
  nowMs = 1_000_000;
  core: GroupCoordinator;
  readonly records: GroupRecord[] = [];
  private nextToken = 1;
  private uuidCounter = 0;
  private readonly answers = new Map<Token, Completion>();
  readonly issued = new Set<Token>();

  constructor(readonly config: GroupConfig = testConfig) {
    this.core = this.newCore();
  }

  newCore(): GroupCoordinator {
    return new GroupCoordinator({ config: this.config, generateUuid: () => `uuid${++this.uuidCounter}`, nowMs: this.nowMs });
  }

  /** Collects what the core produced; a second answer to one token fails the test at once. */
  collect(): void {
    const ready = this.core.takeReady();
    for (const completion of ready.completions) {
      if (!this.issued.has(completion.token)) throw new Error(`answer to unknown token ${completion.token}`);
      if (this.answers.has(completion.token)) throw new Error(`token ${completion.token} answered twice`);
      this.answers.set(completion.token, completion);
    }
    this.records.push(...ready.records);
  }

  join(groupId: string, input: Partial<JoinInput> & { clientId?: string } = {}): Token {
    const token = this.nextToken++;
    this.issued.add(token);
    const full: JoinInput = {
      apiVersion: 9,
      memberId: "",
      groupInstanceId: null,
      clientId: "client",
      clientHost: "/127.0.0.1",
      sessionTimeoutMs: SESSION_TIMEOUT_MS,
      rebalanceTimeoutMs: REBALANCE_TIMEOUT_MS,
      protocolType: "consumer",
      protocols: protocols("range"),
      ...input,
    };
    this.core.join(groupId, full, this.nowMs, token);
    this.collect();
    return token;
  }

  sync(groupId: string, input: Partial<SyncInput> & { memberId: string; generationId: number }): Token {
    const token = this.nextToken++;
    this.issued.add(token);
    this.core.sync(groupId, { groupInstanceId: null, protocolType: null, protocolName: null, assignments: [], ...input }, this.nowMs, token);
    this.collect();
    return token;
  }

  heartbeat(groupId: string, memberId: string, generationId: number, groupInstanceId: string | null = null): number {
    const result = this.core.heartbeat(groupId, { memberId, generationId, groupInstanceId }, this.nowMs);
    this.collect();
    return result.errorCode;
  }

  /** Moves the clock, calling tick at every deadline on the way as a real edge would. */
  advance(ms: number): void {
    const targetMs = this.nowMs + ms;
    for (let steps = 0; steps < 100_000; steps++) {
      const next = this.core.nextDeadlineMs();
      if (next > targetMs) break;
      this.nowMs = Math.max(this.nowMs, next);
      this.core.tick(this.nowMs);
      this.collect();
    }
    this.nowMs = targetMs;
    this.core.tick(this.nowMs);
    this.collect();
  }

  answered(token: Token): boolean {
    return this.answers.has(token);
  }

  joinAnswer(token: Token): JoinResponse {
    const completion = this.answers.get(token);
    if (completion === undefined) throw new Error(`join ${token} not answered`);
    if (completion.kind !== "join") throw new Error(`token ${token} answered as ${completion.kind}`);
    return completion.response;
  }

  syncAnswer(token: Token): SyncResponse {
    const completion = this.answers.get(token);
    if (completion === undefined) throw new Error(`sync ${token} not answered`);
    if (completion.kind !== "sync") throw new Error(`token ${token} answered as ${completion.kind}`);
    return completion.response;
  }

  unanswered(): Token[] {
    return [...this.issued].filter((token) => !this.answers.has(token));
  }

  state(groupId: string) {
    return this.core.groupState(groupId);
  }

  /** Joins a dynamic member through MEMBER_ID_REQUIRED; returns the token of its second join. */
  joinNew(groupId: string, clientId: string, input: Partial<JoinInput> = {}): { memberId: string; token: Token } {
    const first = this.joinAnswer(this.join(groupId, { clientId, ...input }));
    if (first.errorCode !== 79) throw new Error(`expected MEMBER_ID_REQUIRED, got ${first.errorCode}`);
    const token = this.join(groupId, { clientId, ...input, memberId: first.memberId });
    return { memberId: first.memberId, token };
  }

  /** Forms a Stable group of the given clients; the first is the leader. */
  stableGroup(groupId: string, clientIds: string[], input: Partial<JoinInput> = {}): { memberIds: string[]; generationId: number } {
    const joined = clientIds.map((clientId) => this.joinNew(groupId, clientId, input));
    this.advance(this.config.initialRebalanceDelayMs * (clientIds.length + 1));
    const answers = joined.map((each) => this.joinAnswer(each.token));
    const generationId = answers[0]!.generationId;
    const memberIds = joined.map((each) => each.memberId);
    const leader = answers.find((answer) => answer.leader === answer.memberId)!;
    this.sync(groupId, {
      memberId: leader.memberId,
      generationId,
      assignments: leader.members.map((member) => ({ memberId: member.memberId, assignment: bytes(`assigned-${member.memberId}`) })),
    });
    for (const memberId of memberIds) {
      if (memberId !== leader.memberId) this.sync(groupId, { memberId, generationId });
    }
    return { memberIds, generationId };
  }
}
