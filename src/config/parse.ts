import { envName, fileKey, flagName, OPTIONS, type BrokerConfig, type OptionSpec } from "./options.ts";

/** A bad flag, environment variable or config-file value; the message names it. */
export class ConfigError extends Error {}

type Source = { describe: string; raw: string | number | boolean };

function convert(spec: OptionSpec, source: Source): string | number | boolean {
  const { raw, describe } = source;
  switch (spec.type) {
    case "string":
      if (typeof raw !== "string") throw new ConfigError(`${describe}: expected a string, got ${JSON.stringify(raw)}`);
      return raw;
    case "enum": {
      const value = String(raw);
      if (!spec.values!.includes(value)) {
        throw new ConfigError(`${describe}: expected one of ${spec.values!.join(", ")}, got ${JSON.stringify(raw)}`);
      }
      return value;
    }
    case "bool": {
      if (typeof raw === "boolean") return raw;
      const text = String(raw).toLowerCase();
      if (text === "true" || text === "1" || text === "yes") return true;
      if (text === "false" || text === "0" || text === "no") return false;
      throw new ConfigError(`${describe}: expected true or false, got ${JSON.stringify(raw)}`);
    }
    case "int": {
      const text = String(raw).trim();
      const value = typeof raw === "number" ? raw : /^-?\d+$/.test(text) ? Number(text) : NaN;
      if (!Number.isSafeInteger(value)) throw new ConfigError(`${describe}: expected an integer, got ${JSON.stringify(raw)}`);
      if (spec.min !== undefined && value < spec.min) throw new ConfigError(`${describe}: must be at least ${spec.min}, got ${value}`);
      if (spec.max !== undefined && value > spec.max) throw new ConfigError(`${describe}: must be at most ${spec.max}, got ${value}`);
      return value;
    }
  }
}

export interface ParsedArgs {
  config: BrokerConfig;
  configFile: string | null;
}

/**
 * Resolves the broker configuration. Precedence, lowest first: defaults, the TOML file given by
 * --config (or CHRONIK_CONFIG), CHRONIK_* environment variables, command-line flags.
 */
export function parseBrokerConfig(
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
  readTextFile: (path: string) => string,
): ParsedArgs {
  const byFlag = new Map(OPTIONS.map((spec) => [flagName(spec.key), spec]));
  const flagValues = new Map<OptionSpec, Source>();
  let configFile: string | null = env.CHRONIK_CONFIG ?? null;

  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (!arg.startsWith("--")) throw new ConfigError(`unexpected argument ${JSON.stringify(arg)} (see --help)`);
    const eq = arg.indexOf("=");
    const name = arg.slice(2, eq === -1 ? undefined : eq);
    let value: string | undefined = eq === -1 ? undefined : arg.slice(eq + 1);
    const spec = byFlag.get(name);
    if (name !== "config" && !spec) throw new ConfigError(`unknown option --${name} (see --help)`);
    if (value === undefined) {
      if (spec?.type === "bool" && (argv[i + 1] === undefined || argv[i + 1]!.startsWith("--"))) {
        value = "true";
      } else {
        value = argv[++i];
        if (value === undefined) throw new ConfigError(`--${name}: missing value`);
      }
    }
    if (name === "config") configFile = value;
    else flagValues.set(spec!, { describe: `--${name}`, raw: value });
  }

  const fileValues = new Map<OptionSpec, Source>();
  if (configFile !== null) {
    let text: string;
    try {
      text = readTextFile(configFile);
    } catch (error) {
      throw new ConfigError(`--config ${configFile}: cannot read it (${(error as Error).message})`);
    }
    let table: Record<string, unknown>;
    try {
      table = Bun.TOML.parse(text) as Record<string, unknown>;
    } catch (error) {
      throw new ConfigError(`--config ${configFile}: not valid TOML (${(error as Error).message})`);
    }
    const byFileKey = new Map(OPTIONS.map((spec) => [fileKey(spec.key), spec]));
    for (const [key, raw] of Object.entries(table)) {
      const spec = byFileKey.get(key);
      if (!spec) throw new ConfigError(`${configFile}: unknown key ${JSON.stringify(key)}`);
      if (typeof raw !== "string" && typeof raw !== "number" && typeof raw !== "boolean") {
        throw new ConfigError(`${configFile}: ${key}: expected a plain value, got ${JSON.stringify(raw)}`);
      }
      fileValues.set(spec, { describe: `${configFile}: ${key}`, raw });
    }
  }

  const config: Record<string, unknown> = {};
  for (const spec of OPTIONS) {
    const envValue = env[envName(spec.key)];
    const source =
      flagValues.get(spec) ??
      (envValue !== undefined ? { describe: envName(spec.key), raw: envValue } : undefined) ??
      fileValues.get(spec);
    config[spec.key] = source ? convert(spec, source) : spec.defaultValue;
  }
  const result = config as unknown as BrokerConfig;
  if (result.advertisedHost === "") {
    result.advertisedHost = result.host === "0.0.0.0" || result.host === "::" ? "localhost" : result.host;
  }
  if (result.groupMinSessionTimeoutMs > result.groupMaxSessionTimeoutMs) {
    throw new ConfigError("--group-min-session-timeout-ms must not exceed --group-max-session-timeout-ms");
  }
  if (result.brokerHeartbeatIntervalMs >= result.brokerSessionTimeoutMs) {
    throw new ConfigError("--broker-heartbeat-interval-ms must be less than --broker-session-timeout-ms");
  }
  if (result.controllerQuorumVoters === "") result.controllerQuorumVoters = `${result.nodeId}@127.0.0.1:${result.raftPort}`;
  quorumVoters(result);
  return { config: result, configFile };
}

