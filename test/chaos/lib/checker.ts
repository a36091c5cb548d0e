/**
 * The chaos checker: a pure function from a recorded history (and each replica's stored batches) to a verdict.
 *
 * Invariants, after the cluster healed and a final reader read every partition up to its high watermark:
 * - lost: an acknowledged value is missing from the final read (or its offset is at or past the high watermark);
 * - duplicate: one value observed at two positions (partition, offset);
 * - inconsistent-offset: one position observed with two values (acks count as observations of their position);
 * - non-monotonic: one reader saw offsets of a partition go backwards or repeat (a group consumer may start
 *   over from its committed offset when it is assigned the partition again);
 * - replica-divergence: replicas' stored batches are not byte-equal up to the high watermark.
 */
import { formatEvent, type HistoryEvent } from "./history.ts";

export type AnomalyKind = "lost" | "duplicate" | "inconsistent-offset" | "non-monotonic" | "replica-divergence";

export interface Anomaly {
  kind: AnomalyKind;
  message: string;
  /** The fewest history events that show it (empty for replica divergence, which the message describes). */
  excerpt: HistoryEvent[];
}

export interface ReplicaLog {
  node: number;
  /** Stored bytes per partition, in offset order: record batches, or runs of them (split by their lengths). */
  partitions: Uint8Array[][];
}

export interface CheckInput {
  history: readonly HistoryEvent[];
  /** The process name of the reader that read every partition to its high watermark after healing. */
  finalReader: string;
  /** High watermark per partition, as the final reader found it. */
  highWatermarks: readonly number[];
  /** Every replica's stored log after healing; omitted when the run could not collect them. */
  replicas?: readonly ReplicaLog[];
}

export interface CheckResult {
  ok: boolean;
  acknowledged: number;
  read: number;
  anomalies: Anomaly[];
  /** Anomalies found per kind; `anomalies` keeps only the first few of each. */
  counts: Record<AnomalyKind, number>;
}

const EXAMPLES_PER_KIND = 5;
const EXCERPT_MAX_EVENTS = 12;

type Position = string;
const position = (partition: number, offset: number): Position => `${partition}:${offset}`;

export function check(input: CheckInput): CheckResult {
  const counts: Record<AnomalyKind, number> = { lost: 0, duplicate: 0, "inconsistent-offset": 0, "non-monotonic": 0, "replica-divergence": 0 };
  const anomalies: Anomaly[] = [];
  const report = (anomaly: Anomaly) => {
    counts[anomaly.kind]++;
    if (counts[anomaly.kind] <= EXAMPLES_PER_KIND) anomalies.push({ ...anomaly, excerpt: anomaly.excerpt.slice(0, EXCERPT_MAX_EVENTS) });
  };

  const byValue = new Map<string, HistoryEvent[]>();
  const valuesAt = new Map<Position, Set<string>>();
  const positionsOf = new Map<string, Set<Position>>();
  const finalAt = new Map<Position, string>();
  const eventsAt = new Map<Position, HistoryEvent[]>();
  let acknowledged = 0;
  let read = 0;
  for (const event of input.history) {
    if (event.kind === "assign") continue;
    push(byValue, event.value, event);
    if (event.kind !== "ack" && event.kind !== "read") continue;
    if (event.kind === "ack") acknowledged++;
    else read++;
    const at = position(event.partition, event.offset);
    push(eventsAt, at, event);
    addTo(valuesAt, at, event.value);
    addTo(positionsOf, event.value, at);
    if (event.kind === "read" && event.process === input.finalReader) finalAt.set(at, event.value);
  }

  for (const event of input.history) {
    if (event.kind !== "ack") continue;
    const at = position(event.partition, event.offset);
    const highWatermark = input.highWatermarks[event.partition] ?? 0;
    if (finalAt.get(at) === event.value) continue;
    const where = event.offset >= highWatermark ? `at or past the high watermark ${highWatermark}` : finalAt.has(at) ? `but ${finalAt.get(at)} is there` : "but the final read skipped that offset";
    report({
      kind: "lost",
      message: `${event.value} was acknowledged at ${at} ${where}`,
      excerpt: [...(byValue.get(event.value) ?? []), ...neighbours(eventsAt, event.partition, event.offset, input.finalReader)],
    });
  }

  for (const [value, positions] of positionsOf) {
    if (positions.size < 2) continue;
    report({ kind: "duplicate", message: `${value} was observed at ${[...positions].join(", ")}`, excerpt: firstPerPosition(byValue.get(value) ?? []) });
  }

  for (const [at, values] of valuesAt) {
    if (values.size < 2) continue;
    report({ kind: "inconsistent-offset", message: `${at} was observed holding ${[...values].join(", ")}`, excerpt: firstPerValue(eventsAt.get(at) ?? []) });
  }

  const lastRead = new Map<string, HistoryEvent & { kind: "read" }>();
  for (const event of input.history) {
    if (event.kind === "assign") lastRead.delete(`${event.process}/${event.partition}`);
    if (event.kind !== "read") continue;
    const key = `${event.process}/${event.partition}`;
    const previous = lastRead.get(key);
    if (previous && event.offset <= previous.offset) {
      report({
        kind: "non-monotonic",
        message: `${event.process} read ${event.partition}:${event.offset} after ${previous.partition}:${previous.offset}`,
        excerpt: [previous, event],
      });
    }
    lastRead.set(key, event);
  }

  for (const divergence of compareReplicas(input.replicas ?? [], input.highWatermarks)) report({ kind: "replica-divergence", message: divergence, excerpt: [] });

  return { ok: anomalies.length === 0, acknowledged, read, anomalies, counts };
}

