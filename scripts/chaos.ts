/**
 * Long chaos runs against a real 3-node cluster: `bun scripts/chaos.ts --minutes M --seed N`.
 * Prints the checker's verdict and the run's figures; exits 1 on any anomaly.
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { runChaos } from "../test/chaos/lib/namespace.ts";

const HELP = `usage: bun scripts/chaos.ts [options]
  --minutes M          how long faults are injected (default 10; fractions allowed)
  --seed N             seed of the fault schedule; a failing run prints it (default: random)
  --artifacts DIR      where broker logs (and on failure the full history) go (default: a temporary dir)
  --help               this text`;

const { values } = parseArgs({
  options: {
    minutes: { type: "string", default: "10" },
    seed: { type: "string" },
    artifacts: { type: "string" },
    help: { type: "boolean", default: false },
  },
});
if (values.help) {
  process.stdout.write(`${HELP}\n`);
  process.exit(0);
}
const seed = Number(values.seed ?? Math.floor(Math.random() * 0x7fffffff));
const minutes = Number(values.minutes);
if (!Number.isFinite(seed) || !(minutes > 0)) throw new Error(`bad --seed or --minutes\n${HELP}`);
const artifactsDir = values.artifacts ?? mkdtempSync(join(tmpdir(), "chronik-chaos-artifacts-"));
process.stderr.write(`chaos: seed ${seed}, ${minutes} min of faults, artifacts in ${artifactsDir}\n`);
const summary = await runChaos({ seed, faultsForMs: minutes * 60_000, artifactsDir });
process.stdout.write(`${summary.verdict}\n`);
const { verdict: _verdict, ...figures } = summary;
process.stdout.write(`${JSON.stringify(figures, null, 2)}\n`);
process.exit(summary.ok ? 0 : 1);
