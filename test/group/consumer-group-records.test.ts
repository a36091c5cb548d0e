/** The KIP-848 core's records: what changes gets written, and a group taken over from its record carries on. */
import { describe, expect, test } from "bun:test";
import { ErrorCode as E } from "../../src/protocol/error-codes.ts";
import type { GroupRecord, PersistedConsumerGroup } from "../../src/group/types.ts";
import { commandProblem } from "../../src/metadata/records.ts";
import { Fixture, lookup } from "./consumer-fixture.ts";

const T1 = "00000000-0000-0000-0000-000000000001";

function recordOf(records: GroupRecord[]): PersistedConsumerGroup | null {
  expect(records).toHaveLength(1);
  const record = records[0]!;
  if (record.type !== "consumer-group") throw new Error(`expected a consumer-group record, got ${record.type}`);
  expect(record.groupId).toBe("g");
  return record.group;
}

/** A second coordinator with the same config and clock, as a group's next coordinator would be. */
function successorOf(f: Fixture): Fixture {
  const next = new Fixture();
  next.nowMs = f.nowMs;
  next.topics = f.topics;
  return next;
}

describe("consumer group records", () => {
  test("a join, an assignment change and a leave are recorded; a heartbeat that only keeps the session is not", () => {
    const f = new Fixture();
    const a = f.heartbeat({});
    const joined = recordOf(f.core.takeRecords());
    expect(joined).toMatchObject({ groupEpoch: 1, assignmentEpoch: 1, assignorName: "uniform" });
    expect(joined!.members).toEqual([
      expect.objectContaining({ memberId: "uuid-1", memberEpoch: 1, state: "stable", subscribedTopicNames: ["orders"], assigned: [{ topicId: T1, partitions: [0, 1, 2, 3, 4, 5] }], revoking: [] }),
    ]);
    expect(joined!.target).toEqual([{ memberId: "uuid-1", assignment: [{ topicId: T1, partitions: [0, 1, 2, 3, 4, 5] }] }]);

    f.nowMs += 100;
    f.heartbeat({ memberId: "uuid-1", memberEpoch: 1, topicPartitions: a.assignment });
    expect(f.core.takeRecords()).toEqual([]);

    // A second member: the first must give up half, which it is told on its next heartbeat.
    f.heartbeat({});
    expect(recordOf(f.core.takeRecords())!.members).toHaveLength(2);
    f.heartbeat({ memberId: "uuid-1", memberEpoch: 1, topicPartitions: a.assignment });
    const first = recordOf(f.core.takeRecords())!.members.find((m) => m.memberId === "uuid-1")!;
    expect(first.state).toBe("unrevoked");
    expect(first.revoking).toEqual([{ topicId: T1, partitions: [3, 4, 5] }]);

    f.heartbeat({ memberId: "uuid-2", memberEpoch: -1, topicPartitions: null });
    expect(recordOf(f.core.takeRecords())!.members.map((m) => m.memberId)).toEqual(["uuid-1"]);
  });

  test("an expired session is recorded, and so is an empty group given up", () => {
    const f = new Fixture();
    f.heartbeat({});
    f.core.takeRecords();
    f.nowMs += 1_001;
    f.core.tick(f.nowMs);
    expect(recordOf(f.core.takeRecords())!.members).toEqual([]);
    f.core.deleteEmptyGroup("g");
    expect(recordOf(f.core.takeRecords())).toBeNull();
    // A group this coordinator stops holding is not its to record.
    f.heartbeat({});
    f.core.forgetGroup("g");
    expect(f.core.takeRecords()).toEqual([]);
  });

  test("a coordinator that loads the record keeps the members, their epochs and partitions, with fresh sessions", () => {
    const f = new Fixture();
    const a = f.heartbeat({});
    const b = f.heartbeat({});
    f.heartbeat({ memberId: a.memberId!, memberEpoch: a.memberEpoch, topicPartitions: a.assignment });
    const record = recordOf([f.core.takeRecords().at(-1)!]);
    // The record is what the metadata log keeps; it passes the state machine's checks.
    expect(commandProblem({ type: "group-records", coordinatorId: 1, incarnation: "i", records: [{ type: "consumer-group", groupId: "g", group: record }] })).toBeNull();

    const next = successorOf(f);
    next.nowMs += 900;
    next.core.load("g", structuredClone(record), next.nowMs);
    expect(next.core.takeRecords()).toEqual([]);
    expect(next.core.describe("g", lookup(next.topics))).toEqual(f.core.describe("g", lookup(f.topics)));
    for (const memberId of [a.memberId!, b.memberId!]) expect(next.core.memberView("g", memberId)).toEqual(f.core.memberView("g", memberId));

    // Members go on at their epochs: the first finishes revoking, the second gets what was released.
    const viewA = next.core.memberView("g", a.memberId!)!;
    const againA = next.heartbeat({ memberId: a.memberId!, memberEpoch: viewA.memberEpoch, topicPartitions: viewA.assigned });
    expect(againA.errorCode).toBe(E.NONE);
    const viewB = next.core.memberView("g", b.memberId!)!;
    const againB = next.heartbeat({ memberId: b.memberId!, memberEpoch: viewB.memberEpoch, topicPartitions: viewB.assigned });
    expect(againB.errorCode).toBe(E.NONE);
    expect(next.core.describe("g", lookup(next.topics))!.groupState).toBe("Stable");

    // Sessions started at the load: 900 ms after it the members are still there, after another 1,001 they are gone.
    next.nowMs += 1_001;
    next.core.tick(next.nowMs);
    expect(next.core.memberCount("g")).toBe(0);
  });

  test("a member still revoking when the group moved must revoke within its rebalance timeout from the load", () => {
    const f = new Fixture({ sessionTimeoutMs: 60_000 });
    const a = f.heartbeat({ rebalanceTimeoutMs: 2_000 });
    f.heartbeat({});
    const revoke = f.heartbeat({ memberId: a.memberId!, memberEpoch: a.memberEpoch, topicPartitions: a.assignment });
    expect(f.core.memberView("g", a.memberId!)!.state).toBe("unrevoked");
    const record = recordOf([f.core.takeRecords().at(-1)!]);
    expect(revoke.errorCode).toBe(E.NONE);

    const next = new Fixture({ sessionTimeoutMs: 60_000 });
    next.nowMs = f.nowMs + 10_000;
    next.core.load("g", record, next.nowMs);
    next.nowMs += 1_999;
    next.core.tick(next.nowMs);
    expect(next.core.memberView("g", a.memberId!)).not.toBeNull();
    next.nowMs += 2;
    next.core.tick(next.nowMs);
    expect(next.core.memberView("g", a.memberId!)).toBeNull();
    next.core.checkInvariants();
  });

  test("loading null drops the group", () => {
    const f = new Fixture();
    f.heartbeat({});
    f.core.load("g", null, f.nowMs);
    expect(f.core.hasGroup("g")).toBe(false);
    expect(f.core.takeRecords()).toEqual([]);
  });

  test("the state machine refuses a record that could not load: a partition held twice, an unknown state", () => {
    const f = new Fixture();
    f.heartbeat({});
    const record = recordOf(f.core.takeRecords())!;
    const check = (group: unknown) => commandProblem({ type: "group-records", coordinatorId: 1, incarnation: "i", records: [{ type: "consumer-group", groupId: "g", group }] });
    const member = record.members[0]!;
    expect(check({ ...record, members: [member, { ...member, memberId: "other" }] })).toMatch(/held by two members/);
    expect(check({ ...record, members: [{ ...member, state: "dancing" }] })).toMatch(/unknown consumer group member state/);
    expect(check({ ...record, members: [member, member] })).toMatch(/distinct/);
    expect(check({ ...record, groupEpoch: "1" })).toMatch(/integer epochs/);
    expect(check(null)).toBeNull();
  });
});
