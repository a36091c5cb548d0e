import { expect, test } from "bun:test";
import { LeaderLease } from "../../src/cluster/leader-lease.ts";

const SESSION_MS = 1_000;

test("no lease before the controller has accepted anything", () => {
  expect(new LeaderLease(SESSION_MS).held(0)).toBe(false);
});

test("the lease runs from when the accepted heartbeat was sent, not from when its answer came, and ends before the session", () => {
  const lease = new LeaderLease(SESSION_MS);
  // Sent at 100, answered at 900 (a slow commit): the controller's session started no earlier than 100.
  lease.renew(100);
  expect(lease.held(900)).toBe(true);
  expect(lease.held(100 + SESSION_MS - 20)).toBe(true);
  expect(lease.held(100 + SESSION_MS)).toBe(false);
});

test("a paused broker resumes without a lease: the heartbeat it sent before the pause is answered too late to count", () => {
  const lease = new LeaderLease(SESSION_MS);
  lease.renew(0);
  // SIGSTOP at 50 with a heartbeat in flight (sent at 40); SIGCONT at 5000, when its answer is read.
  lease.renew(40);
  expect(lease.held(5_000)).toBe(false);
  // The first heartbeat after the pause renews it once accepted.
  lease.renew(5_010);
  expect(lease.held(5_100)).toBe(true);
});

test("an older heartbeat answered after a newer one does not shorten the lease", () => {
  const lease = new LeaderLease(SESSION_MS);
  lease.renew(600);
  lease.renew(300);
  expect(lease.held(300 + SESSION_MS)).toBe(true);
});

test("the lease outlives a controller election shorter than the session", () => {
  const lease = new LeaderLease(SESSION_MS);
  lease.renew(0);
  // Heartbeats sent at 200, 400 and 600 hang while the quorum elects; the one sent at 600 commits at 900.
  expect(lease.held(899)).toBe(true);
  lease.renew(600);
  expect(lease.held(1_200)).toBe(true);
});

test("a session must be positive", () => {
  expect(() => new LeaderLease(0)).toThrow(RangeError);
});
