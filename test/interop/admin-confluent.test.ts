import { afterAll, beforeAll, expect, test } from "bun:test";
import { startBroker, type BrokerProcess } from "../helpers/broker-process.ts";
import { DEBIAN_PYTHON, runProcess } from "../helpers/run-process.ts";

let broker: BrokerProcess;
beforeAll(async () => {
  broker = await startBroker();
});
afterAll(async () => {
  await broker.cleanup();
});

test("confluent-kafka AdminClient creates, lists and deletes topics", async () => {
  const result = await runProcess([DEBIAN_PYTHON, `${import.meta.dir}/py/admin_topics.py`, broker.bootstrap, "py"]);
  expect(result.stderr).not.toContain("Traceback");
  expect(result.exitCode).toBe(0);
  const report = JSON.parse(result.stdout);
  expect(report.created).toEqual({ "py-a": "ok", "py-b": "ok" });
  expect(report.duplicate).toBe("TOPIC_ALREADY_EXISTS");
  expect(report.bad_config).toBe("INVALID_CONFIG");
  expect(report.cluster_id).toMatch(/^[A-Za-z0-9_-]{22}$/);
  expect(report.brokers).toEqual([broker.bootstrap]);
  expect(report.topics).toEqual({ "py-a": 3, "py-b": 1 });
  expect(report.after_delete).toEqual(["py-a"]);
});
