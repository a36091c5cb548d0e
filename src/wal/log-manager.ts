/**
 * All partition logs of a broker under one data directory, sharing one group-commit flusher and one
 * retention timer. Partition directories are `<topic>-<partition>`; a topic being deleted is first renamed
 * to `<topic>-<partition>.deleted` (not a legal partition name) so a crash mid-delete cannot resurrect it.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { logger } from "../lib/logger.ts";
import { Flusher, type FlushMode, type FlusherStats } from "./flusher.ts";
import { DEFAULT_LOG_CONFIG, resolveConfig, type LogConfig } from "./log-config.ts";
import { fsyncPath, PartitionLog } from "./partition-log.ts";
import { DELETED_SUFFIX, parsePartitionDirName, partitionDirName } from "./segment-files.ts";
import { partitionKey } from "../lib/partition-key.ts";

const log = logger("log-manager");

/** Kafka's log.retention.check.interval.ms default. */
const DEFAULT_RETENTION_CHECK_INTERVAL_MS = 5 * 60 * 1000;

export interface LogManagerOptions {
  dataDir: string;
  defaults?: Partial<LogConfig>;
  flushMode?: FlushMode;
  /** Fast mode: how often dirty partitions are fsynced in the background. */
  flushIntervalMs?: number;
  retentionCheckIntervalMs?: number;
  /** Fault injection: every flush round waits this long before its fsync (a slow disk). */
  faultSyncDelayMs?: number;
  /** Injected for tests; wall-clock milliseconds. */
  clock?: () => number;
}

export interface LogManagerStats extends FlusherStats {
  partitions: number;
  /** Mean appends covered by one flush round. */
  appendsPerRound: number;
}


export class LogManager {
  private readonly partitions = new Map<string, PartitionLog>();
  private readonly topicOverrides = new Map<string, Partial<LogConfig>>();
  private readonly retentionTimer: ReturnType<typeof setInterval>;
  private closed = false;
  private deletions = 0;

  private constructor(
    readonly dataDir: string,
    readonly defaults: LogConfig,
    private readonly flusher: Flusher,
    private readonly clock: () => number,
    retentionCheckIntervalMs: number,
  ) {
    this.retentionTimer = setInterval(() => this.runRetention(this.clock()), retentionCheckIntervalMs);
    this.retentionTimer.unref();
  }

  /** Opens the data directory and recovers every partition found in it. */
  static async open(opts: LogManagerOptions): Promise<LogManager> {
    const clock = opts.clock ?? Date.now;
    const defaults = resolveConfig(DEFAULT_LOG_CONFIG, opts.defaults);
    const flusher = new Flusher(opts.flushMode ?? "durable", opts.flushIntervalMs ?? 1000, clock, undefined, opts.faultSyncDelayMs ?? 0);
    fs.mkdirSync(opts.dataDir, { recursive: true });
    const manager = new LogManager(opts.dataDir, defaults, flusher, clock, opts.retentionCheckIntervalMs ?? DEFAULT_RETENTION_CHECK_INTERVAL_MS);
    for (const name of fs.readdirSync(opts.dataDir)) {
      const full = path.join(opts.dataDir, name);
      if (name.endsWith(DELETED_SUFFIX)) {
        await fs.promises.rm(full, { recursive: true, force: true });
        continue;
      }
      const parsed = parsePartitionDirName(name);
      if (parsed === null || !fs.statSync(full).isDirectory()) continue;
      const partitionLog = manager.openPartition(parsed.topic, parsed.partition);
      const r = partitionLog.recovery;
      log.info("recovered partition", { topic: parsed.topic, partition: parsed.partition, clean: r.clean, segments: r.segments, logEndOffset: partitionLog.logEndOffset, truncatedBytes: r.truncatedBytes });
    }
    return manager;
  }

  get(topic: string, partition: number): PartitionLog | undefined {
    return this.partitions.get(partitionKey(topic, partition));
  }

  /** Creates the partition's log, or returns the existing one (config is then left as it is). */
  create(topic: string, partition: number, config?: Partial<LogConfig>): PartitionLog {
    const existing = this.get(topic, partition);
    if (existing !== undefined) return existing;
    if (config !== undefined) this.topicOverrides.set(topic, { ...this.topicOverrides.get(topic), ...config });
    return this.openPartition(topic, partition);
  }

