/**
 * Storage benchmark: append throughput with group commit against the raw limits of this disk, measured in
 * the same run. `bun bench/wal.ts [--quick]`; set CHRONIK_BENCH_DIR to benchmark another filesystem.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { Bench } from "tinybench";
import { crc32cIsNative } from "../src/lib/crc32c.ts";
import { CRC_OFFSET, computeBatchCrc } from "../src/protocol/record-batch.ts";
import { mapShared, unmap } from "../src/wal/libc.ts";
import { LogManager } from "../src/wal/log-manager.ts";
import type { FlushMode } from "../src/wal/flusher.ts";

const quick = process.argv.includes("--quick");
const RUN_MS = quick ? 800 : 2_500;
const RAW_BYTES = (quick ? 64 : 192) * 1024 * 1024;
const root = fs.mkdtempSync(path.join(process.env.CHRONIK_BENCH_DIR ?? os.tmpdir(), "chronik-bench-wal-"));

/** One uncompressed v2 batch of exactly `bytes` bytes with a single record of random payload. */
function batchOf(bytes: number): Uint8Array {
  const batch = new Uint8Array(bytes);
  crypto.getRandomValues(batch.subarray(61, Math.min(bytes, 61 + 65536)));
  const dv = new DataView(batch.buffer);
  dv.setInt32(8, bytes - 12);
  dv.setInt32(12, -1);
  dv.setInt8(16, 2);
  dv.setInt32(23, 0);
  const now = BigInt(Date.now());
  dv.setBigInt64(27, now);
  dv.setBigInt64(35, now);
  dv.setBigInt64(43, -1n);
  dv.setInt16(51, -1);
  dv.setInt32(53, -1);
  dv.setInt32(57, 1);
  // A record is opaque to the log; only the header and CRC have to be right.
  dv.setUint32(CRC_OFFSET, computeBatchCrc(batch, 0));
  return batch;
}

