/** A registered broker as the controller tracks it. */
export interface TrackedBroker {
  readonly nodeId: number;
  readonly fenced: boolean;
  readonly brokerEpoch: number;
}

export interface Expired {
  nodeId: number;
  brokerEpoch: number;
}

/**
 * The controller's view of which brokers are alive (Kafka's BrokerHeartbeatManager): pure, time is an argument.
 * Heartbeats arrive as applied metadata commands, so every node tracks them, but only the leader acts on expiry.
 */
export class BrokerLiveness {
  private readonly lastSeenMs = new Map<number, { brokerEpoch: number; atMs: number }>();
  /** Fence commands in flight, by node id, so one expiry is proposed once. */
  private readonly fencing = new Map<number, number>();
  private lastCheckMs: number | null = null;

  /**
   * @param pauseThresholdMs a gap between expiry checks longer than this is taken for a pause of this process
   *   (SIGSTOP, a stalled host), after which every session restarts instead of expiring at once.
   */
  constructor(
    private readonly sessionTimeoutMs: number,
    private readonly pauseThresholdMs = Number.POSITIVE_INFINITY,
  ) {}

  /** A registration or heartbeat of `brokerEpoch` applied at `nowMs`. */
  heard(nodeId: number, brokerEpoch: number, nowMs: number): void {
    const seen = this.lastSeenMs.get(nodeId);
    if (seen && seen.brokerEpoch > brokerEpoch) return;
    this.lastSeenMs.set(nodeId, { brokerEpoch, atMs: nowMs });
  }

  /** A new controller cannot know how old the heartbeats it applied as a follower are: every broker gets a full session. */
  takeOver(brokers: readonly TrackedBroker[], nowMs: number): void {
    this.fencing.clear();
    for (const broker of brokers) this.lastSeenMs.set(broker.nodeId, { brokerEpoch: broker.brokerEpoch, atMs: nowMs });
  }

  /** Unfenced brokers silent for longer than the session timeout, not already being fenced. */
  expired(brokers: readonly TrackedBroker[], nowMs: number): Expired[] {
    // A long gap between checks means this process was paused (SIGSTOP, a stalled host): the heartbeats that
    // arrived meanwhile are still queued, so silence measured across the gap says nothing about the brokers.
    if (this.lastCheckMs !== null && nowMs - this.lastCheckMs > this.pauseThresholdMs) {
      for (const [nodeId, seen] of this.lastSeenMs) this.lastSeenMs.set(nodeId, { brokerEpoch: seen.brokerEpoch, atMs: nowMs });
    }
    this.lastCheckMs = nowMs;
    const result: Expired[] = [];
    for (const broker of brokers) {
      if (broker.fenced || this.fencing.get(broker.nodeId) === broker.brokerEpoch) continue;
      const seen = this.lastSeenMs.get(broker.nodeId);
      const lastMs = seen && seen.brokerEpoch === broker.brokerEpoch ? seen.atMs : undefined;
      if (lastMs === undefined) {
        // Registered before this node saw a heartbeat from it: start its session now.
        this.lastSeenMs.set(broker.nodeId, { brokerEpoch: broker.brokerEpoch, atMs: nowMs });
        continue;
      }
      if (nowMs - lastMs > this.sessionTimeoutMs) result.push({ nodeId: broker.nodeId, brokerEpoch: broker.brokerEpoch });
    }
    return result;
  }

  fencingStarted(nodeId: number, brokerEpoch: number): void {
    this.fencing.set(nodeId, brokerEpoch);
  }

  fencingFinished(nodeId: number): void {
    this.fencing.delete(nodeId);
  }
}
