import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { Kafka, logLevel, type Consumer } from "kafkajs";
import { CLI_COMMANDS } from "../../src/cli/index.ts";
import { murmur2 } from "../../src/cli/partitioner.ts";
import { startBroker, type BrokerProcess } from "../helpers/broker-process.ts";
import { runProcess, type ProcessResult } from "../helpers/run-process.ts";
import { waitFor } from "../helpers/wait.ts";

const ROOT = resolve(import.meta.dir, "../..");
const MAIN = resolve(ROOT, "src/main.ts");
const SLOW_MS = 120_000;

function chronik(args: string[], options: { stdin?: string; env?: Record<string, string> } = {}): Promise<ProcessResult> {
  return runProcess([process.execPath, MAIN, ...args], { ...options, cwd: ROOT, timeoutMs: 60_000 });
}

describe("without a broker", () => {
  test("every command's --help lists its flags, and the README documents them", async () => {
    const readme = readFileSync(resolve(ROOT, "README.md"), "utf8");
    const section = readme.slice(readme.indexOf("## Command line"));
    const results = await Promise.all(CLI_COMMANDS.map((c) => chronik([...c.spec.name.split(" "), "--help"])));
    CLI_COMMANDS.forEach((command, i) => {
      expect(results[i]!.exitCode).toBe(0);
      expect(results[i]!.stdout).toContain(`Usage: chronik ${command.spec.name}`);
      for (const flag of command.spec.flags) {
        expect(results[i]!.stdout).toContain(`--${flag.name}`);
        expect(section).toContain(`--${flag.name}`);
      }
      expect(section).toContain(`\`${command.spec.name}`);
    });
    const top = await chronik(["--help"]);
    for (const command of CLI_COMMANDS) expect(top.stdout).toContain(command.spec.name);
    const group = await chronik(["topics"]);
    expect(group.exitCode).toBe(0);
    expect(group.stdout).toContain("topics describe");
  }, SLOW_MS);

  test("usage mistakes exit 2 with the reason and a pointer to --help", async () => {
    const cases: [string[], RegExp][] = [
      [["topics", "create", "t", "--partitons", "3"], /unknown flag --partitons/],
      [["topics", "create", "t", "--partitions", "zero"], /--partitions must be an integer >= 1/],
      [["topics", "describe"], /expected NAME, got none/],
      [["topics", "frobnicate"], /unknown command "frobnicate"/],
      [["produce", "t", "--acks", "2"], /--acks must be 0, 1 or all/],
      [["consume", "t", "--offset", "middle"], /--offset must be beginning, end or an offset/],
      [["consume", "t", "--format", "%z"], /unknown %z/],
      [["groups", "reset-offsets", "g", "--topic", "t"], /exactly one of --to-earliest, --to-latest and --to-offset/],
      [["topics", "alter", "t"], /nothing to change/],
    ];
    const results = await Promise.all(cases.map(([args]) => chronik([...args, "--bootstrap", "127.0.0.1:1"])));
    cases.forEach(([args, message], i) => {
      expect({ args, exitCode: results[i]!.exitCode }).toEqual({ args, exitCode: 2 });
      expect(results[i]!.stderr).toMatch(message);
    });
    expect(results[0]!.stderr).toContain("Run 'chronik topics create --help'");
    const badBootstrap = await chronik(["topics", "list", "--bootstrap", "localhost"]);
    expect(badBootstrap.exitCode).toBe(2);
    expect(badBootstrap.stderr).toContain("--bootstrap wants HOST:PORT");
  }, SLOW_MS);

  test("an unreachable broker is a clear failure with exit 1", async () => {
    const result = await chronik(["topics", "list", "--bootstrap", "127.0.0.1:1"]);
    expect(result.exitCode).toBe(1);
    expect(result.stderr).toMatch(/cannot reach a broker at 127\.0\.0\.1:1 .*ECONNREFUSED/);
    const fromEnv = await chronik(["cluster"], { env: { CHRONIK_BOOTSTRAP: "127.0.0.1:1" } });
    expect(fromEnv.exitCode).toBe(1);
    expect(fromEnv.stderr).toContain("cannot reach a broker at 127.0.0.1:1");
  }, SLOW_MS);

  test("keys are partitioned with Kafka's murmur2", () => {
    const encode = (text: string) => new TextEncoder().encode(text);
    // Expected values from Kafka's UtilsTest.testMurmur2.
    expect(murmur2(encode("21"))).toBe(-973932308);
    expect(murmur2(encode("foobar"))).toBe(-790332482);
    expect(murmur2(encode("a-little-bit-long-string"))).toBe(-985981536);
    expect(murmur2(encode("a-little-bit-longer-string"))).toBe(-1486304829);
    expect(murmur2(encode("lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8"))).toBe(-58897971);
    expect(murmur2(encode("abc"))).toBe(479470107);
  });
});

