import { describe, expect, test } from "bun:test";
import { PartitionProducerState, ProducerStateError, type LoggedBatch } from "../../src/idempotence/producer-state.ts";
import { lastSequenceOf, MAX_SEQUENCE } from "../../src/idempotence/sequence.ts";

const PID = 1000;

/** Appends through check() + onAppended() at the next offset and returns the logged batch. */
class Log {
  readonly batches: LoggedBatch[] = [];
  nextOffset = 0;
  constructor(readonly state: PartitionProducerState) {}

  produce(producerId: number, producerEpoch: number, baseSequence: number, recordCount: number, timestampMs = 1_000) {
    const batch = { producerId, producerEpoch, baseSequence, recordCount };
    const verdict = this.state.check(batch);
    if (verdict.kind !== "append") return verdict;
    const baseOffset = this.nextOffset;
    const lastOffset = baseOffset + recordCount - 1;
    this.nextOffset = lastOffset + 1;
    if (producerId >= 0) this.state.onAppended(batch, baseOffset, lastOffset, timestampMs);
    this.batches.push({ ...batch, baseOffset, lastOffsetDelta: recordCount - 1, maxTimestamp: timestampMs });
    return { kind: "appended" as const, baseOffset, lastOffset };
  }
}

function freshLog(options = {}) {
  return new Log(new PartitionProducerState(options));
}

describe("sequence arithmetic", () => {
  test("last sequence wraps past 2^31-1 to 0", () => {
    expect(lastSequenceOf(0, 1)).toBe(0);
    expect(lastSequenceOf(10, 5)).toBe(14);
    expect(lastSequenceOf(MAX_SEQUENCE, 1)).toBe(MAX_SEQUENCE);
    expect(lastSequenceOf(MAX_SEQUENCE, 2)).toBe(0);
    expect(lastSequenceOf(MAX_SEQUENCE - 1, 5)).toBe(2);
  });
});

