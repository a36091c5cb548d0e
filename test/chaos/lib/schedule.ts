/**
 * The seeded fault schedule: a pure function of the seed decides each fault's kind, target and timing, so a
 * seed names one schedule (the wall-clock effects of the faults still vary with machine load).
 */
import { Prng } from "../../fuzz/lib/prng.ts";

export type FaultKind = "kill" | "pause" | "partition";
export const FAULT_KINDS: readonly FaultKind[] = ["kill", "pause", "partition"];

export interface Fault {
  kind: FaultKind;
  /** A node id (1-based), or whichever node is the controller when the fault starts. */
  target: number | "controller";
  /** Quiet time before the fault starts. */
  gapMs: number;
  /** How long the node stays dead, paused or cut off before it is healed. */
  durationMs: number;
}

export interface ScheduleOptions {
  nodeCount: number;
  kinds: readonly FaultKind[];
  /** Pauses must outlast this so the paused broker's session expires and it is fenced. */
  sessionTimeoutMs: number;
}

const GAP_MS = [1_000, 5_000] as const;
const KILL_DOWN_MS = [500, 6_000] as const;
const PAUSE_OVER_SESSION_MS = [1_000, 6_000] as const;
const PARTITION_MS = [3_000, 10_000] as const;

export class FaultSchedule {
  private readonly prng: Prng;

  constructor(
    readonly seed: number,
    private readonly options: ScheduleOptions,
  ) {
    if (options.kinds.length === 0) throw new Error("a fault schedule needs at least one fault kind");
    this.prng = new Prng(seed);
  }

  next(): Fault {
    const kind = this.prng.pick(this.options.kinds);
    const target = this.prng.chance(0.25) ? "controller" : 1 + this.prng.int(this.options.nodeCount);
    const gapMs = this.prng.range(...GAP_MS);
    const durationMs =
      kind === "kill"
        ? this.prng.range(...KILL_DOWN_MS)
        : kind === "pause"
          ? this.options.sessionTimeoutMs + this.prng.range(...PAUSE_OVER_SESSION_MS)
          : this.prng.range(...PARTITION_MS);
    return { kind, target, gapMs, durationMs };
  }
}
