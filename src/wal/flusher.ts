/**
 * Group commit. Appends from every partition mark their segments dirty; one flusher makes them durable with a
 * round of fdatasync calls (run on Bun's thread pool, so the event loop keeps serving), or one syncfs on a
 * worker thread when many fds are dirty. Appends gather for the next round while up to MAX_ROUNDS_IN_FLIGHT
 * rounds sync: 64 concurrent appenders cost a handful of syncs, not 64.
 * On Linux fdatasync of the fd also writes back pages dirtied through its MAP_SHARED mapping.
 */
import * as fs from "node:fs";
import { logger } from "../lib/logger.ts";
import { SyncfsThread } from "./syncfs-thread.ts";

const log = logger("flusher");

export type FlushMode = "durable" | "fast";

/** One round's work for a partition: fds to sync, then a callback with the outcome. */
export interface FlushWork {
  fds: number[];
  bytes: number;
  appends: number;
  finish(error: Error | null): void;
}

export interface FlushParticipant {
  /** Snapshot of what is unflushed now; null if nothing. Appends after this go to the next round. */
  beginFlush(): FlushWork | null;
}

export interface FlusherStats {
  fsyncCount: number;
  flushRounds: number;
  bytesFlushed: number;
  appendsFlushed: number;
  maxAppendsPerRound: number;
  maxFsyncsPerRound: number;
  totalFlushMs: number;
  lastFlushMs: number;
}

/** What the appends of one round wait on. */
interface Round {
  promise: Promise<void>;
  resolve(): void;
  reject(error: Error): void;
}

/** A round whose sync was issued: its work, and once the sync returned, the outcome. */
interface StartedRound {
  round: Round;
  works: FlushWork[];
  bytes: number;
  syncCalls: number;
  startMs: number;
  /** Set when the sync call returned: null for success. */
  syncError: Error | null | undefined;
  elapsedMs: number;
  prepareError: Error | null;
}

function newRound(): Round {
  let resolve!: () => void;
  let reject!: (error: Error) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  // Callers that drop `durable` must not turn an fsync failure into an unhandled rejection.
  promise.catch(() => {});
  return { promise, resolve, reject };
}

/** fdatasync on Bun's thread pool, so the event loop keeps serving while the disk syncs. */
export function fdatasync(fd: number): Promise<void> {
  return new Promise((resolve, reject) => fs.fdatasync(fd, (error) => (error ? reject(error) : resolve())));
}

const RESOLVED = Promise.resolve();
const PREPARE_RETRY_DELAY_MS = 100;

/**
 * A round with at least this many fds is made durable by one syncfs instead of an fdatasync per fd: one
 * journal commit and one cache flush instead of up to N. Measured here (append 100 B per file, then sync):
 * 8 files 0.8-1.2 ms by syncfs vs 2.3-2.8 ms by parallel fdatasync; 64 files 2-5 ms vs 27-35 ms. End to end
 * (librdkafka seed shape) a threshold of 4 won on 64 partitions but lost on 8, on a disk shared with busy
 * neighbours: syncfs writes back everything dirty on the filesystem, other programs' data included. All logs
 * live under one data directory, so one filesystem.
 */
export const SYNCFS_MIN_FDS = 8;

/**
 * Rounds whose syncs may run at once. A round that starts while another syncs covers appends that would
 * otherwise wait out that whole sync first; two fdatasyncs of one file overlap on the disk (measured here:
 * about twice the syncs per second of one at a time, at the same latency; a third added little). Rounds
 * still complete in start order.
 */
export const MAX_ROUNDS_IN_FLIGHT = 2;

/**
 * A round starts beside one still syncing only while the rounds in flight write less than this. Small syncs
 * cost the disk's cache flush, and two flushes overlap; large ones are bound by bandwidth, so a second round
 * would finish no sooner and only split the next batch (a stream of 330 KB appends: 340 vs 440 MB/s).
 */
export const OVERLAP_MAX_BYTES = 64 * 1024;

