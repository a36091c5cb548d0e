import { describe, expect, test } from "bun:test";
import { ErrorCode as E } from "../../src/protocol/error-codes.ts";
import { Harness, REBALANCE_TIMEOUT_MS, SESSION_TIMEOUT_MS, bytes, protocols, testConfig, text } from "./harness.ts";

const G = "group-a";

describe("joining", () => {
  test("a first join without member id from v4 gets MEMBER_ID_REQUIRED and a member id", () => {
    const h = new Harness();
    const answer = h.joinAnswer(h.join(G, { clientId: "c1" }));
    expect(answer.errorCode).toBe(E.MEMBER_ID_REQUIRED);
    expect(answer.memberId).toBe("c1-uuid1");
    expect(h.state(G)!.state).toBe("Empty");
  });

  test("before v4 the first join is accepted directly", () => {
    const h = new Harness();
    const token = h.join(G, { clientId: "c1", apiVersion: 3 });
    expect(h.answered(token)).toBe(false);
    h.advance(testConfig.initialRebalanceDelayMs);
    expect(h.joinAnswer(token)).toMatchObject({ errorCode: E.NONE, memberId: "c1-uuid1", generationId: 1 });
  });

  test("the join waits for the initial rebalance delay, then the leader gets the member list", () => {
    const h = new Harness();
    const { memberId, token } = h.joinNew(G, "c1");
    expect(h.state(G)!.state).toBe("PreparingRebalance");
    h.advance(testConfig.initialRebalanceDelayMs - 1);
    expect(h.answered(token)).toBe(false);
    h.advance(1);
    const answer = h.joinAnswer(token);
    expect(answer).toMatchObject({
      errorCode: E.NONE,
      generationId: 1,
      protocolType: "consumer",
      protocolName: "range",
      leader: memberId,
      memberId,
    });
    expect(answer.members.map((member) => [member.memberId, text(member.metadata)])).toEqual([[memberId, "meta-range"]]);
    expect(h.state(G)!.state).toBe("CompletingRebalance");
  });

  test("new members during the initial delay extend it, up to the rebalance timeout", () => {
    const h = new Harness();
    const a = h.joinNew(G, "a");
    h.advance(50);
    const b = h.joinNew(G, "b");
    h.advance(50);
    // A member arrived during the first delay: one more delay.
    expect(h.answered(a.token)).toBe(false);
    h.advance(99);
    expect(h.answered(a.token)).toBe(false);
    h.advance(1);
    const leader = h.joinAnswer(a.token);
    const follower = h.joinAnswer(b.token);
    expect(leader.leader).toBe(a.memberId);
    expect(leader.members.map((member) => member.memberId)).toEqual([a.memberId, b.memberId]);
    expect(follower).toMatchObject({ errorCode: E.NONE, leader: a.memberId, generationId: 1, members: [] });
  });

  test("the extension stops once the rebalance timeout is used up", () => {
    const h = new Harness();
    const rebalanceTimeoutMs = 250;
    const first = h.joinNew(G, "m0", { rebalanceTimeoutMs });
    const startMs = h.nowMs;
    for (let i = 1; i < 10; i++) {
      h.advance(50);
      if (h.answered(first.token)) break;
      h.joinNew(G, `m${i}`, { rebalanceTimeoutMs });
    }
    expect(h.answered(first.token)).toBe(true);
    // Delays of 100 + 100 + 100, the remaining budget after the first being 150.
    expect(h.nowMs - startMs).toBeLessThanOrEqual(350);
  });

  test("without an initial delay the first rebalance completes at the next tick", () => {
    const h = new Harness({ ...testConfig, initialRebalanceDelayMs: 0 });
    const a = h.joinNew(G, "a");
    expect(h.core.nextDeadlineMs()).toBe(h.nowMs);
    h.advance(0);
    expect(h.joinAnswer(a.token)).toMatchObject({ errorCode: E.NONE, generationId: 1 });
  });

  test("protocols are chosen by the members' votes among those all support", () => {
    const h = new Harness();
    const a = h.joinNew(G, "a", { protocols: protocols("roundrobin", "range") });
    const b = h.joinNew(G, "b", { protocols: protocols("range", "roundrobin", "sticky") });
    const c = h.joinNew(G, "c", { protocols: protocols("range", "roundrobin") });
    h.advance(500);
    for (const each of [a, b, c]) expect(h.joinAnswer(each.token).protocolName).toBe("range");
  });

  test("join errors: session timeout bounds, inconsistent protocol, unknown member, max size", () => {
    const h = new Harness({ ...testConfig, maxGroupSize: 3 });
    expect(h.joinAnswer(h.join(G, { sessionTimeoutMs: 5 })).errorCode).toBe(E.INVALID_SESSION_TIMEOUT);
    expect(h.joinAnswer(h.join(G, { sessionTimeoutMs: 200_000 })).errorCode).toBe(E.INVALID_SESSION_TIMEOUT);
    expect(h.joinAnswer(h.join("nope", { memberId: "ghost" })).errorCode).toBe(E.UNKNOWN_MEMBER_ID);
    h.stableGroup(G, ["a", "b"]);
    expect(h.joinAnswer(h.join(G, { protocolType: "connect" })).errorCode).toBe(E.INCONSISTENT_GROUP_PROTOCOL);
    expect(h.joinAnswer(h.join(G, { protocols: protocols("sticky") })).errorCode).toBe(E.INCONSISTENT_GROUP_PROTOCOL);
    expect(h.joinAnswer(h.join(G, { memberId: "ghost" })).errorCode).toBe(E.UNKNOWN_MEMBER_ID);
    expect(h.state(G)!.state).toBe("Stable");
  });

  test("a full group turns new members away before looking at their protocols", () => {
    const h = new Harness({ ...testConfig, maxGroupSize: 2 });
    h.stableGroup(G, ["a", "b"]);
    expect(h.joinAnswer(h.join(G, { clientId: "c" })).errorCode).toBe(E.GROUP_MAX_SIZE_REACHED);
    expect(h.joinAnswer(h.join(G, { clientId: "c", protocolType: "connect" })).errorCode).toBe(E.GROUP_MAX_SIZE_REACHED);
    expect(h.state(G)!.state).toBe("Stable");
  });
});

