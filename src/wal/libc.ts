/**
 * The few libc calls Node's fs lacks (mmap, munmap), bound with bun:ffi so a user needs no C toolchain.
 * File descriptors come from node:fs; durability goes through fs.fdatasync, which runs on Bun's thread pool.
 */
import { dlopen, FFIType, read, toArrayBuffer, type Pointer } from "bun:ffi";

const PROT_READ = 0x1;
const PROT_WRITE = 0x2;
const MAP_SHARED = 0x01;
const MAP_FAILED = 0xffff_ffff_ffff_ffffn;

const libc = dlopen(process.platform === "darwin" ? "libc.dylib" : "libc.so.6", {
  mmap: { args: [FFIType.ptr, FFIType.u64, FFIType.i32, FFIType.i32, FFIType.i32, FFIType.i64], returns: FFIType.ptr },
  munmap: { args: [FFIType.ptr, FFIType.u64], returns: FFIType.i32 },
  fallocate: { args: [FFIType.i32, FFIType.i32, FFIType.i64, FFIType.i64], returns: FFIType.i32 },
  __errno_location: { args: [], returns: FFIType.ptr },
});

export const ENOSPC = 28;
export const EOPNOTSUPP = 95;

export interface Mapping {
  readonly address: Pointer;
  readonly bytes: number;
  /** A view of the whole mapping; only the part backed by the file may be touched (beyond it is SIGBUS). */
  readonly buffer: ArrayBuffer;
}

/** Maps `bytes` of fd shared and read-write. The range may exceed the file's size: the file grows under it. */
export function mapShared(fd: number, bytes: number): Mapping {
  if (!(Number.isInteger(bytes) && bytes > 0)) throw new RangeError(`mapping size must be positive, got ${bytes}`);
  const address = libc.symbols.mmap(null, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (address === null || BigInt(address as number) === MAP_FAILED || (address as number) === -1) {
    throw new Error(`mmap of ${bytes} bytes failed`);
  }
  return { address, bytes, buffer: toArrayBuffer(address, 0, bytes) };
}

export function unmap(mapping: Mapping): void {
  const rc = libc.symbols.munmap(mapping.address, mapping.bytes);
  if (rc !== 0) throw new Error(`munmap failed rc=${rc}`);
}

/**
 * Reserves disk blocks for [offset, offset + bytes) (fallocate mode 0). Returns 0 or the errno. Writing
 * through a mapping into blocks that were never allocated costs a block allocation per page fault, and on a
 * full disk kills the process with SIGBUS; allocating ahead makes both go away.
 */
export function fallocate(fd: number, offset: number, bytes: number): number {
  if (libc.symbols.fallocate(fd, 0, offset, bytes) === 0) return 0;
  const errnoAddress = libc.symbols.__errno_location();
  return errnoAddress === null ? -1 : read.i32(errnoAddress, 0);
}
