/**
 * syncfs(2) off the event loop, on a dedicated worker thread. One syncfs makes every dirty page and inode of a
 * filesystem durable with one journal commit and one cache flush, where N fdatasync calls cost up to N of each.
 * Node's fs has no syncfs, and a bun:ffi call blocks its thread for the whole commit, hence the thread.
 * Linux only; from 5.8 syncfs reports writeback errors raised since the fd was opened.
 */

/**
 * The worker's source, started from a blob URL so that it needs no file of its own (a compiled executable has
 * no source tree to load one from). It answers each posted fd with 0 or syncfs's errno.
 */
const WORKER_SOURCE = `
import { dlopen, FFIType, read } from "bun:ffi";
const libc = dlopen("libc.so.6", {
  syncfs: { args: [FFIType.i32], returns: FFIType.i32 },
  __errno_location: { args: [], returns: FFIType.ptr },
});
self.onmessage = (event) => {
  let errno = 0;
  if (libc.symbols.syncfs(event.data) !== 0) {
    const address = libc.symbols.__errno_location();
    errno = address === null ? -1 : read.i32(address, 0);
  }
  self.postMessage(errno);
};
`;

export class SyncfsError extends Error {
  constructor(readonly errno: number) {
    super(`syncfs failed: errno ${errno}`);
  }
}

export class SyncfsThread {
  private readonly worker: Worker;
  /** Kept until stop: the worker loads its module from it asynchronously. */
  private readonly sourceUrl: string;
  /** Calls posted and not yet answered, oldest first: the worker answers them in order. */
  private readonly pending: { resolve(): void; reject(error: Error): void }[] = [];
  private stopping = false;

  constructor() {
    this.sourceUrl = URL.createObjectURL(new Blob([WORKER_SOURCE], { type: "application/javascript" }));
    this.worker = new Worker(this.sourceUrl);
    this.worker.onmessage = (event: MessageEvent<number>) => {
      const pending = this.pending.shift();
      if (pending === undefined) throw new Error("syncfs thread answered with no call pending");
      if (this.stopping && this.pending.length === 0) this.worker.terminate();
      if (event.data === 0) pending.resolve();
      else pending.reject(new SyncfsError(event.data));
    };
    this.worker.onerror = (event) => {
      for (const pending of this.pending.splice(0)) pending.reject(new Error(`syncfs thread failed: ${event.message}`));
    };
    this.worker.unref();
  }

  /** Makes fd's whole filesystem durable. Calls run one after another, each after the one posted before it. */
  syncfs(fd: number): Promise<void> {
    if (this.stopping) throw new Error("syncfs thread: no calls after stop");
    return new Promise<void>((resolve, reject) => {
      this.pending.push({ resolve, reject });
      this.worker.postMessage(fd);
    });
  }

  /** Ends the thread, after the calls in flight (if any) have answered. */
  stop(): void {
    this.stopping = true;
    URL.revokeObjectURL(this.sourceUrl);
    if (this.pending.length === 0) this.worker.terminate();
  }
}
