import { describe, expect, test } from "bun:test";
import { ErrorCode as E } from "../../src/protocol/error-codes.ts";
import type { OffsetCommitInput } from "../../src/group/types.ts";
import { Harness, SESSION_TIMEOUT_MS, subscription, testConfig } from "./harness.ts";

const G = "group-a";

function commitInput(
  generationId: number,
  memberId: string,
  offsets: Record<string, Record<number, number>>,
  committedMetadata: string | null = null,
): OffsetCommitInput {
  return {
    generationId,
    memberId,
    groupInstanceId: null,
    topics: Object.entries(offsets).map(([name, partitions]) => ({
      name,
      partitions: Object.entries(partitions).map(([partition, offset]) => ({
        partitionIndex: Number(partition),
        committedOffset: offset,
        committedLeaderEpoch: 3,
        committedMetadata,
      })),
    })),
  };
}

function errors(result: { topics: { partitions: { errorCode: number }[] }[] }): number[] {
  return result.topics.flatMap((topic) => topic.partitions.map((partition) => partition.errorCode));
}

function fetched(h: Harness, groupId: string, topic: string, partitions: number[]): number[] {
  const response = h.core.fetchOffsets(groupId, [{ name: topic, partitionIndexes: partitions }]);
  return response.topics[0]!.partitions.map((partition) => partition.committedOffset);
}

/** A consumer group whose only member subscribes to `topics`. */
function consumerGroup(h: Harness, topics: string[]) {
  const { memberIds, generationId } = h.stableGroup(G, ["a"], {
    protocols: [{ name: "range", metadata: subscription(topics) }],
  });
  return { memberId: memberIds[0]!, generationId };
}

describe("offset commit and fetch", () => {
  test("a commit outside group management creates the group and is fetched back", () => {
    const h = new Harness();
    const result = h.core.commitOffsets(G, commitInput(-1, "", { t: { 0: 10, 1: 20 } }, "meta"), h.nowMs);
    expect(errors(result)).toEqual([E.NONE, E.NONE]);
    h.collect();
    expect(h.records).toContainEqual({
      type: "offset",
      groupId: G,
      topic: "t",
      partition: 0,
      offset: 10,
      leaderEpoch: 3,
      metadata: "meta",
      commitTimestampMs: h.nowMs,
    });
    expect(fetched(h, G, "t", [0, 1, 2])).toEqual([10, 20, -1]);
    const partition = h.core.fetchOffsets(G, [{ name: "t", partitionIndexes: [2] }]).topics[0]!.partitions[0]!;
    expect(partition).toEqual({ partitionIndex: 2, committedOffset: -1, committedLeaderEpoch: -1, metadata: "", errorCode: E.NONE });
    expect(h.core.fetchOffsets(G, null).topics.map((topic) => topic.partitions.length)).toEqual([2]);
    expect(h.core.listGroups([])).toEqual([{ groupId: G, protocolType: "", groupState: "Empty" }]);
    expect(fetched(h, "none", "t", [0])).toEqual([-1]);
    expect(h.core.fetchOffsets("none", null).topics).toEqual([]);
  });

  test("a member commits with its generation; stale generations and strangers are refused", () => {
    const h = new Harness();
    const { memberId, generationId } = consumerGroup(h, ["t"]);
    expect(errors(h.core.commitOffsets(G, commitInput(generationId, memberId, { t: { 0: 5 } }), h.nowMs))).toEqual([E.NONE]);
    expect(errors(h.core.commitOffsets(G, commitInput(generationId - 1, memberId, { t: { 0: 6 } }), h.nowMs))).toEqual([
      E.ILLEGAL_GENERATION,
    ]);
    expect(errors(h.core.commitOffsets(G, commitInput(generationId, "ghost", { t: { 0: 6 } }), h.nowMs))).toEqual([E.UNKNOWN_MEMBER_ID]);
    expect(errors(h.core.commitOffsets(G, commitInput(-1, "", { t: { 0: 6 } }), h.nowMs))).toEqual([E.UNKNOWN_MEMBER_ID]);
    expect(errors(h.core.commitOffsets("none", commitInput(3, "x", { t: { 0: 6 } }), h.nowMs))).toEqual([E.ILLEGAL_GENERATION]);
    expect(fetched(h, G, "t", [0])).toEqual([5]);
  });

  test("commits are refused while the group completes a rebalance and accepted while it prepares one", () => {
    const h = new Harness();
    const a = h.joinNew(G, "a");
    h.advance(100);
    const { generationId } = h.joinAnswer(a.token);
    expect(errors(h.core.commitOffsets(G, commitInput(generationId, a.memberId, { t: { 0: 1 } }), h.nowMs))).toEqual([
      E.REBALANCE_IN_PROGRESS,
    ]);
    h.sync(G, { memberId: a.memberId, generationId, assignments: [] });
    h.joinNew(G, "b");
    expect(h.state(G)!.state).toBe("PreparingRebalance");
    expect(errors(h.core.commitOffsets(G, commitInput(generationId, a.memberId, { t: { 0: 2 } }), h.nowMs))).toEqual([E.NONE]);
  });

  test("metadata over the limit fails only its partitions", () => {
    const h = new Harness({ ...testConfig, maxOffsetMetadataBytes: 4 });
    const input = commitInput(-1, "", { t: { 0: 1 } }, "too long");
    input.topics.push({ name: "u", partitions: [{ partitionIndex: 0, committedOffset: 2, committedLeaderEpoch: -1, committedMetadata: "ok" }] });
    expect(errors(h.core.commitOffsets(G, input, h.nowMs))).toEqual([E.OFFSET_METADATA_TOO_LARGE, E.NONE]);
    expect(fetched(h, G, "t", [0])).toEqual([-1]);
    expect(fetched(h, G, "u", [0])).toEqual([2]);
  });
});

