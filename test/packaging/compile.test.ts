import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { startBroker, type BrokerProcess } from "../helpers/broker-process.ts";
import { runProcess } from "../helpers/run-process.ts";

const ROOT = resolve(import.meta.dir, "../..");
const buildDir = mkdtempSync(join(tmpdir(), "chronik-build-"));
let broker: BrokerProcess | undefined;
afterAll(async () => {
  await broker?.cleanup();
  rmSync(buildDir, { recursive: true, force: true });
});

test("bun build --compile makes one executable that serves Kafka clients without node_modules", async () => {
  const executable = join(buildDir, "chronik");
  const build = await runProcess([process.execPath, join(ROOT, "scripts/build.ts"), executable], { timeoutMs: 120_000 });
  expect(build.stderr).toBe("");
  expect(build.exitCode).toBe(0);

  // Run it from a directory with no project files around it.
  broker = await startBroker({ command: [executable] });
  const produced = await runProcess(["kcat", "-P", "-b", broker.bootstrap, "-t", "compiled", "-K", ":"], { stdin: "k1:v1\nk2:v2\n" });
  expect(produced.exitCode).toBe(0);
  const consumed = await runProcess(["kcat", "-C", "-b", broker.bootstrap, "-t", "compiled", "-o", "beginning", "-e", "-q", "-f", "%k=%s\\n"]);
  expect(consumed.stdout).toBe("k1=v1\nk2=v2\n");
  expect(await broker.stop("SIGTERM")).toBe(0);
}, 180_000);
