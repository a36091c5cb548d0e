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

test("confluent-kafka AdminClient describes and alters configs and adds partitions that kcat writes to", async () => {
  const result = await runProcess([DEBIAN_PYTHON, `${import.meta.dir}/py/admin_configs.py`, broker.bootstrap, "py-cfg"]);
  expect(result.stderr).not.toContain("Traceback");
  expect(result.exitCode).toBe(0);
  const report = JSON.parse(result.stdout);
  expect(report.retention_before).toEqual({ value: "604800000", source: 5, read_only: false });
  expect(report.alter).toBe("ok");
  expect(report.retention_after).toEqual({ value: "3600000", source: 1, read_only: false });
  expect(report.cleanup_after).toBe("compact");
  expect(report.validate_only).toBe("ok");
  expect(report.retention_after_validate_only).toBe("3600000");
  expect(report.unknown_config).toBe("INVALID_CONFIG");
  expect(report.bad_value).toBe("INVALID_CONFIG");
  expect(report.missing_topic).toBe("UNKNOWN_TOPIC_OR_PART");
  expect(report.broker).toEqual({ "num.partitions": { value: "1", read_only: true }, "message.max.bytes": { value: "1048588", read_only: true } });
  expect(report.broker_alter).toBe("INVALID_REQUEST");
  expect(report.grow).toBe("ok");
  expect(report.shrink).toBe("INVALID_PARTITIONS");
  expect(report.partitions).toBe(3);

  const produced = await runProcess(["kcat", "-P", "-b", broker.bootstrap, "-t", "py-cfg", "-p", "2"], { stdin: "new-partition\n" });
  expect(produced.exitCode).toBe(0);
  const consumed = await runProcess(["kcat", "-C", "-b", broker.bootstrap, "-t", "py-cfg", "-p", "2", "-o", "beginning", "-e", "-q"]);
  expect(consumed.stdout.trim()).toBe("new-partition");
});
