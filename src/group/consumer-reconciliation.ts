/**
 * One consumer-protocol member's path from its current assignment to its target, after Kafka's
 * CurrentAssignmentBuilder. The rule that keeps a partition from having two owners: a member gets a
 * newly targeted partition only when no other member holds it (assigned or still revoking), and it
 * first gives up what it must revoke, keeping its old epoch until its heartbeat reports them gone.
 */
import { type Assignment } from "./assignors/assignor.ts";

export type MemberState = "stable" | "unrevoked" | "unreleased";

export interface MemberAssignmentState {
  state: MemberState;
  memberEpoch: number;
  /** Partitions the member may consume now. */
  assigned: Assignment;
  /** Partitions the member must give up before its epoch advances. */
  revoking: Assignment;
}

export interface ReconcileInput {
  current: MemberAssignmentState;
  target: Assignment;
  targetEpoch: number;
  /** What the member's heartbeat says it owns; null when it did not say. */
  owned: Assignment | null;
  /** The member holding a partition now, or undefined when it is free. */
  holderOf: (topicId: string, partition: number) => string | undefined;
  memberId: string;
}

/** The member's next state; returns `current` itself when nothing changes. */
export function reconcile(input: ReconcileInput): MemberAssignmentState {
  const { current } = input;
  switch (current.state) {
    case "stable":
      if (current.memberEpoch === input.targetEpoch) return current;
      return computeNext(input);
    case "unrevoked":
      // Until the member confirms the revocation, its epoch and assignment stay as they are.
      if (input.owned === null || intersects(input.owned, current.revoking)) return current;
      return computeNext({ ...input, current: { ...current, revoking: new Map() } });
    case "unreleased":
      return computeNext(input);
  }
}

function computeNext(input: ReconcileInput): MemberAssignmentState {
  const { current, target } = input;
  if (current.revoking.size !== 0) throw new Error(`member ${input.memberId}: computing an assignment while revoking`);
  const kept: Assignment = new Map();
  const revoking: Assignment = new Map();
  const acquirable: Assignment = new Map();
  let unreleased = false;
  for (const [topicId, partitions] of current.assigned) {
    const targeted = new Set(target.get(topicId) ?? []);
    for (const partition of partitions) add(targeted.has(partition) ? kept : revoking, topicId, partition);
  }
  for (const [topicId, partitions] of target) {
    const held = new Set(current.assigned.get(topicId) ?? []);
    for (const partition of partitions) {
      if (held.has(partition)) continue;
      const holder = input.holderOf(topicId, partition);
      if (holder === undefined || holder === input.memberId) add(acquirable, topicId, partition);
      else unreleased = true;
    }
  }
  // A member that already reported the revoked partitions gone need not be asked again.
  const mustRevoke = revoking.size !== 0 && (input.owned === null || intersects(input.owned, revoking));
  if (mustRevoke) {
    return { state: "unrevoked", memberEpoch: current.memberEpoch, assigned: sorted(kept), revoking: sorted(revoking) };
  }
  for (const [topicId, partitions] of acquirable) for (const partition of partitions) add(kept, topicId, partition);
  const next: MemberAssignmentState = {
    state: unreleased ? "unreleased" : "stable",
    memberEpoch: input.targetEpoch,
    assigned: sorted(kept),
    revoking: new Map(),
  };
  return sameState(current, next) ? current : next;
}

export function intersects(a: Assignment, b: Assignment): boolean {
  for (const [topicId, partitions] of a) {
    const other = b.get(topicId);
    if (other === undefined) continue;
    const set = new Set(other);
    if (partitions.some((partition) => set.has(partition))) return true;
  }
  return false;
}

export function sameAssignment(a: Assignment, b: Assignment): boolean {
  if (a.size !== b.size) return false;
  for (const [topicId, partitions] of a) {
    const other = b.get(topicId);
    if (other === undefined || other.length !== partitions.length) return false;
    if (partitions.some((partition, i) => other[i] !== partition)) return false;
  }
  return true;
}

function sameState(a: MemberAssignmentState, b: MemberAssignmentState): boolean {
  return a.state === b.state && a.memberEpoch === b.memberEpoch && sameAssignment(a.assigned, b.assigned) && sameAssignment(a.revoking, b.revoking);
}

function add(assignment: Assignment, topicId: string, partition: number): void {
  let partitions = assignment.get(topicId);
  if (partitions === undefined) assignment.set(topicId, (partitions = []));
  partitions.push(partition);
}

function sorted(assignment: Assignment): Assignment {
  const out: Assignment = new Map();
  for (const [topicId, partitions] of assignment) if (partitions.length > 0) out.set(topicId, [...partitions].sort((a, b) => a - b));
  return out;
}
