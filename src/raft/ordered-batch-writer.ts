/**
 * Group commit for Raft's durable writes, in hand-off order, surviving failed commits. Writes handed off while
 * `maxInFlight` commits are running gather into the next batch: one atomic commit for all of them. A write's promise
 * resolves once it and every write before it are durable.
 *
 * A failed commit (a full disk) leaves what it wrote undone, but a later batch may already have landed. Every batch
 * from the failed one on is therefore written again, in order, as one commit, once the commits still running have
 * settled (a late one must not overwrite what the retry wrote), with a growing delay, until it succeeds. Re-writing a
 * batch that landed is harmless: its operations are puts and removes of fixed keys. Meanwhile nothing resolves, so
 * nothing that depends on these writes leaves (acknowledgements, votes), and new writes join the retry.
 * The storage is injected (`commit`), and so are the timers: this file does no I/O.
 */
import { backoffMs } from "../lib/backoff.ts";
import type { Timers } from "./tcp-transport.ts";

export interface OrderedBatchWriterOptions<Op> {
  /** Writes `ops` in order as one atomic commit; resolves once they are durable. */
  commit(ops: Op[]): Promise<void>;
  maxInFlight: number;
  timers: Timers;
  retryInitialDelayMs?: number;
  retryMaxDelayMs?: number;
  /** A commit failed; the batches from it on are retried after `retryInMs`. */
  onFailure?(error: unknown, retryInMs: number): void;
  /** A retry succeeded after `failedAttempts` failed commits. */
  onRecovered?(failedAttempts: number): void;
}

interface Batch<Op> {
  ops: Op[];
  committed: boolean;
  resolve(): void;
  reject(error: unknown): void;
  durable: Promise<void>;
}

export class WriterClosedError extends Error {
  constructor() {
    super("storage closed before the write was durable");
  }
}

export class OrderedBatchWriter<Op> {
  /** Started and not yet resolved, in hand-off order. */
  private readonly started: Batch<Op>[] = [];
  private open: Batch<Op> | undefined;
  private inFlight = 0;
  /** While failing: the batches to write again, in order (`started` is then empty). */
  private redo: Batch<Op>[] | undefined;
  private failedAttempts = 0;
  private retryTimer: unknown;
  private retryDue = false;
  private closed = false;
  private readonly initialDelayMs: number;
  private readonly maxDelayMs: number;
  private settleWaiters: (() => void)[] = [];

  constructor(private readonly options: OrderedBatchWriterOptions<Op>) {
    this.initialDelayMs = options.retryInitialDelayMs ?? 50;
    this.maxDelayMs = options.retryMaxDelayMs ?? 2_000;
  }

  /** True between a failed commit and the retry that succeeds. */
  get failing(): boolean {
    return this.redo !== undefined;
  }

  /** Hands off `ops`; the promise resolves once they and every earlier write are durable. */
  write(ops: Op[]): Promise<void> {
    if (this.closed) return Promise.reject(new WriterClosedError());
    const batch = (this.open ??= newBatch());
    batch.ops.push(...ops);
    if (!this.failing) this.startOpenBatch();
    return batch.durable;
  }

  /**
   * Lets the writes handed off finish unless commits are failing, then fails what is not durable and refuses later
   * writes: a disk that stays full must not hold up a shutdown.
   */
  async close(): Promise<void> {
    while (!this.failing && (this.started.length > 0 || this.open)) await this.nextSettle();
    this.closed = true;
    if (this.retryTimer !== undefined) this.options.timers.clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    while (this.inFlight > 0) await this.nextSettle();
    const error = new WriterClosedError();
    for (const batch of [...this.started, ...(this.redo ?? []), ...(this.open ? [this.open] : [])]) batch.reject(error);
    this.started.length = 0;
    this.redo = undefined;
    this.open = undefined;
  }

  private nextSettle(): Promise<void> {
    return new Promise((resolve) => this.settleWaiters.push(resolve));
  }

  private startOpenBatch(): void {
    const batch = this.open;
    if (!batch || this.inFlight >= this.options.maxInFlight) return;
    this.open = undefined;
    this.started.push(batch);
    this.run(batch.ops, [batch]);
  }

  private run(ops: Op[], batches: Batch<Op>[]): void {
    this.inFlight++;
    this.options.commit(ops).then(
      () => this.onSettled(batches, undefined),
      (error: unknown) => this.onSettled(batches, error ?? new Error("commit failed")),
    );
  }

  private onSettled(batches: Batch<Op>[], error: unknown): void {
    this.inFlight--;
    if (!this.closed) {
      if (error !== undefined) this.fail(error);
      else if (this.failing) {
        // The retry (it carries every batch to redo), or a commit started before the failure, which the retry rewrites.
        if (batches === this.redo) this.recover();
      } else {
        for (const batch of batches) batch.committed = true;
        while (this.started[0]?.committed) this.started.shift()!.resolve();
      }
      if (this.failing && this.inFlight === 0 && this.retryDue) this.retry();
      if (!this.failing) this.startOpenBatch();
    }
    const waiters = this.settleWaiters;
    this.settleWaiters = [];
    for (const wake of waiters) wake();
  }

  private fail(error: unknown): void {
    // Every batch not resolved yet is written again: those before the failed one may still be running.
    if (!this.failing) this.redo = this.started.splice(0);
    this.failedAttempts++;
    const delayMs = backoffMs(this.failedAttempts, this.initialDelayMs, this.maxDelayMs);
    this.options.onFailure?.(error, delayMs);
    if (this.retryTimer !== undefined) this.options.timers.clearTimeout(this.retryTimer);
    this.retryDue = false;
    this.retryTimer = this.options.timers.setTimeout(() => {
      this.retryTimer = undefined;
      if (!this.failing) return;
      this.retryDue = true;
      if (this.inFlight === 0) this.retry();
    }, delayMs);
  }

  private retry(): void {
    this.retryDue = false;
    const redo = this.redo!;
    if (this.open) {
      redo.push(this.open);
      this.open = undefined;
    }
    this.run(
      redo.flatMap((batch) => batch.ops),
      redo,
    );
  }

  private recover(): void {
    const redo = this.redo!;
    this.redo = undefined;
    if (this.retryTimer !== undefined) this.options.timers.clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    for (const batch of redo) batch.resolve();
    this.options.onRecovered?.(this.failedAttempts);
    this.failedAttempts = 0;
  }
}

function newBatch<Op>(): Batch<Op> {
  let resolve!: () => void;
  let reject!: (error: unknown) => void;
  const durable = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { ops: [], committed: false, resolve, reject, durable };
}
