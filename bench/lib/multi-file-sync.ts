/**
 * What a flush round costs when several partitions are dirty: append 100 B to each of N segment-like files
 * (sparse, written through a shared mapping, as the broker does), then make all of them durable by
 *   - N fdatasync calls in parallel on the thread pool (the broker's flusher today),
 *   - N fdatasync calls one after another,
 *   - one syncfs on the filesystem (one journal commit and one cache flush for all files).
 * Strategies are sampled round-robin in slices, so machine noise lands on all of them alike.
 * `bun bench/lib/multi-file-sync.ts [--dir DIR] [--files N] [--samples N]`
 */
import { dlopen, FFIType } from "bun:ffi";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { fdatasync } from "../../src/wal/flusher.ts";
import { mapShared, unmap } from "../../src/wal/libc.ts";

const RECORD_BYTES = 100;
const FILE_BYTES = 16 * 1024 * 1024;
const SLICES = 10;
const libc = dlopen("libc.so.6", { syncfs: { args: [FFIType.i32], returns: FFIType.i32 } });

export interface RoundSample {
  strategy: string;
  files: number;
  p50Ms: number;
  p99Ms: number;
}

export async function measureMultiFileSync(dir: string, fileCount: number, samples: number): Promise<RoundSample[]> {
  const root = fs.mkdtempSync(path.join(dir, "chronik-multi-sync-"));
  const record = new Uint8Array(RECORD_BYTES).fill(7);
  const strategies: { name: string; sync(fds: number[]): Promise<void> | void }[] = [
    { name: "parallel fdatasync (broker today)", sync: async (fds) => void (await Promise.all(fds.map(fdatasync))) },
    { name: "sequential fdatasync", sync: (fds) => fds.forEach((fd) => fs.fdatasyncSync(fd)) },
    {
      name: "one syncfs",
      sync: (fds) => {
        if (libc.symbols.syncfs(fds[0]!) !== 0) throw new Error("syncfs failed");
      },
    },
  ];
  const sets = strategies.map((strategy, s) => {
    const files = Array.from({ length: fileCount }, (_, i) => {
      const fd = fs.openSync(path.join(root, `s${s}-f${i}.log`), "w+");
      fs.ftruncateSync(fd, FILE_BYTES);
      const mapping = mapShared(fd, FILE_BYTES);
      return { fd, mapping, bytes: new Uint8Array(mapping.buffer) };
    });
    return { strategy, files, position: 0, latenciesMs: [] as number[] };
  });
  try {
    const perSlice = Math.max(1, Math.ceil(samples / SLICES));
    for (let slice = 0; slice < SLICES; slice++) {
      for (const set of sets) {
        for (let i = 0; i < perSlice; i++) {
          const startMs = performance.now();
          for (const file of set.files) file.bytes.set(record, set.position);
          set.position += RECORD_BYTES;
          await set.strategy.sync(set.files.map((f) => f.fd));
          set.latenciesMs.push(performance.now() - startMs);
        }
      }
    }
    return sets.map((set) => {
      const sorted = set.latenciesMs.sort((a, b) => a - b);
      const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
      return { strategy: set.strategy.name, files: fileCount, p50Ms: at(0.5), p99Ms: at(0.99) };
    });
  } finally {
    for (const set of sets) {
      for (const file of set.files) {
        unmap(file.mapping);
        fs.closeSync(file.fd);
      }
    }
    fs.rmSync(root, { recursive: true, force: true });
  }
}

if (import.meta.main) {
  const args = process.argv.slice(2);
  const flag = (name: string) => {
    const i = args.indexOf(name);
    return i >= 0 ? args[i + 1] : undefined;
  };
  const dir = flag("--dir") ?? os.tmpdir();
  const samples = Number(flag("--samples") ?? 500);
  const counts = flag("--files") ? [Number(flag("--files"))] : [1, 8];
  console.log(`${"flush round: 100 B into each file, then".padEnd(40)} ${"files".padStart(5)} ${"p50 ms".padStart(8)} ${"p99 ms".padStart(8)}`);
  for (const count of counts) {
    for (const r of await measureMultiFileSync(dir, count, samples)) {
      console.log(`${r.strategy.padEnd(40)} ${String(r.files).padStart(5)} ${r.p50Ms.toFixed(3).padStart(8)} ${r.p99Ms.toFixed(3).padStart(8)}`);
    }
  }
}