export class Flusher {
  readonly stats: FlusherStats = {
    fsyncCount: 0,
    flushRounds: 0,
    bytesFlushed: 0,
    appendsFlushed: 0,
    maxAppendsPerRound: 0,
    maxFsyncsPerRound: 0,
    totalFlushMs: 0,
    lastFlushMs: 0,
  };
  private readonly dirty = new Set<FlushParticipant>();
  private next: Round | null = null;
  /** Started rounds in start order; the head completes first. */
  private readonly inFlight: StartedRound[] = [];
  private scheduled = false;
  /** A participant could not prepare its flush: rounds wait this out instead of spinning on the cause. */
  private pausedForRetry = false;
  private failure: Error | null = null;
  private readonly interval: ReturnType<typeof setInterval> | null;
  private deadlineTimer: ReturnType<typeof setTimeout> | null = null;
  private deadlineMs = Infinity;
  private stopped = false;
  /** Started with the flusher in durable mode: a worker takes tens of ms to start, too long for a round. */
  private syncfsThread: SyncfsThread | null;

  constructor(
    readonly mode: FlushMode,
    readonly intervalMs: number,
    private readonly clock: () => number = Date.now,
    /** Makes one fd durable; replaced in tests to control when each sync returns. */
    private readonly syncFd: (fd: number) => Promise<void> = fdatasync,
    /** Fault injection: every round waits this long before its sync, as on a slow disk. */
    readonly faultSyncDelayMs = 0,
    /** Off for a flusher of one log, whose rounds never reach SYNCFS_MIN_FDS: no worker thread to start. */
    options: { syncfs?: boolean } = {},
  ) {
    if (!(intervalMs >= 1)) throw new RangeError(`flush interval must be >= 1 ms, got ${intervalMs}`);
    if (!(Number.isInteger(faultSyncDelayMs) && faultSyncDelayMs >= 0)) throw new RangeError(`sync delay must be a whole number of ms >= 0, got ${faultSyncDelayMs}`);
    this.interval = mode === "fast" ? setInterval(() => this.requestFlush(), intervalMs) : null;
    this.interval?.unref();
    this.syncfsThread = mode === "durable" && process.platform === "linux" && options.syncfs !== false ? new SyncfsThread() : null;
  }

  get failed(): Error | null {
    return this.failure;
  }

  /** Called by a partition after an append; returns the `durable` promise for it. */
  appended(participant: FlushParticipant): Promise<void> {
    if (this.failure !== null) {
      const failed = Promise.reject(this.failure);
      failed.catch(() => {});
      return failed;
    }
    this.dirty.add(participant);
    if (this.mode === "fast") return RESOLVED;
    this.next ??= newRound();
    this.schedule();
    return this.next.promise;
  }

  /** Fast mode: a partition wants a flush no later than deadlineMs (flush.ms) or right away (flush.messages). */
  requestFlushBy(deadlineMs: number): void {
    const delayMs = deadlineMs - this.clock();
    if (delayMs <= 0) return this.requestFlush();
    if (deadlineMs >= this.deadlineMs) return;
    if (this.deadlineTimer !== null) clearTimeout(this.deadlineTimer);
    this.deadlineMs = deadlineMs;
    this.deadlineTimer = setTimeout(() => {
      this.deadlineTimer = null;
      this.deadlineMs = Infinity;
      this.requestFlush();
    }, delayMs);
    this.deadlineTimer.unref();
  }

  requestFlush(): void {
    if (this.dirty.size > 0 || this.next !== null) this.schedule();
  }

  /** Waits for every round in flight, then flushes everything dirty now. */
  async flushAll(): Promise<void> {
    while (this.inFlight.length > 0) await this.inFlight[this.inFlight.length - 1]!.round.promise.catch(() => {});
    if (this.dirty.size === 0 && this.next === null) return;
    this.next ??= newRound();
    const round = this.next.promise;
    this.schedule();
    await round;
  }

  stop(): void {
    this.stopped = true;
    if (this.interval !== null) clearInterval(this.interval);
    if (this.deadlineTimer !== null) clearTimeout(this.deadlineTimer);
    this.syncfsThread?.stop();
    this.syncfsThread = null;
  }

  private schedule(): void {
    if (this.scheduled || this.pausedForRetry || !this.mayStartRound()) return;
    this.scheduled = true;
    // A microtask, not setImmediate: the round starts as soon as the current event (one socket read, with
    // every request in it) is handled, instead of a loop turn later.
    queueMicrotask(() => {
      this.scheduled = false;
      if (!this.pausedForRetry && this.mayStartRound()) this.startRound();
    });
  }