describe("against a broker", () => {
  let broker: BrokerProcess;
  const run = (args: string[], stdin?: string) => chronik([...args, "--bootstrap", broker.bootstrap], { stdin });

  beforeAll(async () => {
    broker = await startBroker({ args: ["--auto-create-topics", "false", "--group-initial-rebalance-delay-ms", "0"] });
  }, SLOW_MS);
  afterAll(async () => {
    await broker?.cleanup();
  });

  test("cluster shows the cluster id, controller and broker", async () => {
    const text = await run(["cluster"]);
    expect(text.exitCode).toBe(0);
    expect(text.stdout).toMatch(/Cluster id: \S+/);
    expect(text.stdout).toContain(`127.0.0.1  ${broker.kafkaPort}`);
    const json = JSON.parse((await run(["cluster", "--json"])).stdout);
    expect(json.controllerId).toBe(1);
    expect(json.brokers).toEqual([{ nodeId: 1, host: "127.0.0.1", port: broker.kafkaPort, rack: null }]);
  }, SLOW_MS);

  test("topics create, list, describe, alter and delete", async () => {
    const created = await run(["topics", "create", "admin-t", "--partitions", "2", "--config", "retention.ms=123456"]);
    expect(created).toMatchObject({ exitCode: 0 });
    expect(created.stdout).toContain("created topic admin-t with 2 partitions");

    const again = await run(["topics", "create", "admin-t"]);
    expect(again.exitCode).toBe(1);
    expect(again.stderr).toContain("TOPIC_ALREADY_EXISTS (36)");
    expect((await run(["topics", "create", "admin-t", "--if-not-exists"])).exitCode).toBe(0);

    const listed = JSON.parse((await run(["topics", "list", "--json"])).stdout);
    expect(listed).toContainEqual({ name: "admin-t", partitions: 2, internal: false });

    const described = await run(["topics", "describe", "admin-t"]);
    expect(described.exitCode).toBe(0);
    expect(described.stdout).toContain("Partitions: 2");
    expect(described.stdout).toContain("retention.ms=123456");

    const altered = await run(["topics", "alter", "admin-t", "--config", "cleanup.policy=compact", "--delete-config", "retention.ms", "--partitions", "3"]);
    expect(altered.exitCode).toBe(0);
    const after = JSON.parse((await run(["topics", "describe", "admin-t", "--json"])).stdout);
    expect(after.partitions.map((p: { partition: number; leader: number; isr: number[] }) => [p.partition, p.leader, p.isr])).toEqual([
      [0, 1, [1]],
      [1, 1, [1]],
      [2, 1, [1]],
    ]);
    expect(after.configs).toEqual([{ name: "cleanup.policy", value: "compact", source: "DYNAMIC_TOPIC_CONFIG", readOnly: false, sensitive: false }]);

    const shrink = await run(["topics", "alter", "admin-t", "--partitions", "1"]);
    expect(shrink.exitCode).toBe(1);
    expect(shrink.stderr).toContain("INVALID_PARTITIONS (37)");

    expect((await run(["topics", "delete", "admin-t"])).exitCode).toBe(0);
    const gone = await run(["topics", "describe", "admin-t"]);
    expect(gone.exitCode).toBe(1);
    expect(gone.stderr).toContain("UNKNOWN_TOPIC_OR_PARTITION (3)");
    const deleteAgain = await run(["topics", "delete", "admin-t"]);
    expect(deleteAgain.exitCode).toBe(1);
    expect(deleteAgain.stderr).toContain("UNKNOWN_TOPIC_OR_PARTITION (3)");
  }, SLOW_MS);

  test("10,000 keyed lines round-trip through produce and consume", async () => {
    expect((await run(["topics", "create", "roundtrip", "--partitions", "3"])).exitCode).toBe(0);
    const lines = Array.from({ length: 10_000 }, (_, i) => `key-${i % 97}\tvalue ${i}`);
    const produced = await run(["produce", "roundtrip", "--key-separator", "\t", "--header", "source=cli"], lines.join("\n") + "\n");
    expect(produced.stderr).toContain("produced 10000 records to roundtrip");
    expect(produced.exitCode).toBe(0);

    const consumed = await run(["consume", "roundtrip", "--offset", "beginning", "--exit-at-end", "--format", "%p|%k|%v|%h"]);
    expect(consumed.exitCode).toBe(0);
    expect(consumed.stderr).toContain("consumed 10000 records");
    const rows = consumed.stdout.trimEnd().split("\n").map((line) => line.split("|"));
    expect(rows.map(([, key, value]) => `${key}\t${value}`).sort()).toEqual([...lines].sort());
    const partitionOfKey = new Map<string, string>();
    for (const [partition, key, , headers] of rows) {
      expect(headers).toBe("source=cli");
      // One key, one partition: the keyed partitioner is deterministic.
      expect(partitionOfKey.get(key!) ?? partition).toBe(partition!);
      partitionOfKey.set(key!, partition!);
    }
    expect(new Set(partitionOfKey.values()).size).toBe(3);

    const limited = await run(["consume", "roundtrip", "--partition", "0", "--offset", "2", "--max-messages", "3", "--format", "%o"]);
    expect(limited.stdout).toBe("2\n3\n4\n");
  }, SLOW_MS);

  test("produce and consume report their main errors", async () => {
    const unknown = await run(["produce", "no-such-topic"], "x\n");
    expect(unknown.exitCode).toBe(1);
    expect(unknown.stderr).toContain("UNKNOWN_TOPIC_OR_PARTITION (3)");
    const consumeUnknown = await run(["consume", "no-such-topic", "--exit-at-end"]);
    expect(consumeUnknown.exitCode).toBe(1);
    expect(consumeUnknown.stderr).toContain("UNKNOWN_TOPIC_OR_PARTITION (3)");

    expect((await run(["topics", "create", "tiny", "--partitions", "1", "--config", "max.message.bytes=200"])).exitCode).toBe(0);
    const tooLarge = await run(["produce", "tiny", "--partition", "0"], "small\n" + "x".repeat(1000) + "\n");
    expect(tooLarge.exitCode).toBe(1);
    expect(tooLarge.stderr).toContain("MESSAGE_TOO_LARGE (10)");
    const badPartition = await run(["produce", "tiny", "--partition", "5"], "x\n");
    expect(badPartition.exitCode).toBe(1);
    expect(badPartition.stderr).toContain("partition 5 does not exist");
  }, SLOW_MS);

  test("a group resumes from its committed offset, describe shows lag, reset-offsets rewinds", async () => {
    expect((await run(["topics", "create", "grouped", "--partitions", "1"])).exitCode).toBe(0);
    const lines = Array.from({ length: 100 }, (_, i) => `m${i}`);
    expect((await run(["produce", "grouped"], lines.join("\n"))).exitCode).toBe(0);

    const first = await run(["consume", "grouped", "--group", "g1", "--offset", "beginning", "--max-messages", "30"]);
    expect(first.stdout.trimEnd().split("\n")).toEqual(lines.slice(0, 30));
    const second = await run(["consume", "grouped", "--group", "g1", "--max-messages", "20"]);
    expect(second.stdout.trimEnd().split("\n")).toEqual(lines.slice(30, 50));

    const described = await run(["groups", "describe", "g1"]);
    expect(described.exitCode).toBe(0);
    expect(described.stdout).toContain("State: Empty");
    expect(described.stdout).toMatch(/grouped\s+0\s+50\s+100\s+50/);
    const json = JSON.parse((await run(["groups", "describe", "g1", "--json"])).stdout);
    expect(json.offsets).toEqual([{ topic: "grouped", partition: 0, committedOffset: 50, endOffset: 100, lag: 50 }]);
    expect(json.totalLag).toBe(50);

    const listed = JSON.parse((await run(["groups", "list", "--json"])).stdout);
    expect(listed.map((g: { groupId: string }) => g.groupId)).toContain("g1");

    const reset = await run(["groups", "reset-offsets", "g1", "--topic", "grouped", "--to-offset", "10"]);
    expect(reset.exitCode).toBe(0);
    expect(reset.stdout).toMatch(/grouped\s+0\s+10/);
    const resumed = await run(["consume", "grouped", "--group", "g1", "--max-messages", "1"]);
    expect(resumed.stdout).toBe("m10\n");

    expect((await run(["groups", "reset-offsets", "g1", "--topic", "grouped", "--to-latest"])).exitCode).toBe(0);
    const caughtUp = await run(["consume", "grouped", "--group", "g1", "--exit-at-end"]);
    expect(caughtUp.stdout).toBe("");
    expect((await run(["groups", "reset-offsets", "g1", "--topic", "grouped", "--to-earliest"])).exitCode).toBe(0);
    expect(JSON.parse((await run(["groups", "describe", "g1", "--json"])).stdout).totalLag).toBe(100);

    const missing = await run(["groups", "describe", "no-such-group"]);
    expect(missing.exitCode).toBe(1);
    expect(missing.stderr).toContain("group no-such-group does not exist");
  }, SLOW_MS);

  test("reset-offsets refuses while the group has active members", async () => {
    expect((await run(["topics", "create", "active", "--partitions", "1"])).exitCode).toBe(0);
    const kafka = new Kafka({ clientId: "cli-test", brokers: [broker.bootstrap], logLevel: logLevel.NOTHING, retry: { retries: 2 } });
    const consumer: Consumer = kafka.consumer({ groupId: "busy", sessionTimeout: 10_000, heartbeatInterval: 500 });
    try {
      await consumer.connect();
      await consumer.subscribe({ topic: "active", fromBeginning: true });
      await consumer.run({ eachMessage: async () => {} });
      await waitFor(async () => (await run(["groups", "describe", "busy"])).stdout.includes("State: Stable"), "group busy to become Stable", 60_000, 200);
      const described = await run(["groups", "describe", "busy", "--json"]);
      expect(JSON.parse(described.stdout).members[0].assignment).toEqual([{ topic: "active", partition: 0 }]);
      const refused = await run(["groups", "reset-offsets", "busy", "--topic", "active", "--to-earliest"]);
      expect(refused.exitCode).toBe(1);
      expect(refused.stderr).toContain("group busy is Stable with 1 member(s); offsets can only be reset while it is empty");
    } finally {
      await consumer.disconnect();
    }
  }, SLOW_MS);
});
