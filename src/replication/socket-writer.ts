/**
 * Ordered writes to a Bun socket that may accept only part of a buffer: the rest waits in a bounded queue and
 * goes out on drain. Chunks may be views of mapped segments; their release runs once the last byte is written
 * (or the socket closes), so a mapping is never unmapped under a pending write.
 *
 * A small frame made of several chunks (a BATCHES header and a few KiB of batches) is copied into one buffer and
 * written once: every socket write is a send syscall and, with TCP_NODELAY, a packet of its own, whose loopback
 * delivery the sender pays for; copying 16 KiB costs far less. It also reaches the peer whole, so its decoder
 * does not copy it again to join the pieces.
 */
export interface WritableSocket {
  /** Bytes written, possibly fewer than offered; negative or zero when nothing could be written. */
  write(data: Uint8Array): number;
}

/** Frames up to this size are copied into one buffer before writing; bigger ones are written as their views. */
export const COALESCE_MAX_BYTES = 16 * 1024;

interface Pending {
  bytes: Uint8Array;
  release: (() => void) | null;
}

export class SocketWriter {
  private readonly pending: Pending[] = [];
  private pendingBytes = 0;
  private closed = false;

  constructor(
    private readonly socket: WritableSocket,
    /** Callers stop producing at this many queued bytes and resume on drain (see hasRoom). */
    readonly maxQueuedBytes: number,
  ) {}

  get queuedBytes(): number {
    return this.pendingBytes;
  }

  /** Whether a producer may write more now; the bound is soft by one write so a big batch is never stuck. */
  get hasRoom(): boolean {
    return !this.closed && this.pendingBytes < this.maxQueuedBytes;
  }

  /** Writes chunks in order; `release` runs once all of them left the process. */
  write(chunks: readonly Uint8Array[], release: (() => void) | null = null): void {
    if (this.closed) {
      release?.();
      return;
    }
    if (chunks.length > 1) {
      let bytes = 0;
      for (const chunk of chunks) bytes += chunk.length;
      if (bytes <= COALESCE_MAX_BYTES) {
        const merged = new Uint8Array(bytes);
        let at = 0;
        for (const chunk of chunks) {
          merged.set(chunk, at);
          at += chunk.length;
        }
        // The views were copied: what they point into may be released now.
        release?.();
        this.write([merged]);
        return;
      }
    }
    for (let i = 0; i < chunks.length; i++) {
      const chunk = chunks[i]!;
      const last = i === chunks.length - 1;
      if (chunk.length === 0) {
        if (last) this.enqueueOrRelease(release);
        continue;
      }
      if (this.pending.length === 0) {
        const written = Math.max(0, this.socket.write(chunk));
        if (written === chunk.length) {
          if (last) release?.();
          continue;
        }
        this.push(chunk.subarray(written), last ? release : null);
      } else {
        this.push(chunk, last ? release : null);
      }
    }
  }

  private enqueueOrRelease(release: (() => void) | null): void {
    if (release === null) return;
    if (this.pending.length === 0) release();
    else this.pending[this.pending.length - 1]!.release = chainRelease(this.pending[this.pending.length - 1]!.release, release);
  }

  private push(bytes: Uint8Array, release: (() => void) | null): void {
    this.pending.push({ bytes, release });
    this.pendingBytes += bytes.length;
  }

  /** Call from the socket's drain handler. Returns true when the queue emptied. */
  drain(): boolean {
    while (this.pending.length > 0 && !this.closed) {
      const head = this.pending[0]!;
      const written = Math.max(0, this.socket.write(head.bytes));
      this.pendingBytes -= written;
      if (written < head.bytes.length) {
        head.bytes = head.bytes.subarray(written);
        return false;
      }
      this.pending.shift();
      head.release?.();
    }
    return this.pending.length === 0;
  }

  /** The socket is gone: every held view is released. */
  close(): void {
    this.closed = true;
    for (const entry of this.pending.splice(0)) entry.release?.();
    this.pendingBytes = 0;
  }
}

function chainRelease(first: (() => void) | null, second: () => void): () => void {
  return first === null ? second : () => (first(), second());
}
