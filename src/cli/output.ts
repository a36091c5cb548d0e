/** How CLI commands write: stdout with back-pressure, aligned text tables, and JSON. */
import type { ParsedArgs, CommandSpec } from "./args.ts";
import type { Session } from "./session.ts";

/** What a command gets to run with. */
export interface CommandContext {
  args: ParsedArgs;
  /** Connects on first call, so flag mistakes are reported before any connection attempt. */
  connect(): Promise<Session>;
  json: boolean;
}

export interface CliCommand {
  spec: CommandSpec;
  /** Resolves with the exit code (0 unless the command reports a partial failure itself). */
  run(context: CommandContext): Promise<number>;
}

/** Writes to stdout and waits while the pipe is full, so a slow reader bounds memory. */
export function writeStdout(text: string): Promise<void> {
  if (process.stdout.write(text)) return Promise.resolve();
  return new Promise((resolve) => process.stdout.once("drain", () => resolve()));
}

export function writeJson(value: unknown): Promise<void> {
  return writeStdout(JSON.stringify(value, null, 2) + "\n");
}

/** Rows as left-aligned columns under a header, two spaces apart. */
export function table(header: readonly string[], rows: readonly (readonly (string | number))[][]): string {
  const cells = [header, ...rows.map((r) => r.map(String))];
  const widths = header.map((_, c) => Math.max(...cells.map((r) => (r[c] ?? "").length)));
  return cells.map((r) => r.map((cell, c) => (c === r.length - 1 ? cell : cell.padEnd(widths[c]!))).join("  ")).join("\n") + "\n";
}
