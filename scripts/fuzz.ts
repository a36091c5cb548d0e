/**
 * Long protocol fuzz runs: `bun scripts/fuzz.ts --cases N --seed S [--bootstrap host:port]`.
 * Without --bootstrap it starts its own broker (free ports, temporary data dir) and samples its RSS.
 */
import { parseArgs } from "node:util";
import { startBroker, type BrokerProcess } from "../test/helpers/broker-process.ts";
import { formatFailure, runFuzz } from "../test/fuzz/lib/runner.ts";

const HELP = `usage: bun scripts/fuzz.ts [options]
  --cases N            cases to run (default 1000000)
  --seed S             seed; a failure prints it with the case index (default: random)
  --first-case N       start at case N; with --cases 1, replays one failing case
  --bootstrap H:P      fuzz a running broker instead of starting one
  --pid PID            with --bootstrap: the broker's pid, for RSS sampling and liveness
  --http-port P        with --bootstrap: the broker's HTTP port, for /health
  --lanes N            parallel connections (default 6)
  --deadline-ms MS     longest wait for a response or close (default 15000)
  --help               this text`;

const { values } = parseArgs({
  options: {
    cases: { type: "string", default: "1000000" },
    seed: { type: "string" },
    "first-case": { type: "string", default: "0" },
    bootstrap: { type: "string" },
    pid: { type: "string" },
    "http-port": { type: "string" },
    lanes: { type: "string", default: "6" },
    "deadline-ms": { type: "string", default: "15000" },
    help: { type: "boolean", default: false },
  },
});
if (values.help) {
  process.stdout.write(`${HELP}\n`);
  process.exit(0);
}

const seed = Number(values.seed ?? process.env.FUZZ_SEED ?? Math.floor(Math.random() * 0x7fffffff));
const cases = Number(values.cases);
let broker: BrokerProcess | null = null;
let host: string;
let port: number;
let pid: number | undefined;
let httpPort: number | undefined;
if (values.bootstrap) {
  const [h, p] = values.bootstrap.split(":");
  host = h!;
  port = Number(p);
  pid = values.pid ? Number(values.pid) : undefined;
  httpPort = values["http-port"] ? Number(values["http-port"]) : undefined;
} else {
  broker = await startBroker({ args: ["--log-level", "info", "--group-initial-rebalance-delay-ms", "0"] });
  host = "127.0.0.1";
  port = broker.kafkaPort;
  pid = broker.process.pid;
  httpPort = broker.httpPort;
}

process.stderr.write(`fuzzing ${host}:${port} with seed ${seed}, ${cases} cases\n`);
let failed = true;
try {
  const report = await runFuzz({
    host,
    port,
    pid,
    httpPort,
    seed,
    cases,
    firstCase: Number(values["first-case"]),
    lanes: Number(values.lanes),
    caseDeadlineMs: Number(values["deadline-ms"]),
    onProgress: (done, r) =>
      process.stderr.write(`${done} cases, ${r.closes} closes, ${r.failures.length} failures, RSS ${r.peakRssKiB} KiB peak, ${((performance.now() / 1000) | 0)} s\n`),
  });
  for (const failure of report.failures) process.stderr.write(`${formatFailure(failure)}\n`);
  const crashed = broker !== null && broker.process.exitCode !== null;
  process.stdout.write(
    `${JSON.stringify({ seed, cases: report.cases, failures: report.failures.length, crashes: crashed ? 1 : 0, responses: report.responses, closes: report.closes, longWaits: report.longWaits, corruptBatchesRejected: report.batchesRejected, validBatchesAccepted: report.batchesAccepted, startRssKiB: report.startRssKiB, peakRssKiB: report.peakRssKiB, endRssKiB: report.endRssKiB, elapsedS: Math.round(report.elapsedMs / 1000) })}\n`,
  );
  failed = report.failures.length > 0 || crashed;
  if (failed && broker) process.stderr.write(`--- broker stderr (tail) ---\n${broker.output().slice(-4000)}\n`);
} finally {
  await broker?.cleanup();
}
process.exit(failed ? 1 : 0);
