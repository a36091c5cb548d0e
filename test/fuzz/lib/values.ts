import type { Prng } from "./prng.ts";
import { buildRecordBatch } from "../../../src/protocol/record-batch-builder.ts";

/** Topics the fuzz broker has, so mutated requests often reach real partitions and groups. */
export const FUZZ_TOPICS = ["fuzz-a", "fuzz-b"] as const;

const INT_EDGES = [0, 1, -1, 2, 3, 127, 128, -128, 255, 256, 32767, -32768, 65535, 0x7fffffff, -0x80000000, 0xffffffff, 2 ** 53 - 1, -(2 ** 53)];
const STRING_EDGES = [
  "",
  ...FUZZ_TOPICS,
  "fuzz-group",
  "__consumer_offsets",
  "__cluster_metadata",
  ".",
  "..",
  "a".repeat(250),
  "b".repeat(5000),
  "ü€😀",
  "\u0000",
  "topic/with/slash",
  "consumer",
  "range",
  "cleanup.policy",
  "retention.ms",
  "compact",
  "-1",
];
const UUID_PATTERN = /^[A-Za-z0-9_-]{22}$/;
/** Fields whose value is how long the broker may hold the request; large values are legal waits, not hangs. */
const WAIT_FIELD = /(timeoutms|maxwaitms|rebalancetimeoutms|sessiontimeoutms)$/i;
export const MAX_FUZZ_WAIT_MS = 300;
/** Keeps generated frames small enough that one case cannot dominate a run. */
const MAX_HUGE_ARRAY = 500;

function randomString(rng: Prng): string {
  const length = rng.chance(0.8) ? rng.range(1, 16) : rng.range(17, 300);
  let out = "";
  for (let i = 0; i < length; i++) out += String.fromCharCode(rng.chance(0.95) ? rng.range(0x20, 0x7e) : rng.range(0, 0xffff));
  return out;
}

export function randomInt(rng: Prng): number {
  const roll = rng.int(4);
  if (roll === 0) return rng.pick(INT_EDGES);
  if (roll === 1) return rng.range(0, 10);
  if (roll === 2) return rng.nextUint32() | 0;
  return rng.range(-5, 100);
}

export function validBatch(rng: Prng): Uint8Array {
  const count = rng.range(1, 5);
  const records = Array.from({ length: count }, (_, i) => ({
    key: rng.chance(0.3) ? null : rng.bytes(rng.range(0, 8)),
    value: rng.chance(0.1) ? null : rng.bytes(rng.range(0, 64)),
    headers: rng.chance(0.2) ? [{ key: `h${i}`, value: rng.bytes(3) }] : [],
  }));
  return buildRecordBatch(records, { baseTimestampMs: 1_700_000_000_000 + rng.int(1_000_000) });
}

/** A copy of `node` with some leaves and arrays changed; `rate` is the chance that a given leaf changes. */
export function mutateValue(rng: Prng, node: unknown, rate: number, key = "", state = { hugeArraysLeft: 1 }): unknown {
  if (Array.isArray(node)) {
    let items = node.map((item) => mutateValue(rng, item, rate, key, state));
    if (rng.chance(rate)) {
      const roll = rng.int(6);
      if (roll === 0) items = [];
      else if (roll === 1 && items.length > 0) items = Array.from({ length: rng.range(2, 6) }, () => mutateValue(rng, node[0], rate, key, state));
      // One huge array per request: nested ones multiply into frames of tens of megabytes.
      else if (roll === 2 && items.length > 0 && state.hugeArraysLeft-- > 0) {
        const element = items[0];
        items = new Array(rng.range(50, MAX_HUGE_ARRAY)).fill(element);
      } else if (roll === 3) return null;
    }
    return items;
  }
  if (node instanceof Uint8Array || (key === "records" && node === null)) {
    if (key === "records") {
      if (rng.chance(0.7)) return validBatch(rng);
      return rng.chance(0.5) ? null : rng.bytes(rng.range(0, 80));
    }
    if (!rng.chance(rate)) return node;
    return rng.chance(0.2) ? null : rng.bytes(rng.pick([0, 1, 4, 16, rng.range(0, 300)]));
  }
  if (node !== null && typeof node === "object") {
    const out: Record<string, unknown> = {};
    for (const [field, value] of Object.entries(node)) out[field] = mutateValue(rng, value, rate, field, state);
    return out;
  }
  if (typeof node === "number" && WAIT_FIELD.test(key)) return rng.range(0, MAX_FUZZ_WAIT_MS);
  if (key === "acks") return rng.chance(0.9) ? rng.pick([1, -1]) : randomInt(rng) || 1;
  if (!rng.chance(rate)) {
    // Topic and group names mostly point at things that exist, so handlers get past their lookups.
    if (typeof node === "string" && node === "" && /name|topic|group/i.test(key)) return rng.pick([...FUZZ_TOPICS, "fuzz-group"]);
    return node;
  }
  if (typeof node === "number") return randomInt(rng);
  if (typeof node === "boolean") return !node;
  if (typeof node === "string") {
    if (UUID_PATTERN.test(node) && rng.chance(0.8)) return rng.chance(0.5) ? "AAAAAAAAAAAAAAAAAAAAAA" : Buffer.from(rng.bytes(16)).toString("base64url");
    if (rng.chance(0.1)) return null;
    return rng.chance(0.7) ? rng.pick(STRING_EDGES) : randomString(rng);
  }
  if (node === null) return rng.chance(0.5) ? rng.pick(STRING_EDGES) : null;
  return node;
}

/** Clamps the wait fields of a decoded request, so a mutated frame never asks for a legal but long wait. */
export function waitsClamped(node: unknown, key = ""): boolean {
  if (Array.isArray(node)) return node.every((item) => waitsClamped(item, key));
  if (node instanceof Uint8Array || node === null) return true;
  if (typeof node === "object") return Object.entries(node as object).every(([field, value]) => waitsClamped(value, field));
  if (typeof node === "number" && WAIT_FIELD.test(key)) return node <= MAX_FUZZ_WAIT_MS;
  return true;
}

/** A copy of a decoded request with every wait field at most MAX_FUZZ_WAIT_MS. */
export function clampWaits(node: unknown, key = ""): unknown {
  if (Array.isArray(node)) return node.map((item) => clampWaits(item, key));
  if (node instanceof Uint8Array || node === null) return node;
  if (typeof node === "object") return Object.fromEntries(Object.entries(node as object).map(([field, value]) => [field, clampWaits(value, field)]));
  if (typeof node === "number" && WAIT_FIELD.test(key)) return Math.min(Math.max(node, 0), MAX_FUZZ_WAIT_MS);
  return node;
}
