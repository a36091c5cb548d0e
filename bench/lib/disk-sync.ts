/**
 * Disk baselines for the durable produce path, measured in the caller's run: the latency of "append 100 B,
 * then fdatasync" under the file layouts and sync styles a log segment can use. The broker writes through a
 * shared mapping into a file grown by ftruncate (sparse) and runs fdatasync on Bun's thread pool.
 * Layouts are sampled round-robin in slices, so a burst of machine noise lands on all of them alike.
 * `bun bench/lib/disk-sync.ts [--dir DIR] [--samples N]` prints the table on its own.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { fdatasync } from "../../src/wal/flusher.ts";
import { fallocate as allocate, mapShared, unmap, type Mapping } from "../../src/wal/libc.ts";

export interface SyncSample {
  layout: string;
  samples: number;
  p50Ms: number;
  p99Ms: number;
  meanMs: number;
}

const RECORD_BYTES = 100;
const FILE_BYTES = 64 * 1024 * 1024;
const SLICES = 10;

interface Layout {
  name: string;
  prepare(fd: number): void;
  mapped: boolean;
  asyncSync: boolean;
}

const sparse = (fd: number) => fs.ftruncateSync(fd, FILE_BYTES);
/** Zero-fill with large writes: the page cache holds the file in large folios. */
const zeroFill = (fd: number) => {
  const zeros = new Uint8Array(1024 * 1024);
  for (let at = 0; at < FILE_BYTES; at += zeros.byteLength) fs.writeSync(fd, zeros, 0, zeros.byteLength, at);
  fs.fdatasyncSync(fd);
};
const fallocate = (fd: number) => {
  const errno = allocate(fd, 0, FILE_BYTES);
  if (errno !== 0) throw new Error(`fallocate failed (errno ${errno})`);
  fs.fdatasyncSync(fd);
};

export const LAYOUTS: readonly Layout[] = [
  { name: "append (file grows)", prepare: () => {}, mapped: false, asyncSync: false },
  { name: "pwrite, sparse", prepare: sparse, mapped: false, asyncSync: false },
  { name: "pwrite, sparse, async fdatasync", prepare: sparse, mapped: false, asyncSync: true },
  { name: "pwrite, zero-filled", prepare: zeroFill, mapped: false, asyncSync: false },
  { name: "mmap, sparse", prepare: sparse, mapped: true, asyncSync: false },
  { name: "mmap, sparse, async (broker today)", prepare: sparse, mapped: true, asyncSync: true },
  { name: "mmap, zero-filled", prepare: zeroFill, mapped: true, asyncSync: false },
  { name: "mmap, fallocate", prepare: fallocate, mapped: true, asyncSync: false },
];

function summarize(layout: string, latenciesMs: number[]): SyncSample {
  const sorted = [...latenciesMs].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
  return { layout, samples: sorted.length, p50Ms: at(0.5), p99Ms: at(0.99), meanMs: sorted.reduce((a, b) => a + b, 0) / sorted.length };
}

/** Each sample appends RECORD_BYTES at the next position of its layout's file and waits for fdatasync. */
export async function measureDiskSync(dir: string, samples: number): Promise<SyncSample[]> {
  const root = fs.mkdtempSync(path.join(dir, "chronik-disk-sync-"));
  const record = new Uint8Array(RECORD_BYTES).fill(7);
  const open = LAYOUTS.map((layout, i) => {
    const fd = fs.openSync(path.join(root, `layout-${i}.log`), "w+");
    layout.prepare(fd);
    const mapping: Mapping | null = layout.mapped ? mapShared(fd, FILE_BYTES) : null;
    return { layout, fd, mapping, bytes: mapping ? new Uint8Array(mapping.buffer) : null, position: 0, latenciesMs: [] as number[] };
  });
  try {
    const perSlice = Math.max(1, Math.ceil(samples / SLICES));
    for (let slice = 0; slice < SLICES; slice++) {
      for (const file of open) {
        for (let i = 0; i < perSlice; i++) {
          const startMs = performance.now();
          if (file.bytes !== null) file.bytes.set(record, file.position);
          else fs.writeSync(file.fd, record, 0, RECORD_BYTES, file.position);
          file.position += RECORD_BYTES;
          if (file.layout.asyncSync) await fdatasync(file.fd);
          else fs.fdatasyncSync(file.fd);
          file.latenciesMs.push(performance.now() - startMs);
        }
      }
    }
    return open.map((file) => summarize(file.layout.name, file.latenciesMs));
  } finally {
    for (const file of open) {
      if (file.mapping !== null) unmap(file.mapping);
      fs.closeSync(file.fd);
    }
    fs.rmSync(root, { recursive: true, force: true });
  }
}

export function formatDiskSync(results: readonly SyncSample[]): string {
  const lines = [`${"layout: write 100 B + fdatasync".padEnd(36)} ${"p50 ms".padStart(8)} ${"p99 ms".padStart(8)} ${"mean ms".padStart(8)}`];
  for (const r of results) lines.push(`${r.layout.padEnd(36)} ${r.p50Ms.toFixed(3).padStart(8)} ${r.p99Ms.toFixed(3).padStart(8)} ${r.meanMs.toFixed(3).padStart(8)}`);
  return lines.join("\n");
}

if (import.meta.main) {
  const args = process.argv.slice(2);
  const flag = (name: string) => {
    const i = args.indexOf(name);
    return i >= 0 ? args[i + 1] : undefined;
  };
  const results = await measureDiskSync(flag("--dir") ?? os.tmpdir(), Number(flag("--samples") ?? 2000));
  console.log(formatDiskSync(results));
}
