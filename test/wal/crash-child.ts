/**
 * Child for the crash test: appends deterministic batches from several concurrent appenders and prints
 * "<seq> <baseOffset>" once each is durable. The parent kills it with SIGKILL at a random moment.
 */
import { LogManager } from "../../src/wal/log-manager.ts";
import { seededBatch } from "./batch-builder.ts";

const [dataDir, appendersArg] = process.argv.slice(2);
if (dataDir === undefined) throw new Error("usage: crash-child <dataDir> <appenders>");
const appenders = Number(appendersArg ?? 8);
const manager = await LogManager.open({ dataDir, defaults: { segmentBytes: 256 * 1024, indexIntervalBytes: 1024 }, flushMode: "durable" });
const log = manager.create("crash", 0);
let nextSeq = 0;

async function appender(): Promise<never> {
  for (;;) {
    const seq = nextSeq++;
    const result = log.append(seededBatch(seq, 1 + (seq % 5), 50 + (seq % 13) * 37, 1_700_000_000_000 + seq), { leaderEpoch: 2 });
    await result.durable;
    process.stdout.write(`${seq} ${result.baseOffset}\n`);
  }
}

process.stdout.write("ready\n");
await Promise.all(Array.from({ length: appenders }, appender));
