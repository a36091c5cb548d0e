import { expect, test } from "bun:test";
import { BrokerLiveness } from "../../src/cluster/broker-liveness.ts";

const broker = (nodeId: number, brokerEpoch: number, fenced = false) => ({ nodeId, brokerEpoch, fenced });

test("a broker silent past the session timeout expires once; a heartbeat of its epoch keeps it alive", () => {
  const liveness = new BrokerLiveness(9_000);
  const brokers = [broker(1, 10), broker(2, 11)];
  liveness.heard(1, 10, 0);
  liveness.heard(2, 11, 0);
  expect(liveness.expired(brokers, 9_000)).toEqual([]);
  liveness.heard(1, 10, 8_000);
  expect(liveness.expired(brokers, 9_001)).toEqual([{ nodeId: 2, brokerEpoch: 11 }]);
  liveness.fencingStarted(2, 11);
  expect(liveness.expired(brokers, 12_000)).toEqual([]);
  // A heartbeat from an older registration does not count for the current one.
  liveness.heard(1, 9, 16_000);
  expect(liveness.expired(brokers, 17_001)).toEqual([{ nodeId: 1, brokerEpoch: 10 }]);
});

test("a new controller gives every broker a full session, and fenced brokers never expire", () => {
  const liveness = new BrokerLiveness(1_000);
  const brokers = [broker(1, 5), broker(2, 6, true)];
  liveness.takeOver(brokers, 50_000);
  expect(liveness.expired(brokers, 50_999)).toEqual([]);
  expect(liveness.expired(brokers, 51_001)).toEqual([{ nodeId: 1, brokerEpoch: 5 }]);
});

test("a broker registered before this node heard from it starts its session when first seen", () => {
  const liveness = new BrokerLiveness(1_000);
  expect(liveness.expired([broker(3, 7)], 100)).toEqual([]);
  expect(liveness.expired([broker(3, 7)], 1_101)).toEqual([{ nodeId: 3, brokerEpoch: 7 }]);
});

test("a controller that was paused restarts every session instead of fencing everyone at once", () => {
  const liveness = new BrokerLiveness(9_000, 1_000);
  const brokers = [broker(1, 10), broker(2, 11)];
  liveness.heard(1, 10, 0);
  liveness.heard(2, 11, 0);
  expect(liveness.expired(brokers, 500)).toEqual([]);
  // Stopped for 30 s: the heartbeats sent meanwhile are still unread.
  expect(liveness.expired(brokers, 30_500)).toEqual([]);
  expect(liveness.expired(brokers, 31_000)).toEqual([]);
  liveness.heard(1, 10, 31_000);
  for (let t = 31_500; t <= 39_500; t += 500) expect(liveness.expired(brokers, t)).toEqual([]);
  expect(liveness.expired(brokers, 40_000)).toEqual([{ nodeId: 2, brokerEpoch: 11 }]);
});
