/**
 * The "uniform" assignor (Kafka's default): spreads every subscribed partition as evenly as the
 * subscriptions allow and keeps each partition where the previous target had it when that does not
 * unbalance the group, so a membership change moves few partitions. With identical subscriptions the
 * members' partition counts differ by at most one.
 */
import { compareIds, toAssignment, type Assignment, type AssignmentSpec, type ServerAssignor } from "./assignor.ts";
import { partitionKey } from "../../lib/partition-key.ts";

export const uniformAssignor: ServerAssignor = {
  name: "uniform",
  assign(spec: AssignmentSpec): Map<string, Assignment> {
    const members = [...spec.members].sort((a, b) => compareIds(a.memberId, b.memberId));
    const owned = new Map<string, [string, number][]>();
    for (const member of members) owned.set(member.memberId, []);
    const owner = new Map<string, string>();
    const eligible = (memberId: string, topicId: string): boolean =>
      spec.members.find((member) => member.memberId === memberId)?.subscribedTopicIds.has(topicId) ?? false;
    const subscribersOf = new Map<string, string[]>();
    for (const topicId of spec.partitionCounts.keys()) {
      subscribersOf.set(topicId, members.filter((m) => m.subscribedTopicIds.has(topicId)).map((m) => m.memberId));
    }

    // Sticky: the previous target's partitions stay, as long as they still exist and are still wanted.
    for (const member of members) {
      const previous = spec.previous.get(member.memberId);
      if (previous === undefined) continue;
      for (const [topicId, partitions] of [...previous].sort(([a], [b]) => compareIds(a, b))) {
        const count = spec.partitionCounts.get(topicId);
        if (count === undefined || !eligible(member.memberId, topicId)) continue;
        for (const partition of partitions) {
          if (partition >= count || owner.has(partitionKey(topicId, partition))) continue;
          owner.set(partitionKey(topicId, partition), member.memberId);
          owned.get(member.memberId)!.push([topicId, partition]);
        }
      }
    }

    const leastLoaded = (candidates: string[]): string | undefined => {
      let best: string | undefined;
      for (const memberId of candidates) {
        if (best === undefined || owned.get(memberId)!.length < owned.get(best)!.length) best = memberId;
      }
      return best;
    };

    // New partitions go to the least loaded subscriber.
    for (const topicId of [...spec.partitionCounts.keys()].sort(compareIds)) {
      const subscribers = subscribersOf.get(topicId)!;
      if (subscribers.length === 0) continue;
      for (let partition = 0; partition < spec.partitionCounts.get(topicId)!; partition++) {
        if (owner.has(partitionKey(topicId, partition))) continue;
        const memberId = leastLoaded(subscribers)!;
        owner.set(partitionKey(topicId, partition), memberId);
        owned.get(memberId)!.push([topicId, partition]);
      }
    }

    // Balance: move a partition from a member to a subscriber holding at least two fewer. Each move
    // lowers the sum of squared loads, so the loop ends; the bound catches a bug, not a slow input.
    let totalPartitions = 0;
    for (const count of spec.partitionCounts.values()) totalPartitions += count;
    const maxMoves = totalPartitions * Math.max(members.length, 1) + 1;
    for (let moves = 0; ; moves++) {
      if (moves > maxMoves) throw new Error(`uniform assignor: no balance after ${maxMoves} moves`);
      const move = findMove(members.map((m) => m.memberId), owned, subscribersOf);
      if (move === null) break;
      const from = owned.get(move.from)!;
      from.splice(from.indexOf(move.partition), 1);
      owned.get(move.to)!.push(move.partition);
    }

    const result = new Map<string, Assignment>();
    for (const [memberId, pairs] of owned) result.set(memberId, toAssignment(pairs));
    return result;
  },
};

/** The most loaded member's last-acquired partition that a subscriber with two fewer could take. */
function findMove(
  memberIds: string[],
  owned: Map<string, [string, number][]>,
  subscribersOf: Map<string, string[]>,
): { from: string; to: string; partition: [string, number] } | null {
  const byLoad = [...memberIds].sort((a, b) => owned.get(b)!.length - owned.get(a)!.length || compareIds(a, b));
  for (const from of byLoad) {
    const pairs = owned.get(from)!;
    for (let i = pairs.length - 1; i >= 0; i--) {
      const pair = pairs[i]!;
      let to: string | undefined;
      for (const candidate of subscribersOf.get(pair[0]) ?? []) {
        if (owned.get(candidate)!.length + 1 >= pairs.length) continue;
        if (to === undefined || owned.get(candidate)!.length < owned.get(to)!.length) to = candidate;
      }
      if (to !== undefined) return { from, to, partition: pair };
    }
  }
  return null;
}
