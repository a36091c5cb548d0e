/**
 * Disk baselines for the durable produce path, measured in the caller's run: the latency of "append 100 B,
 * then fdatasync" under the file layouts a log segment can have. The broker writes through a shared mapping
 * into a file grown by ftruncate (sparse: the first write to each block allocates it, so fdatasync must also
 * commit the journal); a file whose blocks were written once (zero-filled) only needs its data pages flushed.
 * `bun bench/lib/disk-sync.ts [--dir DIR] [--samples N]` prints the table on its own.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { mapShared, unmap } from "../../src/wal/libc.ts";

export interface SyncSample {
  layout: string;
  samples: number;
  p50Ms: number;
  p99Ms: number;
  meanMs: number;
}

const RECORD_BYTES = 100;
const FILE_BYTES = 64 * 1024 * 1024;

function summarize(layout: string, latenciesMs: number[]): SyncSample {
  const sorted = [...latenciesMs].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
  return { layout, samples: sorted.length, p50Ms: at(0.5), p99Ms: at(0.99), meanMs: sorted.reduce((a, b) => a + b, 0) / sorted.length };
}

function zeroFill(fd: number, bytes: number): void {
  const zeros = new Uint8Array(1024 * 1024);
  for (let at = 0; at < bytes; at += zeros.byteLength) fs.writeSync(fd, zeros, 0, zeros.byteLength, at);
  fs.fdatasyncSync(fd);
}

function fdatasyncAsync(fd: number): Promise<void> {
  return new Promise((resolve, reject) => fs.fdatasync(fd, (error) => (error ? reject(error) : resolve())));
}

/** Each layout appends RECORD_BYTES at a growing position, then waits for fdatasync; samples are per append. */
export async function measureDiskSync(dir: string, samples: number): Promise<SyncSample[]> {
  const root = fs.mkdtempSync(path.join(dir, "chronik-disk-sync-"));
  const record = new Uint8Array(RECORD_BYTES).fill(7);
  const results: SyncSample[] = [];
  const run = async (layout: string, prepare: (fd: number) => void, write: (fd: number, at: number) => void, sync: (fd: number) => void | Promise<void>, cleanup?: () => void) => {
    const file = path.join(root, `${layout.replace(/\W+/g, "-")}.log`);
    const fd = fs.openSync(file, "w+");
    prepare(fd);
    const latenciesMs: number[] = [];
    for (let i = 0; i < samples; i++) {
      const startMs = performance.now();
      write(fd, i * RECORD_BYTES);
      await sync(fd);
      latenciesMs.push(performance.now() - startMs);
    }
    cleanup?.();
    fs.closeSync(fd);
    fs.rmSync(file);
    results.push(summarize(layout, latenciesMs));
  };
  const pwrite = (fd: number, at: number) => void fs.writeSync(fd, record, 0, RECORD_BYTES, at);
  const syncNow = (fd: number) => fs.fdatasyncSync(fd);

  await run("append (file grows)", () => {}, pwrite, syncNow);
  await run("pwrite, sparse (ftruncate)", (fd) => fs.ftruncateSync(fd, FILE_BYTES), pwrite, syncNow);
  await run("pwrite, zero-filled", (fd) => zeroFill(fd, FILE_BYTES), pwrite, syncNow);

  let mapping: ReturnType<typeof mapShared> | null = null;
  let mapped: Uint8Array | null = null;
  const mmapWrite = (_fd: number, at: number) => mapped!.set(record, at);
  const mapFile = (fd: number) => {
    mapping = mapShared(fd, FILE_BYTES);
    mapped = new Uint8Array(mapping.buffer);
  };
  const unmapFile = () => {
    if (mapping !== null) unmap(mapping);
    mapping = null;
  };
  await run("mmap, sparse (broker today)", (fd) => {
    fs.ftruncateSync(fd, FILE_BYTES);
    mapFile(fd);
  }, mmapWrite, syncNow, unmapFile);
  await run("mmap, zero-filled", (fd) => {
    zeroFill(fd, FILE_BYTES);
    mapFile(fd);
  }, mmapWrite, syncNow, unmapFile);
  await run("mmap, sparse, async fdatasync", (fd) => {
    fs.ftruncateSync(fd, FILE_BYTES);
    mapFile(fd);
  }, mmapWrite, fdatasyncAsync, unmapFile);
  await run("mmap, zero-filled, async fdatasync", (fd) => {
    zeroFill(fd, FILE_BYTES);
    mapFile(fd);
  }, mmapWrite, fdatasyncAsync, unmapFile);
  fs.rmSync(root, { recursive: true, force: true });
  return results;
}

export function formatDiskSync(results: readonly SyncSample[]): string {
  const lines = [`${"layout: append 100 B + fdatasync".padEnd(40)} ${"p50 ms".padStart(8)} ${"p99 ms".padStart(8)} ${"mean ms".padStart(8)}`];
  for (const r of results) lines.push(`${r.layout.padEnd(40)} ${r.p50Ms.toFixed(3).padStart(8)} ${r.p99Ms.toFixed(3).padStart(8)} ${r.meanMs.toFixed(3).padStart(8)}`);
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
