/**
 * A short seeded chaos run on a real 3-node cluster: kill -9 and restart, SIGSTOP past the session timeout and
 * (as root, in a network namespace of its own) network partitions, under idempotent acks=all producers and
 * readers through both librdkafka (confluent-kafka) and kafkajs. The checker must find no lost, duplicated or moved acknowledged record, no non-monotonic read, and
 * byte-equal replicas up to the high watermark. `bun run chaos -- --minutes M --seed N` runs the long version.
 */
import { expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runChaos } from "./lib/namespace.ts";

const SEED = Number(process.env.CHAOS_SEED ?? 20_261_124);
const FAULTS_FOR_MS = 50_000;

test("a seeded schedule of faults loses, duplicates and reorders nothing acknowledged", async () => {
  const artifactsDir = mkdtempSync(join(tmpdir(), "chronik-chaos-ci-"));
  let keepArtifacts = true;
  try {
    const summary = await runChaos({ seed: SEED, faultsForMs: FAULTS_FOR_MS, artifactsDir });
    const faultCount = summary.faults.kill + summary.faults.pause + summary.faults.partition;
    console.log(`chaos: ${summary.verdict}; ${faultCount} faults ${JSON.stringify(summary.faults)}, ${summary.wallMs} ms`);
    console.log(`chaos clients: ${JSON.stringify(summary.byLibrary)}; acks ${JSON.stringify(summary.acksByProcess)}; reads ${JSON.stringify(summary.readsByProcess)}`);
    if (!summary.ok) console.log(`chaos artifacts (broker logs, full history) in ${artifactsDir}\n${summary.slowRecoveries.join("\n")}`);
    expect(summary.slowRecoveries).toEqual([]);
    expect(summary.verdict).toStartWith("VERDICT: OK");
    expect(faultCount).toBeGreaterThanOrEqual(3);
    expect(summary.acknowledged).toBeGreaterThan(1_000);
    // Both client libraries must have really produced and consumed, not just been started.
    for (const library of [summary.byLibrary.kafkajs, summary.byLibrary.confluent]) {
      expect(library.acknowledged).toBeGreaterThan(500);
      expect(library.read).toBeGreaterThan(500);
    }
    keepArtifacts = !summary.ok;
  } finally {
    if (!keepArtifacts) rmSync(artifactsDir, { recursive: true, force: true });
  }
}, 240_000);
