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

/**
 * Whether `message` may be sent before `ready` is persisted: a leader's Appends, when the ready keeps the durable
 * term and vote (Raft thesis 10.2.1). The leader counts itself toward a quorum only for entries that advance()
 * reports durable, so its own write runs alongside the followers' instead of before them. Votes and acks wait.
 */
export function sendableBeforePersist(message: Message, ready: Pick<Ready, "hardState">, durable: DurableVote): boolean {
  if (message.type !== MessageType.Append) return false;
  const hardState = ready.hardState;
  return hardState === undefined || (hardState.term === durable.term && hardState.vote === durable.vote);
}
