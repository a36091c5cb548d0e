/** The KIP-848 consumer group core, step by step with a fake clock. */
import { describe, expect, test } from "bun:test";
import { ErrorCode as E } from "../../src/protocol/error-codes.ts";
import { type TopicPartitions } from "../../src/group/consumer-group.ts";
import { Fixture, lookup } from "./consumer-fixture.ts";
import { rangeAssignor } from "../../src/group/assignors/range.ts";
import { uniformAssignor } from "../../src/group/assignors/uniform.ts";
import { assignmentSize } from "../../src/group/assignors/assignor.ts";

const T1 = "00000000-0000-0000-0000-000000000001";
const T2 = "00000000-0000-0000-0000-000000000002";

function count(assignment: TopicPartitions[] | null): number {
  return (assignment ?? []).reduce((n, tp) => n + tp.partitions.length, 0);
}

describe("consumer group heartbeat", () => {
  test("a first member gets a server-generated id, epoch 1 and every partition", () => {
    const f = new Fixture();
    const a = f.heartbeat({});
    expect(a.errorCode).toBe(E.NONE);
    expect(a.memberId).toBe("uuid-1");
    expect(a.memberEpoch).toBe(1);
    expect(a.heartbeatIntervalMs).toBe(100);
    expect(a.assignment).toEqual([{ topicId: T1, partitions: [0, 1, 2, 3, 4, 5] }]);
    // Nothing changed: no assignment in the answer.
    const again = f.heartbeat({ memberId: "uuid-1", memberEpoch: 1, topicPartitions: a.assignment });
    expect(again.memberEpoch).toBe(1);
    expect(again.assignment).toBeNull();
  });

  test("v1 members bring their own id; v1 without one is INVALID_REQUEST", () => {
    const f = new Fixture();
    expect(f.heartbeat({ apiVersion: 1, memberId: "mine" }).memberId).toBe("mine");
    expect(f.heartbeat({ apiVersion: 1, memberId: "" }).errorCode).toBe(E.INVALID_REQUEST);
  });

  test("a second member gets partitions only after the first revoked them", () => {
    const f = new Fixture();
    const a = f.heartbeat({});
    const aId = a.memberId!;
    const b = f.heartbeat({});
    const bId = b.memberId!;
    // B is at the new epoch but every partition is still A's.
    expect(b.memberEpoch).toBe(2);
    expect(b.assignment).toEqual([]);
    expect(f.core.memberView("g", bId)!.state).toBe("unreleased");

    // A must revoke half; its epoch stays until it reports them gone.
    const revoke = f.heartbeat({ memberId: aId, memberEpoch: 1, topicPartitions: a.assignment });
    expect(revoke.memberEpoch).toBe(1);
    expect(count(revoke.assignment)).toBe(3);
    expect(f.core.memberView("g", aId)!.state).toBe("unrevoked");
    expect(count(f.heartbeat({ memberId: bId, memberEpoch: 2, topicPartitions: [] }).assignment)).toBe(0);
    // Still owning them: nothing moves.
    expect(f.heartbeat({ memberId: aId, memberEpoch: 1, topicPartitions: a.assignment }).memberEpoch).toBe(1);

    const done = f.heartbeat({ memberId: aId, memberEpoch: 1, topicPartitions: revoke.assignment });
    expect(done.memberEpoch).toBe(2);
    const bGets = f.heartbeat({ memberId: bId, memberEpoch: 2, topicPartitions: [] });
    expect(count(bGets.assignment)).toBe(3);
    expect(f.core.memberView("g", bId)!.state).toBe("stable");
    const aParts = new Set(revoke.assignment![0]!.partitions);
    for (const p of bGets.assignment![0]!.partitions) expect(aParts.has(p)).toBe(false);
    expect(f.core.describe("g", lookup(f.topics))!.groupState).toBe("Stable");
  });

  test("a member leaving with epoch -1 hands its partitions to the rest", () => {
    const f = new Fixture();
    const a = f.heartbeat({});
    const b = f.heartbeat({});
    const r = f.heartbeat({ memberId: a.memberId!, memberEpoch: 1, topicPartitions: a.assignment });
    f.heartbeat({ memberId: a.memberId!, memberEpoch: 1, topicPartitions: r.assignment });
    f.heartbeat({ memberId: b.memberId!, memberEpoch: 2, topicPartitions: [] });
    const left = f.heartbeat({ memberId: b.memberId!, memberEpoch: -1 });
    expect(left).toMatchObject({ errorCode: E.NONE, memberEpoch: -1 });
    const all = f.heartbeat({ memberId: a.memberId!, memberEpoch: 2, topicPartitions: r.assignment });
    expect(all.memberEpoch).toBe(3);
    expect(count(all.assignment)).toBe(6);
  });

  test("a member silent for the session timeout is removed", () => {
    const f = new Fixture();
    const a = f.heartbeat({});
    const b = f.heartbeat({});
    f.nowMs += 600;
    f.heartbeat({ memberId: a.memberId!, memberEpoch: 1, topicPartitions: a.assignment });
    f.nowMs += 600;
    expect(f.core.nextDeadlineMs()).toBeLessThanOrEqual(f.nowMs);
    f.core.tick(f.nowMs);
    f.core.checkInvariants();
    expect(f.core.memberView("g", b.memberId!)).toBeNull();
    expect(f.heartbeat({ memberId: b.memberId!, memberEpoch: 2, topicPartitions: [] }).errorCode).toBe(E.UNKNOWN_MEMBER_ID);
  });

  test("a member that does not revoke within its rebalance timeout is fenced", () => {
    const f = new Fixture({ sessionTimeoutMs: 60_000 });
    const a = f.heartbeat({ rebalanceTimeoutMs: 300 });
    const b = f.heartbeat({});
    f.heartbeat({ memberId: a.memberId!, memberEpoch: 1, topicPartitions: a.assignment });
    f.nowMs += 301;
    f.core.tick(f.nowMs);
    expect(f.core.memberView("g", a.memberId!)).toBeNull();
    expect(count(f.heartbeat({ memberId: b.memberId!, memberEpoch: 2, topicPartitions: [] }).assignment)).toBe(6);
  });

  test("errors: unknown group and member, fenced epochs, assignors, regex, group size", () => {
    const f = new Fixture({ maxGroupSize: 1 });
    expect(f.heartbeat({ memberId: "x", memberEpoch: 3 }).errorCode).toBe(E.GROUP_ID_NOT_FOUND);
    expect(f.heartbeat({ serverAssignor: "sticky" }).errorCode).toBe(E.UNSUPPORTED_ASSIGNOR);
    expect(f.heartbeat({ subscribedTopicRegex: "ord.*" }).errorCode).toBe(E.INVALID_REQUEST);
    const a = f.heartbeat({ serverAssignor: "range" });
    expect(a.errorCode).toBe(E.NONE);
    expect(f.core.describe("g", lookup(f.topics))!.assignorName).toBe("range");
    expect(f.heartbeat({}).errorCode).toBe(E.GROUP_MAX_SIZE_REACHED);
    expect(f.heartbeat({ memberId: "nobody", memberEpoch: 1 }).errorCode).toBe(E.UNKNOWN_MEMBER_ID);
    expect(f.heartbeat({ memberId: a.memberId!, memberEpoch: 7 }).errorCode).toBe(E.FENCED_MEMBER_EPOCH);
    expect(f.heartbeat({ memberId: a.memberId!, memberEpoch: -1 }).memberEpoch).toBe(-1);
    expect(f.heartbeat({ memberId: a.memberId!, memberEpoch: -1 }).errorCode).toBe(E.UNKNOWN_MEMBER_ID);
  });

  test("an older epoch is accepted only as the previous one with owned partitions still assigned", () => {
    const f = new Fixture();
    const a = f.heartbeat({});
    f.topics = [{ name: "orders", topicId: T1, partitionCount: 8 }];
    const grown = f.heartbeat({ memberId: a.memberId!, memberEpoch: 1, topicPartitions: a.assignment });
    expect(grown.memberEpoch).toBe(2);
    expect(count(grown.assignment)).toBe(8);
    // The answer carrying epoch 2 was lost: epoch 1 with the old partitions is fine.
    expect(f.heartbeat({ memberId: a.memberId!, memberEpoch: 1, topicPartitions: a.assignment }).errorCode).toBe(E.NONE);
    expect(f.heartbeat({ memberId: a.memberId!, memberEpoch: 1, topicPartitions: null }).errorCode).toBe(E.FENCED_MEMBER_EPOCH);
  });

  test("a static member leaving with -2 keeps its partitions for its next incarnation", () => {
    const f = new Fixture();
    const a = f.heartbeat({ instanceId: "i1" });
    expect(f.heartbeat({ memberId: a.memberId!, memberEpoch: -2, instanceId: "i1" }).memberEpoch).toBe(-2);
    expect(f.heartbeat({ instanceId: "i1" }).errorCode).toBe(E.NONE);
    const next = f.core.describe("g", lookup(f.topics))!;
    expect(next.members.length).toBe(1);
    expect(next.groupEpoch).toBe(1);
    expect(f.heartbeat({ instanceId: "i1" }).errorCode).toBe(E.UNRELEASED_INSTANCE_ID);
  });

  test("offset commits and fetches are checked against the member epoch", () => {
    const f = new Fixture();
    expect(f.core.validateOffsetCommit("g", "", -1)).toBeNull();
    const a = f.heartbeat({});
    expect(f.core.validateOffsetCommit("g", a.memberId!, 1)).toBe(E.NONE);
    expect(f.core.validateOffsetCommit("g", a.memberId!, 0)).toBe(E.STALE_MEMBER_EPOCH);
    expect(f.core.validateOffsetCommit("g", "", -1)).toBe(E.UNKNOWN_MEMBER_ID);
    expect(f.core.validateOffsetFetch("g", null, -1)).toBe(E.NONE);
    expect(f.core.validateOffsetFetch("g", a.memberId!, 2)).toBe(E.STALE_MEMBER_EPOCH);
  });
});

