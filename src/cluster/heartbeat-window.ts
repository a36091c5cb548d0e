/**
 * Bounds a broker's heartbeats in flight. A heartbeat forwarded to a controller that just died hangs until its
 * proposal times out (10 s), longer than a test cluster's session; if those filled the window, the broker could not
 * heartbeat the new controller and would be fenced (the new controller fenced itself this way). So only heartbeats
 * sent while the current controller was known count: at most `maxInFlight` more per controller change, each ending
 * within the proposal timeout.
 */
export class HeartbeatWindow {
  private controllerId: number | undefined = undefined;
  private generation = 0;
  private inFlight = 0;

  constructor(private readonly maxInFlight: number) {
    if (!Number.isInteger(maxInFlight) || maxInFlight < 1) throw new RangeError(`maxInFlight ${maxInFlight} must be a positive integer`);
  }

  /** A token for a heartbeat to send now towards `controllerId` (undefined: none known), or null when the window is full. */
  start(controllerId: number | undefined): number | null {
    if (controllerId !== this.controllerId) {
      this.controllerId = controllerId;
      this.generation++;
      this.inFlight = 0;
    }
    if (this.inFlight >= this.maxInFlight) return null;
    this.inFlight++;
    return this.generation;
  }

  /** The heartbeat of `token` was answered or failed. */
  finished(token: number): void {
    if (token === this.generation) this.inFlight--;
  }
}
