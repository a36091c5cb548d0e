/**
 * Requests whose outcome only one leader, in one term, can give: proposals and reads a follower forwarded, and reads
 * a leader confirms itself. Once this node knows of another leader or term, or its connection to that leader
 * breaks, the answer may never come; the node fails them at once rather than after a timeout.
 */
import { NONE, type NodeId } from "./types.ts";

interface Target {
  leaderId: NodeId;
  term: number;
}

export class AwaitingLeader<Key> {
  private readonly targets = new Map<Key, Target>();

  get size(): number {
    return this.targets.size;
  }

  add(key: Key, leaderId: NodeId, term: number): void {
    this.targets.set(key, { leaderId, term });
  }

  delete(key: Key): void {
    this.targets.delete(key);
  }

  /** Removes and returns the requests that went to another leader or term than `leaderId` in `term` (NONE: none known). */
  takeStale(leaderId: NodeId, term: number): Key[] {
    return this.take((target) => leaderId === NONE || target.leaderId !== leaderId || target.term !== term);
  }

  /** Removes and returns the requests that went to `peer`, whatever the term: its connection broke. */
  takeSentTo(peer: NodeId): Key[] {
    return this.take((target) => target.leaderId === peer);
  }

  private take(matches: (target: Target) => boolean): Key[] {
    const taken: Key[] = [];
    for (const [key, target] of this.targets) {
      if (!matches(target)) continue;
      taken.push(key);
      this.targets.delete(key);
    }
    return taken;
  }
}
