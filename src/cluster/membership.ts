import { logger } from "../lib/logger.ts";
import { planPreferredRebalance, type Controller } from "../metadata/controller.ts";
import type { RaftMetadataLog } from "../metadata/metadata-log.ts";
import type { BrokerRegistration } from "../metadata/records.ts";
import { ErrorCode } from "../protocol/error-codes.ts";
import { BrokerLiveness, type TrackedBroker } from "./broker-liveness.ts";
import { HeartbeatWindow } from "./heartbeat-window.ts";
import { LeaderLease } from "./leader-lease.ts";

const log = logger("membership");

const MAX_HEARTBEATS_IN_FLIGHT = 4;

/** Kafka's leader.imbalance.per.broker.percentage default: a broker is rebalanced above this share of misled partitions. */
const LEADER_IMBALANCE_PER_BROKER_PERCENT = 10;

export interface MembershipOptions {
  heartbeatIntervalMs: number;
  sessionTimeoutMs: number;
  /** Whether the controller hands leadership back to preferred replicas (auto.leader.rebalance.enable). */
  autoLeaderRebalance: boolean;
  /** How often the controller checks for leadership imbalance (leader.imbalance.check.interval.seconds). */
  leaderImbalanceCheckIntervalMs: number;
  /** Milliseconds on a monotonic clock. */
  nowMs: () => number;
}

/**
 * This broker's membership in the cluster: it registers, heartbeats through the metadata log, and, while its
 * node is the Raft leader (the controller), fences brokers whose session expired and moves leadership back
 * to preferred replicas once they are in sync again.
 */
export class ClusterMembership {
  private readonly liveness: BrokerLiveness;
  private readonly lease: LeaderLease;
  private leaseWasHeld = false;
  private brokerEpoch = -1;
  private wasLeader = false;
  private readonly heartbeats = new HeartbeatWindow(MAX_HEARTBEATS_IN_FLIGHT);
  private lastHeartbeatMs = Number.NEGATIVE_INFINITY;
  private lastImbalanceCheckMs = Number.NEGATIVE_INFINITY;
  private rebalanceInFlight = false;
  private timer: Timer | undefined;
  private stopped = false;

  constructor(
    private readonly metadata: RaftMetadataLog,
    private readonly controller: Controller,
    private readonly options: MembershipOptions,
  ) {
    this.liveness = new BrokerLiveness(options.sessionTimeoutMs, options.sessionTimeoutMs / 2);
    this.lease = new LeaderLease(options.sessionTimeoutMs);
    metadata.onApply((change) => {
      if (change.type === "broker" && !change.broker.fenced) this.liveness.heard(change.broker.nodeId, change.brokerEpoch, options.nowMs());
      else if (change.type === "broker-heartbeat") this.liveness.heard(change.nodeId, change.brokerEpoch, options.nowMs());
    });
  }

  get epoch(): number {
    return this.brokerEpoch;
  }

  /**
   * Whether this broker may act as a leader of its partitions: the controller accepted a heartbeat it sent within
   * its session, so it cannot have been fenced and replaced, whatever its metadata (applied late) still says.
   */
  holdsLeaderLease(): boolean {
    return this.lease.held(this.options.nowMs());
  }

  /** Registers this broker (a new epoch on every start) and starts heartbeating and watching sessions. */
  async register(registration: BrokerRegistration): Promise<void> {
    const sentAtMs = this.options.nowMs();
    this.brokerEpoch = await this.controller.registerBroker(registration);
    this.lease.renew(sentAtMs);
    this.leaseWasHeld = true;
    log.info("broker registered", { nodeId: registration.nodeId, brokerEpoch: this.brokerEpoch });
    // Sessions are checked more often than heartbeats are sent, so a fence follows an expiry promptly.
    const checkEveryMs = Math.max(10, Math.min(this.options.heartbeatIntervalMs, this.options.sessionTimeoutMs / 4));
    this.timer = setInterval(() => this.tick(registration.nodeId), checkEveryMs);
  }