  private mayStartRound(): boolean {
    if (this.inFlight.length === 0) return true;
    if (this.inFlight.length >= MAX_ROUNDS_IN_FLIGHT) return false;
    let bytes = 0;
    for (const started of this.inFlight) bytes += started.bytes;
    return bytes < OVERLAP_MAX_BYTES;
  }

  private startRound(): void {
    const round = this.next ?? newRound();
    this.next = null;
    const participants = [...this.dirty];
    this.dirty.clear();
    const works: FlushWork[] = [];
    // A participant that cannot prepare (e.g. out of file descriptors) synced nothing and lost nothing: it stays
    // dirty for the next round, and only the appends waiting on this round fail.
    let prepareError: Error | null = null;
    for (const participant of participants) {
      try {
        const work = participant.beginFlush();
        if (work !== null) works.push(work);
      } catch (e) {
        prepareError ??= e instanceof Error ? e : new Error(String(e));
        this.dirty.add(participant);
      }
    }
    if (prepareError !== null && !this.stopped) {
      // Whatever stopped the preparation (file descriptors, memory) needs time to clear: retry later, not in a spin.
      this.pausedForRetry = true;
      setTimeout(() => {
        this.pausedForRetry = false;
        this.scheduleIfPending();
      }, PREPARE_RETRY_DELAY_MS);
    }
    const fds = works.flatMap((w) => w.fds);
    const syncfsThread = fds.length >= SYNCFS_MIN_FDS && !this.stopped ? this.syncfsThread : null;
    const started: StartedRound = {
      round,
      works,
      bytes: works.reduce((n, w) => n + w.bytes, 0),
      syncCalls: syncfsThread !== null ? 1 : fds.length,
      startMs: performance.now(),
      syncError: undefined,
      elapsedMs: 0,
      prepareError,
    };
    this.inFlight.push(started);
    const issueSync = () => (syncfsThread !== null ? syncfsThread.syncfs(fds[0]!) : fds.length === 1 ? this.syncFd(fds[0]!) : Promise.all(fds.map(this.syncFd)));
    const sync = this.faultSyncDelayMs > 0 ? Bun.sleep(this.faultSyncDelayMs).then(issueSync) : issueSync();
    sync.then(
      () => this.synced(started, null),
      (e) => this.synced(started, e instanceof Error ? e : new Error(String(e))),
    );
  }

  private synced(started: StartedRound, error: Error | null): void {
    started.syncError = error;
    started.elapsedMs = performance.now() - started.startMs;
    // In start order: a later round's appends are acknowledged only after every earlier round's.
    while (this.inFlight.length > 0 && this.inFlight[0]!.syncError !== undefined) this.complete(this.inFlight.shift()!);
    this.scheduleIfPending();
  }

  private complete(started: StartedRound): void {
    const { round, works, syncCalls, elapsedMs, prepareError } = started;
    // Once any sync failed, a later one's success vouches for nothing: the error may have been reported only once.
    const error = this.failure ?? started.syncError ?? null;
    const appends = works.reduce((n, w) => n + w.appends, 0);
    const stats = this.stats;
    stats.fsyncCount += syncCalls;
    stats.flushRounds++;
    stats.bytesFlushed += started.bytes;
    stats.appendsFlushed += appends;
    stats.maxAppendsPerRound = Math.max(stats.maxAppendsPerRound, appends);
    stats.maxFsyncsPerRound = Math.max(stats.maxFsyncsPerRound, syncCalls);
    stats.totalFlushMs += elapsedMs;
    stats.lastFlushMs = elapsedMs;
    for (const work of works) {
      try {
        work.finish(error);
      } catch (finishError) {
        // One partition's bookkeeping must not leave the appends of every partition in this round waiting.
        log.error("a partition failed to finish its flush", { error: finishError });
      }
    }
    if (error !== null) {
      // After a failed fsync the page cache may have dropped the data: nothing later can be promised durable.
      if (this.failure === null) log.error("sync failed; refusing further durable appends", { error });
      this.failure = error;
      round.reject(error);
      this.next?.reject(error);
      this.next = null;
    } else if (prepareError !== null) {
      log.warn("a partition could not prepare its flush; the appends of this round fail and it is retried", { error: prepareError });
      round.reject(prepareError);
    } else {
      round.resolve();
    }
  }

  private scheduleIfPending(): void {
    if (!this.stopped && this.failure === null && (this.next !== null || (this.mode === "durable" && this.dirty.size > 0))) this.schedule();
  }
}
