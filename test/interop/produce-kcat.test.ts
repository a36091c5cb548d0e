import { afterAll, beforeAll, expect, test } from "bun:test";
import { startBroker, type BrokerProcess } from "../helpers/broker-process.ts";
import { runProcess } from "../helpers/run-process.ts";

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
