import { crc32c } from "../../../src/lib/crc32c.ts";
import { ATTRIBUTES_OFFSET, CRC_OFFSET, LAST_OFFSET_DELTA_OFFSET, MAGIC_OFFSET, RECORD_COUNT_OFFSET, RECORDS_OFFSET } from "../../../src/protocol/record-batch.ts";

function varint(view: Uint8Array, pos: number, end: number): [number, number] {
  let raw = 0;
  let multiplier = 1;
  for (let i = 0; i < 10; i++) {
    if (pos >= end) throw new Error("varint runs past the record");
    const byte = view[pos++]!;
    raw += (byte & 0x7f) * multiplier;
    if ((byte & 0x80) === 0) return [raw % 2 === 0 ? raw / 2 : -(raw + 1) / 2, pos];
    multiplier *= 128;
  }
  throw new Error("varint longer than 10 bytes");
}

/**
 * Checks fetched record batches independently of the broker's code: magic 2, CRC-32C, counts, and for
 * uncompressed batches every record parsed to its exact length. Returns each batch's CRC, or throws.
 */
export function checkStoredBatches(records: Uint8Array): number[] {
  const crcs: number[] = [];
  const dv = new DataView(records.buffer, records.byteOffset, records.byteLength);
  let pos = 0;
  while (pos + RECORDS_OFFSET <= records.length) {
    const size = dv.getInt32(pos + 8) + 12;
    // A fetch may end with a partial batch; that is allowed by the protocol and not stored damage.
    if (pos + size > records.length) break;
    if (records[pos + MAGIC_OFFSET] !== 2) throw new Error(`stored batch at ${pos} has magic ${records[pos + MAGIC_OFFSET]}`);
    const crc = dv.getUint32(pos + CRC_OFFSET);
    if (crc32c(records, pos + ATTRIBUTES_OFFSET, pos + size) !== crc) throw new Error(`stored batch at ${pos} has a bad CRC`);
    const count = dv.getInt32(pos + RECORD_COUNT_OFFSET);
    if (count <= 0 || dv.getInt32(pos + LAST_OFFSET_DELTA_OFFSET) !== count - 1) throw new Error(`stored batch at ${pos} has count ${count}`);
    const attributes = dv.getInt16(pos + ATTRIBUTES_OFFSET);
    if ((attributes & 0x07) > 4) throw new Error(`stored batch at ${pos} has codec ${attributes & 0x07}`);
    if ((attributes & 0x07) === 0) {
      let at = pos + RECORDS_OFFSET;
      const end = pos + size;
      for (let i = 0; i < count; i++) {
        const [length, bodyAt] = varint(records, at, end);
        const recordEnd = bodyAt + length;
        if (length <= 0 || recordEnd > end) throw new Error(`stored batch at ${pos}: record ${i} of ${length} bytes overruns`);
        let p = bodyAt + 1;
        let v: number;
        [, p] = varint(records, p, recordEnd);
        [v, p] = varint(records, p, recordEnd);
        if (v !== i) throw new Error(`stored batch at ${pos}: record ${i} has offset delta ${v}`);
        for (let field = 0; field < 2; field++) {
          [v, p] = varint(records, p, recordEnd);
          if (v < -1 || p + Math.max(0, v) > recordEnd) throw new Error(`stored batch at ${pos}: record ${i} field of ${v} bytes`);
          p += Math.max(0, v);
        }
        let headers: number;
        [headers, p] = varint(records, p, recordEnd);
        if (headers < 0) throw new Error(`stored batch at ${pos}: record ${i} has ${headers} headers`);
        for (let h = 0; h < headers; h++) {
          for (let field = 0; field < 2; field++) {
            [v, p] = varint(records, p, recordEnd);
            if (v < (field === 0 ? 0 : -1) || p + Math.max(0, v) > recordEnd) throw new Error(`stored batch at ${pos}: header of ${v} bytes`);
            p += Math.max(0, v);
          }
        }
        if (p !== recordEnd) throw new Error(`stored batch at ${pos}: record ${i} parsed to ${p - bodyAt} of ${length} bytes`);
        at = recordEnd;
      }
      if (at !== end) throw new Error(`stored batch at ${pos}: ${end - at} bytes after the last record`);
    }
    crcs.push(crc);
    pos += size;
  }
  return crcs;
}
