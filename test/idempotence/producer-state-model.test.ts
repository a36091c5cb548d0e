import { expect, test } from "bun:test";
import { PartitionProducerState, type CheckResult, type LoggedBatch } from "../../src/idempotence/producer-state.ts";

/** mulberry32: a small seeded PRNG so a failing run replays from its seed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const SEQ_SPACE = 2 ** 31;
const WINDOW = 5;
const EXPIRATION_MS = 5_000;

interface ModelBatch { epoch: number; first: number; last: number; baseOffset: number; lastOffset: number; timestampMs: number }

/** The rules written the long way: full history per producer, no retained window bookkeeping. */
class ReferenceModel {
  readonly history = new Map<number, ModelBatch[]>();

  verdict(pid: number, epoch: number, first: number, count: number): { kind: string; errorCode?: number; baseOffset?: number } {
    if (pid === -1) return { kind: "append" };
    const all = this.history.get(pid);
    if (all === undefined || all.length === 0) return { kind: "append" };
    const current = all[all.length - 1]!;
    const last = (first + count - 1) % SEQ_SPACE;
    const sameEpoch = all.filter((b) => b.epoch === current.epoch).slice(-WINDOW);
    const dup = epoch === current.epoch ? sameEpoch.find((b) => b.first === first && b.last === last) : undefined;
    if (dup) return { kind: "duplicate", baseOffset: dup.baseOffset };
    if (epoch < current.epoch) return { kind: "error", errorCode: 47 };
    if (epoch > current.epoch) return first === 0 ? { kind: "append" } : { kind: "error", errorCode: 45 };
    return first === (current.last + 1) % SEQ_SPACE ? { kind: "append" } : { kind: "error", errorCode: 45 };
  }

  expire(nowMs: number): void {
    for (const [pid, all] of this.history) if (nowMs - all[all.length - 1]!.timestampMs >= EXPIRATION_MS) this.history.delete(pid);
  }
}

function summarize(result: CheckResult): { kind: string; errorCode?: number; baseOffset?: number } {
  if (result.kind === "error") return { kind: "error", errorCode: result.errorCode };
  if (result.kind === "duplicate") return { kind: "duplicate", baseOffset: result.baseOffset };
  return { kind: "append" };
}

function runSeed(seed: number, steps: number): void {
  const random = prng(seed);
  const pick = (n: number) => Math.floor(random() * n);
  const state = new PartitionProducerState({ producerIdExpirationMs: EXPIRATION_MS });
  const model = new ReferenceModel();
  const log: LoggedBatch[] = [];
  const nextSeq = new Map<number, number>();
  let nextOffset = 0;
  let nowMs = 0;
  for (let step = 0; step < steps; step++) {
    nowMs += pick(300);
    if (pick(20) === 0) {
      state.expire(nowMs);
      model.expire(nowMs);
      continue;
    }
    const pid = pick(8) === 0 ? -1 : 10 + pick(3);
    const known = model.history.get(pid);
    const currentEpoch = known?.at(-1)?.epoch ?? pick(3);
    const epoch = Math.max(0, currentEpoch + [0, 0, 0, 0, 0, 0, 1, -1][pick(8)]!);
    const count = 1 + pick(4);
    const expected = nextSeq.get(pid) ?? 0;
    let first: number;
    switch (pick(6)) {
      case 0: first = 0; break;
      case 1: first = (expected + 1 + pick(3)) % SEQ_SPACE; break;
      case 2: {
        const retry = known?.[known.length - 1 - pick(7)];
        first = retry?.first ?? expected;
        break;
      }
      case 3: first = SEQ_SPACE - 1 - pick(3); break;
      default: first = expected;
    }
    const batch = pid === -1 ? { producerId: -1, producerEpoch: -1, baseSequence: -1, recordCount: count } : { producerId: pid, producerEpoch: epoch, baseSequence: first, recordCount: count };
    const expectedVerdict = model.verdict(pid, epoch, first, count);
    const actual = summarize(state.check(batch));
    if (JSON.stringify(actual) !== JSON.stringify(expectedVerdict)) {
      throw new Error(`seed ${seed} step ${step}: ${JSON.stringify(batch)} got ${JSON.stringify(actual)}, model says ${JSON.stringify(expectedVerdict)}`);
    }
    if (actual.kind !== "append") continue;
    const baseOffset = nextOffset;
    const lastOffset = baseOffset + count - 1;
    nextOffset = lastOffset + 1;
    log.push({ ...batch, baseOffset, lastOffset, maxTimestamp: nowMs });
    if (pid === -1) continue;
    state.onAppended(batch, baseOffset, lastOffset, nowMs);
    const all = model.history.get(pid) ?? [];
    all.push({ epoch, first, last: (first + count - 1) % SEQ_SPACE, baseOffset, lastOffset, timestampMs: nowMs });
    model.history.set(pid, all);
    nextSeq.set(pid, (first + count) % SEQ_SPACE);
  }
  // Recovery must reproduce the live state, through a snapshot at any point; expiry then drops the same producers.
  const rebuilt = PartitionProducerState.rebuild(log, new PartitionProducerState({ producerIdExpirationMs: EXPIRATION_MS }));
  const cut = log[pick(log.length)]!.baseOffset;
  const head = PartitionProducerState.rebuild(log.filter((b) => b.baseOffset < cut));
  const resumed = PartitionProducerState.rebuild(log, PartitionProducerState.decode(head.encode()));
  expect(resumed.encode()).toEqual(rebuilt.encode());
  rebuilt.expire(nowMs);
  state.expire(nowMs);
  expect(rebuilt.producerIds().sort()).toEqual(state.producerIds().sort());
  // Expiry mid-run can shorten the live window of a producer that came back; the rebuilt window then
  // holds more batches, of which the live ones are the newest.
  for (const pid of state.producerIds()) {
    const live = state.producer(pid)!;
    const recovered = rebuilt.producer(pid)!;
    expect(recovered.producerEpoch).toBe(live.producerEpoch);
    expect(recovered.lastTimestampMs).toBe(live.lastTimestampMs);
    expect(recovered.batches.slice(recovered.batches.length - live.batches.length)).toEqual([...live.batches]);
  }
}

test("random produce traffic agrees with a full-history reference model", () => {
  const baseSeed = 0x5eed;
  for (let i = 0; i < 200; i++) runSeed(baseSeed + i, 400);
});