describe("syncing and heartbeats", () => {
  test("every member gets the leader's assignment once the leader syncs", () => {
    const h = new Harness();
    const a = h.joinNew(G, "a");
    const b = h.joinNew(G, "b");
    h.advance(300);
    const generationId = h.joinAnswer(a.token).generationId;
    const followerSync = h.sync(G, { memberId: b.memberId, generationId });
    expect(h.answered(followerSync)).toBe(false);
    expect(h.heartbeat(G, b.memberId, generationId)).toBe(E.NONE);
    const leaderSync = h.sync(G, {
      memberId: a.memberId,
      generationId,
      assignments: [
        { memberId: a.memberId, assignment: bytes("A") },
        { memberId: b.memberId, assignment: bytes("B") },
      ],
    });
    expect(text(h.syncAnswer(leaderSync).assignment)).toBe("A");
    expect(h.syncAnswer(followerSync)).toMatchObject({ errorCode: E.NONE, protocolType: "consumer", protocolName: "range" });
    expect(text(h.syncAnswer(followerSync).assignment)).toBe("B");
    expect(h.state(G)!.state).toBe("Stable");
    // A late sync in a Stable group answers at once with the stored assignment.
    expect(text(h.syncAnswer(h.sync(G, { memberId: b.memberId, generationId })).assignment)).toBe("B");
  });

  test("sync errors: illegal generation, unknown member, inconsistent protocol, during a rebalance", () => {
    const h = new Harness();
    const { memberIds, generationId } = h.stableGroup(G, ["a", "b"]);
    const [a, b] = memberIds as [string, string];
    expect(h.syncAnswer(h.sync(G, { memberId: a, generationId: generationId + 1 })).errorCode).toBe(E.ILLEGAL_GENERATION);
    expect(h.syncAnswer(h.sync(G, { memberId: "ghost", generationId })).errorCode).toBe(E.UNKNOWN_MEMBER_ID);
    expect(h.syncAnswer(h.sync("none", { memberId: a, generationId })).errorCode).toBe(E.UNKNOWN_MEMBER_ID);
    expect(h.syncAnswer(h.sync(G, { memberId: a, generationId, protocolName: "sticky" })).errorCode).toBe(E.INCONSISTENT_GROUP_PROTOCOL);
    h.join(G, { clientId: "a", memberId: a });
    expect(h.state(G)!.state).toBe("PreparingRebalance");
    expect(h.syncAnswer(h.sync(G, { memberId: b, generationId })).errorCode).toBe(E.REBALANCE_IN_PROGRESS);
  });

  test("heartbeats: rebalance in progress, illegal generation, unknown member", () => {
    const h = new Harness();
    const { memberIds, generationId } = h.stableGroup(G, ["a", "b"]);
    const [a, b] = memberIds as [string, string];
    expect(h.heartbeat(G, b, generationId)).toBe(E.NONE);
    expect(h.heartbeat(G, b, generationId - 1)).toBe(E.ILLEGAL_GENERATION);
    expect(h.heartbeat(G, "ghost", generationId)).toBe(E.UNKNOWN_MEMBER_ID);
    expect(h.heartbeat("none", b, generationId)).toBe(E.UNKNOWN_MEMBER_ID);
    // The leader's rejoin starts a rebalance that followers learn of from their heartbeats.
    const rejoin = h.join(G, { clientId: "a", memberId: a });
    expect(h.heartbeat(G, b, generationId)).toBe(E.REBALANCE_IN_PROGRESS);
    const followerRejoin = h.join(G, { clientId: "b", memberId: b });
    // Everyone rejoined: no waiting for the rebalance timeout.
    expect(h.joinAnswer(rejoin).generationId).toBe(generationId + 1);
    expect(h.joinAnswer(followerRejoin).generationId).toBe(generationId + 1);
  });

  test("a follower rejoining a Stable group with the same metadata gets the current generation", () => {
    const h = new Harness();
    const { memberIds, generationId } = h.stableGroup(G, ["a", "b"]);
    const answer = h.joinAnswer(h.join(G, { clientId: "b", memberId: memberIds[1] }));
    expect(answer).toMatchObject({ errorCode: E.NONE, generationId, leader: memberIds[0], members: [] });
    expect(h.state(G)!.state).toBe("Stable");
  });

  test("a member that stops heartbeating expires after its session timeout and the group rebalances", () => {
    const h = new Harness();
    const { memberIds, generationId } = h.stableGroup(G, ["a", "b"]);
    const [a, b] = memberIds as [string, string];
    for (let elapsedMs = 0; elapsedMs < SESSION_TIMEOUT_MS - 300; elapsedMs += 300) {
      h.advance(300);
      expect(h.heartbeat(G, a, generationId)).toBe(E.NONE);
    }
    h.advance(300);
    expect(h.state(G)!.memberIds).toEqual([a]);
    expect(h.heartbeat(G, a, generationId)).toBe(E.REBALANCE_IN_PROGRESS);
    expect(h.heartbeat(G, b, generationId)).toBe(E.UNKNOWN_MEMBER_ID);
    const rejoin = h.join(G, { clientId: "a", memberId: a });
    expect(h.joinAnswer(rejoin)).toMatchObject({ generationId: generationId + 1, leader: a });
  });

  test("members that do not rejoin within the rebalance timeout are removed", () => {
    const h = new Harness();
    const { memberIds, generationId } = h.stableGroup(G, ["a", "b"]);
    const [a, b] = memberIds as [string, string];
    const rejoin = h.join(G, { clientId: "a", memberId: a });
    // b keeps heartbeating but ignores REBALANCE_IN_PROGRESS.
    for (let elapsedMs = 0; elapsedMs < REBALANCE_TIMEOUT_MS - 400; elapsedMs += 400) {
      h.advance(400);
      expect(h.heartbeat(G, b, generationId)).toBe(E.REBALANCE_IN_PROGRESS);
      expect(h.answered(rejoin)).toBe(false);
    }
    h.advance(400);
    expect(h.joinAnswer(rejoin)).toMatchObject({ errorCode: E.NONE, generationId: generationId + 1, leader: a });
    expect(h.joinAnswer(rejoin).members.map((member) => member.memberId)).toEqual([a]);
    expect(h.heartbeat(G, b, generationId)).toBe(E.UNKNOWN_MEMBER_ID);
  });

  test("members that never send SyncGroup are removed after the rebalance timeout", () => {
    const h = new Harness();
    const a = h.joinNew(G, "a");
    const b = h.joinNew(G, "b");
    h.advance(300);
    const generationId = h.joinAnswer(a.token).generationId;
    h.sync(G, { memberId: a.memberId, generationId, assignments: [{ memberId: a.memberId, assignment: bytes("A") }] });
    expect(h.state(G)!.state).toBe("Stable");
    // b heartbeats but never syncs.
    for (let elapsedMs = 100; elapsedMs < REBALANCE_TIMEOUT_MS - 400; elapsedMs += 400) {
      h.advance(400);
      expect(h.heartbeat(G, a.memberId, generationId)).toBe(E.NONE);
      expect(h.heartbeat(G, b.memberId, generationId)).toBe(E.NONE);
    }
    h.advance(400);
    expect(h.state(G)!.memberIds).toEqual([a.memberId]);
    expect(h.state(G)!.state).toBe("PreparingRebalance");
    expect(h.heartbeat(G, b.memberId, generationId)).toBe(E.UNKNOWN_MEMBER_ID);
  });

  test("a MEMBER_ID_REQUIRED id that never comes back expires after the session timeout", () => {
    const h = new Harness();
    const a = h.joinNew(G, "a");
    const pending = h.joinAnswer(h.join(G, { clientId: "b" }));
    expect(pending.errorCode).toBe(E.MEMBER_ID_REQUIRED);
    h.advance(300);
    expect(h.joinAnswer(a.token).members.map((member) => member.memberId)).toEqual([a.memberId]);
    h.advance(SESSION_TIMEOUT_MS);
    expect(h.joinAnswer(h.join(G, { clientId: "b", memberId: pending.memberId })).errorCode).toBe(E.UNKNOWN_MEMBER_ID);
  });
});

