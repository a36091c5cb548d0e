import { Counter, Gauge, type MetricsRegistry } from "../metrics/registry.ts";
import type { LocalReplica } from "./local-replica.ts";

type Sample = [Record<string, string | number> | undefined, number];

/**
 * Replication health, read at scrape time: under-replicated partitions, ISR sizes, follower lag, and appends the
 * disk refuses. Returns the counter of refused appends, which the replica manager counts into.
 */
export function registerReplicationMetrics(registry: MetricsRegistry, source: { leaders: () => LocalReplica[]; failingAppends: () => number }): Counter {
  const gauge = (name: string, help: string, collect: () => Sample[]) => registry.register(new Gauge(name, help, collect));
  const { leaders } = source;
  gauge("chronik_under_replicated_partitions", "Partitions this broker leads whose ISR is smaller than their replica set.", () => [
    [undefined, leaders().filter((r) => r.tracker!.isr.length < r.replicas.length).length],
  ]);
  gauge("chronik_partition_isr_size", "In-sync replicas of each partition this broker leads.", () =>
    leaders().map((r): Sample => [{ topic: r.topic, partition: r.partition }, r.tracker!.isr.length]),
  );
  gauge("chronik_replica_lag_offsets", "Offsets each follower is behind this leader's log end.", () =>
    leaders().flatMap((r) =>
      [...r.tracker!.lagByFollower(r.log.logEndOffset)].map(([follower, lag]): Sample => [{ topic: r.topic, partition: r.partition, follower }, lag]),
    ),
  );
  gauge("chronik_partitions_failing_appends", "Partitions whose latest append the disk refused (full); they take appends again once it has room.", () => [
    [undefined, source.failingAppends()],
  ]);
  return registry.register(new Counter("chronik_append_failures_total", "Appends the disk refused, as leader (produce) or follower (replication)."));
}