describe("assignors", () => {
  const members = (n: number, topics: string[]) =>
    Array.from({ length: n }, (_, i) => ({ memberId: `m${i}`, subscribedTopicIds: new Set(topics) }));

  test("uniform balances to within one and is sticky", () => {
    const counts = new Map([[T1, 7], [T2, 5]]);
    const first = uniformAssignor.assign({ members: members(3, [T1, T2]), partitionCounts: counts, previous: new Map() });
    const sizes = [...first.values()].map(assignmentSize);
    expect(sizes.reduce((a, b) => a + b)).toBe(12);
    expect(Math.max(...sizes) - Math.min(...sizes)).toBeLessThanOrEqual(1);
    const second = uniformAssignor.assign({ members: members(4, [T1, T2]), partitionCounts: counts, previous: first });
    const sizes2 = [...second.values()].map(assignmentSize);
    expect(Math.max(...sizes2) - Math.min(...sizes2)).toBeLessThanOrEqual(1);
    // Only the new member's three partitions moved.
    let kept = 0;
    for (const [memberId, assignment] of first) {
      for (const [topicId, partitions] of assignment) {
        const now = new Set(second.get(memberId)?.get(topicId) ?? []);
        kept += partitions.filter((p) => now.has(p)).length;
      }
    }
    expect(kept).toBe(9);
  });

  test("uniform respects differing subscriptions", () => {
    const spec = {
      members: [
        { memberId: "a", subscribedTopicIds: new Set([T1]) },
        { memberId: "b", subscribedTopicIds: new Set([T1, T2]) },
      ],
      partitionCounts: new Map([[T1, 4], [T2, 4]]),
      previous: new Map(),
    };
    const result = uniformAssignor.assign(spec);
    expect(result.get("a")!.has(T2)).toBe(false);
    expect(assignmentSize(result.get("a")!)).toBe(4);
    expect(assignmentSize(result.get("b")!)).toBe(4);
  });

  test("range gives contiguous ranges, the first members one more", () => {
    const result = rangeAssignor.assign({ members: members(3, [T1]), partitionCounts: new Map([[T1, 7]]), previous: new Map() });
    expect(result.get("m0")!.get(T1)).toEqual([0, 1, 2]);
    expect(result.get("m1")!.get(T1)).toEqual([3, 4]);
    expect(result.get("m2")!.get(T1)).toEqual([5, 6]);
  });
});