describe("a coordinator taking a group over", () => {
  test("a Stable generation's members, protocol and assignments are recorded; the next coordinator keeps them, and their heartbeats go on", () => {
    const h = new Harness();
    const { memberIds, generationId } = h.stableGroup(G, ["a", "b"]);
    h.collect();
    const record = h.records.findLast((r) => r.type === "group");
    expect(record).toMatchObject({ type: "group", generationId, stable: { protocolName: "range", members: memberIds.map((memberId) => ({ memberId })) } });

    h.advance(200);
    const next = h.newCore();
    next.loadGroup(G, h.records, h.nowMs);
    h.core = next;
    expect(h.state(G)).toMatchObject({ state: "Stable", generationId, memberIds });
    for (const memberId of memberIds) expect(h.heartbeat(G, memberId, generationId)).toBe(E.NONE);
    // A late SyncGroup gets the recorded assignment; a follower rejoining with the same metadata stays in the generation.
    expect(text(h.syncAnswer(h.sync(G, { memberId: memberIds[1]!, generationId })).assignment)).toBe(`assigned-${memberIds[1]}`);
    const described = next.describeGroups([G])[0]!;
    expect(described.members.map((m) => text(m.memberAssignment))).toEqual(memberIds.map((id) => `assigned-${id}`));

    // Only one member keeps heartbeating: the other's session, started at the takeover, lapses and the group rebalances.
    for (let elapsed = 0; elapsed <= SESSION_TIMEOUT_MS; elapsed += SESSION_TIMEOUT_MS / 4) {
      h.advance(SESSION_TIMEOUT_MS / 4);
      h.heartbeat(G, memberIds[0]!, generationId);
    }
    expect(h.state(G)!.state).toBe("PreparingRebalance");
    expect(h.state(G)!.memberIds).toEqual([memberIds[0]!]);
  });

  test("a group whose last record has no Stable generation, and replayed records of another run, bring back no members", () => {
    const h = new Harness();
    const { memberIds, generationId } = h.stableGroup(G, ["a"]);
    h.collect();
    const stableRecord = h.records.findLast((r) => r.type === "group")!;
    const replaying = h.newCore();
    replaying.replay([stableRecord], h.nowMs);
    expect(replaying.groupState(G)).toMatchObject({ state: "Empty", generationId, memberIds: [] });

    h.core.leave(G, [{ memberId: memberIds[0]!, groupInstanceId: null }], h.nowMs);
    h.collect();
    const next = h.newCore();
    next.loadGroup(G, h.records, h.nowMs);
    expect(next.groupState(G)).toMatchObject({ state: "Empty", generationId: generationId + 1, memberIds: [] });
  });
});