describe("check", () => {
  test("non-idempotent batches are always appended", () => {
    const state = new PartitionProducerState();
    expect(state.check({ producerId: -1, producerEpoch: -1, baseSequence: -1, recordCount: 3 })).toEqual({ kind: "append" });
  });

  test("a producer without state is accepted at any sequence (KIP-360, no UNKNOWN_PRODUCER_ID)", () => {
    const log = freshLog();
    expect(log.produce(PID, 0, 42, 3).kind).toBe("appended");
    expect(log.produce(PID, 0, 45, 1).kind).toBe("appended");
  });

  test("sequences must continue; gaps and repeats of non-retained ranges are out of order", () => {
    const log = freshLog();
    log.produce(PID, 0, 0, 5);
    const gap = log.produce(PID, 0, 6, 1);
    expect(gap).toMatchObject({ kind: "error", errorCode: ProducerStateError.OUT_OF_ORDER_SEQUENCE_NUMBER });
    const overlap = log.produce(PID, 0, 2, 3);
    expect(overlap).toMatchObject({ kind: "error", errorCode: ProducerStateError.OUT_OF_ORDER_SEQUENCE_NUMBER });
    expect(log.produce(PID, 0, 5, 1).kind).toBe("appended");
  });

  test("a retry of any of the last 5 batches is a duplicate with its original offsets; the 6th oldest is out of order", () => {
    const log = freshLog();
    const appended: { baseOffset: number; lastOffset: number; seq: number; timestampMs: number }[] = [];
    for (let i = 0; i < 6; i++) {
      const r = log.produce(PID, 3, i * 2, 2, 5_000 + i);
      if (r.kind !== "appended") throw new Error("expected append");
      appended.push({ baseOffset: r.baseOffset, lastOffset: r.lastOffset, seq: i * 2, timestampMs: 5_000 + i });
    }
    for (const a of appended.slice(1)) {
      expect(log.state.check({ producerId: PID, producerEpoch: 3, baseSequence: a.seq, recordCount: 2 })).toEqual({
        kind: "duplicate",
        baseOffset: a.baseOffset,
        lastOffset: a.lastOffset,
        logAppendTimeMs: a.timestampMs,
      });
    }
    expect(log.state.check({ producerId: PID, producerEpoch: 3, baseSequence: 0, recordCount: 2 })).toMatchObject({
      kind: "error",
      errorCode: ProducerStateError.OUT_OF_ORDER_SEQUENCE_NUMBER,
    });
    // Same first sequence but a different last sequence is not the same batch.
    expect(log.state.check({ producerId: PID, producerEpoch: 3, baseSequence: 10, recordCount: 1 })).toMatchObject({ kind: "error" });
  });

  test("the retention limit is a constructor parameter", () => {
    const log = freshLog({ maxBatchesPerProducer: 2 });
    for (let i = 0; i < 3; i++) log.produce(PID, 0, i, 1);
    expect(log.state.producer(PID)!.batches.length).toBe(2);
    expect(log.state.check({ producerId: PID, producerEpoch: 0, baseSequence: 1, recordCount: 1 }).kind).toBe("duplicate");
    expect(log.state.check({ producerId: PID, producerEpoch: 0, baseSequence: 0, recordCount: 1 }).kind).toBe("error");
  });

  test("a lower epoch is INVALID_PRODUCER_EPOCH, even for a retry of an old batch", () => {
    const log = freshLog();
    log.produce(PID, 0, 0, 1);
    log.produce(PID, 1, 0, 1);
    expect(log.produce(PID, 0, 0, 1)).toMatchObject({ kind: "error", errorCode: ProducerStateError.INVALID_PRODUCER_EPOCH });
    expect(log.produce(PID, 0, 1, 1)).toMatchObject({ kind: "error", errorCode: ProducerStateError.INVALID_PRODUCER_EPOCH });
  });

  test("a new epoch must start at sequence 0 and resets the sequence", () => {
    const log = freshLog();
    log.produce(PID, 0, 0, 10);
    expect(log.produce(PID, 1, 10, 1)).toMatchObject({ kind: "error", errorCode: ProducerStateError.OUT_OF_ORDER_SEQUENCE_NUMBER });
    expect(log.produce(PID, 1, 0, 2).kind).toBe("appended");
    expect(log.state.producer(PID)!.batches.length).toBe(1);
    expect(log.produce(PID, 1, 2, 1).kind).toBe("appended");
    // The old epoch's batches are no longer duplicates.
    expect(log.produce(PID, 0, 0, 10)).toMatchObject({ errorCode: ProducerStateError.INVALID_PRODUCER_EPOCH });
  });

  test("sequences wrap from 2^31-1 to 0", () => {
    const log = freshLog();
    log.produce(PID, 0, MAX_SEQUENCE - 2, 2);
    expect(log.produce(PID, 0, MAX_SEQUENCE, 3).kind).toBe("appended");
    expect(log.state.producer(PID)!.batches.at(-1)!.lastSequence).toBe(1);
    expect(log.state.check({ producerId: PID, producerEpoch: 0, baseSequence: MAX_SEQUENCE, recordCount: 3 }).kind).toBe("duplicate");
    expect(log.produce(PID, 0, 2, 1).kind).toBe("appended");
    const exact = freshLog();
    exact.produce(PID, 0, MAX_SEQUENCE - 1, 2);
    expect(exact.produce(PID, 0, 0, 1).kind).toBe("appended");
  });

  test("invalid client fields are INVALID_RECORD", () => {
    const state = new PartitionProducerState();
    expect(state.check({ producerId: PID, producerEpoch: 0, baseSequence: -1, recordCount: 1 })).toMatchObject({ errorCode: ProducerStateError.INVALID_RECORD });
    expect(state.check({ producerId: PID, producerEpoch: 0, baseSequence: 0, recordCount: 0 })).toMatchObject({ errorCode: ProducerStateError.INVALID_RECORD });
    expect(state.check({ producerId: PID, producerEpoch: 0, baseSequence: 0, lastSequence: 4 })).toEqual({ kind: "append" });
  });

  test("onAppended throws for a batch check() rejects (programmer error)", () => {
    const log = freshLog();
    log.produce(PID, 0, 0, 1);
    expect(() => log.state.onAppended({ producerId: PID, producerEpoch: 0, baseSequence: 5, recordCount: 1 }, 1, 1, 0)).toThrow();
    expect(() => log.state.onAppended({ producerId: -1, producerEpoch: -1, baseSequence: -1, recordCount: 1 }, 1, 1, 0)).toThrow();
  });
});