function median(samples: number[]): number {
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

function mbps(bytes: number, ms: number): number {
  return bytes / 1e6 / (ms / 1000);
}

function rawWriteFdatasync(chunkBytes: number): number {
  const file = path.join(root, "raw-write.bin");
  const fd = fs.openSync(file, "w");
  const chunk = batchOf(chunkBytes);
  const start = performance.now();
  for (let written = 0; written < RAW_BYTES; written += chunkBytes) fs.writeSync(fd, chunk);
  fs.fdatasyncSync(fd);
  const ms = performance.now() - start;
  fs.closeSync(fd);
  fs.rmSync(file);
  return mbps(RAW_BYTES, ms);
}

function rawMemcpyIntoMapping(chunkBytes: number): number {
  const file = path.join(root, "raw-map.bin");
  const fd = fs.openSync(file, "w+");
  fs.ftruncateSync(fd, RAW_BYTES);
  const mapping = mapShared(fd, RAW_BYTES);
  const target = new Uint8Array(mapping.buffer);
  const chunk = batchOf(chunkBytes);
  const start = performance.now();
  for (let at = 0; at + chunkBytes <= RAW_BYTES; at += chunkBytes) target.set(chunk, at);
  const ms = performance.now() - start;
  unmap(mapping);
  fs.closeSync(fd);
  fs.rmSync(file);
  return mbps(RAW_BYTES, ms);
}

interface AppendRun {
  label: string;
  mbPerS: number;
  batchesPerS: number;
  fsyncsPerAppend: number;
  appendsPerRound: number;
}

async function appendRun(batchBytes: number, appenders: number, mode: FlushMode): Promise<AppendRun> {
  const dataDir = fs.mkdtempSync(path.join(root, "log-"));
  const manager = await LogManager.open({ dataDir, flushMode: mode, flushIntervalMs: 1000 });
  const log = manager.create("bench", 0);
  const batches = Array.from({ length: appenders }, () => batchOf(batchBytes));
  let appends = 0;
  const start = performance.now();
  const deadline = start + RUN_MS;
  const appender = async (id: number) => {
    while (performance.now() < deadline) {
      await log.append(batches[id]!, { leaderEpoch: 0 }).durable;
      appends++;
      // Fast mode acks synchronously; yield now and then so timers and the flusher still run.
      if (mode === "fast" && appends % 64 === 0) await new Promise((resolve) => setImmediate(resolve));
    }
  };
  await Promise.all(Array.from({ length: appenders }, (_, id) => appender(id)));
  await manager.flush();
  const ms = performance.now() - start;
  const stats = manager.stats();
  await manager.close();
  fs.rmSync(dataDir, { recursive: true, force: true });
  return {
    label: `${batchBytes >= 1024 ? `${batchBytes / 1024} KiB` : `${batchBytes} B`} x${appenders} ${mode}`,
    mbPerS: mbps(appends * batchBytes, ms),
    batchesPerS: appends / (ms / 1000),
    fsyncsPerAppend: stats.fsyncCount / appends,
    appendsPerRound: stats.appendsPerRound,
  };
}

async function latencies(): Promise<{ appendP50Ms: number; appendP99Ms: number; rawP50Ms: number }> {
  const dataDir = fs.mkdtempSync(path.join(root, "lat-"));
  const manager = await LogManager.open({ dataDir, flushMode: "durable" });
  const log = manager.create("latency", 0);
  const batch = batchOf(100);
  const rawFd = fs.openSync(path.join(root, "raw-lat.bin"), "w");
  const bench = new Bench({ time: quick ? 500 : 2_000, warmupTime: 100 });
  bench.add("append 100 B + group-commit fdatasync", async () => {
    await log.append(batch, { leaderEpoch: 0 }).durable;
  });
  bench.add("raw write 100 B + fdatasync", async () => {
    fs.writeSync(rawFd, batch);
    await new Promise<void>((resolve, reject) => fs.fdatasync(rawFd, (e) => (e ? reject(e) : resolve())));
  });
  await bench.run();
  console.table(bench.table());
  const [append, raw] = bench.tasks;
  fs.closeSync(rawFd);
  await manager.close();
  fs.rmSync(dataDir, { recursive: true, force: true });
  return {
    appendP50Ms: append!.result!.latency.p50 ?? NaN,
    appendP99Ms: append!.result!.latency.p99 ?? NaN,
    rawP50Ms: raw!.result!.latency.p50 ?? NaN,
  };
}

try {
  console.log(`chronik wal benchmark: dir=${root} crc32c=${crc32cIsNative ? "@node-rs/crc32 (native)" : "portable TS"} run=${RUN_MS}ms raw=${RAW_BYTES >> 20}MiB`);
  // This machine is shared and noisy: raw limits are sampled before, between and after the append runs,
  // and the median is the yardstick.
  const raw64k: number[] = [];
  const raw1k: number[] = [];
  const memcpy64kSamples: number[] = [];
  const memcpy1kSamples: number[] = [];
  const sampleRaw = () => {
    raw64k.push(rawWriteFdatasync(65536));
    raw1k.push(rawWriteFdatasync(1024));
    memcpy64kSamples.push(rawMemcpyIntoMapping(65536));
    memcpy1kSamples.push(rawMemcpyIntoMapping(1024));
  };
  const runs: AppendRun[] = [];
  sampleRaw();
  for (const batchBytes of [1024, 65536]) {
    for (const appenders of [1, 8, 64]) runs.push(await appendRun(batchBytes, appenders, "durable"));
    runs.push(await appendRun(batchBytes, 1, "fast"));
    sampleRaw();
  }
  const rawWrite64k = median(raw64k);
  const rawWrite1k = median(raw1k);
  const memcpy64k = median(memcpy64kSamples);
  const memcpy1k = median(memcpy1kSamples);
  const lat = await latencies();

  const f = (n: number, digits = 1) => n.toFixed(digits).padStart(10);
  console.log("\nraw limits (same disk, same run)");
  console.log(`  write()+fdatasync  64 KiB chunks: ${f(rawWrite64k)} MB/s   1 KiB chunks: ${f(rawWrite1k)} MB/s   (median of ${raw64k.map((x) => x.toFixed(0)).join(", ")} / ${raw1k.map((x) => x.toFixed(0)).join(", ")})`);
  console.log(`  memcpy into fresh mapping 64 KiB: ${f(memcpy64k)} MB/s   1 KiB: ${f(memcpy1k)} MB/s`);
  console.log("\nappend (single partition; durable = ack after the group-commit fdatasync)");
  console.log(`  ${"config".padEnd(22)}${"MB/s".padStart(10)}${"batches/s".padStart(12)}${"fsync/append".padStart(14)}${"appends/round".padStart(15)}${"vs raw".padStart(9)}`);
  for (const run of runs) {
    const raw = run.label.startsWith("64 KiB") ? rawWrite64k : rawWrite1k;
    console.log(
      `  ${run.label.padEnd(22)}${f(run.mbPerS)}${run.batchesPerS.toFixed(0).padStart(12)}${run.fsyncsPerAppend.toFixed(3).padStart(14)}${run.appendsPerRound.toFixed(1).padStart(15)}${`${((run.mbPerS / raw) * 100).toFixed(0)}%`.padStart(9)}`,
    );
  }
  console.log(`\nsingle 100 B batch, append + fdatasync: p50 ${lat.appendP50Ms.toFixed(3)} ms, p99 ${lat.appendP99Ms.toFixed(3)} ms (raw write+fdatasync p50 ${lat.rawP50Ms.toFixed(3)} ms)`);
} finally {
  fs.rmSync(root, { recursive: true, force: true });
}