describe("leaving", () => {
  test("the leader leaving hands leadership to the next member after the rebalance", () => {
    const h = new Harness();
    const { memberIds, generationId } = h.stableGroup(G, ["a", "b", "c"]);
    const [a, b, c] = memberIds as [string, string, string];
    const left = h.core.leave(G, [{ memberId: a, groupInstanceId: null }, { memberId: "ghost", groupInstanceId: null }], h.nowMs);
    expect(left.members.map((member) => member.errorCode)).toEqual([E.NONE, E.UNKNOWN_MEMBER_ID]);
    expect(h.state(G)!.state).toBe("PreparingRebalance");
    expect(h.state(G)!.leaderId).toBe(b);
    const rejoinC = h.join(G, { clientId: "c", memberId: c });
    const rejoinB = h.join(G, { clientId: "b", memberId: b });
    expect(h.joinAnswer(rejoinB)).toMatchObject({ generationId: generationId + 1, leader: b });
    expect(h.joinAnswer(rejoinB).members.map((member) => member.memberId)).toEqual([b, c]);
    expect(h.joinAnswer(rejoinC).members).toEqual([]);
  });

  test("the last member leaving empties the group", () => {
    const h = new Harness();
    const { memberIds, generationId } = h.stableGroup(G, ["a"]);
    h.core.leave(G, [{ memberId: memberIds[0]!, groupInstanceId: null }], h.nowMs);
    expect(h.state(G)).toMatchObject({ state: "Empty", generationId: generationId + 1, leaderId: null });
  });

  test("a member leaving while others wait in the rebalance completes it", () => {
    const h = new Harness();
    const { memberIds } = h.stableGroup(G, ["a", "b"]);
    const rejoin = h.join(G, { clientId: "a", memberId: memberIds[0] });
    h.core.leave(G, [{ memberId: memberIds[1]!, groupInstanceId: null }], h.nowMs);
    h.collect();
    expect(h.joinAnswer(rejoin).members.map((member) => member.memberId)).toEqual([memberIds[0]!]);
  });

  test("a removed member's waiting JoinGroup is answered with UNKNOWN_MEMBER_ID", () => {
    const h = new Harness();
    const a = h.joinNew(G, "a");
    h.core.leave(G, [{ memberId: a.memberId, groupInstanceId: null }], h.nowMs);
    h.collect();
    expect(h.joinAnswer(a.token).errorCode).toBe(E.UNKNOWN_MEMBER_ID);
  });
});

