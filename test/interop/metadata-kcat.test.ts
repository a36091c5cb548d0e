import { afterAll, beforeAll, expect, test } from "bun:test";
import { startBroker, type BrokerProcess } from "../helpers/broker-process.ts";
import { runProcess } from "../helpers/run-process.ts";

let broker: BrokerProcess;
beforeAll(async () => {
  broker = await startBroker({ args: ["--default-partitions", "2"] });
});
afterAll(async () => {
  await broker.cleanup();
});

test("kcat -L lists the broker and its topics", async () => {
  // Asking for one topic auto-creates it with the default partition count.
  const created = await runProcess(["kcat", "-L", "-b", broker.bootstrap, "-t", "auto-made", "-J"]);
  expect(created.exitCode).toBe(0);
  const one = JSON.parse(created.stdout);
  expect(one.topics).toHaveLength(1);
  expect(one.topics[0].topic).toBe("auto-made");
  expect(one.topics[0].partitions).toHaveLength(2);
  expect(one.topics[0].partitions[0].leader).toBe(1);

  const all = await runProcess(["kcat", "-L", "-b", broker.bootstrap]);
  expect(all.exitCode).toBe(0);
  expect(all.stdout).toContain(`broker 1 at ${broker.bootstrap} (controller)`);
  expect(all.stdout).toContain(`topic "auto-made" with 2 partitions`);
});

test("auto-creation can be turned off", async () => {
  const off = await startBroker({ args: ["--auto-create-topics", "false"] });
  try {
    const result = await runProcess(["kcat", "-L", "-b", off.bootstrap, "-t", "never-made", "-J"]);
    const metadata = JSON.parse(result.stdout);
    expect(metadata.topics[0].error).toContain("Unknown topic");
  } finally {
    await off.cleanup();
  }
});