describe("recovery", () => {
  function busyLog(): Log {
    const log = freshLog();
    for (let i = 0; i < 8; i++) log.produce(PID, 0, i, 1, 100 + i);
    log.produce(-1, -1, -1, 4, 200);
    log.produce(PID + 1, 5, 0, 3, 300);
    log.produce(PID, 1, 0, 2, 400);
    log.produce(PID + 1, 5, 3, 1, 500);
    return log;
  }

  test("rebuild from the log equals the incremental state", () => {
    const log = busyLog();
    const rebuilt = PartitionProducerState.rebuild(log.batches);
    expect(rebuilt.encode()).toEqual(log.state.encode());
    expect(rebuilt.endOffset).toBe(log.nextOffset);
  });

  test("snapshot round trip, then replay of the tail (and of an overlapping prefix) matches", () => {
    const log = busyLog();
    const snapshotOffset = log.nextOffset;
    const snapshot = log.state.encode();
    log.produce(PID, 1, 2, 1, 600);
    log.produce(PID + 2, 0, 7, 2, 700);
    const decoded = PartitionProducerState.decode(snapshot);
    expect(decoded.endOffset).toBe(snapshotOffset);
    PartitionProducerState.rebuild(log.batches.filter((b) => b.baseOffset >= snapshotOffset), decoded);
    expect(decoded.encode()).toEqual(log.state.encode());
    const replayedAll = PartitionProducerState.rebuild(log.batches, PartitionProducerState.decode(snapshot));
    expect(replayedAll.encode()).toEqual(log.state.encode());
  });

  test("decode rejects corrupt and truncated snapshots", () => {
    const bytes = busyLog().state.encode();
    const flipped = bytes.slice();
    flipped[20] = flipped[20]! ^ 1;
    expect(() => PartitionProducerState.decode(flipped)).toThrow(/checksum/);
    expect(() => PartitionProducerState.decode(bytes.subarray(0, bytes.length - 3))).toThrow();
    expect(() => PartitionProducerState.decode(new Uint8Array(2))).toThrow(/too short/);
  });

  test("control batches set the epoch without sequences; the next data batch must start at 0", () => {
    const log = freshLog();
    log.produce(PID, 0, 0, 3);
    const state = PartitionProducerState.rebuild([
      ...log.batches,
      { producerId: PID, producerEpoch: 1, baseSequence: -1, recordCount: 1, baseOffset: 3, lastOffsetDelta: 0, maxTimestamp: 9, attributes: 0x20 },
    ]);
    expect(state.producer(PID)).toEqual({ producerEpoch: 1, batches: [], lastTimestampMs: 9 });
    expect(state.check({ producerId: PID, producerEpoch: 1, baseSequence: 3, recordCount: 1 }).kind).toBe("error");
    expect(state.check({ producerId: PID, producerEpoch: 1, baseSequence: 0, recordCount: 1 }).kind).toBe("append");
  });

  test("a batch straddling the state's end offset is a programmer error", () => {
    const log = busyLog();
    const state = PartitionProducerState.rebuild(log.batches);
    expect(() => state.replay({ producerId: 7, producerEpoch: 0, baseSequence: 0, recordCount: 5, baseOffset: log.nextOffset - 2, lastOffsetDelta: 4, maxTimestamp: 0 })).toThrow(/straddles/);
  });

  test("truncateTo: exact when nothing retained is cut, otherwise consistent and reported", () => {
    const log = busyLog();
    const end = log.nextOffset;
    expect(log.state.truncateTo(end)).toBe(true);
    // The newest batch (producer PID+1, seq 3, offset end-1) goes; its producer keeps seq 0..2.
    expect(log.state.truncateTo(end - 1)).toBe(false);
    expect(log.state.endOffset).toBe(end - 1);
    expect(log.state.check({ producerId: PID + 1, producerEpoch: 5, baseSequence: 3, recordCount: 1 }).kind).toBe("append");
    expect(log.state.encode()).toEqual(PartitionProducerState.rebuild(log.batches.slice(0, -1)).encode());
    expect(log.state.truncateTo(0)).toBe(false);
    expect(log.state.producerCount).toBe(0);
  });
});

describe("expiry", () => {
  test("producers idle for producerIdExpirationMs are dropped", () => {
    const log = freshLog({ producerIdExpirationMs: 1_000 });
    log.produce(PID, 0, 0, 1, 10_000);
    log.produce(PID + 1, 0, 0, 1, 10_500);
    expect(log.state.expire(10_999)).toBe(0);
    expect(log.state.expire(11_000)).toBe(1);
    expect(log.state.producerIds()).toEqual([PID + 1]);
    // An expired producer is unknown again: any sequence is accepted.
    expect(log.state.check({ producerId: PID, producerEpoch: 0, baseSequence: 77, recordCount: 1 }).kind).toBe("append");
  });

  test("the default is Kafka's one day", () => {
    const state = new PartitionProducerState();
    expect(state.producerIdExpirationMs).toBe(86_400_000);
    expect(state.maxBatchesPerProducer).toBe(5);
  });
});