  partitionsOf(topic: string): PartitionLog[] {
    return [...this.partitions.values()].filter((p) => p.topic === topic);
  }

  all(): PartitionLog[] {
    return [...this.partitions.values()];
  }

  /** Applies new per-topic overrides to the topic's partitions (and to partitions created later). */
  updateConfig(topic: string, config: Partial<LogConfig>): void {
    this.topicOverrides.set(topic, { ...config });
    const resolved = resolveConfig(this.defaults, config);
    for (const partitionLog of this.partitionsOf(topic)) partitionLog.updateConfig(resolved);
  }

  /** Removes every partition of the topic and its files. Pending reads keep their mappings until released. */
  async deleteTopic(topic: string): Promise<void> {
    const doomed: string[] = [];
    for (const partitionLog of this.partitionsOf(topic)) {
      this.partitions.delete(partitionKey(topic, partitionLog.partition));
      partitionLog.closeDirty();
      // Unique, so deleting a re-created topic while the last delete still runs cannot collide.
      const renamed = `${partitionLog.dir}.${this.clock()}-${++this.deletions}${DELETED_SUFFIX}`;
      fs.renameSync(partitionLog.dir, renamed);
      doomed.push(renamed);
    }
    this.topicOverrides.delete(topic);
    if (doomed.length === 0) return;
    fsyncPath(this.dataDir);
    await Promise.all(doomed.map((dir) => fs.promises.rm(dir, { recursive: true, force: true })));
  }

  /** One retention pass over every partition; exposed so tests and admin paths can drive it with a time. */
  runRetention(nowMs: number): number {
    let deleted = 0;
    for (const partitionLog of this.partitions.values()) {
      try {
        deleted += partitionLog.applyRetention(nowMs).deleteCount;
      } catch (error) {
        log.error("retention failed", { topic: partitionLog.topic, partition: partitionLog.partition, error });
      }
    }
    return deleted;
  }

  /** Waits for everything appended so far to be on disk (whatever the flush mode). */
  flush(): Promise<void> {
    return this.flusher.flushAll();
  }

  stats(): LogManagerStats {
    const s = this.flusher.stats;
    return { ...s, partitions: this.partitions.size, appendsPerRound: s.flushRounds === 0 ? 0 : s.appendsFlushed / s.flushRounds };
  }

  /** Flushes everything, trims active segments, saves indexes and writes clean-shutdown markers. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.retentionTimer);
    await this.flusher.flushAll().catch(() => {});
    this.flusher.stop();
    // After a failed fsync nothing may vouch for the files: the next start recovers them as after a crash.
    const failure = this.flusher.failed;
    if (failure !== null) log.error("closing without clean-shutdown markers after an fsync failure", { error: failure });
    for (const partitionLog of this.partitions.values()) {
      if (failure !== null) {
        partitionLog.closeDirty();
        continue;
      }
      try {
        partitionLog.closeClean();
      } catch (error) {
        // A full disk may refuse the index files or the marker: the next start recovers this log as after a crash.
        log.error("could not close a partition log cleanly", { topic: partitionLog.topic, partition: partitionLog.partition, error });
        partitionLog.closeDirty();
      }
    }
    this.partitions.clear();
  }

  /** Stops without flushing or marking anything clean, as a crash would leave the files (tests). */
  abandon(): void {
    this.closed = true;
    clearInterval(this.retentionTimer);
    this.flusher.stop();
    for (const partitionLog of this.partitions.values()) partitionLog.closeDirty();
    this.partitions.clear();
  }

  private openPartition(topic: string, partition: number): PartitionLog {
    if (this.closed) throw new Error("log manager is closed");
    const partitionLog = PartitionLog.open({
      dir: path.join(this.dataDir, partitionDirName(topic, partition)),
      topic,
      partition,
      config: resolveConfig(this.defaults, this.topicOverrides.get(topic)),
      flusher: this.flusher,
      clock: this.clock,
    });
    this.partitions.set(partitionKey(topic, partition), partitionLog);
    return partitionLog;
  }
}
