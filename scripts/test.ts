/**
 * `npm test`: makes sure the client tools the interop tests drive are installed (kcat, Debian's
 * python3-confluent-kafka and chromium for the console test, from apt, when missing), then runs
 * `bun test` with any extra arguments.
 */
import { existsSync } from "node:fs";

const APT_PACKAGES: { name: string; present: () => boolean }[] = [
  { name: "kcat", present: () => Bun.which("kcat") !== null },
  { name: "chromium", present: () => existsSync("/usr/lib/chromium/chromium") },
  {
    name: "python3-confluent-kafka",
    present: () => existsSync("/usr/bin/python3") && Bun.spawnSync(["/usr/bin/python3", "-c", "import confluent_kafka"]).exitCode === 0,
  },
];

function run(cmd: string[]): void {
  process.stderr.write(`$ ${cmd.join(" ")}\n`);
  const result = Bun.spawnSync(cmd, { stdout: "inherit", stderr: "inherit", env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" } });
  if (result.exitCode !== 0) {
    process.stderr.write(`test set-up: ${cmd.join(" ")} failed with exit code ${result.exitCode}\n`);
    process.exit(1);
  }
}

const missing = APT_PACKAGES.filter((p) => !p.present()).map((p) => p.name);
if (missing.length > 0) {
  if (process.getuid?.() !== 0 && Bun.which("sudo") === null) {
    process.stderr.write(`test set-up: missing ${missing.join(", ")}; install them with apt-get (needs root)\n`);
    process.exit(1);
  }
  const sudo = process.getuid?.() === 0 ? [] : ["sudo"];
  run([...sudo, "apt-get", "update"]);
  run([...sudo, "apt-get", "install", "-y", "--no-install-recommends", ...missing]);
}

// Interop tests start broker and client processes; the per-test default of 5 s is too short for them.
const DEFAULT_TEST_TIMEOUT_MS = "120000";
const args = process.argv.slice(2);
const timeoutArgs = args.some((a) => a.startsWith("--timeout")) ? [] : ["--timeout", DEFAULT_TEST_TIMEOUT_MS];
const child = Bun.spawn([process.execPath, "test", ...timeoutArgs, ...args], {
  stdout: "inherit",
  stderr: "pipe",
  stdin: "ignore",
});
// Pass bun's report through and keep its totals for a closing line any CI can read.
let tail = "";
const decoder = new TextDecoder();
for await (const chunk of child.stderr as ReadableStream<Uint8Array>) {
  process.stderr.write(chunk);
  tail = (tail + decoder.decode(chunk)).slice(-4096);
}
const exitCode = await child.exited;
const passed = /(\d+) pass\b/.exec(tail)?.[1];
const failed = /(\d+) fail\b/.exec(tail)?.[1];
if (passed !== undefined && failed !== undefined) process.stdout.write(`\n${passed} passed, ${failed} failed\n`);
process.exit(exitCode);
