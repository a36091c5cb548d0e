import { afterAll, beforeAll, expect, test } from "bun:test";
import { existsSync, mkdirSync } from "node:fs";
import { join, resolve } from "node:path";
import { Kafka, logLevel } from "kafkajs";
import { chromium, type Browser, type Page } from "playwright-core";
import { startBroker, type BrokerProcess } from "../helpers/broker-process.ts";
import { runProcess } from "../helpers/run-process.ts";
import { waitFor } from "../helpers/wait.ts";

const CHROMIUM = "/usr/lib/chromium/chromium";
const SCREENSHOT_DIR = resolve(import.meta.dir, "../../test-output");
const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

let broker: BrokerProcess;
let browser: Browser;
let page: Page;
let base: string;
const consoleProblems: string[] = [];

async function produce(topic: string, lines: string[], extra: string[] = []): Promise<void> {
  const result = await runProcess(["kcat", "-P", "-b", broker.bootstrap, "-t", topic, "-X", "acks=all", ...extra], { stdin: lines.join("\n") + "\n" });
  expect(result.exitCode).toBe(0);
}

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`Chromium not found at ${CHROMIUM}: install Debian's chromium package (apt-get install -y chromium) to run the console test`);
  }
  mkdirSync(SCREENSHOT_DIR, { recursive: true });
  broker = await startBroker({ args: ["--group-initial-rebalance-delay-ms", "0"] });
  base = `http://127.0.0.1:${broker.httpPort}`;
  const created = await fetch(`${base}/api/topics`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ name: "console-orders", partitions: 3 }),
  });
  expect(created.status).toBe(201);
  await produce("console-orders", ['order-1:{"id":1,"total":12.5}', "order-2:second order"], ["-K", ":", "-p", "0", "-H", "source=console-test"]);
  await produce("console-events", Array.from({ length: 40 }, (_, i) => `event-${i}`), ["-p", "0"]);
  browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  page.on("console", (message) => {
    if (message.type() === "error" || message.type() === "warning") consoleProblems.push(`${message.type()}: ${message.text()}`);
  });
  page.on("pageerror", (error) => consoleProblems.push(`page error: ${error.message}`));
  page.on("requestfailed", (request) => consoleProblems.push(`request failed: ${request.url()} ${request.failure()?.errorText}`));
});

afterAll(async () => {
  await browser?.close();
  await broker?.cleanup();
});

async function shoot(name: string): Promise<void> {
  await page.screenshot({ path: join(SCREENSHOT_DIR, `console-${name}.png`), fullPage: true });
}

test("the overview shows the cluster and a live throughput chart fed by /api/stats", async () => {
  const statsPolls: number[] = [];
  page.on("request", (request) => {
    if (request.url().endsWith("/api/stats")) statsPolls.push(Date.now());
  });
  await page.goto(`${base}/`);
  await page.getByRole("heading", { name: "Cluster overview" }).waitFor();
  expect(await page.locator("#topic-count").textContent()).toBe("2");
  await waitFor(() => statsPolls.length >= 3, "the overview to poll /api/stats three times");
  await produce("console-events", Array.from({ length: 500 }, (_, i) => `burst-${i}`), ["-p", "0"]);
  await waitFor(async () => /[1-9]/.test((await page.locator("#rate-now").textContent()) ?? "") && (await page.locator("#rate-now").textContent())?.startsWith("now:"), "the chart to show a non-zero rate");
  const hasInk = await page.locator("canvas#throughput").evaluate((canvas: HTMLCanvasElement) => {
    const data = canvas.getContext("2d")!.getImageData(0, 0, canvas.width, canvas.height).data;
    for (let i = 3; i < data.length; i += 4) if (data[i] !== 0) return true;
    return false;
  });
  expect(hasInk).toBe(true);
  await shoot("overview");
});

