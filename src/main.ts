#!/usr/bin/env bun
import { readFileSync } from "node:fs";
import { Broker } from "./broker.ts";
import { CLI_COMMAND_WORDS, cliUsageLines, runCli } from "./cli/index.ts";
import { ConfigError, helpText, parseBrokerConfig } from "./config/parse.ts";
import { dropOrphanedCommitFailures } from "./lib/lmdb-commit.ts";
import { logger, setLogLevel, type LogLevel } from "./lib/logger.ts";

const log = logger("main");

const USAGE = `Usage: chronik <command> [options]

Commands:
  start                 Start a broker (chronik start --help for its options)
${cliUsageLines().join("\n")}

Client commands take --bootstrap HOST:PORT (env CHRONIK_BOOTSTRAP, default localhost:9092) and --help.

Options:
  --help       Show this help
  --version    Show the version`;

async function start(argv: string[]): Promise<void> {
  if (argv.includes("--help") || argv.includes("-h")) {
    process.stdout.write(helpText() + "\n");
    return;
  }
  let config;
  try {
    config = parseBrokerConfig(argv, process.env, (path) => readFileSync(path, "utf8")).config;
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`chronik: ${error.message}\n`);
      process.exit(2);
    }
    throw error;
  }
  setLogLevel(config.logLevel as LogLevel);
  dropOrphanedCommitFailures((reason) => {
    log.error("unhandled rejection", { error: reason });
    process.exit(1);
  });
  let broker: Broker;
  try {
    broker = await Broker.start(config);
  } catch (error) {
    log.error("broker failed to start", { error });
    process.exit(1);
  }
  const shutdown = (signal: string) => {
    log.info("shutting down", { signal });
    broker.stop().then(
      () => process.exit(0),
      (error) => {
        log.error("shutdown failed", { error });
        process.exit(1);
      },
    );
  };
  process.on("SIGTERM", () => shutdown("SIGTERM"));
  process.on("SIGINT", () => shutdown("SIGINT"));
}

async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  switch (command) {
    case "start":
      return start(rest);
    case "--version":
    case "-v":
      process.stdout.write(`chronik ${(await import("../package.json")).version}\n`);
      return;
    case undefined:
    case "--help":
    case "-h":
    case "help":
      process.stdout.write(USAGE + "\n");
      return;
    default:
      if (CLI_COMMAND_WORDS.has(command)) {
        process.exitCode = await runCli(argv);
        return;
      }
      process.stderr.write(`chronik: unknown command ${JSON.stringify(command)}\n\n${USAGE}\n`);
      process.exit(2);
  }
}

await main(process.argv.slice(2));
