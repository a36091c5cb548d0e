/**
 * A network partition: the leader of a replication factor 3 partition is cut off from the other two brokers
 * while clients still reach it. The cluster runs in a network namespace the test creates and deletes; each
 * broker runs as its own uid on its own loopback address (its connections leave from it through a per-uid routing
 * table), and policy-routing rules that match a uid and a destination drop broker-to-broker traffic in both
 * directions (no iptables needed).
 *
 * Checks: acks=all writes to the isolated leader are never acknowledged, the majority elects a new leader and
 * acknowledges writes, and after healing the old leader truncates its unacknowledged tail and every replica's
 * log is byte for byte the new leader's.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { chownSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { startBroker, type BrokerProcess } from "../helpers/broker-process.ts";
import { runProcess } from "../helpers/run-process.ts";
import { waitFor } from "../helpers/wait.ts";
import { storedBatches } from "./cluster-helpers.ts";

const ROOT = resolve(import.meta.dir, "../..");
const CLIENT = join(import.meta.dir, "py/np_client.py");
const NAMESPACE = `chronik-np-${process.pid}`;
const NODES = [1, 2, 3];
const UID_BASE = 41_000 + (process.pid % 1000) * 4;
const RAFT_PORT = 19_001;
const TOPIC = "partitioned";
const ARGS = ["--raft-election-timeout-ms", "1000", "--broker-heartbeat-interval-ms", "300", "--broker-session-timeout-ms", "2500", "--replica-lag-time-max-ms", "5000"];

const address = (id: number) => `127.0.0.${id + 1}`;
const uid = (id: number) => UID_BASE + id;
const canRun = process.getuid?.() === 0 && Bun.which("ip") !== null && Bun.which("setpriv") !== null;

const brokers = new Map<number, BrokerProcess>();
const dataDirs = new Map<number, string>();
let namespaceCreated = false;

async function ip(...args: string[]): Promise<void> {
  const result = await runProcess(["ip", ...args], { timeoutMs: 10_000 });
  if (result.exitCode !== 0) throw new Error(`ip ${args.join(" ")}: ${result.stderr}`);
}

async function client(bootstrapIds: number[], ...args: string[]): Promise<string> {
  const bootstrap = bootstrapIds.map((id) => `${address(id)}:${brokers.get(id)!.kafkaPort}`).join(",");
  const result = await runProcess(["ip", "netns", "exec", NAMESPACE, "/usr/bin/python3", CLIENT, bootstrap, ...args], { timeoutMs: 90_000 });
  if (result.exitCode !== 0) throw new Error(`np_client ${args.join(" ")}: ${result.stderr}`);
  return result.stdout;
}

async function metadata(bootstrapIds: number[]): Promise<{ partition: number; leader: number; isr: number[] }[]> {
  return JSON.parse(await client(bootstrapIds, "metadata", TOPIC));
}

/** Policy rules that drop traffic between `isolated` and every other broker, both ways. */
function partitionRules(isolated: number): string[][] {
  return NODES.filter((id) => id !== isolated).flatMap((other, i) => [
    ["pref", String(100 + 2 * i), "uidrange", `${uid(isolated)}-${uid(isolated)}`, "to", address(other), "prohibit"],
    ["pref", String(101 + 2 * i), "uidrange", `${uid(other)}-${uid(other)}`, "to", address(isolated), "prohibit"],
  ]);
}

