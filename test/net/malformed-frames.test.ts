import { afterAll, beforeAll, expect, test } from "bun:test";
import { ErrorCode } from "../../src/protocol/error-codes.ts";
import { ApiKey } from "../../src/protocol/generated/index.ts";
import { startBroker, type BrokerProcess } from "../helpers/broker-process.ts";
import { RawClient } from "../helpers/raw-client.ts";

let broker: BrokerProcess;
beforeAll(async () => {
  broker = await startBroker({ args: ["--max-frame-bytes", "65536"] });
});
afterAll(async () => {
  await broker.cleanup();
});

function frame(body: number[]): Uint8Array {
  const bytes = new Uint8Array(4 + body.length);
  new DataView(bytes.buffer).setInt32(0, body.length);
  bytes.set(body, 4);
  return bytes;
}

async function stillServes(): Promise<void> {
  const client = await RawClient.connect(broker.kafkaPort);
  const response = await client.request(ApiKey.ApiVersions, 3, { clientSoftwareName: "test", clientSoftwareVersion: "1" });
  expect(response.errorCode).toBe(ErrorCode.NONE);
  client.close();
}

test("a size prefix above the frame limit closes the connection without allocating", async () => {
  const client = await RawClient.connect(broker.kafkaPort);
  const prefix = new Uint8Array(4);
  new DataView(prefix.buffer).setInt32(0, 2_000_000_000);
  client.writeRaw(prefix);
  await client.waitClosed();
  await stillServes();
});

test("a negative or zero size prefix closes the connection", async () => {
  for (const size of [-1, 0]) {
    const client = await RawClient.connect(broker.kafkaPort);
    const prefix = new Uint8Array(4);
    new DataView(prefix.buffer).setInt32(0, size);
    client.writeRaw(prefix);
    await client.waitClosed();
  }
  await stillServes();
});

test("a truncated header closes the connection", async () => {
  const client = await RawClient.connect(broker.kafkaPort);
  client.writeRaw(frame([0, 18, 0]));
  await client.waitClosed();
  await stillServes();
});

test("an unknown API key closes the connection", async () => {
  const client = await RawClient.connect(broker.kafkaPort);
  client.writeRaw(frame([0x7f, 0x00, 0, 0, 0, 0, 0, 1, 0xff, 0xff]));
  await client.waitClosed();
  await stillServes();
});

test("a garbage body closes the connection", async () => {
  const client = await RawClient.connect(broker.kafkaPort);
  // Metadata v1 header, then an array count claiming two billion topics.
  client.writeRaw(frame([0, 3, 0, 1, 0, 0, 0, 7, 0xff, 0xff, 0x77, 0x77, 0x77, 0x77]));
  await client.waitClosed();
  await stillServes();
});

test("random bytes never take the broker down", async () => {
  let seed = 42;
  const next = () => (seed = (seed * 1103515245 + 12345) >>> 0);
  for (let i = 0; i < 50; i++) {
    const client = await RawClient.connect(broker.kafkaPort);
    const body = Array.from({ length: 8 + (next() % 64) }, () => next() & 0xff);
    client.writeRaw(frame(body));
    client.close();
  }
  await stillServes();
});

test("an ApiVersions request of an unsupported version gets UNSUPPORTED_VERSION with a v0 body", async () => {
  const client = await RawClient.connect(broker.kafkaPort);
  // ApiVersions v99 header (v1 layout) with an empty body.
  client.writeRaw(frame([0, 18, 0, 99, 0, 0, 0, 5, 0xff, 0xff]));
  const response = await client.receive(ApiKey.ApiVersions, 0);
  expect(response.correlationId).toBe(5);
  expect(response.body.errorCode).toBe(ErrorCode.UNSUPPORTED_VERSION);
  expect(response.body.apiKeys.some((k: { apiKey: number }) => k.apiKey === ApiKey.ApiVersions)).toBe(true);
  client.close();
});

test("responses come back in request order", async () => {
  const client = await RawClient.connect(broker.kafkaPort);
  // CreateTopics waits for a metadata commit; the ApiVersions after it answers at once but must wait its turn.
  const first = client.send(ApiKey.CreateTopics, 4, { topics: [{ name: "ordered", numPartitions: 1, replicationFactor: 1, assignments: [], configs: [] }], timeoutMs: 1000 });
  const second = client.send(ApiKey.ApiVersions, 2, {});
  const a = await client.receive(ApiKey.CreateTopics, 4);
  const b = await client.receive(ApiKey.ApiVersions, 2);
  expect([a.correlationId, b.correlationId]).toEqual([first, second]);
  expect(a.body.topics[0].errorCode).toBe(ErrorCode.NONE);
  client.close();
});