test("the topics page lists topics with partition counts and links to the detail", async () => {
  await page.goto(`${base}/#/topics`);
  const row = page.locator("tr", { has: page.getByRole("link", { name: "console-orders" }) });
  await row.waitFor();
  expect(await row.locator("td").nth(1).textContent()).toBe("3");
  expect(await page.locator("tr", { has: page.getByRole("link", { name: "console-events" }) }).locator("td").nth(3).textContent()).toMatch(/^(540|40)$/);
  await shoot("topics");
  await row.getByRole("link", { name: "console-orders" }).click();
  await page.getByRole("heading", { name: "console-orders" }).waitFor();
  expect(await page.locator("section", { hasText: "Partitions" }).locator("tbody tr").count()).toBe(3);
  await page.getByText("retention.ms").first().waitFor();
  await shoot("topic");
});

test("the message browser shows a message's key, value and headers, as text and as hex", async () => {
  await page.goto(`${base}/#/topics/console-orders/partitions/0`);
  await page.getByText('{"id":1,"total":12.5}').waitFor();
  await page.getByText("second order").waitFor();
  expect(await page.getByText("order-1", { exact: true }).count()).toBe(1);
  expect(await page.getByText("source: console-test").count()).toBe(2);
  await shoot("messages");
  await page.getByRole("button", { name: "Hex" }).click();
  await page.getByText("73 65 63 6f 6e 64 20 6f 72 64 65 72").waitFor();
  await page.goto(`${base}/#/topics/console-events/partitions/0?offset=10&limit=10`);
  await page.getByText("event-10", { exact: true }).waitFor();
  expect(await page.locator("tbody tr").count()).toBe(10);
  await page.getByRole("button", { name: "Next →" }).click();
  await page.getByText("event-20", { exact: true }).waitFor();
});

test("the groups pages show a group's committed offsets and lag", async () => {
  await page.goto(`${base}/#/groups`);
  await page.getByText("No consumer groups yet.").waitFor();
  const kafka = new Kafka({ clientId: "console-test", brokers: [broker.bootstrap], logLevel: logLevel.NOTHING });
  const consumer = kafka.consumer({ groupId: "console-group", heartbeatInterval: 500 });
  await consumer.connect();
  try {
    await consumer.subscribe({ topic: "console-orders", fromBeginning: true });
    await consumer.run({ eachMessage: async () => {} });
    await waitFor(async () => {
      const group = await (await fetch(`${base}/api/groups/console-group`)).json();
      return group.offsets?.some((o: { partition: number; committedOffset: number }) => o.partition === 0 && o.committedOffset === 2);
    }, "console-group to commit offset 2 on partition 0");
  } finally {
    await consumer.disconnect();
  }
  await produce("console-orders", ["order-3:late"], ["-K", ":", "-p", "0"]);
  // Same URL as before: only a reload renders the page again.
  await page.reload();
  const row = page.locator("tr", { has: page.getByRole("link", { name: "console-group" }) });
  await row.waitFor();
  expect(await row.locator("td").nth(4).textContent()).toBe("1");
  await shoot("groups");
  await row.getByRole("link", { name: "console-group" }).click();
  await page.getByRole("heading", { name: /console-group/ }).waitFor();
  const lagRow = page.locator("section", { hasText: "Committed offsets and lag" }).locator("tbody tr", { hasText: "console-orders" }).first();
  expect(await lagRow.locator("td").nth(4).textContent()).toBe("1");
  await shoot("group");
});

test("creating a topic from the console opens its page", async () => {
  await page.goto(`${base}/#/topics`);
  await page.locator("input[name=name]").fill("made-in-console");
  await page.locator("input[name=partitions]").fill("2");
  await page.getByRole("button", { name: "Create topic" }).click();
  await page.getByRole("heading", { name: "made-in-console" }).waitFor();
  const topic = await (await fetch(`${base}/api/topics/made-in-console`)).json();
  expect(topic.partitions).toBe(2);
});

test("the console logged no errors or warnings", () => {
  expect(consoleProblems).toEqual([]);
});
