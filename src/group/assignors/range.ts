/**
 * The "range" assignor: per topic, the members subscribed to it (by member id) get contiguous ranges of
 * its partitions, the first (count % members) one partition more. Members subscribed to the same topics
 * get the same partition numbers of co-partitioned topics, which is what joins on keys rely on.
 */
import { compareIds, type Assignment, type AssignmentSpec, type ServerAssignor } from "./assignor.ts";

export const rangeAssignor: ServerAssignor = {
  name: "range",
  assign(spec: AssignmentSpec): Map<string, Assignment> {
    const result = new Map<string, Assignment>();
    const members = [...spec.members].sort((a, b) => compareIds(a.memberId, b.memberId));
    for (const member of members) result.set(member.memberId, new Map());
    const topicIds = [...spec.partitionCounts.keys()].sort(compareIds);
    for (const topicId of topicIds) {
      const partitionCount = spec.partitionCounts.get(topicId)!;
      const subscribers = members.filter((member) => member.subscribedTopicIds.has(topicId));
      if (subscribers.length === 0 || partitionCount === 0) continue;
      const base = Math.floor(partitionCount / subscribers.length);
      const extra = partitionCount % subscribers.length;
      let next = 0;
      subscribers.forEach((member, i) => {
        const count = base + (i < extra ? 1 : 0);
        if (count === 0) return;
        const partitions = Array.from({ length: count }, (_, k) => next + k);
        next += count;
        result.get(member.memberId)!.set(topicId, partitions);
      });
      if (next !== partitionCount) throw new Error(`range assignor: assigned ${next} of ${partitionCount} partitions of ${topicId}`);
    }
    return result;
  },
};
