import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { startBroker, type BrokerProcess } from "../helpers/broker-process.ts";
import { runProcess } from "../helpers/run-process.ts";

const ROOT = resolve(import.meta.dir, "../..");
const buildDir = mkdtempSync(join(tmpdir(), "chronik-console-build-"));
let broker: BrokerProcess | undefined;
afterAll(async () => {
  await broker?.cleanup();
  rmSync(buildDir, { recursive: true, force: true });
});

test("the compiled executable serves the console's files from inside itself", async () => {
  const executable = join(buildDir, "chronik");
  const build = await runProcess([process.execPath, join(ROOT, "scripts/build.ts"), executable], { timeoutMs: 120_000 });
  expect(build.exitCode).toBe(0);
  broker = await startBroker({ command: [executable] });
  const base = `http://127.0.0.1:${broker.httpPort}`;
  for (const [path, file] of [
    ["/", "index.html"],
    ["/console/app.js", "app.js"],
    ["/console/views.js", "views.js"],
    ["/console/charts.js", "charts.js"],
    ["/console/style.css", "style.css"],
  ]) {
    const response = await fetch(base + path);
    expect({ path, status: response.status }).toEqual({ path, status: 200 });
    expect(await response.text()).toBe(readFileSync(join(ROOT, "src/http/console", file!), "utf8"));
  }
  expect((await fetch(`${base}/api/cluster`)).status).toBe(200);
}, 180_000);
