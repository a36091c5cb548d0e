import { afterAll, beforeAll, expect, test } from "bun:test";
import { startBroker, type BrokerProcess } from "../helpers/broker-process.ts";
import { formatFailure, runFuzz } from "./lib/runner.ts";

const CASES = Number(process.env.FUZZ_CASES ?? 100_000);
const SEED = Number(process.env.FUZZ_SEED ?? 20_261_124);

let broker: BrokerProcess;

beforeAll(async () => {
  broker = await startBroker({ args: ["--log-level", "info", "--group-initial-rebalance-delay-ms", "0"] });
}, 60_000);

afterAll(async () => {
  await broker?.cleanup();
});

test(
  `protocol fuzz: ${CASES} cases, seed ${SEED}`,
  async () => {
    const report = await runFuzz({ host: "127.0.0.1", port: broker.kafkaPort, httpPort: broker.httpPort, pid: broker.process.pid, seed: SEED, cases: CASES });
    const summary = `${report.cases} cases in ${(report.elapsedMs / 1000).toFixed(1)} s: ${report.responses} responses, ${report.closes} closes, ${report.batchesRejected} corrupt batches rejected, ${report.batchesAccepted} valid accepted; RSS ${report.startRssKiB} -> peak ${report.peakRssKiB} KiB`;
    process.stderr.write(`${summary}\n`);
    for (const failure of report.failures) process.stderr.write(`${formatFailure(failure)}\n`);
    expect(report.failures.map((f) => `case ${f.caseIndex} ${f.kind}: ${f.reason}`)).toEqual([]);
    expect(report.cases).toBe(CASES);
    expect(broker.process.exitCode).toBeNull();
  },
  600_000,
);
