/**
 * A committed record that is malformed, or whose apply throws, is refused the same way on every node: the state is
 * left as it was, the fault is reported, and later records apply. Deterministic: the entries go through the same
 * encoding and decoding as the Raft log's (envelope, metadata entry), with no sockets or clocks.
 */
import { expect, test } from "bun:test";
import { decodeMetadataEntry, encodeMetadataEntry } from "../../src/metadata/log-format.ts";
import type { MetadataCommand } from "../../src/metadata/records.ts";
import { MetadataState } from "../../src/metadata/state.ts";
import { ErrorCode } from "../../src/protocol/error-codes.ts";
import { decodeEnvelope, encodeEnvelope } from "../../src/raft/envelope.ts";

const registerBroker = (nodeId: number): MetadataCommand => ({ type: "register-broker", broker: { nodeId, host: "127.0.0.1", port: 9090 + nodeId, rack: null } });
const createTopic = (name: string, count = 2): MetadataCommand => ({
  type: "create-topic",
  name,
  topicId: `id-${name}`,
  configs: {},
  placement: { kind: "balanced", count, replicationFactor: 1 },
});

/** One committed Raft entry's data carrying one proposal of `commands`, as RaftNode and RaftMetadataLog write it. */
function entryData(sequence: number, commands: unknown[]): Uint8Array {
  return encodeEnvelope("1:node", [[sequence, encodeMetadataEntry({ incarnation: "proposer", sequence, commands })]]);
}

/**
 * What a node does with a committed entry: decode it and apply each command. Returns the faults; checks that each
 * faulty command left the state as it was.
 */
function applyEntry(state: MetadataState, data: Uint8Array, index: number): string[] {
  const faults: string[] = [];
  for (const [, proposal] of decodeEnvelope(data, index).proposals) {
    for (const command of decodeMetadataEntry(proposal, index).commands) {
      const before = state.toSnapshot();
      const applied = state.apply(command, index);
      if (applied.fault === undefined) continue;
      faults.push(applied.fault);
      expect(applied.outcome.errorCode).toBe(ErrorCode.UNKNOWN_SERVER_ERROR);
      expect(applied.changes).toEqual([]);
      expect(state.toSnapshot()).toEqual(before);
    }
  }
  return faults;
}

test("malformed committed records are refused alike on three nodes, leave the state as it was, and later entries apply", () => {
  const malformed: unknown[] = [
    { type: "allocate-producer-ids", count: 0 },
    { type: "register-broker" },
    { type: "create-topic", name: "bad", topicId: "id-bad", configs: {}, placement: { kind: "explicit", replicas: [[]] } },
    { type: "alter-partition", topic: "t0", partition: 0, isr: "1", leaderEpoch: 0, partitionEpoch: 0 },
    { type: "from-a-newer-build", name: "t0" },
    "not a command",
  ];
  const log = [
    entryData(1, [registerBroker(1), registerBroker(2)]),
    entryData(2, [createTopic("t0")]),
    // Malformed records between good ones in one entry: only they are refused.
    entryData(3, [createTopic("t1"), ...malformed, { type: "allocate-producer-ids", count: 100 }]),
    entryData(4, [createTopic("t2", 3), { type: "delete-topic", name: "t0" }]),
  ];
  const nodes = [new MetadataState(), new MetadataState(), new MetadataState()];
  const faultsByNode = nodes.map((state) => log.flatMap((data, i) => applyEntry(state, data, i + 1)));
  expect(faultsByNode[0]).toHaveLength(malformed.length);
  expect(faultsByNode[0]).toContain("a producer id block of 0");
  expect(faultsByNode[0]).toContain("unknown command type from-a-newer-build");
  nodes.forEach((node, i) => {
    expect(faultsByNode[i]).toEqual(faultsByNode[0]!);
    expect(node.toSnapshot()).toEqual(nodes[0]!.toSnapshot());
    expect([...node.topics()].map((t) => t.name)).toEqual(["t1", "t2"]);
    expect(node.nextProducerId).toBe(100);
    expect(node.topic("bad")).toBeUndefined();
  });
});

test("a command whose apply throws after changing the state is undone, and the next command applies", () => {
  const state = new MetadataState();
  state.apply(registerBroker(1), 1);
  state.apply(createTopic("t0"), 2);
  state.apply({ type: "fence-broker", nodeId: 1, brokerEpoch: 1, reason: "session-timeout" }, 3);
  const before = state.toSnapshot();
  const counts = () => [state.leaders(1), state.replicas(1), state.leaders(2), state.replicas(2)];
  const countsBefore = counts();
  // A bug in a step that runs after the command changed brokers and epochs: registering broker 2 re-elects leaderless partitions.
  const electLeaderless = Reflect.get(state, "electLeaderless") as () => unknown;
  Reflect.set(state, "electLeaderless", () => {
    throw new Error("bug in leader election");
  });
  const registration = state.apply(registerBroker(2), 4);
  expect(registration.fault).toBe("applying it threw Error: bug in leader election");
  expect(registration.outcome.errorCode).toBe(ErrorCode.UNKNOWN_SERVER_ERROR);
  expect(registration.changes).toEqual([]);
  expect(state.toSnapshot()).toEqual(before);
  expect(state.broker(2)).toBeUndefined();
  expect(state.brokerEpoch(2)).toBe(-1);
  expect(counts()).toEqual(countsBefore);

  Reflect.set(state, "electLeaderless", electLeaderless);
  expect(state.apply(registerBroker(2), 5).fault).toBeUndefined();
  expect(state.apply({ type: "create-partitions", name: "t0", firstPartition: 2, placement: { kind: "explicit", replicas: [[2]] } }, 6).fault).toBeUndefined();
  expect(state.topic("t0")!.partitions.map((p) => p.leader)).toEqual([-1, -1, 2]);
  expect(state.brokerEpoch(2)).toBe(5);
});
