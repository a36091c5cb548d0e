/**
 * Seeded random schedules of KIP-848 members joining, heartbeating (sometimes losing the answer),
 * leaving, stalling past their session and rejoining while topics grow. After every step no partition
 * may have two holders, on the coordinator or among the clients it still counts as members; once the
 * churn stops, every member must converge to the group epoch with every partition assigned once.
 * Now and then the group moves to a new coordinator, which loads it from the latest record the old one
 * wrote: it must hold exactly what the old one held, so a change that wrote no record is caught there.
 * CONSUMER_SIM_SEED=<n> replays one seed.
 */
import { expect, test } from "bun:test";
import { ErrorCode as E } from "../../src/protocol/error-codes.ts";
import { ConsumerGroupCoordinator, type TopicInfo, type TopicPartitions } from "../../src/group/consumer-group.ts";
import type { PersistedConsumerGroup } from "../../src/group/types.ts";

const STEPS_PER_SEED = 600;
const SEEDS = process.env.CONSUMER_SIM_SEED ? [Number(process.env.CONSUMER_SIM_SEED)] : Array.from({ length: 30 }, (_, i) => i + 1);
const SESSION_TIMEOUT_MS = 1_000;
const MAX_CLIENTS = 6;
const MAX_PARTITIONS = 12;

/** mulberry32. */
function prng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Client {
  memberId: string;
  epoch: number;
  owned: TopicPartitions[];
  subscription: string[];
  assignor: string | null;
  alive: boolean;
}

