import { crc32c } from "../../../src/lib/crc32c.ts";
import { ATTRIBUTES_OFFSET, CRC_OFFSET, LAST_OFFSET_DELTA_OFFSET, MAGIC_OFFSET, RECORD_COUNT_OFFSET, RECORDS_OFFSET } from "../../../src/protocol/record-batch.ts";
import type { Prng } from "./prng.ts";
import { validBatch } from "./values.ts";

/** The topic corrupt batches go to; no other case names it, so what it holds is exactly what was accepted. */
export const VERIFY_TOPIC = "fuzz-verify";
export const VERIFY_PARTITIONS = 3;

export interface BatchCheck {
  readonly partition: number;
  /** True when every batch in the request is valid and must be accepted. */
  readonly valid: boolean;
  /** CRCs of the batches sent, to recognise them when fetched back. */
  readonly crcs: readonly number[];
}

function restampCrc(batch: Uint8Array): void {
  new DataView(batch.buffer, batch.byteOffset).setUint32(CRC_OFFSET, crc32c(batch, ATTRIBUTES_OFFSET, batch.length));
}

/** One way to damage a valid batch; the CRC is recomputed where the damage would otherwise only be a CRC error. */
function corrupt(rng: Prng, batch: Uint8Array): string {
  const view = new DataView(batch.buffer, batch.byteOffset, batch.byteLength);
  switch (rng.int(8)) {
    case 0: {
      batch[rng.range(ATTRIBUTES_OFFSET, batch.length - 1)]! ^= 1 << rng.int(8);
      return "bad-crc";
    }
    case 1: {
      const count = view.getInt32(RECORD_COUNT_OFFSET);
      const lie = rng.pick([0, -1, count + 1, count + 100, 0x7fffffff, Math.max(1, count - 1)]);
      if (lie === count) view.setInt32(RECORD_COUNT_OFFSET, count + 1);
      else view.setInt32(RECORD_COUNT_OFFSET, lie);
      if (rng.chance(0.5)) view.setInt32(LAST_OFFSET_DELTA_OFFSET, view.getInt32(RECORD_COUNT_OFFSET) - 1);
      restampCrc(batch);
      return "lying-count";
    }
    case 2: {
      view.setInt32(8, rng.pick([batch.length - 12 + rng.range(1, 100), batch.length - 12 - rng.range(1, 40), -1, 0x7fffffff, 0]));
      return "lying-length";
    }
    case 3: {
      view.setInt16(ATTRIBUTES_OFFSET, (view.getInt16(ATTRIBUTES_OFFSET) & ~0x07) | rng.range(5, 7));
      restampCrc(batch);
      return "bad-codec";
    }
    case 4: {
      batch[MAGIC_OFFSET] = rng.pick([0, 1, 3, 0xff]);
      return "bad-magic";
    }
    case 5: {
      // Damage inside the records, with a CRC that matches: only parsing the records can catch it.
      // The first record's length varint: any other value misaligns every record after it.
      const length = batch[RECORDS_OFFSET]!;
      batch[RECORDS_OFFSET] = rng.pick([0x00, 0x01, 0x7f, 0x80, (length + 2) & 0x7f, Math.max(0, length - 2)].filter((b) => b !== length));
      restampCrc(batch);
      return "bad-record";
    }
    case 6: {
      const keep = rng.range(RECORDS_OFFSET, batch.length - 1);
      const view2 = new DataView(batch.buffer, batch.byteOffset);
      view2.setInt32(8, keep - 12);
      restampCropped(batch, keep);
      return "cut-records";
    }
    default: {
      view.setInt16(ATTRIBUTES_OFFSET, view.getInt16(ATTRIBUTES_OFFSET) | 0x20);
      restampCrc(batch);
      return "control-flag";
    }
  }
}

/** A batch whose records end early but whose length and CRC agree with the shorter size. */
function restampCropped(batch: Uint8Array, keep: number): void {
  new DataView(batch.buffer, batch.byteOffset).setUint32(CRC_OFFSET, crc32c(batch, ATTRIBUTES_OFFSET, keep));
}

export function batchCrc(batch: Uint8Array): number {
  return new DataView(batch.buffer, batch.byteOffset).getUint32(CRC_OFFSET);
}

/** A Produce body to the verify topic: valid batches, or one damaged batch among valid ones. */
export function corruptProduceCase(rng: Prng): { body: unknown; check: BatchCheck; how: string } {
  const partition = rng.int(VERIFY_PARTITIONS);
  const batches = Array.from({ length: rng.range(1, 3) }, () => validBatch(rng));
  let how = "valid";
  let records: Uint8Array;
  const valid = rng.chance(0.25);
  const victim = rng.int(batches.length);
  if (!valid) {
    how = corrupt(rng, batches[victim]!);
    if (how === "cut-records") {
      const batch = batches[victim]!;
      batches[victim] = batch.subarray(0, new DataView(batch.buffer, batch.byteOffset).getInt32(8) + 12);
    }
  }
  records = new Uint8Array(batches.reduce((n, b) => n + b.length, 0));
  let pos = 0;
  for (const batch of batches) {
    records.set(batch, pos);
    pos += batch.length;
  }
  if (!valid && rng.chance(0.1)) {
    // Cut inside the damaged batch: a cut at a batch boundary would leave only valid batches.
    const victimStart = batches.slice(0, victim).reduce((n, b) => n + b.length, 0);
    records = records.subarray(0, rng.range(victimStart + 1, victimStart + batches[victim]!.length - 1));
    how += "+truncated";
  }
  const body = {
    transactionalId: null,
    acks: rng.pick([1, -1]),
    timeoutMs: 5000,
    topicData: [{ name: VERIFY_TOPIC, partitionData: [{ index: partition, records }] }],
  };
  return { body, check: { partition, valid, crcs: batches.map(batchCrc) }, how };
}
