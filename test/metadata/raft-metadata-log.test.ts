import { afterEach, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { RaftMetadataLog } from "../../src/metadata/metadata-log.ts";
import type { MetadataCommand } from "../../src/metadata/records.ts";
import { ErrorCode } from "../../src/protocol/error-codes.ts";
import { freePorts } from "../helpers/broker-process.ts";
import { waitFor } from "../helpers/wait.ts";

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function startQuorum(size: number, snapshotEveryEntries: number, dirs?: string[], ports?: number[]) {
  const raftPorts = ports ?? freePorts(size);
  const dataDirs = dirs ?? raftPorts.map(() => mkdtempSync(join(tmpdir(), "chronik-metadata-log-")));
  if (!dirs) cleanups.push(() => dataDirs.forEach((d) => rmSync(d, { recursive: true, force: true })));
  const voters = new Map(raftPorts.map((port, i) => [i + 1, { host: "127.0.0.1", port }]));
  const logs = raftPorts.map((_, i) => RaftMetadataLog.start({ nodeId: i + 1, voters, dataDir: dataDirs[i]!, electionTimeoutMs: 300, snapshotEveryEntries }));
  const close = async () => {
    await Promise.all(logs.map((l) => l.close()));
  };
  cleanups.push(close);
  return { logs, dataDirs, raftPorts, close };
}

const createTopic = (name: string, topicId: string): MetadataCommand => ({
  type: "create-topic",
  name,
  topicId,
  configs: {},
  placement: { kind: "balanced", count: 2, replicationFactor: 1 },
});

test("three nodes propose the same topic at once: one wins, the others learn TOPIC_ALREADY_EXISTS, every state agrees", async () => {
  const { logs } = startQuorum(3, 1024);
  await Promise.all(logs.map((l) => l.catchUp(10_000)));
  await logs[0]!.propose([{ type: "register-broker", broker: { nodeId: 1, host: "127.0.0.1", port: 9092, rack: null } }]);
  const outcomes = await Promise.all(logs.map((l, i) => l.propose([createTopic("contested", `id-${i}`)])));
  const codes = outcomes.map(([o]) => o!.errorCode).sort();
  expect(codes).toEqual([ErrorCode.NONE, ErrorCode.TOPIC_ALREADY_EXISTS, ErrorCode.TOPIC_ALREADY_EXISTS]);
  const winner = outcomes.findIndex(([o]) => o!.errorCode === ErrorCode.NONE);
  await Promise.all(logs.map((l) => l.catchUp(10_000)));
  for (const l of logs) {
    expect(l.state.topic("contested")?.topicId).toBe(`id-${winner}`);
    expect(l.state.toSnapshot()).toEqual(logs[0]!.state.toSnapshot());
  }
}, 30_000);

test("a restarted quorum recovers the metadata from its snapshot and the log after it", async () => {
  const first = startQuorum(3, 16);
  await Promise.all(first.logs.map((l) => l.catchUp(10_000)));
  await first.logs[1]!.propose([{ type: "register-broker", broker: { nodeId: 1, host: "127.0.0.1", port: 9092, rack: null } }]);
  for (let i = 0; i < 50; i++) await first.logs[i % 3]!.propose([createTopic(`t${i}`, `id${i}`)]);
  await first.logs[2]!.propose([{ type: "delete-topic", name: "t7" }, { type: "allocate-producer-ids", count: 1000 }]);
  await Promise.all(first.logs.map((l) => l.catchUp(10_000)));
  const before = first.logs[0]!.state.toSnapshot();
  await first.close();

  const second = startQuorum(3, 16, first.dataDirs, first.raftPorts);
  await Promise.all(second.logs.map((l) => l.catchUp(10_000)));
  for (const l of second.logs) expect(l.state.toSnapshot()).toEqual(before);
  expect(second.logs[0]!.state.topicCount()).toBe(49);
  // And it keeps working: the next producer-id block follows the recovered one.
  const [outcome] = await second.logs[0]!.propose([{ type: "allocate-producer-ids", count: 1000 }]);
  expect(outcome).toEqual({ errorCode: ErrorCode.NONE, firstProducerId: 1000 });
}, 60_000);

test("a one-voter quorum elects itself at once and serves proposals", async () => {
  const startedMs = performance.now();
  const { logs } = startQuorum(1, 1024, undefined, [0]);
  await logs[0]!.catchUp(5_000);
  const [outcome] = await logs[0]!.propose([{ type: "init-cluster", clusterId: "solo" }]);
  expect(outcome!.errorCode).toBe(ErrorCode.NONE);
  expect(performance.now() - startedMs).toBeLessThan(2_000);
  await waitFor(() => logs[0]!.isLeader, "the lone voter to lead");
});

test("a malformed command is refused before it is proposed, and the log goes on", async () => {
  const { logs } = startQuorum(1, 1024, undefined, [0]);
  await logs[0]!.catchUp(5_000);
  const appliedBefore = logs[0]!.raftStatus().appliedIndex;
  const malformed = { type: "allocate-producer-ids", count: -5 } as MetadataCommand;
  await expect(logs[0]!.propose([{ type: "init-cluster", clusterId: "c" }, malformed])).rejects.toThrow("malformed metadata command allocate-producer-ids: a producer id block of -5");
  expect(logs[0]!.raftStatus().appliedIndex).toBe(appliedBefore);
  const [outcome] = await logs[0]!.propose([{ type: "allocate-producer-ids", count: 10 }]);
  expect(outcome).toEqual({ errorCode: ErrorCode.NONE, firstProducerId: 0 });
  expect(logs[0]!.applyErrors()).toEqual({ load: 0, apply: 0 });
});
