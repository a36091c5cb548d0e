/**
 * Chaos workload producer through kafkajs: an idempotent acks=all producer (maxInFlightRequests 1, as kafkajs needs
 * for idempotence) that sends NAME-i values at RATE per second, round robin over PARTITIONS, until SIGTERM, then
 * waits at most FLUSH_S seconds for what it still holds. It prints the lines of test/chaos/py/producer.py: "send V"
 * when V is queued, "ack P O V" when acknowledged, "fail V ERROR" when a send failed for good. After a failure it
 * exits, so the harness starts a fresh producer with a new producer id: kafkajs would reuse the failed batch's
 * sequence numbers for the next one, which a broker that did store the failed batch takes for a retry of it.
 *
 *   bun test/chaos/js/producer.ts BOOTSTRAP TOPIC PARTITIONS NAME RATE FLUSH_S
 */
import { Partitioners } from "kafkajs";
import { chaosKafka, writeLines } from "./kafka-client.ts";

const [bootstrap, topic, partitionsArg, name, rateArg, flushArg] = process.argv.slice(2);
if (!bootstrap || !topic || !name || !flushArg) throw new Error("usage: producer.ts BOOTSTRAP TOPIC PARTITIONS NAME RATE FLUSH_S");
const partitions = Number(partitionsArg);
const ratePerS = Number(rateArg);
const flushMs = Number(flushArg) * 1000;
/** Values queued and not yet acknowledged; past it the producer stops making new ones (librdkafka's BufferError). */
const MAX_QUEUED = 10_000;
const MAX_BATCH = 500;
const PRODUCE_TIMEOUT_MS = 10_000;
const DISCONNECT_TIMEOUT_MS = 5_000;
const FAILED_EXIT_CODE = 3;

let stopping = false;
process.on("SIGTERM", () => {
  stopping = true;
  wakeAll();
});

const producer = chaosKafka(bootstrap, name).producer({
  idempotent: true,
  maxInFlightRequests: 1,
  createPartitioner: Partitioners.DefaultPartitioner,
  retry: { initialRetryTime: 100, maxRetryTime: 2_000, retries: Number.MAX_SAFE_INTEGER },
});

const queues: string[][] = Array.from({ length: partitions }, () => []);
const wakers: ((() => void) | null)[] = Array.from({ length: partitions }, () => null);
let unacknowledged = 0;

function wakeAll(): void {
  for (let p = 0; p < partitions; p++) wakers[p]?.();
}

/**
 * One send at a time per partition, each naming one partition: kafkajs retries a send that spans several leaders by
 * regrouping it under the current leaders but skipping brokers that already answered, so a leader change between
 * tries can write one partition's records twice and another's never.
 */
async function sendLoop(partition: number): Promise<void> {
  const queue = queues[partition]!;
  while (!stopping || queue.length > 0) {
    if (queue.length === 0) {
      await new Promise<void>((resolve) => (wakers[partition] = resolve));
      wakers[partition] = null;
      continue;
    }
    const batch = queue.splice(0, MAX_BATCH);
    try {
      const results = await producer.send({ topic, acks: -1, timeout: PRODUCE_TIMEOUT_MS, messages: batch.map((value) => ({ partition, value })) });
      if (results.length !== 1 || results[0]!.partition !== partition || results[0]!.errorCode !== 0) throw new Error(`unexpected produce result ${JSON.stringify(results)}`);
      const baseOffset = Number(results[0]!.baseOffset);
      writeLines(batch.map((value, i) => `ack ${partition} ${baseOffset + i} ${value}`));
      unacknowledged -= batch.length;
    } catch (error) {
      const reason = (error as { type?: string }).type ?? (error as Error).name;
      writeLines(batch.map((value) => `fail ${value} ${reason}`));
      process.stderr.write(`send to partition ${partition} failed, exiting: ${(error as Error).stack}\n`);
      process.exit(FAILED_EXIT_CODE);
    }
  }
}

await producer.connect();
const senders = queues.map((_, partition) => sendLoop(partition));
const startedMs = performance.now();
let made = 0;
while (!stopping) {
  if (unacknowledged >= MAX_QUEUED) {
    await Bun.sleep(50);
    continue;
  }
  const value = `${name}-${made}`;
  const partition = made % partitions;
  writeLines([`send ${value}`]);
  queues[partition]!.push(value);
  unacknowledged++;
  wakers[partition]?.();
  made++;
  const aheadMs = (made / ratePerS) * 1000 - (performance.now() - startedMs);
  if (aheadMs > 0) await Bun.sleep(aheadMs);
}
await Promise.race([Promise.all(senders), Bun.sleep(flushMs)]);
process.stderr.write(`done, ${unacknowledged} undelivered\n`);
await Promise.race([producer.disconnect(), Bun.sleep(DISCONNECT_TIMEOUT_MS)]);
process.exit(0);
