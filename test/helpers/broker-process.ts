import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import type { Subprocess } from "bun";
import { waitFor } from "./wait.ts";

const ROOT = resolve(import.meta.dir, "../..");

export interface BrokerProcess {
  readonly kafkaPort: number;
  readonly httpPort: number;
  readonly bootstrap: string;
  readonly dataDir: string;
  readonly process: Subprocess;
  /** Everything the broker wrote to stderr so far. */
  output(): string;
  /** Sends a signal and waits for the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number>;
  /** Stops the broker if it still runs and removes its data dir unless keepData. */
  cleanup(): Promise<void>;
}

export interface StartOptions {
  dataDir?: string;
  args?: string[];
  env?: Record<string, string>;
  /** Keep the data dir when cleaning up (for restart tests that own the dir). */
  keepData?: boolean;
  /** The program to run instead of `bun src/main.ts` (e.g. a compiled executable). */
  command?: string[];
}

/** Starts `bun src/main.ts start` on free ports (port 0, read back from the log) with a temporary data dir. */
export async function startBroker(options: StartOptions = {}): Promise<BrokerProcess> {
  const ownsDir = options.dataDir === undefined;
  const dataDir = options.dataDir ?? mkdtempSync(join(tmpdir(), "chronik-test-"));
  const child = Bun.spawn(
    [...(options.command ?? [process.execPath, join(ROOT, "src/main.ts")]), "start", "--host", "127.0.0.1", "--kafka-port", "0", "--http-port", "0", "--data-dir", dataDir, ...(options.args ?? [])],
    { cwd: ROOT, stdout: "pipe", stderr: "pipe", env: { ...process.env, ...options.env } },
  );
  let stderr = "";
  const decoder = new TextDecoder();
  (async () => {
    for await (const chunk of child.stderr as ReadableStream<Uint8Array>) stderr += decoder.decode(chunk);
  })();
  (async () => {
    for await (const _ of child.stdout as ReadableStream<Uint8Array>);
  })();
  const started = await waitFor(
    () => {
      if (child.exitCode !== null) throw new Error(`broker exited with ${child.exitCode}:\n${stderr}`);
      return /broker started .*kafkaPort=(\d+) httpPort=(\d+)/.exec(stderr);
    },
    "the broker to log that it started",
    30_000,
  ).catch((error) => {
    child.kill("SIGKILL");
    throw new Error(`${error.message}\n--- broker stderr ---\n${stderr}`);
  });
  const kafkaPort = Number(started[1]);
  const httpPort = Number(started[2]);
  const handle: BrokerProcess = {
    kafkaPort,
    httpPort,
    bootstrap: `127.0.0.1:${kafkaPort}`,
    dataDir,
    process: child,
    output: () => stderr,
    async stop(signal = "SIGTERM") {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return await child.exited;
    },
    async cleanup() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill("SIGKILL");
        await child.exited;
      }
      if (ownsDir && !options.keepData) rmSync(dataDir, { recursive: true, force: true });
    },
  };
  return handle;
}
