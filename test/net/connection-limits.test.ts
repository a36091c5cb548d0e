import { afterAll, beforeAll, expect, test } from "bun:test";
import { ErrorCode } from "../../src/protocol/error-codes.ts";
import { ApiKey } from "../../src/protocol/generated/index.ts";
import { metricValue } from "../../bench/lib/broker.ts";
import { startBroker, type BrokerProcess } from "../helpers/broker-process.ts";
import { RawClient } from "../helpers/raw-client.ts";
import { runProcess } from "../helpers/run-process.ts";

const MAX_CONNECTIONS = 300;

let broker: BrokerProcess;
const held: RawClient[] = [];
beforeAll(async () => {
  broker = await startBroker({ args: ["--max-connections", String(MAX_CONNECTIONS)] });
});
afterAll(async () => {
  for (const client of held) client.close();
  await broker.cleanup();
});

async function metadata(client: RawClient, topic: string): Promise<{ topics: { name: string; errorCode: number }[] }> {
  return await client.request(ApiKey.Metadata, 9, { topics: [{ name: topic }], allowAutoTopicCreation: true, includeClusterAuthorizedOperations: false, includeTopicAuthorizedOperations: false });
}

async function metrics(): Promise<string> {
  return await (await fetch(`http://127.0.0.1:${broker.httpPort}/metrics`)).text();
}

test("connections past max.connections are closed at once; the held ones keep being served and kcat works once some leave", async () => {
  for (let i = 0; i < MAX_CONNECTIONS; i += 50) {
    held.push(...(await Promise.all(Array.from({ length: 50 }, () => RawClient.connect(broker.kafkaPort)))));
  }
  const answers = await Promise.all(held.map((client) => metadata(client, "held")));
  expect(answers.every((answer) => answer.topics[0]!.errorCode === ErrorCode.NONE)).toBe(true);

  const extra = await Promise.all(Array.from({ length: 20 }, () => RawClient.connect(broker.kafkaPort)));
  await Promise.all(extra.map((client) => client.waitClosed()));
  const text = await metrics();
  expect(metricValue(text, "chronik_connections")).toBe(MAX_CONNECTIONS);
  expect(metricValue(text, "chronik_connections_rejected_total")).toBe(20);
  expect(metricValue(text, "process_resident_memory_bytes")).toBeGreaterThan(0);

  // Every held connection still gets its periodic Metadata answered.
  const again = await Promise.all(held.map((client) => metadata(client, "held")));
  expect(again.every((answer) => answer.topics[0]!.name === "held")).toBe(true);

  for (const client of held.splice(0, 10)) client.close();
  const lines = Array.from({ length: 1_000 }, (_, i) => `line-${i}`).join("\n") + "\n";
  const produced = await runProcess(["kcat", "-P", "-b", broker.bootstrap, "-t", "held", "-X", "acks=all"], { stdin: lines, timeoutMs: 30_000 });
  expect(produced.exitCode).toBe(0);
  const consumed = await runProcess(["kcat", "-C", "-b", broker.bootstrap, "-t", "held", "-o", "beginning", "-e", "-q"], { timeoutMs: 30_000 });
  expect(consumed.stdout.trim().split("\n").sort()).toEqual(lines.trim().split("\n").sort());
}, 60_000);