describe("deleting groups and offsets", () => {
  test("only Empty groups are deleted, with their offsets", () => {
    const h = new Harness();
    h.core.commitOffsets("simple", commitInput(-1, "", { t: { 0: 1 } }), h.nowMs);
    consumerGroup(h, ["t"]);
    const result = h.core.deleteGroups(["simple", G, "none"], h.nowMs);
    expect(result).toEqual([
      { groupId: "simple", errorCode: E.NONE },
      { groupId: G, errorCode: E.NON_EMPTY_GROUP },
      { groupId: "none", errorCode: E.GROUP_ID_NOT_FOUND },
    ]);
    h.collect();
    expect(h.records).toContainEqual({ type: "group-deleted", groupId: "simple" });
    expect(fetched(h, "simple", "t", [0])).toEqual([-1]);
    expect(h.core.listGroups([]).map((group) => group.groupId)).toEqual([G]);
  });

  test("OffsetDelete refuses topics a live consumer group subscribes to", () => {
    const h = new Harness();
    const { memberId, generationId } = consumerGroup(h, ["t"]);
    h.core.commitOffsets(G, commitInput(generationId, memberId, { t: { 0: 1 }, old: { 0: 2, 1: 3 } }), h.nowMs);
    const result = h.core.deleteOffsets(
      G,
      [
        { name: "t", partitionIndexes: [0] },
        { name: "old", partitionIndexes: [0] },
      ],
      h.nowMs,
    );
    expect(result).toEqual({
      errorCode: E.NONE,
      topics: [
        { name: "t", partitions: [{ partitionIndex: 0, errorCode: E.GROUP_SUBSCRIBED_TO_TOPIC }] },
        { name: "old", partitions: [{ partitionIndex: 0, errorCode: E.NONE }] },
      ],
    });
    expect(fetched(h, G, "old", [0, 1])).toEqual([-1, 3]);
    expect(fetched(h, G, "t", [0])).toEqual([1]);
    h.collect();
    expect(h.records).toContainEqual({ type: "offset-deleted", groupId: G, topic: "old", partition: 0 });
    expect(h.core.deleteOffsets("none", [{ name: "t", partitionIndexes: [0] }], h.nowMs).errorCode).toBe(E.GROUP_ID_NOT_FOUND);
  });

  test("OffsetDelete on a non-consumer live group is NON_EMPTY_GROUP; on an Empty group it deletes", () => {
    const h = new Harness();
    h.stableGroup(G, ["a"], { protocolType: "connect" });
    expect(h.core.deleteOffsets(G, [{ name: "t", partitionIndexes: [0] }], h.nowMs).errorCode).toBe(E.NON_EMPTY_GROUP);
    h.core.commitOffsets("simple", commitInput(-1, "", { t: { 0: 1 } }), h.nowMs);
    expect(h.core.deleteOffsets("simple", [{ name: "t", partitionIndexes: [0] }], h.nowMs).errorCode).toBe(E.NONE);
    expect(fetched(h, "simple", "t", [0])).toEqual([-1]);
  });
});