export interface VoterAddress {
  host: string;
  port: number;
}

const VOTER = /^(\d+)@(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):(\d+)$/;

/** The voters of --controller-quorum-voters by node id; a list that does not parse, repeats an id or leaves this node out is a ConfigError. */
export function quorumVoters(config: Pick<BrokerConfig, "controllerQuorumVoters" | "nodeId">): Map<number, VoterAddress> {
  const voters = new Map<number, VoterAddress>();
  const entries = config.controllerQuorumVoters.split(",").map((e) => e.trim());
  for (const entry of entries) {
    const match = VOTER.exec(entry);
    const port = match ? Number(match[3]) : NaN;
    if (!match || !Number.isSafeInteger(Number(match[1])) || port > 65535) {
      throw new ConfigError(`--controller-quorum-voters: ${JSON.stringify(entry)} is not id@host:port (e.g. 1@127.0.0.1:5001,2@127.0.0.1:5002)`);
    }
    const id = Number(match[1]);
    if (voters.has(id)) throw new ConfigError(`--controller-quorum-voters: node id ${id} appears more than once`);
    if (port === 0 && entries.length > 1) throw new ConfigError(`--controller-quorum-voters: voter ${id} needs a real port; 0 works only for a one-voter quorum`);
    voters.set(id, { host: match[2]!.replace(/^\[|\]$/g, ""), port });
  }
  if (!voters.has(config.nodeId)) {
    throw new ConfigError(`--controller-quorum-voters: this node's id ${config.nodeId} (--node-id) is not among the voters ${[...voters.keys()].join(", ")}`);
  }
  return voters;
}

export function helpText(): string {
  const lines = [
    "Usage: chronik start [options]",
    "",
    "Starts a Chronik broker. Every option can also be set as a CHRONIK_* environment variable",
    "or as a key in a TOML file given with --config (keys are the flag names without dashes in front).",
    "Precedence: flags, then environment, then the config file, then defaults.",
    "",
    "Options:",
    `  --config FILE${" ".repeat(28)}TOML config file (env CHRONIK_CONFIG)`,
  ];
  for (const spec of OPTIONS) {
    const flag = `--${flagName(spec.key)} ${spec.type === "bool" ? "[true|false]" : spec.type === "enum" ? spec.values!.join("|") : spec.type === "int" ? "N" : "VALUE"}`;
    const def = spec.defaultValue === "" ? "" : ` (default ${spec.defaultValue})`;
    lines.push(`  ${flag.padEnd(40)} ${spec.help}${def} [${envName(spec.key)}]`);
  }
  return lines.join("\n");
}
