/**
 * What a ready needs from the disk, and when its messages may leave, as in etcd's raft. Term, vote and log
 * entries must be durable before anyone hears of them; the commit index need not be (etcd's MustSync): a node
 * restarted with an older one re-applies less at start and learns the rest from the leader.
 *
 * Writes are asynchronous and complete in hand-off order, so a ready is judged against two states: the term and
 * vote already handed to storage (does this ready need a write of its own?) and those already durable (may this
 * message leave before the writes in flight complete?).
 */
import { MessageType, type HardState, type Message, type Ready } from "./types.ts";

export type DurableVote = Pick<HardState, "term" | "vote">;

/**
 * Whether persisting `ready` needs a synced write, given the term and vote last handed to storage; otherwise its
 * hard state (a new commit index) may wait for the next write.
 */
export function mustSync(ready: Pick<Ready, "hardState" | "snapshotToPersist" | "entriesToPersist">, handedOff: DurableVote): boolean {
  if (ready.entriesToPersist.length > 0 || ready.snapshotToPersist !== undefined) return true;
  const hardState = ready.hardState;
  return hardState !== undefined && !sameVote(hardState, handedOff);
}

/** Messages that claim nothing about this node's disk: a leader's Appends and Heartbeats, a follower's forwarded requests. */
const CLAIM_NOTHING_DURABLE = new Set<number>([MessageType.Append, MessageType.Heartbeat, MessageType.Propose, MessageType.ReadIndex]);

/**
 * Whether `message` may be sent before the writes in flight and the ready's own write complete: when it claims
 * nothing about this node's disk and the term and vote it is sent in (`current`) are durable already. A leader's
 * Appends going first lets the followers write alongside it (Raft thesis 10.2.1): the leader counts itself toward a
 * quorum only for entries reported persisted. Votes and acknowledgements wait for every write handed off before them.
 */
export function sendableBeforePersist(message: Message, current: DurableVote, durable: DurableVote): boolean {
  return CLAIM_NOTHING_DURABLE.has(message.type) && sameVote(current, durable);
}

/** The term and vote in effect after `ready`, given those last handed to storage. */
export function voteAfter(ready: Pick<Ready, "hardState">, handedOff: DurableVote): DurableVote {
  return ready.hardState ?? handedOff;
}

function sameVote(a: DurableVote, b: DurableVote): boolean {
  return a.term === b.term && a.vote === b.vote;
}