/** Differences between replicas' stored batches up to each partition's high watermark, as sentences. */
export function compareReplicas(replicas: readonly ReplicaLog[], highWatermarks: readonly number[]): string[] {
  const problems: string[] = [];
  if (replicas.length < 2) return problems;
  highWatermarks.forEach((highWatermark, partition) => {
    const committed = replicas.map((replica) => {
      const batches = (replica.partitions[partition] ?? []).flatMap(splitBatches).filter((batch) => batchBaseOffset(batch) < highWatermark);
      const last = batches.at(-1);
      const endOffset = last ? batchLastOffset(last) + 1 : 0;
      return { node: replica.node, batches, endOffset };
    });
    for (const copy of committed) {
      if (copy.endOffset < highWatermark) problems.push(`node ${copy.node} holds partition ${partition} only up to offset ${copy.endOffset}, below the high watermark ${highWatermark}`);
    }
    const [reference, ...others] = committed;
    for (const copy of others) {
      const count = Math.min(reference!.batches.length, copy.batches.length);
      let index = 0;
      while (index < count && bytesEqual(reference!.batches[index]!, copy.batches[index]!)) index++;
      if (index === count && reference!.batches.length === copy.batches.length) continue;
      const describe = (batch: Uint8Array | undefined) => (batch ? `offsets ${batchBaseOffset(batch)}..${batchLastOffset(batch)} (${batch.length} bytes)` : "nothing");
      problems.push(
        `partition ${partition}: batch ${index} differs between node ${reference!.node} (${describe(reference!.batches[index])}) and node ${copy.node} (${describe(copy.batches[index])})`,
      );
    }
  });
  return problems;
}

/** The record batches in a run of them: each is 12 bytes (baseOffset, batchLength) plus batchLength. */
export function splitBatches(run: Uint8Array): Uint8Array[] {
  const view = new DataView(run.buffer, run.byteOffset, run.byteLength);
  const batches: Uint8Array[] = [];
  let position = 0;
  while (position + 12 <= run.length) {
    const size = 12 + view.getInt32(position + 8);
    if (size < 12 || position + size > run.length) throw new Error(`a batch at byte ${position} claims ${size} bytes of a ${run.length}-byte run`);
    batches.push(run.subarray(position, position + size));
    position += size;
  }
  if (position !== run.length) throw new Error(`${run.length - position} stray bytes after the last batch`);
  return batches;
}

/** A record batch starts with baseOffset (int64); lastOffsetDelta (int32) sits at byte 23. */
export function batchBaseOffset(batch: Uint8Array): number {
  return Number(new DataView(batch.buffer, batch.byteOffset, batch.byteLength).getBigInt64(0));
}

export function batchLastOffset(batch: Uint8Array): number {
  return batchBaseOffset(batch) + new DataView(batch.buffer, batch.byteOffset, batch.byteLength).getInt32(23);
}

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function push<K, V>(map: Map<K, V[]>, key: K, value: V): void {
  const list = map.get(key);
  if (list) list.push(value);
  else map.set(key, [value]);
}

function addTo<K, V>(map: Map<K, Set<V>>, key: K, value: V): void {
  const set = map.get(key);
  if (set) set.add(value);
  else map.set(key, new Set([value]));
}

/** The final reader's view of the offsets around one position: what sits where the lost value should be. */
function neighbours(eventsAt: Map<Position, HistoryEvent[]>, partition: number, offset: number, finalReader: string): HistoryEvent[] {
  const out: HistoryEvent[] = [];
  for (const o of [offset - 1, offset, offset + 1]) out.push(...(eventsAt.get(position(partition, o)) ?? []).filter((e) => e.process === finalReader));
  return out;
}

/** One event per distinct position: enough to show a value in two places. */
function firstPerPosition(events: HistoryEvent[]): HistoryEvent[] {
  const seen = new Set<Position>();
  return events.filter((e) => {
    if (e.kind !== "ack" && e.kind !== "read") return e.kind === "send";
    const at = position(e.partition, e.offset);
    if (seen.has(at)) return false;
    seen.add(at);
    return true;
  });
}

/** One event per distinct value: enough to show two values at one position. */
function firstPerValue(events: HistoryEvent[]): HistoryEvent[] {
  const seen = new Set<string>();
  return events.filter((e) => e.kind !== "assign" && (seen.has(e.value) ? false : (seen.add(e.value), true)));
}

/** The verdict for people: counts, and on failure the seed and each anomaly's excerpt. */
export function formatVerdict(result: CheckResult, seed: number): string {
  const lines: string[] = [];
  if (result.ok) {
    lines.push(`VERDICT: OK (seed ${seed}): ${result.acknowledged} acknowledged, ${result.read} read, no anomalies`);
    return lines.join("\n");
  }
  const summary = Object.entries(result.counts)
    .filter(([, n]) => n > 0)
    .map(([kind, n]) => `${n} ${kind}`)
    .join(", ");
  lines.push(`VERDICT: FAILED (seed ${seed}): ${summary}; ${result.acknowledged} acknowledged, ${result.read} read`);
  for (const anomaly of result.anomalies) {
    lines.push(`- ${anomaly.kind}: ${anomaly.message}`);
    for (const event of anomaly.excerpt) lines.push(`    ${formatEvent(event)}`);
  }
  return lines.join("\n");
}