  private tick(nodeId: number): void {
    if (this.stopped) return;
    const nowMs = this.options.nowMs();
    // A heartbeat forwarded to a leader that just died hangs until its proposal times out: the next ones must not wait for it.
    const heartbeat = nowMs - this.lastHeartbeatMs >= this.options.heartbeatIntervalMs ? this.heartbeats.start(this.metadata.leaderId) : null;
    if (heartbeat !== null) {
      this.lastHeartbeatMs = nowMs;
      this.controller
        .heartbeat(nodeId, this.brokerEpoch)
        .then((outcome) => {
          // The answer comes once this node applied the heartbeat, and so every fence and leader change before it.
          if (outcome.errorCode === ErrorCode.NONE) this.lease.renew(nowMs);
          else log.warn("heartbeat rejected", { nodeId, brokerEpoch: this.brokerEpoch, outcome });
        })
        .catch((error) => log.debug("heartbeat not delivered", { error: String(error) }))
        .finally(() => this.heartbeats.finished(heartbeat));
    }
    this.logLeaseChange(nodeId, nowMs);
    const isLeader = this.metadata.isLeader;
    if (isLeader && !this.wasLeader) {
      log.info("became the controller", { nodeId });
      this.liveness.takeOver(this.trackedBrokers(), nowMs);
      // A new controller waits a full interval before its first check, as Kafka's does.
      this.lastImbalanceCheckMs = nowMs;
    }
    this.wasLeader = isLeader;
    if (!isLeader) return;
    for (const { nodeId: expiredId, brokerEpoch } of this.liveness.expired(this.trackedBrokers(), nowMs)) {
      log.warn("broker session expired: fencing it", { nodeId: expiredId, brokerEpoch, sessionTimeoutMs: this.options.sessionTimeoutMs });
      this.liveness.fencingStarted(expiredId, brokerEpoch);
      this.controller
        .fenceBroker(expiredId, brokerEpoch, "session-timeout")
        .catch((error) => log.warn("fencing failed; will retry", { nodeId: expiredId, error: String(error) }))
        .finally(() => this.liveness.fencingFinished(expiredId));
    }
    if (this.options.autoLeaderRebalance && !this.rebalanceInFlight && nowMs - this.lastImbalanceCheckMs >= this.options.leaderImbalanceCheckIntervalMs) {
      this.lastImbalanceCheckMs = nowMs;
      this.rebalance();
    }
  }

  private logLeaseChange(nodeId: number, nowMs: number): void {
    const held = this.lease.held(nowMs);
    if (held === this.leaseWasHeld) return;
    this.leaseWasHeld = held;
    if (held) log.info("leader lease regained: leading partitions again", { nodeId });
    else log.warn("leader lease expired: no heartbeat accepted within the session; not acting as a leader", { nodeId, sessionTimeoutMs: this.options.sessionTimeoutMs });
  }

  private rebalance(): void {
    const planned = planPreferredRebalance(this.metadata.state, LEADER_IMBALANCE_PER_BROKER_PERCENT);
    if (planned.length === 0) return;
    const byTopic = new Map<string, number[]>();
    for (const { topic, partition } of planned) {
      const partitions = byTopic.get(topic) ?? [];
      partitions.push(partition);
      byTopic.set(topic, partitions);
    }
    log.info("leadership imbalanced: electing preferred leaders", { partitions: planned.length });
    this.rebalanceInFlight = true;
    this.controller
      .electLeaders("preferred", [...byTopic].map(([topic, partitions]) => ({ topic, partitions })))
      .then((results) => {
        const failed = results.flatMap((t) => t.partitions.filter((p) => p.errorCode !== ErrorCode.NONE).map((p) => ({ topic: t.topic, ...p })));
        if (failed.length > 0) log.debug("some preferred elections did not apply", { failed });
      })
      .catch((error) => log.warn("preferred leader election failed; will retry", { error: String(error) }))
      .finally(() => (this.rebalanceInFlight = false));
  }

  private trackedBrokers(): TrackedBroker[] {
    const state = this.metadata.state;
    return state.brokers().map((b) => ({ nodeId: b.nodeId, fenced: b.fenced, brokerEpoch: state.brokerEpoch(b.nodeId) }));
  }

  /** Controlled shutdown: fences this broker so its partitions move now rather than after a session timeout. */
  async shutDown(nodeId: number, timeoutMs: number): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    if (this.brokerEpoch < 0) return;
    const fence = this.controller.fenceBroker(nodeId, this.brokerEpoch, "controlled-shutdown");
    let timer: Timer | undefined;
    const deadline = new Promise<"timeout">((resolve) => (timer = setTimeout(() => resolve("timeout"), timeoutMs)));
    const result = await Promise.race([fence.then(() => "fenced" as const, (error: unknown) => String(error)), deadline]);
    clearTimeout(timer);
    log.info("controlled shutdown", { nodeId, result });
  }
}
