/**
 * Embedded mode for application tests: an in-process broker on free ports with a temporary data dir.
 *
 *   import { startBroker } from "chronik";
 *   const broker = await startBroker();
 *   const kafka = new Kafka({ brokers: [broker.bootstrap] });
 *   ...
 *   await broker.stop();
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Broker } from "./broker.ts";
import { parseBrokerConfig } from "./config/parse.ts";
import { setLogLevel, type LogLevel } from "./lib/logger.ts";

export interface EmbeddedBroker {
  /** host:port for a client's bootstrap servers. */
  readonly bootstrap: string;
  readonly kafkaPort: number;
  readonly httpPort: number;
  readonly dataDir: string;
  /** Stops the broker; removes the data dir unless it was given. */
  stop(): Promise<void>;
}

export interface EmbeddedOptions {
  /** Use this data dir (kept on stop) instead of a fresh temporary one. */
  dataDir?: string;
  /** Any `chronik start` flag without the dashes, e.g. { "default-partitions": 3 }. */
  options?: Record<string, string | number | boolean>;
  logLevel?: LogLevel;
}

export async function startBroker(embedded: EmbeddedOptions = {}): Promise<EmbeddedBroker> {
  const temporary = embedded.dataDir === undefined;
  const dataDir = embedded.dataDir ?? mkdtempSync(join(tmpdir(), "chronik-embedded-"));
  const argv = ["--host", "127.0.0.1", "--kafka-port", "0", "--http-port", "0", "--data-dir", dataDir];
  for (const [key, value] of Object.entries(embedded.options ?? {})) argv.push(`--${key}`, String(value));
  const { config } = parseBrokerConfig(argv, {}, () => {
    throw new Error("embedded brokers take no config file");
  });
  setLogLevel(embedded.logLevel ?? "warn");
  const broker = await Broker.start(config);
  return {
    bootstrap: `127.0.0.1:${broker.kafkaPort}`,
    kafkaPort: broker.kafkaPort,
    httpPort: broker.httpPort,
    dataDir,
    async stop() {
      await broker.stop();
      if (temporary) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
