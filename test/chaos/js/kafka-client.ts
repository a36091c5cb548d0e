/**
 * The kafkajs client of the chaos workload's JavaScript roles: its log lines go to stderr (the harness keeps them in
 * the client's log file), so stdout carries only the history protocol. Timeouts and retry backoff are short so a
 * client finds a new leader within the schedule's fault durations.
 */
import { writeSync } from "node:fs";
import { Kafka, logLevel, type LogEntry } from "kafkajs";

const LEVEL_NAMES: Record<number, string> = { [logLevel.ERROR]: "ERROR", [logLevel.WARN]: "WARN", [logLevel.INFO]: "INFO", [logLevel.DEBUG]: "DEBUG" };

const toStderr = () => ({ namespace, level, log }: LogEntry) => {
  const { message, timestamp: _timestamp, logger: _logger, ...extra } = log;
  writeSync(2, `${new Date().toISOString()} ${LEVEL_NAMES[level] ?? level} [${namespace}] ${message} ${JSON.stringify(extra)}\n`);
};

export function chaosKafka(bootstrap: string, clientId: string): Kafka {
  return new Kafka({
    clientId,
    brokers: bootstrap.split(","),
    logLevel: logLevel.INFO,
    logCreator: toStderr,
    connectionTimeout: 3_000,
    requestTimeout: 15_000,
    retry: { initialRetryTime: 100, maxRetryTime: 2_000, retries: 10 },
  });
}

/** Writes history lines before returning: a line is in the harness's pipe before anything acts on it. */
export function writeLines(lines: readonly string[]): void {
  if (lines.length > 0) writeSync(1, `${lines.join("\n")}\n`);
}