describe("static membership", () => {
  const staticJoin = (h: Harness, instance: string, memberId = "") =>
    h.join(G, { clientId: instance, groupInstanceId: instance, memberId });

  function stableStaticGroup(h: Harness) {
    const a = staticJoin(h, "ia");
    const b = staticJoin(h, "ib");
    h.advance(300);
    const answerA = h.joinAnswer(a);
    const answerB = h.joinAnswer(b);
    const generationId = answerA.generationId;
    h.sync(G, {
      memberId: answerA.memberId,
      groupInstanceId: "ia",
      generationId,
      assignments: [
        { memberId: answerA.memberId, assignment: bytes("A") },
        { memberId: answerB.memberId, assignment: bytes("B") },
      ],
    });
    return { a: answerA.memberId, b: answerB.memberId, generationId };
  }

  test("a static member joins without MEMBER_ID_REQUIRED", () => {
    const h = new Harness();
    const token = staticJoin(h, "ia");
    expect(h.answered(token)).toBe(false);
    h.advance(100);
    expect(h.joinAnswer(token).errorCode).toBe(E.NONE);
  });

  test("a restarted static member replaces its old id without a rebalance; the old id is fenced", () => {
    const h = new Harness();
    const { a, b, generationId } = stableStaticGroup(h);
    const answer = h.joinAnswer(staticJoin(h, "ib"));
    expect(answer.errorCode).toBe(E.NONE);
    expect(answer.generationId).toBe(generationId);
    expect(answer.memberId).not.toBe(b);
    expect(answer.leader).toBe(a);
    expect(h.state(G)!.state).toBe("Stable");
    expect(h.heartbeat(G, b, generationId, "ib")).toBe(E.FENCED_INSTANCE_ID);
    expect(h.heartbeat(G, answer.memberId, generationId, "ib")).toBe(E.NONE);
    expect(text(h.syncAnswer(h.sync(G, { memberId: answer.memberId, groupInstanceId: "ib", generationId })).assignment)).toBe("B");
    expect(h.syncAnswer(h.sync(G, { memberId: b, groupInstanceId: "ib", generationId })).errorCode).toBe(E.FENCED_INSTANCE_ID);
    const commit = h.core.commitOffsets(
      G,
      { generationId, memberId: b, groupInstanceId: "ib", topics: [{ name: "t", partitions: [{ partitionIndex: 0, committedOffset: 1, committedLeaderEpoch: -1, committedMetadata: null }] }] },
      h.nowMs,
    );
    expect(commit.topics[0]!.partitions[0]!.errorCode).toBe(E.FENCED_INSTANCE_ID);

    // The group record names the new id: the next coordinator takes its heartbeats and fences the old one.
    h.collect();
    const next = h.newCore();
    next.loadGroup(G, h.records, h.nowMs);
    h.core = next;
    expect(h.heartbeat(G, answer.memberId, generationId, "ib")).toBe(E.NONE);
    expect(h.heartbeat(G, b, generationId, "ib")).toBe(E.FENCED_INSTANCE_ID);
  });

  test("a restarted static leader from v9 is told it leads but may skip the assignment", () => {
    const h = new Harness();
    const { a } = stableStaticGroup(h);
    const answer = h.joinAnswer(staticJoin(h, "ia"));
    expect(answer).toMatchObject({ errorCode: E.NONE, leader: answer.memberId, skipAssignment: true });
    expect(answer.members).toHaveLength(2);
    expect(answer.memberId).not.toBe(a);
    const older = h.joinAnswer(h.join(G, { clientId: "ia", groupInstanceId: "ia", apiVersion: 8 }));
    expect(older).toMatchObject({ errorCode: E.NONE, leader: answer.memberId, skipAssignment: false, members: [] });
  });

  test("a static member rejoining with a protocol that changes the selection triggers a rebalance", () => {
    const h = new Harness();
    const first = h.join(G, { clientId: "ia", groupInstanceId: "ia", protocols: protocols("range", "sticky") });
    h.advance(100);
    const { memberId, generationId } = h.joinAnswer(first);
    h.sync(G, { memberId, groupInstanceId: "ia", generationId, assignments: [{ memberId, assignment: bytes("A") }] });
    expect(h.state(G)!.state).toBe("Stable");
    const same = h.join(G, { clientId: "ia", groupInstanceId: "ia", protocols: protocols("range", "sticky") });
    expect(h.joinAnswer(same)).toMatchObject({ errorCode: E.NONE, generationId });
    const changed = h.join(G, { clientId: "ia", groupInstanceId: "ia", protocols: protocols("sticky", "range") });
    // The only member has rejoined, so the rebalance it started completes at once.
    expect(h.joinAnswer(changed)).toMatchObject({ errorCode: E.NONE, generationId: generationId + 1, protocolName: "sticky" });
  });

  test("a static member's pending JoinGroup is fenced when a newer incarnation joins", () => {
    const h = new Harness();
    const first = staticJoin(h, "ia");
    const second = staticJoin(h, "ia");
    expect(h.joinAnswer(first).errorCode).toBe(E.FENCED_INSTANCE_ID);
    h.advance(100);
    expect(h.joinAnswer(second)).toMatchObject({ errorCode: E.NONE, generationId: 1 });
  });

  test("a rebalance nobody rejoins waits for the static members' sessions to end", () => {
    const h = new Harness();
    const { a, generationId } = stableStaticGroup(h);
    h.core.leave(G, [{ memberId: "", groupInstanceId: "ib" }], h.nowMs);
    h.collect();
    for (let elapsedMs = 0; elapsedMs < 2 * REBALANCE_TIMEOUT_MS; elapsedMs += 500) {
      expect(h.heartbeat(G, a, generationId, "ia")).toBe(E.REBALANCE_IN_PROGRESS);
      h.advance(500);
    }
    // Still waiting for its only member, which is static and has not rejoined.
    expect(h.state(G)).toMatchObject({ state: "PreparingRebalance", memberIds: [a] });
    h.advance(SESSION_TIMEOUT_MS);
    // It became Empty, and an Empty group without offsets is swept away.
    expect(h.records).toContainEqual({ type: "group", groupId: G, protocolType: "consumer", generationId: generationId + 1, emptySinceMs: expect.any(Number) });
    expect(h.state(G)).toBeNull();
  });

  test("leaving by instance id removes the static member", () => {
    const h = new Harness();
    const { b } = stableStaticGroup(h);
    const left = h.core.leave(G, [{ memberId: "", groupInstanceId: "ib" }, { memberId: "", groupInstanceId: "nobody" }], h.nowMs);
    expect(left.members.map((member) => member.errorCode)).toEqual([E.NONE, E.UNKNOWN_MEMBER_ID]);
    expect(h.state(G)!.memberIds).not.toContain(b);
    const fenced = h.core.leave(G, [{ memberId: "stale", groupInstanceId: "ia" }], h.nowMs);
    expect(fenced.members[0]!.errorCode).toBe(E.FENCED_INSTANCE_ID);
  });

  test("a static member that misses a rebalance keeps its place", () => {
    const h = new Harness();
    const { a, b, generationId } = stableStaticGroup(h);
    const rejoin = h.join(G, { clientId: "ia", groupInstanceId: "ia", memberId: a });
    for (let elapsedMs = 0; elapsedMs < REBALANCE_TIMEOUT_MS; elapsedMs += 500) {
      expect(h.heartbeat(G, b, generationId, "ib")).toBe(E.REBALANCE_IN_PROGRESS);
      h.advance(500);
    }
    expect(h.joinAnswer(rejoin).generationId).toBe(generationId + 1);
    expect(h.joinAnswer(rejoin).members.map((member) => member.memberId)).toEqual([a, b]);
  });
});

