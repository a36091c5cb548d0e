import { afterAll, beforeAll, expect, test } from "bun:test";
import { startBroker, type BrokerProcess } from "../helpers/broker-process.ts";
import { DEBIAN_PYTHON, runProcess } from "../helpers/run-process.ts";

let broker: BrokerProcess;
beforeAll(async () => {
  broker = await startBroker({ args: ["--default-partitions", "6"] });
});
afterAll(async () => {
  await broker.cleanup();
});

test("confluent-kafka: an idempotent acks=all producer sends 500,000 messages over 6 partitions; a consumer reads every one in order", async () => {
  const result = await runProcess([DEBIAN_PYTHON, `${import.meta.dir}/py/produce_consume.py`, broker.bootstrap, "py-idem", "500000", "6"], {
    timeoutMs: 240_000,
  });
  expect(result.stderr).not.toContain("Traceback");
  const report = JSON.parse(result.stdout);
  expect(report.errors).toEqual([]);
  expect(report.acked).toBe(500_000);
  expect(report.consumed).toBe(500_000);
  expect(report.duplicates).toBe(0);
  expect(report.out_of_order).toBe(0);
  expect(report.mismatched).toBe(0);
}, 300_000);
