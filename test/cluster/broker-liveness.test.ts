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