describe("queries", () => {
  test("listGroups filters by state; describeGroups shows Stable members with metadata and assignments", () => {
    const h = new Harness();
    const { memberIds } = h.stableGroup(G, ["a"]);
    h.joinNew("group-b", "x");
    expect(h.core.listGroups([])).toHaveLength(2);
    expect(h.core.listGroups(["stable"])).toEqual([{ groupId: G, protocolType: "consumer", groupState: "Stable" }]);
    const [described, missing] = h.core.describeGroups([G, "none"]);
    expect(described).toMatchObject({ groupState: "Stable", protocolType: "consumer", protocolData: "range" });
    expect(described!.members[0]).toMatchObject({ memberId: memberIds[0], clientId: "a", clientHost: "/127.0.0.1" });
    expect(text(described!.members[0]!.memberAssignment)).toBe(`assigned-${memberIds[0]}`);
    expect(missing).toMatchObject({ errorCode: E.NONE, groupState: "Dead", members: [] });
    const preparing = h.core.describeGroups(["group-b"])[0]!;
    expect(preparing.protocolData).toBe("");
    expect(preparing.members[0]!.memberMetadata.byteLength).toBe(0);
  });

  test("nextDeadlineMs names the next timer", () => {
    const h = new Harness();
    h.joinNew(G, "a");
    expect(h.core.nextDeadlineMs()).toBe(h.nowMs + testConfig.initialRebalanceDelayMs);
  });
});

