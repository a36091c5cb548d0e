/** Helpers for load tests: a producer that keeps record of what was acknowledged, and reading it all back. */
import { KafkaError } from "../../src/client/connection.ts";
import { Consumer } from "../../src/client/consumer.ts";
import type { Producer } from "../../src/client/producer.ts";
import { ErrorCode } from "../../src/protocol/error-codes.ts";
import { waitFor } from "./wait.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Latencies in ms, summarized as p50/p99/max for the closing figures; tests never assert on them. */
export function latencySummary(latenciesMs: number[]): { count: number; p50: number; p99: number; max: number } {
  const sorted = [...latenciesMs].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN;
  return { count: sorted.length, p50: at(0.5), p99: at(0.99), max: sorted[sorted.length - 1] ?? NaN };
}

export function showLatency(label: string, latenciesMs: number[]): string {
  const s = latencySummary(latenciesMs);
  return `${label}: ${s.count} acks, p50 ${s.p50.toFixed(2)} ms, p99 ${s.p99.toFixed(2)} ms, max ${s.max.toFixed(1)} ms`;
}

/** How long a send keeps retrying NOT_ENOUGH_REPLICAS, as clients do, before the test fails. */
const RETRY_FOR_MS = 60_000;

/**
 * Sends `count` records one at a time, each waiting for its acknowledgement, and returns their latencies (retries
 * included). The values are `${tag}-${i}`; every acknowledged one is added to `acked`. NOT_ENOUGH_REPLICAS (refused
 * before the append: an in-sync follower fell behind on a loaded machine and left the ISR) is retried, as clients do.
 */
export async function produceOneByOne(producer: Producer, topic: string, partition: number, tag: string, count: number, acked: Set<string>): Promise<number[]> {
  const latenciesMs: number[] = [];
  for (let i = 0; i < count; i++) {
    const value = `${tag}-${i}`;
    const sentAt = performance.now();
    for (;;) {
      try {
        await producer.send({ topic, partition, value: encoder.encode(value) });
        break;
      } catch (error) {
        if (!(error instanceof KafkaError) || error.errorCode !== ErrorCode.NOT_ENOUGH_REPLICAS || performance.now() - sentAt > RETRY_FOR_MS) throw error;
        await Bun.sleep(50);
      }
    }
    latenciesMs.push(performance.now() - sentAt);
    acked.add(value);
  }
  return latenciesMs;
}

/** Every value in a partition from its start to the high watermark seen at first, as text. */
export async function readPartition(bootstrap: string, topic: string, partition: number): Promise<string[]> {
  const consumer = await Consumer.connect(bootstrap, { maxWaitMs: 100 });
  try {
    consumer.assign([{ topic, partition, offset: 0 }]);
    const values: string[] = [];
    await consumer.poll().then((records) => values.push(...records.map((r) => decoder.decode(r.value!))));
    const end = consumer.highWatermark(topic, partition);
    await waitFor(
      async () => {
        if (consumer.position(topic, partition) >= end) return true;
        for (const r of await consumer.poll()) values.push(decoder.decode(r.value!));
        return false;
      },
      `${topic}-${partition} to be read up to ${end}`,
      60_000,
      0,
    );
    return values;
  } finally {
    consumer.close();
  }
}
