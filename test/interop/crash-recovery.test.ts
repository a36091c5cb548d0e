import { afterAll, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import type { Subprocess } from "bun";
import { startBroker, type BrokerProcess } from "../helpers/broker-process.ts";
import { DEBIAN_PYTHON, runProcess } from "../helpers/run-process.ts";
import { waitFor } from "../helpers/wait.ts";

const cleanups: (() => Promise<void> | void)[] = [];
afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

interface AckedProducer {
  process: Subprocess;
  lines: string[];
}

function startProducer(bootstrap: string, topic: string, name: string): AckedProducer {
  const child = Bun.spawn([DEBIAN_PYTHON, `${import.meta.dir}/py/acked_producer.py`, bootstrap, topic, name], { stdout: "pipe", stderr: "ignore" });
  const producer: AckedProducer = { process: child, lines: [] };
  (async () => {
    let partial = "";
    const decoder = new TextDecoder();
    for await (const chunk of child.stdout as ReadableStream<Uint8Array>) {
      const text = partial + decoder.decode(chunk);
      const parts = text.split("\n");
      partial = parts.pop()!;
      producer.lines.push(...parts);
    }
  })();
  cleanups.push(() => {
    child.kill("SIGKILL");
  });
  return producer;
}

test("kill -9 while three acks=all producers run: every acknowledged record survives at its offset, offsets stay contiguous", async () => {
  let broker: BrokerProcess = await startBroker({ args: ["--default-partitions", "3"], keepData: true });
  const dataDir = broker.dataDir;
  cleanups.push(() => rmSync(dataDir, { recursive: true, force: true }));
  cleanups.push(() => broker.cleanup());
  const topic = "crash";
  const created = await runProcess(["kcat", "-L", "-b", broker.bootstrap, "-t", topic]);
  expect(created.exitCode).toBe(0);

  const producers = ["a", "b", "c"].map((name) => startProducer(broker.bootstrap, topic, name));
  const ackedCount = () => producers.reduce((n, p) => n + p.lines.length, 0);
  await waitFor(() => ackedCount() >= 30_000, "30,000 acknowledged records", 120_000);

  broker.process.kill("SIGKILL");
  await broker.process.exited;
  // Anything a producer printed was acknowledged before the crash.
  await Bun.sleep(200);
  for (const p of producers) p.process.kill("SIGKILL");
  await Promise.all(producers.map((p) => p.process.exited));
  const acked = producers.flatMap((p) => p.lines).map((line) => line.split(" "));
  expect(acked.length).toBeGreaterThanOrEqual(30_000);

  broker = await startBroker({ dataDir });
  cleanups.push(() => broker.cleanup());
  const consumed = await runProcess(["kcat", "-C", "-b", broker.bootstrap, "-t", topic, "-o", "beginning", "-e", "-q", "-f", "%p %o %s\\n"], {
    timeoutMs: 120_000,
  });
  expect(consumed.exitCode).toBe(0);
  const byPartition = new Map<number, Map<number, string>>();
  const valueCounts = new Map<string, number>();
  const nextOffset = new Map<number, number>();
  for (const line of consumed.stdout.split("\n")) {
    if (line === "") continue;
    const [p, o, v] = line.split(" ");
    const partition = Number(p);
    const offset = Number(o);
    expect(offset).toBe(nextOffset.get(partition) ?? 0);
    nextOffset.set(partition, offset + 1);
    if (!byPartition.has(partition)) byPartition.set(partition, new Map());
    byPartition.get(partition)!.set(offset, v!);
    valueCounts.set(v!, (valueCounts.get(v!) ?? 0) + 1);
  }
  let lost = 0;
  for (const [p, o, v] of acked) {
    if (byPartition.get(Number(p))?.get(Number(o)) !== v) lost++;
    expect(valueCounts.get(v!)).toBe(1);
  }
  expect(lost).toBe(0);
}, 300_000);