describe("edge cases", () => {
  test("a group whose members all left during the initial delay accepts new members of any protocol", () => {
    const h = new Harness();
    const a = h.joinNew(G, "a", { protocols: protocols("range") });
    h.core.leave(G, [{ memberId: a.memberId, groupInstanceId: null }], h.nowMs);
    h.collect();
    expect(h.state(G)!.state).toBe("PreparingRebalance");
    const b = h.joinNew(G, "b", { protocols: protocols("sticky") });
    h.advance(300);
    expect(h.joinAnswer(b.token)).toMatchObject({ errorCode: E.NONE, protocolName: "sticky", leader: b.memberId });
  });

  test("a second JoinGroup from the same member supersedes the first", () => {
    const h = new Harness();
    const a = h.joinNew(G, "a");
    const again = h.join(G, { clientId: "a", memberId: a.memberId });
    expect(h.joinAnswer(a.token).errorCode).toBe(E.REBALANCE_IN_PROGRESS);
    h.advance(100);
    expect(h.joinAnswer(again).errorCode).toBe(E.NONE);
  });

  test("a clock that steps back does not move time back or lose the next deadline", () => {
    const h = new Harness();
    const { memberIds, generationId } = h.stableGroup(G, ["a"]);
    const deadlineMs = h.core.nextDeadlineMs();
    expect(h.core.heartbeat(G, { memberId: memberIds[0]!, groupInstanceId: null, generationId }, h.nowMs - 10_000).errorCode).toBe(E.NONE);
    expect(h.core.nextDeadlineMs()).toBeLessThanOrEqual(deadlineMs);
    h.core.checkInvariants();
  });
});