describe("offset retention", () => {
  const retentionMs = testConfig.offsetsRetentionMs;
  const checkMs = testConfig.offsetsRetentionCheckIntervalMs;

  test("an emptied group's offsets expire a retention period after it became Empty, then the group goes", () => {
    const h = new Harness();
    const { memberId, generationId } = consumerGroup(h, ["t"]);
    h.core.commitOffsets(G, commitInput(generationId, memberId, { t: { 0: 7 } }), h.nowMs);
    // Still a member long after the commit: nothing expires while the group is subscribed.
    for (let elapsedMs = 0; elapsedMs < retentionMs * 2; elapsedMs += 500) {
      h.advance(500);
      h.heartbeat(G, memberId, generationId);
    }
    expect(fetched(h, G, "t", [0])).toEqual([7]);
    h.core.leave(G, [{ memberId, groupInstanceId: null }], h.nowMs);
    h.advance(retentionMs - checkMs);
    expect(fetched(h, G, "t", [0])).toEqual([7]);
    h.advance(2 * checkMs);
    expect(fetched(h, G, "t", [0])).toEqual([-1]);
    expect(h.state(G)).toBeNull();
    expect(h.records).toContainEqual({ type: "offset-deleted", groupId: G, topic: "t", partition: 0 });
    expect(h.records.at(-1)).toEqual({ type: "group-deleted", groupId: G });
  });

  test("a Stable consumer group's offsets of topics it no longer subscribes to expire after their commit", () => {
    const h = new Harness();
    const { memberId, generationId } = consumerGroup(h, ["t"]);
    h.core.commitOffsets(G, commitInput(generationId, memberId, { t: { 0: 1 }, gone: { 0: 2 } }), h.nowMs);
    for (let elapsedMs = 0; elapsedMs < retentionMs + 2 * checkMs; elapsedMs += 500) {
      h.advance(500);
      h.heartbeat(G, memberId, generationId);
    }
    expect(fetched(h, G, "t", [0])).toEqual([1]);
    expect(fetched(h, G, "gone", [0])).toEqual([-1]);
  });

  test("offsets of a group without protocol type expire by commit time", () => {
    const h = new Harness();
    h.core.commitOffsets(G, commitInput(-1, "", { t: { 0: 1 } }), h.nowMs);
    h.advance(retentionMs / 2);
    h.core.commitOffsets(G, commitInput(-1, "", { t: { 1: 2 } }), h.nowMs);
    h.advance(retentionMs / 2 + checkMs);
    expect(fetched(h, G, "t", [0, 1])).toEqual([-1, 2]);
    h.advance(retentionMs / 2);
    expect(h.state(G)).toBeNull();
  });
});

describe("restore", () => {
  test("a core rebuilt from the records answers as the original did", () => {
    const h = new Harness();
    const { memberId, generationId } = consumerGroup(h, ["t"]);
    h.core.commitOffsets(G, commitInput(generationId, memberId, { t: { 0: 1, 1: 2 } }, "m"), h.nowMs);
    h.core.commitOffsets(G, commitInput(generationId, memberId, { t: { 0: 3 } }, "n"), h.nowMs);
    h.core.commitOffsets("simple", commitInput(-1, "", { u: { 0: 9 } }), h.nowMs);
    h.core.commitOffsets("gone", commitInput(-1, "", { u: { 0: 9 } }), h.nowMs);
    h.core.deleteGroups(["gone"], h.nowMs);
    h.core.leave(G, [{ memberId, groupInstanceId: null }], h.nowMs);
    h.collect();
    const before = [h.core.fetchOffsets(G, null), h.core.fetchOffsets("simple", null), h.core.fetchOffsets("gone", null)];

    const restored = h.newCore();
    restored.restore(h.records, h.nowMs);
    expect([restored.fetchOffsets(G, null), restored.fetchOffsets("simple", null), restored.fetchOffsets("gone", null)]).toEqual(before);
    expect(restored.listGroups([])).toEqual(h.core.listGroups([]));
    // The restored group continues its generations and its retention clock.
    h.core = restored;
    const again = h.joinNew(G, "b");
    h.advance(100);
    expect(h.joinAnswer(again.token).generationId).toBe(generationId + 2);
    h.core.leave(G, [{ memberId: again.memberId, groupInstanceId: null }], h.nowMs);
    h.advance(testConfig.offsetsRetentionMs + 2 * testConfig.offsetsRetentionCheckIntervalMs);
    expect(h.state(G)).toBeNull();
    expect(h.state("simple")).toBeNull();
  });

  test("a group restored with its Stable generation keeps the member until its session lapses, then is Empty and retention counts from there", () => {
    const h = new Harness();
    const { memberId, generationId } = consumerGroup(h, ["t"]);
    h.core.commitOffsets(G, commitInput(generationId, memberId, { t: { 0: 1 } }), h.nowMs);
    h.collect();
    h.nowMs += testConfig.offsetsRetentionMs * 3;
    const restored = h.newCore();
    restored.restore(h.records, h.nowMs);
    h.core = restored;
    expect(h.state(G)).toMatchObject({ state: "Stable", generationId, memberIds: [memberId] });
    expect(h.heartbeat(G, memberId, generationId)).toBe(E.NONE);
    // No heartbeat after that: the session lapses, the last member is gone, and the group is Empty from then.
    h.advance(SESSION_TIMEOUT_MS + 1);
    expect(h.state(G)).toMatchObject({ state: "Empty", generationId: generationId + 1, memberIds: [] });
    h.advance(testConfig.offsetsRetentionMs - 2 * testConfig.offsetsRetentionCheckIntervalMs);
    expect(fetched(h, G, "t", [0])).toEqual([1]);
    h.advance(4 * testConfig.offsetsRetentionCheckIntervalMs);
    expect(fetched(h, G, "t", [0])).toEqual([-1]);
  });
});
