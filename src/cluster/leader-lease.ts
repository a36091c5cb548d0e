/** Monotonic clocks of two hosts may run apart (NTP slews each by up to 0.05%): a lease ends this share of a session early. */
const CLOCK_RATE_MARGIN = 0.01;

/**
 * Whether this broker may act as a partition leader: only while the controller cannot have fenced it. The controller
 * fences a broker a session timeout after applying its last heartbeat, which it can only apply after the broker sent
 * it; so a lease running a session timeout from the send of the last heartbeat the controller accepted ends before
 * any fence, and before another broker can take over. A broker paused or cut off past its session stops leading on
 * its own, even while its metadata still names it leader. Pure: time is an argument.
 */
export class LeaderLease {
  private readonly durationMs: number;
  private expiresAtMs = Number.NEGATIVE_INFINITY;

  constructor(sessionTimeoutMs: number) {
    if (!(sessionTimeoutMs > 0)) throw new RangeError(`sessionTimeoutMs ${sessionTimeoutMs} must be positive`);
    this.durationMs = sessionTimeoutMs * (1 - CLOCK_RATE_MARGIN);
  }

  /** The controller accepted a heartbeat or registration this broker sent at `sentAtMs`; answers may arrive out of order. */
  renew(sentAtMs: number): void {
    this.expiresAtMs = Math.max(this.expiresAtMs, sentAtMs + this.durationMs);
  }

  held(nowMs: number): boolean {
    return nowMs < this.expiresAtMs;
  }
}
