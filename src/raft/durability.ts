/**
 * What a ready needs from the disk, and when its messages may leave, as in etcd's raft. Term, vote and log
 * entries must be durable before anyone hears of them; the commit index need not be (etcd's MustSync): a node
 * restarted with an older one re-applies less at start and learns the rest from the leader.
 */
import { MessageType, type HardState, type Message, type Ready } from "./types.ts";

export type DurableVote = Pick<HardState, "term" | "vote">;

/** Whether persisting `ready` needs a synced write; otherwise its hard state (a new commit index) may wait for the next one. */
export function mustSync(ready: Pick<Ready, "hardState" | "snapshotToPersist" | "entriesToPersist">, durable: DurableVote): boolean {
  if (ready.entriesToPersist.length > 0 || ready.snapshotToPersist !== undefined) return true;
  const hardState = ready.hardState;
  return hardState !== undefined && (hardState.term !== durable.term || hardState.vote !== durable.vote);
}

/** Messages that claim nothing about this node's disk: a leader's Appends and Heartbeats, a follower's forwarded requests. */
const CLAIM_NOTHING_DURABLE = new Set<number>([MessageType.Append, MessageType.Heartbeat, MessageType.Propose, MessageType.ReadIndex]);

/**
 * Whether `message` may be sent before `ready` is persisted: when it claims nothing about this node's disk and the
 * ready keeps the durable term and vote. A leader's Appends going first lets the followers write alongside it
 * (Raft thesis 10.2.1): the leader counts itself toward a quorum only for entries advance() reports durable.
 * Votes and acknowledgements wait for the write.
 */
export function sendableBeforePersist(message: Message, ready: Pick<Ready, "hardState">, durable: DurableVote): boolean {
  if (!CLAIM_NOTHING_DURABLE.has(message.type)) return false;
  const hardState = ready.hardState;
  return hardState === undefined || (hardState.term === durable.term && hardState.vote === durable.vote);
}
