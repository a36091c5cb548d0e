import { afterAll, beforeAll, expect, test } from "bun:test";
import { startBroker, type BrokerProcess } from "../helpers/broker-process.ts";
import { runProcess } from "../helpers/run-process.ts";
import { RawClient } from "../helpers/raw-client.ts";
import { ApiKey } from "../../src/protocol/generated/index.ts";
import { batchSizeAt, compressionCodec, readBatchHeader } from "../../src/protocol/record-batch.ts";

let broker: BrokerProcess;
beforeAll(async () => {
  broker = await startBroker();
});
afterAll(async () => {
  await broker.cleanup();
});

const COUNT = 100_000;

for (const codec of ["none", "gzip", "snappy", "lz4", "zstd"]) {
  test(`kcat round-trips ${COUNT} keyed messages with headers, compression ${codec}`, async () => {
    const topic = `kcat-${codec}`;
    const lines: string[] = [];
    for (let i = 0; i < COUNT; i++) lines.push(`key-${i}|value-${i}-${"x".repeat(i % 50)}`);
    const input = lines.join("\n") + "\n";
    const produced = await runProcess(
      ["kcat", "-P", "-b", broker.bootstrap, "-t", topic, "-K", "|", "-H", `codec=${codec}`, "-z", codec, "-X", "linger.ms=20", "-X", "acks=all"],
      { stdin: input, timeoutMs: 120_000 },
    );
    expect(produced.stderr).toBe("");
    expect(produced.exitCode).toBe(0);

    // librdkafka really compressed: the stored batches carry the codec.
    const client = await RawClient.connect(broker.kafkaPort);
    const fetched = await client.request(ApiKey.Fetch, 11, {
      replicaId: -1,
      maxWaitMs: 0,
      minBytes: 0,
      maxBytes: 1 << 20,
      topics: [{ topic, partitions: [{ partition: 0, fetchOffset: 0, partitionMaxBytes: 1 << 20 }] }],
    });
    client.close();
    // librdkafka may send its very first batch before it has read the broker's features; the rest carry the codec.
    const records = fetched.responses[0].partitions[0].records as Uint8Array;
    const codecs = new Set<string>();
    for (let pos = 0; pos + 61 <= records.byteLength; pos += batchSizeAt(records, pos)) {
      codecs.add(compressionCodec(readBatchHeader(records, pos).attributes));
    }
    expect([...codecs]).toContain(codec);

    const consumed = await runProcess(
      ["kcat", "-C", "-b", broker.bootstrap, "-t", topic, "-o", "beginning", "-e", "-q", "-f", "%k|%s|%h|%o\\n"],
      { timeoutMs: 120_000 },
    );
    expect(consumed.exitCode).toBe(0);
    const out = consumed.stdout.split("\n").filter((l) => l.length > 0);
    expect(out.length).toBe(COUNT);
    for (let i = 0; i < COUNT; i++) {
      const expected = `${lines[i]}|codec=${codec}|${i}`;
      if (out[i] !== expected) throw new Error(`record ${i}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(out[i])}`);
    }
  }, 180_000);
}
