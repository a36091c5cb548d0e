import { expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseBrokerConfig, ConfigError } from "../../src/config/parse.ts";
import { OPTIONS, flagName, envName } from "../../src/config/options.ts";
import { startBroker } from "../helpers/broker-process.ts";
import { runProcess } from "../helpers/run-process.ts";

const MAIN = resolve(import.meta.dir, "../../src/main.ts");
const noFile = () => {
  throw new Error("no file");
};

test("flags override environment, which overrides the config file, which overrides defaults", () => {
  const file = `kafka-port = 1111\nhttp-port = 2222\nnode-id = 7\n`;
  const { config } = parseBrokerConfig(["--config", "x.toml", "--kafka-port=3333"], { CHRONIK_HTTP_PORT: "4444" }, () => file);
  expect(config.kafkaPort).toBe(3333);
  expect(config.httpPort).toBe(4444);
  expect(config.nodeId).toBe(7);
  expect(config.dataDir).toBe("./data");
  expect(config.advertisedHost).toBe("localhost");
});

test("bad values name the option", () => {
  expect(() => parseBrokerConfig(["--kafka-port", "abc"], {}, noFile)).toThrow(/--kafka-port: expected an integer/);
  expect(() => parseBrokerConfig(["--kafka-port", "70000"], {}, noFile)).toThrow(/--kafka-port: must be at most 65535/);
  expect(() => parseBrokerConfig(["--no-such-flag", "1"], {}, noFile)).toThrow(/unknown option --no-such-flag/);
  expect(() => parseBrokerConfig([], { CHRONIK_FLUSH_MODE: "sometimes" }, noFile)).toThrow(/CHRONIK_FLUSH_MODE: expected one of durable, fast/);
  expect(() => parseBrokerConfig(["--config", "c.toml"], {}, () => "bogus = 1\n")).toThrow(/unknown key "bogus"/);
  expect(() => parseBrokerConfig(["--config", "c.toml"], {}, () => "kafka-port = \n")).toThrow(ConfigError);
});

test("--help documents every option with its environment variable", async () => {
  const result = await runProcess([process.execPath, MAIN, "start", "--help"]);
  expect(result.exitCode).toBe(0);
  for (const spec of OPTIONS) {
    expect(result.stdout).toContain(`--${flagName(spec.key)}`);
    expect(result.stdout).toContain(envName(spec.key));
  }
});

test("a bad flag exits non-zero with a message naming it", async () => {
  const result = await runProcess([process.execPath, MAIN, "start", "--kafka-port", "-5"]);
  expect(result.exitCode).toBe(2);
  expect(result.stderr).toContain("--kafka-port");
  const unknown = await runProcess([process.execPath, MAIN, "launch"]);
  expect(unknown.exitCode).toBe(2);
  expect(unknown.stderr).toContain("unknown command");
});

test("a config file is read and SIGTERM shuts the broker down with exit code 0", async () => {
  const dir = mkdtempSync(join(tmpdir(), "chronik-config-"));
  try {
    const configPath = join(dir, "chronik.toml");
    writeFileSync(configPath, `node-id = 42\nauto-create-topics = false\n`);
    const broker = await startBroker({ args: ["--config", configPath] });
    try {
      const health = await fetch(`http://127.0.0.1:${broker.httpPort}/ready`);
      expect(health.status).toBe(200);
      expect(broker.output()).toContain("nodeId=42");
      expect(await broker.stop("SIGTERM")).toBe(0);
      expect(broker.output()).toContain("broker stopped");
    } finally {
      await broker.cleanup();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
