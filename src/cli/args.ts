/**
 * A small argument parser for the CLI's subcommands. Each command declares its positionals and flags once;
 * the same declaration parses argv and prints --help, so a flag cannot exist without being documented.
 */

export interface FlagSpec {
  name: string;
  /** Placeholder for the flag's value in help; absent for a boolean flag. */
  value?: string;
  /** The flag may be given more than once; every value is kept. */
  repeatable?: boolean;
  description: string;
}

export interface CommandSpec {
  /** The words after `chronik`, e.g. "topics create". */
  name: string;
  summary: string;
  positionals: { name: string; description: string }[];
  flags: FlagSpec[];
  /** Lines shown after the flags in help. */
  notes?: string[];
}

export interface ParsedArgs {
  positionals: string[];
  flags: Map<string, string[]>;
}

/** Bad command-line input: the CLI exits with 2 and points at --help. */
export class UsageError extends Error {
  override name = "UsageError";
  constructor(
    message: string,
    readonly command: string,
  ) {
    super(message);
  }
}

export const BOOTSTRAP_FLAG: FlagSpec = {
  name: "bootstrap",
  value: "HOST:PORT",
  description: "broker to connect to (env CHRONIK_BOOTSTRAP, default localhost:9092)",
};
export const JSON_FLAG: FlagSpec = { name: "json", description: "print JSON instead of text" };
const HELP_FLAG: FlagSpec = { name: "help", description: "show this help" };

export function wantsHelp(argv: readonly string[]): boolean {
  return argv.includes("--help") || argv.includes("-h");
}

export function parseArgs(spec: CommandSpec, argv: readonly string[]): ParsedArgs {
  const byName = new Map(spec.flags.map((f) => [f.name, f]));
  const positionals: string[] = [];
  const flags = new Map<string, string[]>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === "--") {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (!arg.startsWith("--")) {
      positionals.push(arg);
      continue;
    }
    const equals = arg.indexOf("=");
    const name = arg.slice(2, equals < 0 ? undefined : equals);
    const flag = byName.get(name);
    if (flag === undefined) throw new UsageError(`unknown flag --${name}`, spec.name);
    let value: string;
    if (flag.value === undefined) {
      if (equals >= 0) throw new UsageError(`--${name} takes no value`, spec.name);
      value = "true";
    } else if (equals >= 0) {
      value = arg.slice(equals + 1);
    } else {
      if (i + 1 >= argv.length) throw new UsageError(`--${name} needs a value (${flag.value})`, spec.name);
      value = argv[++i]!;
    }
    const values = flags.get(name);
    if (values === undefined) flags.set(name, [value]);
    else if (flag.repeatable) values.push(value);
    else throw new UsageError(`--${name} given more than once`, spec.name);
  }
  if (positionals.length !== spec.positionals.length) {
    const expected = spec.positionals.map((p) => p.name).join(" ") || "no arguments";
    throw new UsageError(`expected ${expected}, got ${positionals.length === 0 ? "none" : positionals.map((p) => JSON.stringify(p)).join(" ")}`, spec.name);
  }
  return { positionals, flags };
}

export function helpText(spec: CommandSpec): string {
  const flags = [...spec.flags, HELP_FLAG];
  const left = (f: FlagSpec) => `--${f.name}${f.value ? ` ${f.value}` : ""}${f.repeatable ? " ..." : ""}`;
  const width = Math.max(...flags.map((f) => left(f).length), ...spec.positionals.map((p) => p.name.length)) + 2;
  const lines = [`Usage: chronik ${spec.name}${spec.positionals.map((p) => ` ${p.name}`).join("")} [options]`, "", spec.summary];
  if (spec.positionals.length > 0) {
    lines.push("", "Arguments:");
    for (const p of spec.positionals) lines.push(`  ${p.name.padEnd(width)}${p.description}`);
  }
  lines.push("", "Options:");
  for (const f of flags) lines.push(`  ${left(f).padEnd(width)}${f.description}`);
  if (spec.notes !== undefined) lines.push("", ...spec.notes);
  return lines.join("\n") + "\n";
}

export function stringFlag(args: ParsedArgs, name: string): string | undefined {
  return args.flags.get(name)?.[0];
}

export function boolFlag(args: ParsedArgs, name: string): boolean {
  return args.flags.has(name);
}

export function listFlag(args: ParsedArgs, name: string): string[] {
  return args.flags.get(name) ?? [];
}

/** An integer flag within [min, max]. */
export function intFlag(args: ParsedArgs, command: string, name: string, min: number, max = Number.MAX_SAFE_INTEGER): number | undefined {
  const text = stringFlag(args, name);
  if (text === undefined) return undefined;
  const value = Number(text);
  if (text.trim() === "" || !Number.isSafeInteger(value) || value < min || value > max) {
    throw new UsageError(`--${name} must be an integer${max === Number.MAX_SAFE_INTEGER ? ` >= ${min}` : ` from ${min} to ${max}`}, got ${JSON.stringify(text)}`, command);
  }
  return value;
}

/** Repeated k=v flags as ordered pairs; the value may contain '='. */
export function keyValueFlag(args: ParsedArgs, command: string, name: string): [string, string][] {
  return listFlag(args, name).map((pair) => {
    const equals = pair.indexOf("=");
    if (equals <= 0) throw new UsageError(`--${name} wants KEY=VALUE, got ${JSON.stringify(pair)}`, command);
    return [pair.slice(0, equals), pair.slice(equals + 1)];
  });
}

/** --bootstrap, then CHRONIK_BOOTSTRAP, then localhost:9092; every comma-separated entry must be HOST:PORT. */
export function bootstrapOf(args: ParsedArgs, env: Record<string, string | undefined>, command: string): string {
  const fromFlag = stringFlag(args, "bootstrap");
  const bootstrap = fromFlag ?? (env.CHRONIK_BOOTSTRAP || "localhost:9092");
  const addresses = bootstrap.split(",").map((a) => a.trim());
  for (const address of addresses) {
    const colon = address.lastIndexOf(":");
    const port = Number(address.slice(colon + 1));
    if (colon <= 0 || !Number.isInteger(port) || port <= 0 || port > 65535) {
      throw new UsageError(`${fromFlag !== undefined ? "--bootstrap" : "CHRONIK_BOOTSTRAP"} wants HOST:PORT[,HOST:PORT...], got ${JSON.stringify(bootstrap)}`, command);
    }
  }
  return bootstrap;
}
