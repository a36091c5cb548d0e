import { expect, test } from "bun:test";
import { HeartbeatWindow } from "../../src/cluster/heartbeat-window.ts";

test("at most maxInFlight heartbeats to one controller; an answered one frees its place", () => {
  const window = new HeartbeatWindow(2);
  const first = window.start(1)!;
  expect(window.start(1)).not.toBeNull();
  expect(window.start(1)).toBeNull();
  window.finished(first);
  expect(window.start(1)).not.toBeNull();
  expect(window.start(1)).toBeNull();
});

test("heartbeats hanging on a dead controller do not hold back the ones to its successor", () => {
  const window = new HeartbeatWindow(4);
  const hanging = [1, 2, 3, 4].map(() => window.start(1)!);
  expect(window.start(1)).toBeNull();
  // The controller died and a new one (this very node, say) was elected before the forwarded proposals timed out.
  const toSuccessor = window.start(3);
  expect(toSuccessor).not.toBeNull();
  // The old ones ending late must not make room beyond the bound for the new controller.
  for (const token of hanging) window.finished(token);
  expect([1, 2, 3].map(() => window.start(3))).toEqual([toSuccessor, toSuccessor, toSuccessor]);
  expect(window.start(3)).toBeNull();
});

test("a window needs room for at least one heartbeat", () => {
  expect(() => new HeartbeatWindow(0)).toThrow(RangeError);
});