beforeAll(async () => {
  if (!canRun) return;
  await ip("netns", "add", NAMESPACE);
  namespaceCreated = true;
  await ip("netns", "exec", NAMESPACE, "ip", "link", "set", "lo", "up");
  // The local table must come after the partition rules, or it answers every loopback lookup first.
  await ip("netns", "exec", NAMESPACE, "ip", "rule", "add", "pref", "1000", "lookup", "local");
  await ip("netns", "exec", NAMESPACE, "ip", "rule", "del", "pref", "0");
  // Each broker's connections leave from its own address (a per-uid table), so a peer's replies are addressed to it.
  for (const id of NODES) {
    await ip("netns", "exec", NAMESPACE, "ip", "route", "add", "local", "127.0.0.0/8", "dev", "lo", "src", address(id), "table", String(200 + id));
    await ip("netns", "exec", NAMESPACE, "ip", "rule", "add", "pref", String(500 + id), "uidrange", `${uid(id)}-${uid(id)}`, "lookup", String(200 + id));
  }
  const voters = NODES.map((id) => `${id}@${address(id)}:${RAFT_PORT}`).join(",");
  const started = await Promise.allSettled(
    NODES.map(async (id) => {
      const dir = mkdtempSync(join(tmpdir(), `chronik-np-${id}-`));
      chownSync(dir, uid(id), uid(id));
      dataDirs.set(id, dir);
      const broker = await startBroker({
        dataDir: dir,
        keepData: true,
        command: ["ip", "netns", "exec", NAMESPACE, "setpriv", "--reuid", String(uid(id)), "--regid", String(uid(id)), "--clear-groups", process.execPath, join(ROOT, "src/main.ts")],
        env: { HOME: dir },
        args: ["--node-id", String(id), "--host", address(id), "--controller-quorum-voters", voters, ...ARGS],
      });
      brokers.set(id, broker);
    }),
  );
  const failure = started.find((s) => s.status === "rejected");
  if (failure) throw (failure as PromiseRejectedResult).reason;
}, 90_000);

afterAll(async () => {
  await Promise.all([...brokers.values()].map((b) => b.cleanup()));
  for (const dir of dataDirs.values()) rmSync(dir, { recursive: true, force: true });
  if (namespaceCreated) await ip("netns", "del", NAMESPACE);
});

test.skipIf(!canRun)("a partitioned leader's unacknowledged tail is truncated after healing; nothing acknowledged is lost", async () => {
  await client([1, 2, 3], "create", TOPIC, "1", "3");
  const leader = await waitFor(async () => {
    const [p] = await metadata([1, 2, 3]);
    return p && p.leader > 0 && p.isr.length === 3 ? p.leader : null;
  }, "a leader and a full ISR");
  const majority = NODES.filter((id) => id !== leader);

  const before = await client([leader], "produce", TOPIC, "before", "100", "all", "30000");
  expect(before.split("\n").filter((l) => l.startsWith("acked")).length).toBe(100);

  for (const rule of partitionRules(leader)) await ip("netns", "exec", NAMESPACE, "ip", "rule", "add", ...rule);
  // The isolated leader takes acks=1 writes (its own tail) but can never commit acks=all ones.
  const alone = await client([leader], "produce", TOPIC, "alone", "50", "1", "10000");
  expect(alone.split("\n").filter((l) => l.startsWith("acked")).length).toBe(50);
  const uncommitted = await client([leader], "produce", TOPIC, "uncommitted", "10", "all", "4000");
  expect(uncommitted.split("\n").filter((l) => l.startsWith("acked"))).toEqual([]);

  const newLeader = await waitFor(async () => {
    const [p] = await metadata(majority);
    return p && p.leader > 0 && p.leader !== leader ? p.leader : null;
  }, "the majority to elect a new leader", 30_000, 200);
  const after = await client(majority, "produce", TOPIC, "after", "100", "all", "30000");
  expect(after.split("\n").filter((l) => l.startsWith("acked")).length).toBe(100);

  for (const rule of partitionRules(leader)) await ip("netns", "exec", NAMESPACE, "ip", "rule", "del", ...rule);
  await waitFor(async () => {
    const [p] = await metadata(majority);
    return p?.isr.length === 3;
  }, "the old leader to rejoin the ISR after healing", 60_000, 200);

  const read = await client([newLeader], "read", TOPIC, "1");
  const values = read.trim().split("\n").map((l) => l.split(" ")[2]!);
  expect(values).toEqual([...Array.from({ length: 100 }, (_, i) => `before-${i}`), ...Array.from({ length: 100 }, (_, i) => `after-${i}`)]);

  for (const broker of brokers.values()) expect(await broker.stop("SIGTERM")).toBe(0);
  const logs = await Promise.all(NODES.map((id) => storedBatches(dataDirs.get(id)!, TOPIC, 1)));
  const expected = Buffer.concat(logs[newLeader - 1]![0]!);
  for (const id of NODES) expect(Buffer.concat(logs[id - 1]![0]!).equals(expected)).toBe(true);
  const text = new TextDecoder().decode(expected);
  expect(text).not.toContain("alone-");
  expect(text).not.toContain("uncommitted-");
}, 240_000);
