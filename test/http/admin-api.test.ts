import { afterAll, beforeAll, expect, test } from "bun:test";
import { Kafka, logLevel } from "kafkajs";
import { startBroker, type BrokerProcess } from "../helpers/broker-process.ts";
import { runProcess } from "../helpers/run-process.ts";
import { waitFor } from "../helpers/wait.ts";

let broker: BrokerProcess;
let base: string;

beforeAll(async () => {
  broker = await startBroker({ args: ["--group-initial-rebalance-delay-ms", "0"] });
  base = `http://127.0.0.1:${broker.httpPort}`;
});
afterAll(async () => {
  await broker?.cleanup();
});

async function produce(topic: string, lines: string[] | Uint8Array, extra: string[] = []): Promise<void> {
  const result = await runProcess(["kcat", "-P", "-b", broker.bootstrap, "-t", topic, "-p", "0", "-X", "acks=all", ...extra], {
    stdin: Array.isArray(lines) ? lines.join("\n") + "\n" : lines,
    timeoutMs: 60_000,
  });
  expect(result.stderr).toBe("");
  expect(result.exitCode).toBe(0);
}

async function get(path: string): Promise<{ status: number; body: any }> {
  const response = await fetch(base + path);
  return { status: response.status, body: await response.json() };
}

async function send(method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> {
  const response = await fetch(base + path, {
    method,
    headers: { "content-type": "application/json" },
    body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, body: text === "" ? null : JSON.parse(text) };
}

test("health, readiness and metrics still answer, with the log-growth counters", async () => {
  expect(await get("/health")).toEqual({ status: 200, body: { status: "up" } });
  expect(await get("/ready")).toEqual({ status: 200, body: { status: "ready" } });
  const metrics = await (await fetch(`${base}/metrics`)).text();
  expect(metrics).toContain("# TYPE chronik_log_appended_records_total counter");
  expect(metrics).toContain("chronik_log_appended_bytes_total");
});

test("POST /api/topics creates topics and answers Kafka's errors with 400 and 409", async () => {
  const created = await send("POST", "/api/topics", { name: "api-created", partitions: 3, replicationFactor: 1, configs: { "retention.ms": 3600000 } });
  expect(created.status).toBe(201);
  expect(created.body.name).toBe("api-created");
  expect(created.body.partitions).toBe(3);
  expect(created.body.configs).toContainEqual({ name: "retention.ms", value: "3600000", source: "DYNAMIC_TOPIC_CONFIG" });

  expect(await send("POST", "/api/topics", { name: "api-created", partitions: 1 })).toEqual({
    status: 409,
    body: { error: "TOPIC_ALREADY_EXISTS", message: "Topic 'api-created' already exists." },
  });
  const cases: [unknown, string][] = [
    [{ name: "bad name!" }, "INVALID_TOPIC_EXCEPTION"],
    [{ name: "zero", partitions: 0 }, "INVALID_PARTITIONS"],
    [{ name: "rf", replicationFactor: 3 }, "INVALID_REPLICATION_FACTOR"],
    [{ name: "cfg", configs: { "no.such.config": "1" } }, "INVALID_CONFIG"],
    [{ partitions: 1 }, "BAD_REQUEST"],
    [{ name: "x", partitions: "two" }, "BAD_REQUEST"],
    [{ name: "x", configs: ["a"] }, "BAD_REQUEST"],
    [[1, 2], "BAD_REQUEST"],
    ["{not json", "BAD_REQUEST"],
  ];
  for (const [body, error] of cases) {
    const answer = await send("POST", "/api/topics", body);
    expect({ body, status: answer.status, error: answer.body.error }).toEqual({ body, status: 400, error });
    expect(typeof answer.body.message).toBe("string");
  }
  const tooLarge = await fetch(`${base}/api/topics`, { method: "POST", headers: { "content-type": "application/json" }, body: "x".repeat(1024 * 1024 + 1) });
  expect(tooLarge.status).toBe(413);
  // A cross-site form posts text/plain without a preflight; only JSON is accepted.
  const asText = await fetch(`${base}/api/topics`, { method: "POST", headers: { "content-type": "text/plain" }, body: JSON.stringify({ name: "csrf" }) });
  expect(asText.status).toBe(415);
  expect((await asText.json()).error).toBe("UNSUPPORTED_MEDIA_TYPE");
  expect((await get("/api/topics/csrf")).status).toBe(404);
});

test("GET /api/topics and /api/topics/:name show sizes, offsets and configs of data produced by kcat", async () => {
  await produce("api-data", ["k1:first", "k2:second", ":third"], ["-K", ":", "-H", "trace=abc"]);
  const { status, body } = await get("/api/topics");
  expect(status).toBe(200);
  const summary = body.topics.find((t: any) => t.name === "api-data");
  expect(summary).toMatchObject({ name: "api-data", partitions: 1, replicationFactor: 1, messageCount: 3 });
  expect(summary.sizeBytes).toBeGreaterThan(0);
  expect(typeof summary.topicId).toBe("string");

  const detail = await get("/api/topics/api-data");
  expect(detail.status).toBe(200);
  expect(detail.body.partitionDetails).toEqual([
    {
      partition: 0,
      leader: 1,
      leaderEpoch: 0,
      replicas: [1],
      isr: [1],
      logStartOffset: 0,
      highWatermark: 3,
      logEndOffset: 3,
      sizeBytes: summary.sizeBytes,
      segmentCount: 1,
    },
  ]);
  expect(detail.body.configs).toContainEqual({ name: "cleanup.policy", value: "delete", source: "DEFAULT_CONFIG" });
  expect(await get("/api/topics/no-such-topic")).toEqual({
    status: 404,
    body: { error: "UNKNOWN_TOPIC_OR_PARTITION", message: "Topic no-such-topic does not exist" },
  });
});

test("the message browser decodes keys, values and headers, pages by offset and rejects bad ranges", async () => {
  await waitFor(async () => (await get("/api/topics/api-data")).body.messageCount === 3, "api-data to hold 3 messages");
  const page = await get("/api/topics/api-data/partitions/0/messages?offset=0&limit=2");
  expect(page.status).toBe(200);
  expect(page.body).toMatchObject({ topic: "api-data", partition: 0, logStartOffset: 0, highWatermark: 3, offset: 0, nextOffset: 2 });
  expect(page.body.messages).toHaveLength(2);
  const first = page.body.messages[0];
  expect(first).toMatchObject({ kind: "message", offset: 0, timestampType: "CreateTime", compression: "none" });
  expect(first.key).toEqual({ sizeBytes: 2, text: "k1", base64: "azE=", hex: "6b31", truncated: false });
  expect(first.value.text).toBe("first");
  expect(first.headers).toEqual([{ key: "trace", value: { sizeBytes: 3, text: "abc", base64: "YWJj", hex: "616263", truncated: false } }]);
  expect(Math.abs(first.timestampMs - Date.now())).toBeLessThan(10 * 60_000);

  const rest = await get("/api/topics/api-data/partitions/0/messages?offset=2");
  expect(rest.body.messages.map((m: any) => [m.offset, m.key?.text ?? null, m.value.text])).toEqual([[2, "", "third"]]);
  expect((await get("/api/topics/api-data/partitions/0/messages?offset=3")).body.messages).toEqual([]);

  const errors: [string, number, string][] = [
    ["/api/topics/api-data/partitions/0/messages?offset=4", 400, "OFFSET_OUT_OF_RANGE"],
    ["/api/topics/api-data/partitions/0/messages?offset=-1", 400, "OFFSET_OUT_OF_RANGE"],
    ["/api/topics/api-data/partitions/0/messages?limit=501", 400, "BAD_REQUEST"],
    ["/api/topics/api-data/partitions/0/messages?limit=0", 400, "BAD_REQUEST"],
    ["/api/topics/api-data/partitions/0/messages?offset=abc", 400, "BAD_REQUEST"],
    ["/api/topics/api-data/partitions/x/messages", 400, "BAD_REQUEST"],
    ["/api/topics/api-data/partitions/1/messages", 404, "UNKNOWN_TOPIC_OR_PARTITION"],
    ["/api/topics/nope/partitions/0/messages", 404, "UNKNOWN_TOPIC_OR_PARTITION"],
  ];
  for (const [path, status, error] of errors) {
    const answer = await get(path);
    expect({ path, status: answer.status, error: answer.body.error }).toEqual({ path, status, error });
  }
});

test("binary values come back as null text with hex and base64", async () => {
  await produce("api-binary", new Uint8Array([0xff, 0xfe, 0x00, 0x0a]));
  const page = await get("/api/topics/api-binary/partitions/0/messages");
  const value = page.body.messages[0].value;
  expect(value.text).toBeNull();
  expect(value.sizeBytes).toBe(3);
  expect(value.hex).toBe("fffe00");
  expect(Buffer.from(value.base64, "base64").toString("hex")).toBe(value.hex);
});

test("GET /api/cluster and /api/stats describe the node and count appended records", async () => {
  const cluster = await get("/api/cluster");
  expect(cluster.status).toBe(200);
  expect(cluster.body).toMatchObject({ controllerId: 1, node: { nodeId: 1, kafkaPort: broker.kafkaPort, httpPort: broker.httpPort, ready: true } });
  expect(cluster.body.brokers).toHaveLength(1);
  expect(cluster.body.brokers[0]).toMatchObject({ nodeId: 1, host: "127.0.0.1", port: broker.kafkaPort, rack: null, fenced: false });
  expect(typeof cluster.body.clusterId).toBe("string");
  expect(cluster.body.node.uptimeMs).toBeGreaterThan(0);
  expect(cluster.body.flush.fsyncCount).toBeGreaterThan(0);

  const before = (await get("/api/stats")).body;
  await produce("api-stats", Array.from({ length: 50 }, (_, i) => `m${i}`));
  const after = await waitFor(async () => {
    const stats = (await get("/api/stats")).body;
    return stats.messagesInTotal >= before.messagesInTotal + 50 ? stats : null;
  }, "stats to count 50 more appended records");
  expect(after.messagesInTotal).toBe(before.messagesInTotal + 50);
  expect(after.bytesInTotal).toBeGreaterThan(before.bytesInTotal);
  expect(after.timeMs).toBeGreaterThanOrEqual(before.timeMs);
});

test("groups show members, committed offsets and lag", async () => {
  await produce("api-group-topic", ["a", "b", "c"]);
  expect(await get("/api/groups/api-group")).toEqual({ status: 404, body: { error: "GROUP_ID_NOT_FOUND", message: "Group api-group does not exist" } });
  const kafka = new Kafka({ clientId: "api-test", brokers: [broker.bootstrap], logLevel: logLevel.NOTHING, retry: { retries: 5 } });
  const consumer = kafka.consumer({ groupId: "api-group", sessionTimeout: 10_000, heartbeatInterval: 500 });
  await consumer.connect();
  try {
    await consumer.subscribe({ topic: "api-group-topic", fromBeginning: true });
    await consumer.run({ eachMessage: async () => {} });
    const stable = await waitFor(async () => {
      const { body } = await get("/api/groups/api-group");
      return body.state === "Stable" && body.offsets[0]?.committedOffset === 3 ? body : null;
    }, "the group to be Stable with offset 3 committed");
    expect(stable.protocolType).toBe("consumer");
    expect(stable.members).toHaveLength(1);
    expect(stable.members[0].clientId).toBe("api-test");
    expect(stable.members[0].assignment).toEqual([{ topic: "api-group-topic", partitions: [0] }]);
    const listed = (await get("/api/groups")).body.groups.find((g: any) => g.groupId === "api-group");
    expect(listed).toEqual({ groupId: "api-group", state: "Stable", protocolType: "consumer", members: 1, totalLag: 0 });
  } finally {
    await consumer.disconnect();
  }
  await produce("api-group-topic", ["d", "e"]);
  const empty = await waitFor(async () => {
    const { body } = await get("/api/groups/api-group");
    return body.state === "Empty" && body.offsets[0]?.highWatermark === 5 ? body : null;
  }, "the group to be Empty after the consumer left, with 2 new records");
  expect(empty.offsets).toEqual([{ topic: "api-group-topic", partition: 0, committedOffset: 3, highWatermark: 5, lag: 2, metadata: expect.any(String) }]);
  expect(empty.totalLag).toBe(2);
});

test("DELETE /api/topics/:name answers 204, then 404", async () => {
  await send("POST", "/api/topics", { name: "api-doomed" });
  expect(await send("DELETE", "/api/topics/api-doomed")).toEqual({ status: 204, body: null });
  expect((await get("/api/topics")).body.topics.some((t: any) => t.name === "api-doomed")).toBe(false);
  expect(await send("DELETE", "/api/topics/api-doomed")).toEqual({
    status: 404,
    body: { error: "UNKNOWN_TOPIC_OR_PARTITION", message: "Topic api-doomed does not exist" },
  });
});

test("unknown paths answer 404 and wrong methods 405 with an Allow header, all as JSON errors", async () => {
  expect((await get("/api/nothing-here")).status).toBe(404);
  expect((await get("/nothing-here")).body.error).toBe("NOT_FOUND");
  for (const [method, path, allow] of [
    ["PUT", "/api/topics", "GET, HEAD, POST"],
    ["POST", "/api/topics/api-data", "GET, HEAD, DELETE"],
    ["DELETE", "/api/cluster", "GET, HEAD"],
    ["POST", "/api/groups", "GET, HEAD"],
    ["POST", "/health", "GET, HEAD"],
  ] as const) {
    const response = await fetch(base + path, { method });
    expect({ method, path, status: response.status, allow: response.headers.get("allow") }).toEqual({ method, path, status: 405, allow });
    expect((await response.json()).error).toBe("METHOD_NOT_ALLOWED");
  }
});

test("the console's files are served with their content types", async () => {
  for (const [path, type] of [
    ["/", "text/html"],
    ["/console/app.js", "text/javascript"],
    ["/console/views.js", "text/javascript"],
    ["/console/charts.js", "text/javascript"],
    ["/console/style.css", "text/css"],
  ]) {
    const response = await fetch(base + path);
    expect({ path, status: response.status }).toEqual({ path, status: 200 });
    expect(response.headers.get("content-type")).toContain(type);
    expect((await response.text()).length).toBeGreaterThan(100);
  }
  expect((await fetch(`${base}/console/../broker.ts`)).status).toBe(404);
});
