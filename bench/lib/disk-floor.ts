/**
 * The disk alone at a given write rate: the latency floor of durable appends that no broker on this machine can
 * beat. Each of `writers` processes (one per broker of the setup being compared) copies `bytesPerMs` into a shared
 * mapping of a preallocated file every millisecond, as a segment append does, while an fdatasync loop on Bun's
 * thread pool makes them durable, as the group-commit flusher does. A chunk's latency runs from its copy to the
 * end of the first sync that started after it. No sockets, no protocol, no replication: what is left is the disk
 * (and the scheduler), shared by the writers as the brokers of one machine share it.
 *
 *   bun bench/lib/disk-floor.ts --writers N --bytes-per-ms B [--seconds S] [--dir DIR]
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { fdatasync } from "../../src/wal/flusher.ts";
import { fallocate, mapShared, unmap } from "../../src/wal/libc.ts";
import { Histogram } from "./histogram.ts";

export interface DiskFloor {
  writers: number;
  bytesPerMs: number;
  p50Ms: number;
  p99Ms: number;
  p999Ms: number;
}

interface WriterResult {
  latenciesMs: number[];
}

/** One writer, in this process: returns every chunk's append-to-durable latency. */
async function runWriter(file: string, bytesPerMs: number, seconds: number): Promise<WriterResult> {
  const chunks = Math.round(seconds * 1000);
  const fileBytes = chunks * bytesPerMs;
  const fd = fs.openSync(file, "w+");
  const errno = fallocate(fd, 0, fileBytes);
  if (errno !== 0) throw new Error(`fallocate of ${fileBytes} bytes failed (errno ${errno})`);
  fs.fdatasyncSync(fd);
  const mapping = mapShared(fd, fileBytes);
  const bytes = new Uint8Array(mapping.buffer);
  const chunk = new Uint8Array(bytesPerMs).fill(120);
  const appendedAtMs = new Float64Array(chunks);
  const latenciesMs: number[] = [];
  let appended = 0;
  let synced = 0;
  let syncing = false;
  const syncLoop = async () => {
    syncing = true;
    while (synced < appended) {
      const upTo = appended;
      await fdatasync(fd);
      const nowMs = performance.now();
      for (let i = synced; i < upTo; i++) latenciesMs.push(nowMs - appendedAtMs[i]!);
      synced = upTo;
    }
    syncing = false;
  };
  const startMs = performance.now();
  while (appended < chunks) {
    const nowMs = performance.now();
    const due = Math.min(chunks, Math.floor(nowMs - startMs) + 1);
    for (; appended < due; appended++) {
      bytes.set(chunk, appended * bytesPerMs);
      appendedAtMs[appended] = performance.now();
    }
    if (!syncing) void syncLoop();
    await Bun.sleep(1);
  }
  while (syncing || synced < appended) await Bun.sleep(1);
  unmap(mapping);
  fs.closeSync(fd);
  return { latenciesMs };
}

/** Runs `writers` writer processes at once, each at `bytesPerMs`, and merges their latencies. */
export async function measureDiskFloor(options: { writers: number; bytesPerMs: number; seconds: number; dir?: string }): Promise<DiskFloor> {
  const root = fs.mkdtempSync(path.join(options.dir ?? os.tmpdir(), "chronik-disk-floor-"));
  try {
    const children = Array.from({ length: options.writers }, (_, i) =>
      Bun.spawn([process.execPath, import.meta.path, "--writer", path.join(root, `writer-${i}`), String(options.bytesPerMs), String(options.seconds)], {
        stdout: "pipe",
        stderr: "inherit",
        stdin: "ignore",
      }),
    );
    const histogram = new Histogram();
    for (const child of children) {
      const [output, code] = await Promise.all([new Response(child.stdout).text(), child.exited]);
      if (code !== 0) throw new Error(`disk floor writer exited with ${code}`);
      for (const latencyMs of (JSON.parse(output) as WriterResult).latenciesMs) histogram.record(latencyMs);
    }
    return {
      writers: options.writers,
      bytesPerMs: options.bytesPerMs,
      p50Ms: histogram.quantileMs(0.5),
      p99Ms: histogram.quantileMs(0.99),
      p999Ms: histogram.quantileMs(0.999),
    };
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
}

export function formatDiskFloor(floor: DiskFloor): string {
  const mibPerS = (floor.bytesPerMs * 1000) / (1 << 20);
  return `disk alone, ${floor.writers} writer${floor.writers === 1 ? "" : "s"} at ${mibPerS.toFixed(1)} MiB/s each: p50 ${floor.p50Ms.toFixed(2)} ms  p99 ${floor.p99Ms.toFixed(2)} ms  p99.9 ${floor.p999Ms.toFixed(2)} ms`;
}

if (import.meta.main) {
  const args = process.argv.slice(2);
  if (args[0] === "--writer") {
    const [file, bytesPerMs, seconds] = args.slice(1);
    process.stdout.write(JSON.stringify(await runWriter(file!, Number(bytesPerMs), Number(seconds))));
  } else {
    const valueOf = (name: string) => (args.includes(name) ? args[args.indexOf(name) + 1] : undefined);
    const writers = Number(valueOf("--writers") ?? 1);
    const bytesPerMs = Number(valueOf("--bytes-per-ms") ?? 65_536);
    const seconds = Number(valueOf("--seconds") ?? 5);
    if (!(Number.isInteger(writers) && writers >= 1) || !(Number.isInteger(bytesPerMs) && bytesPerMs >= 1) || !(seconds > 0)) {
      console.error("usage: bun bench/lib/disk-floor.ts --writers N --bytes-per-ms B [--seconds S] [--dir DIR]  (N, B whole numbers >= 1; S > 0)");
      process.exit(2);
    }
    console.log(formatDiskFloor(await measureDiskFloor({ writers, bytesPerMs, seconds, dir: valueOf("--dir") })));
  }
}
