import { expect, test } from "bun:test";
import { decodeSubscriptionTopics } from "../../src/group/consumer-protocol.ts";
import { subscription } from "./harness.ts";

test("reads the topics of a subscription", () => {
  expect(decodeSubscriptionTopics(subscription(["a", "bb", ""]))).toEqual(["a", "bb", ""]);
  expect(decodeSubscriptionTopics(subscription([]))).toEqual([]);
});

test("later versions keep the topics first", () => {
  const bytes = subscription(["t"]);
  new DataView(bytes.buffer).setInt16(0, 3);
  expect(decodeSubscriptionTopics(bytes)).toEqual(["t"]);
});

test("truncated or hostile bytes decode to null", () => {
  const bytes = subscription(["topic"]);
  for (let length = 0; length < 2 + 4 + 2 + 5; length++) {
    if (length === 6) continue;
    expect(decodeSubscriptionTopics(bytes.subarray(0, length))).toBeNull();
  }
  const huge = subscription(["t"]);
  new DataView(huge.buffer).setInt32(2, 1 << 30);
  expect(decodeSubscriptionTopics(huge)).toBeNull();
  const negative = subscription(["t"]);
  new DataView(negative.buffer).setInt16(0, -1);
  expect(decodeSubscriptionTopics(negative)).toBeNull();
});
