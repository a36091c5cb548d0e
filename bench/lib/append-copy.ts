/**
 * The copy into a fresh segment, without fsync: 64 KiB appends into a new sparse file by
 *   - memcpy into a shared mapping (the broker today: each first touch of a page faults and allocates it),
 *   - the same after MADV_POPULATE_WRITE of the next 1 MiB ahead of the writer (faults taken in bulk),
 *   - pwrite (the kernel copies into the page cache; no page-table work).
 * Variants alternate in slices within one run. `bun bench/lib/append-copy.ts [--dir DIR] [--mib N]`
 */
import { dlopen, FFIType, type Pointer } from "bun:ffi";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { mapShared, unmap } from "../../src/wal/libc.ts";

const CHUNK_BYTES = 64 * 1024;
const POPULATE_AHEAD_BYTES = 1024 * 1024;
const MADV_POPULATE_WRITE = 23;
const SLICES = 4;
const libc = dlopen("libc.so.6", { madvise: { args: [FFIType.ptr, FFIType.u64, FFIType.i32], returns: FFIType.i32 } });

type Variant = "mmap memcpy" | "mmap + populate ahead" | "pwrite";

function runOnce(dir: string, variant: Variant, totalBytes: number): number {
  const file = path.join(dir, `copy-${variant.replace(/\W+/g, "-")}.log`);
  const fd = fs.openSync(file, "w+");
  fs.ftruncateSync(fd, totalBytes);
  const chunk = new Uint8Array(CHUNK_BYTES).fill(9);
  const mapping = variant === "pwrite" ? null : mapShared(fd, totalBytes);
  const bytes = mapping === null ? null : new Uint8Array(mapping.buffer);
  let populatedTo = 0;
  const startMs = performance.now();
  for (let at = 0; at < totalBytes; at += CHUNK_BYTES) {
    if (variant === "mmap + populate ahead" && at + CHUNK_BYTES > populatedTo) {
      const length = Math.min(POPULATE_AHEAD_BYTES, totalBytes - populatedTo);
      if (length > 0) libc.symbols.madvise((Number(mapping!.address) + populatedTo) as unknown as Pointer, length, MADV_POPULATE_WRITE);
      populatedTo += length;
    }
    if (bytes !== null) bytes.set(chunk, at);
    else fs.writeSync(fd, chunk, 0, CHUNK_BYTES, at);
  }
  const elapsedMs = performance.now() - startMs;
  if (mapping !== null) unmap(mapping);
  fs.closeSync(fd);
  fs.rmSync(file);
  return totalBytes / 1e6 / (elapsedMs / 1000);
}

export function measureAppendCopy(dir: string, totalBytes: number): { variant: Variant; mbPerS: number }[] {
  const root = fs.mkdtempSync(path.join(dir, "chronik-append-copy-"));
  const variants: Variant[] = ["mmap memcpy", "mmap + populate ahead", "pwrite"];
  const rates = new Map<Variant, number[]>(variants.map((v) => [v, []]));
  try {
    for (let slice = 0; slice < SLICES; slice++) for (const v of variants) rates.get(v)!.push(runOnce(root, v, totalBytes / SLICES));
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  return variants.map((variant) => ({ variant, mbPerS: median(rates.get(variant)!) }));
}

if (import.meta.main) {
  const args = process.argv.slice(2);
  const flag = (name: string) => {
    const i = args.indexOf(name);
    return i >= 0 ? args[i + 1] : undefined;
  };
  const mib = Number(flag("--mib") ?? 512);
  for (const r of measureAppendCopy(flag("--dir") ?? os.tmpdir(), mib * 1024 * 1024)) {
    console.log(`${r.variant.padEnd(24)} ${r.mbPerS.toFixed(0).padStart(6)} MB/s (64 KiB appends into a new sparse segment, median of ${SLICES})`);
  }
}
