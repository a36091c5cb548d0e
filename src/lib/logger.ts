/** Structured, levelled logging to stderr. The only place in src/ that writes to the console. */
export type LogLevel = "debug" | "info" | "warn" | "error";

const LEVEL_RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

let threshold: number = LEVEL_RANK[(process.env.CHRONIK_LOG_LEVEL as LogLevel) ?? "info"] ?? LEVEL_RANK.info;

export function setLogLevel(level: LogLevel): void {
  threshold = LEVEL_RANK[level];
}

export interface Logger {
  debug(message: string, fields?: Record<string, unknown>): void;
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
}

function write(level: LogLevel, scope: string, message: string, fields?: Record<string, unknown>): void {
  if (LEVEL_RANK[level] < threshold) return;
  let line = `${new Date().toISOString()} ${level.toUpperCase().padEnd(5)} [${scope}] ${message}`;
  if (fields) {
    for (const [key, value] of Object.entries(fields)) {
      line += ` ${key}=${value instanceof Error ? (value.stack ?? value.message) : typeof value === "string" ? value : safeStringify(value)}`;
    }
  }
  process.stderr.write(line + "\n");
}

function safeStringify(value: unknown): string {
  try {
    return JSON.stringify(value, (_k, v) => (typeof v === "bigint" ? v.toString() : v));
  } catch {
    return String(value);
  }
}

export function logger(scope: string): Logger {
  return {
    debug: (m, f) => write("debug", scope, m, f),
    info: (m, f) => write("info", scope, m, f),
    warn: (m, f) => write("warn", scope, m, f),
    error: (m, f) => write("error", scope, m, f),
  };
}
