import type { LocalReplica, ReplicaManager } from "../replication/replica-manager.ts";
import { Counter, type MetricsRegistry } from "../metrics/registry.ts";

interface Seen {
  logEndOffset: number;
  sizeBytes: number;
}

/**
 * Counts records and bytes appended to this broker's partition logs by watching log end offsets and
 * sizes, so the produce path needs no extra work. Sampled when someone asks (the stats endpoint, a
 * metrics scrape); growth between samples is attributed to the later one. A log that shrank (retention,
 * truncation) is re-baselined and counts nothing for that interval.
 */
export class ThroughputSampler {
  private readonly seen = new WeakMap<LocalReplica, Seen>();
  private readonly messagesIn: Counter;
  private readonly bytesIn: Counter;
  private baselined = false;

  constructor(
    private readonly replicas: ReplicaManager,
    registry: MetricsRegistry,
  ) {
    this.messagesIn = registry.register(
      new Counter("chronik_log_appended_records_total", "Records appended to this broker's partition logs (from log end offsets)."),
    );
    this.bytesIn = registry.register(
      new Counter("chronik_log_appended_bytes_total", "Bytes appended to this broker's partition logs (from log sizes)."),
    );
  }

  /** Takes the logs as they are now as the starting point, so data recovered at start-up is not counted. */
  baseline(): void {
    for (const replica of this.replicas.allReplicas()) {
      this.seen.set(replica, { logEndOffset: replica.log.logEndOffset, sizeBytes: replica.log.sizeBytes });
    }
    this.baselined = true;
  }

  sample(): { messagesInTotal: number; bytesInTotal: number } {
    if (!this.baselined) this.baseline();
    for (const replica of this.replicas.allReplicas()) {
      const logEndOffset = replica.log.logEndOffset;
      const sizeBytes = replica.log.sizeBytes;
      // A replica first seen after the baseline is a new topic: everything in it arrived since.
      const before = this.seen.get(replica) ?? { logEndOffset: replica.log.logStartOffset, sizeBytes: 0 };
      if (logEndOffset >= before.logEndOffset && sizeBytes >= before.sizeBytes) {
        this.messagesIn.inc(undefined, logEndOffset - before.logEndOffset);
        this.bytesIn.inc(undefined, sizeBytes - before.sizeBytes);
      }
      this.seen.set(replica, { logEndOffset, sizeBytes });
    }
    return { messagesInTotal: this.messagesIn.get(), bytesInTotal: this.bytesIn.get() };
  }
}
