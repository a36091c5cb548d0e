import { afterAll, beforeAll, expect, test } from "bun:test";
import { startBroker, type BrokerProcess } from "../helpers/broker-process.ts";
import { DEBIAN_PYTHON, runProcess } from "../helpers/run-process.ts";

const STATIC_BROKER_CONFIG = 4;
const DYNAMIC_TOPIC_CONFIG = 1;

let broker: BrokerProcess;
beforeAll(async () => {
  broker = await startBroker({ args: ["--min-insync-replicas", "2"] });
});
afterAll(async () => {
  await broker.cleanup();
});

test("confluent-kafka describe_configs shows min.insync.replicas from --min-insync-replicas, and a topic's override", async () => {
  const result = await runProcess([DEBIAN_PYTHON, `${import.meta.dir}/py/min_insync_configs.py`, broker.bootstrap, "py-min-insync"]);
  expect(result.stderr).not.toContain("Traceback");
  expect(result.exitCode).toBe(0);
  const report = JSON.parse(result.stdout);
  expect(report.topic).toEqual({ value: "2", source: STATIC_BROKER_CONFIG, read_only: false });
  expect(report.overridden).toEqual({ value: "3", source: DYNAMIC_TOPIC_CONFIG, read_only: false });
  expect(report.broker).toEqual({ value: "2", source: STATIC_BROKER_CONFIG, read_only: true });
});