function runSeed(seed: number): void {
  const random = prng(seed);
  const pick = <T>(items: T[]): T => items[Math.floor(random() * items.length)]!;
  let nowMs = 0;
  const topics: TopicInfo[] = [
    { name: "orders", topicId: "00000000-0000-0000-0000-00000000000a", partitionCount: 6 },
    { name: "audit", topicId: "00000000-0000-0000-0000-00000000000b", partitionCount: 3 },
  ];
  const lookup = { byName: (name: string) => topics.find((t) => t.name === name) };
  const newCoordinator = () =>
    new ConsumerGroupCoordinator({
      config: { heartbeatIntervalMs: 100, sessionTimeoutMs: SESSION_TIMEOUT_MS, maxGroupSize: 100, defaultAssignor: "uniform" },
      generateUuid: () => "unused",
      nowMs,
    });
  let core = newCoordinator();
  /** The group's latest record, as the metadata log keeps it. */
  let recorded: PersistedConsumerGroup | null = null;
  const keepRecords = (): void => {
    for (const record of core.takeRecords()) if (record.type === "consumer-group") recorded = record.group;
  };
  const move = (): void => {
    const before = { group: core.describe("g", lookup), members: clients.map((c) => core.memberView("g", c.memberId)) };
    core = newCoordinator();
    core.load("g", structuredClone(recorded), nowMs);
    const after = { group: core.describe("g", lookup), members: clients.map((c) => core.memberView("g", c.memberId)) };
    if (JSON.stringify(after) !== JSON.stringify(before)) throw new Error(`seed ${seed}: the group loaded from its record differs from the one that wrote it`);
  };
  const clients: Client[] = [];
  let nextClient = 0;

  const heartbeat = (client: Client, loseAnswer: boolean): void => {
    const joining = client.epoch === 0;
    const response = core.heartbeat(
      "g",
      {
        apiVersion: 1,
        memberId: client.memberId,
        memberEpoch: client.epoch,
        instanceId: null,
        rackId: null,
        rebalanceTimeoutMs: joining ? 600 : -1,
        subscribedTopicNames: joining || random() < 0.5 ? client.subscription : null,
        subscribedTopicRegex: null,
        serverAssignor: joining || random() < 0.5 ? client.assignor : null,
        topicPartitions: joining ? [] : client.owned,
        clientId: client.memberId,
        clientHost: "/127.0.0.1",
      },
      lookup,
      nowMs,
    );
    if (loseAnswer) return;
    if (response.errorCode === E.FENCED_MEMBER_EPOCH || response.errorCode === E.UNKNOWN_MEMBER_ID) {
      // The client drops its partitions and joins again.
      client.epoch = 0;
      client.owned = [];
      return;
    }
    expect(response.errorCode).toBe(E.NONE);
    client.epoch = response.memberEpoch;
    if (response.assignment !== null) client.owned = response.assignment;
  };

  const check = (): void => {
    core.checkInvariants();
    const holder = new Map<string, string>();
    for (const client of clients) {
      const view = client.alive ? core.memberView("g", client.memberId) : null;
      if (view === null) continue;
      const held = new Set([...view.assigned, ...view.revoking].flatMap((tp) => tp.partitions.map((p) => `${tp.topicId}:${p}`)));
      for (const tp of client.owned) {
        for (const p of tp.partitions) {
          const key = `${tp.topicId}:${p}`;
          if (!held.has(key)) throw new Error(`seed ${seed}: ${client.memberId} consumes ${key}, which the coordinator does not count as its`);
          const other = holder.get(key);
          if (other !== undefined) throw new Error(`seed ${seed}: ${key} consumed by ${other} and ${client.memberId}`);
          holder.set(key, client.memberId);
        }
      }
    }
  };

  for (let step = 0; step < STEPS_PER_SEED; step++) {
    const alive = clients.filter((c) => c.alive);
    const roll = random();
    if (roll < 0.08 && alive.length < MAX_CLIENTS) {
      const subscription = random() < 0.7 ? ["orders"] : ["audit", "orders"];
      const assignor = pick([null, null, "uniform", "range"]);
      const client: Client = { memberId: `m${++nextClient}`, epoch: 0, owned: [], subscription, assignor, alive: true };
      clients.push(client);
      heartbeat(client, false);
    } else if (roll < 0.7 && alive.length > 0) {
      heartbeat(pick(alive), random() < 0.05);
    } else if (roll < 0.74 && alive.length > 0) {
      const client = pick(alive);
      if (client.epoch > 0) heartbeat({ ...client, epoch: -1 }, false);
      client.alive = false;
    } else if (roll < 0.76) {
      const orders = topics[0]!;
      if (orders.partitionCount < MAX_PARTITIONS) topics[0] = { ...orders, partitionCount: orders.partitionCount + 1 };
    } else if (roll < 0.79) {
      keepRecords();
      move();
    } else {
      // Time passes; a member left out long enough is expired.
      nowMs += Math.floor(random() * (random() < 0.05 ? 1_500 : 150));
      core.tick(nowMs);
    }
    keepRecords();
    check();
  }

  // The churn stops: the live clients keep heartbeating, past the session timeout of those that vanished.
  const alive = clients.filter((c) => c.alive);
  for (let round = 0; round < 60; round++) {
    nowMs += 50;
    core.tick(nowMs);
    for (const client of alive) heartbeat(client, false);
    check();
  }
  if (alive.length === 0) return;
  const described = core.describe("g", lookup)!;
  if (described.groupState !== "Stable") throw new Error(`seed ${seed}: not stable: ${JSON.stringify(described.members.map((m) => [m.memberId, m.memberEpoch, core.memberView("g", m.memberId)]))} epoch ${described.groupEpoch} clients ${JSON.stringify(alive)}`);
  for (const client of alive) expect(client.epoch).toBe(described.groupEpoch);
  const expected = new Set<string>();
  for (const topic of topics) {
    if (!alive.some((c) => c.subscription.includes(topic.name))) continue;
    for (let p = 0; p < topic.partitionCount; p++) expected.add(`${topic.topicId}:${p}`);
  }
  const consumed = alive.flatMap((c) => c.owned.flatMap((tp) => tp.partitions.map((p) => `${tp.topicId}:${p}`)));
  expect(consumed.length).toBe(expected.size);
  expect(new Set(consumed)).toEqual(expected);
}

test(`random KIP-848 schedules never give a partition two owners and converge (${SEEDS.length} seeds x ${STEPS_PER_SEED} steps)`, () => {
  for (const seed of SEEDS) {
    try {
      runSeed(seed);
    } catch (error) {
      throw new Error(`seed ${seed} failed (CONSUMER_SIM_SEED=${seed} replays it): ${error instanceof Error ? error.message : error}`);
    }
  }
}, 60_000);
