/**
 * Entry point of a chaos run inside its network namespace (started by namespace.ts through `ip netns exec`):
 *   bun test/chaos/lib/inside.ts SEED FAULTS_FOR_MS ARTIFACTS_DIR DATA_ROOT SUMMARY_FILE
 * Writes the run's summary as JSON to SUMMARY_FILE; exits 0 when the verdict is OK, 1 otherwise.
 */
import { writeFileSync } from "node:fs";
import { runInside } from "./runner.ts";

const [seed, faultsForMs, artifactsDir, dataRoot, summaryFile] = process.argv.slice(2);
if (!summaryFile) throw new Error("usage: inside.ts SEED FAULTS_FOR_MS ARTIFACTS_DIR DATA_ROOT SUMMARY_FILE");
const summary = await runInside({ seed: Number(seed), faultsForMs: Number(faultsForMs), namespaced: true, artifactsDir, dataRoot });
writeFileSync(summaryFile, JSON.stringify(summary, null, 2));
process.exit(summary.ok ? 0 : 1);
