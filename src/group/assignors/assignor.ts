/**
 * Server-side assignors of the consumer rebalance protocol (KIP-848): from the members' subscriptions and
 * the subscribed topics' partition counts to a target assignment. Pure and deterministic: the same spec
 * always gives the same assignment, whatever order the members come in.
 */

/** Partitions per topic id, each list ascending; topics with no partitions are left out. */
export type Assignment = Map<string, number[]>;

export interface AssignorMember {
  memberId: string;
  subscribedTopicIds: ReadonlySet<string>;
}

export interface AssignmentSpec {
  members: readonly AssignorMember[];
  /** Partition count of every topic some member subscribes to and the cluster has. */
  partitionCounts: ReadonlyMap<string, number>;
  /** The previous target assignment, so a sticky assignor moves as few partitions as it can. */
  previous: ReadonlyMap<string, Assignment>;
}

export interface ServerAssignor {
  readonly name: string;
  assign(spec: AssignmentSpec): Map<string, Assignment>;
}

/** Builds an Assignment from (topicId, partition) pairs in any order. */
export function toAssignment(pairs: Iterable<[string, number]>): Assignment {
  const assignment: Assignment = new Map();
  for (const [topicId, partition] of pairs) {
    let partitions = assignment.get(topicId);
    if (partitions === undefined) assignment.set(topicId, (partitions = []));
    partitions.push(partition);
  }
  for (const partitions of assignment.values()) partitions.sort((a, b) => a - b);
  return assignment;
}

export function assignmentSize(assignment: Assignment): number {
  let size = 0;
  for (const partitions of assignment.values()) size += partitions.length;
  return size;
}

export function compareIds(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
