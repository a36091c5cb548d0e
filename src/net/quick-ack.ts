/**
 * TCP_QUICKACK: acknowledge what a connection received now instead of with the response. Linux delays an ACK to
 * piggyback it on the answer; a client with Nagle's algorithm on (librdkafka's default) holds its next small
 * request until everything it sent is acknowledged. When a response waits (a durable produce waits for its
 * fsync), the client's next request would wait out that fsync in the client's kernel and miss the round that
 * could have taken it. The flag is not sticky (Linux drops it when a response follows a request quickly), so
 * it is set again after each read. Linux only; elsewhere a no-op.
 */
import { dlopen, FFIType, ptr } from "bun:ffi";

const IPPROTO_TCP = 6;
const TCP_QUICKACK = 12;

const setsockopt =
  process.platform === "linux"
    ? dlopen("libc.so.6", {
        setsockopt: { args: [FFIType.i32, FFIType.i32, FFIType.i32, FFIType.ptr, FFIType.u32], returns: FFIType.i32 },
      }).symbols.setsockopt
    : null;
const ON = new Int32Array([1]);
const ON_POINTER = ptr(ON);

/** Sends the ACK for everything received on fd so far; best effort (a closed fd only makes it fail). */
export function quickAck(fd: number): void {
  if (setsockopt === null || !(fd >= 0)) return;
  setsockopt(fd, IPPROTO_TCP, TCP_QUICKACK, ON_POINTER, ON.byteLength);
}
