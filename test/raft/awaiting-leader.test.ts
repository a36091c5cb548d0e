import { expect, test } from "bun:test";
import { AwaitingLeader } from "../../src/raft/awaiting-leader.ts";
import { NONE } from "../../src/raft/types.ts";

test("requests fail once their leader's term is over, the leader is unknown, or its connection broke", () => {
  const awaiting = new AwaitingLeader<number>();
  awaiting.add(1, 2, 5);
  awaiting.add(2, 2, 5);
  awaiting.add(3, 3, 4);
  // Still node 2 in term 5: only the request to node 3 in term 4 is stale.
  expect(awaiting.takeStale(2, 5)).toEqual([3]);
  awaiting.delete(2);
  expect(awaiting.size).toBe(1);
  // The follower campaigns: no leader known, so no answer will come through the old one.
  expect(awaiting.takeStale(NONE, 5)).toEqual([1]);
  expect(awaiting.size).toBe(0);

  // The same node leading again in a later term is another leader: what it held in term 6 may be gone.
  awaiting.add(4, 2, 6);
  expect(awaiting.takeStale(2, 7)).toEqual([4]);

  // A broken connection fails what went to that peer, in any term, and nothing else.
  awaiting.add(5, 3, 6);
  awaiting.add(6, 3, 7);
  awaiting.add(7, 1, 7);
  expect(awaiting.takeSentTo(3)).toEqual([5, 6]);
  expect(awaiting.takeStale(1, 7)).toEqual([]);
  expect(awaiting.size).toBe(1);
});
