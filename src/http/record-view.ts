/**
 * Record batches (magic 2) decoded into plain objects for the HTTP message browser. This is a display
 * path, not the fetch path: it copies and allocates freely, but it checks every length before reading
 * and bounds how much of a key or value it renders.
 */
import {
  BATCH_HEADER_BYTES,
  LOG_OVERHEAD,
  RECORDS_OFFSET,
  compressionCodec,
  isControl,
  readBatchHeader,
  timestampType,
  type BatchHeader,
} from "../protocol/record-batch.ts";

/** Keys, values and header values longer than this are cut for display; sizeBytes tells the full length. */
export const MAX_RENDERED_BYTES = 16 * 1024;

export interface BytesView {
  sizeBytes: number;
  /** The bytes as UTF-8 text, or null when they are not valid UTF-8. */
  text: string | null;
  base64: string;
  hex: string;
  truncated: boolean;
}

export interface MessageView {
  offset: number;
  timestampMs: number;
  timestampType: "CreateTime" | "LogAppendTime";
  key: BytesView | null;
  value: BytesView | null;
  headers: { key: string; value: BytesView | null }[];
  compression: string;
}

/** A batch whose records cannot be shown: a codec this broker does not decode, or a control batch. */
export interface UndecodedBatchView {
  offset: number;
  lastOffset: number;
  timestampMs: number;
  compression: string;
  note: string;
}

export type PartitionEntry = ({ kind: "message" } & MessageView) | ({ kind: "batch" } & UndecodedBatchView);

const strictUtf8 = new TextDecoder("utf-8", { fatal: true });
const lenientUtf8 = new TextDecoder("utf-8");

export function bytesView(bytes: Uint8Array): BytesView {
  const truncated = bytes.byteLength > MAX_RENDERED_BYTES;
  const shown = truncated ? bytes.subarray(0, MAX_RENDERED_BYTES) : bytes;
  let text: string | null;
  try {
    text = strictUtf8.decode(shown);
  } catch {
    text = null;
  }
  return {
    sizeBytes: bytes.byteLength,
    text,
    base64: Buffer.from(shown.buffer, shown.byteOffset, shown.byteLength).toString("base64"),
    hex: Buffer.from(shown.buffer, shown.byteOffset, shown.byteLength).toString("hex"),
    truncated,
  };
}

/** Reads fields of one record with every length checked against the end of the record set. */
class RecordCursor {
  constructor(
    private readonly bytes: Uint8Array,
    public pos: number,
    private readonly end: number,
  ) {}

  varlong(): number {
    let raw = 0;
    let multiplier = 1;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.end) throw new RangeError("varint runs past the record");
      const byte = this.bytes[this.pos++]!;
      raw += (byte & 0x7f) * multiplier;
      if ((byte & 0x80) === 0) return raw % 2 === 0 ? raw / 2 : -(raw + 1) / 2;
      multiplier *= 128;
    }
    throw new RangeError("varint longer than 10 bytes");
  }

  int8(): number {
    if (this.pos >= this.end) throw new RangeError("record attributes run past the record");
    return this.bytes[this.pos++]!;
  }

  /** A varint-length byte string; -1 means null. */
  nullableBytes(): Uint8Array | null {
    const length = this.varlong();
    if (length < 0) return null;
    if (this.pos + length > this.end) throw new RangeError(`a ${length}-byte field runs past the record`);
    const bytes = this.bytes.subarray(this.pos, this.pos + length);
    this.pos += length;
    return bytes;
  }
}

function decompress(codec: string, payload: Uint8Array): Uint8Array | null {
  if (codec === "none") return payload;
  if (codec === "gzip") return Bun.gunzipSync(payload);
  if (codec === "zstd" && typeof Bun.zstdDecompressSync === "function") return Bun.zstdDecompressSync(payload);
  return null;
}

/** The records of one batch at pos in view, or one undecoded entry when its records cannot be shown. */
export function decodeBatch(view: Uint8Array, pos: number): PartitionEntry[] {
  if (pos + BATCH_HEADER_BYTES > view.byteLength) throw new RangeError("batch header runs past the read");
  const header: BatchHeader = readBatchHeader(view, pos);
  const batchEnd = pos + LOG_OVERHEAD + header.batchLength;
  if (batchEnd > view.byteLength) throw new RangeError("batch runs past the read");
  const codec = compressionCodec(header.attributes);
  const lastOffset = header.baseOffset + header.lastOffsetDelta;
  const undecoded = (note: string): PartitionEntry[] => [
    { kind: "batch", offset: header.baseOffset, lastOffset, timestampMs: header.maxTimestamp, compression: codec, note },
  ];
  if (isControl(header.attributes)) return undecoded("control batch");
  const records = decompress(codec, view.subarray(pos + RECORDS_OFFSET, batchEnd));
  if (records === null) return undecoded(`compressed (${codec}), not decoded`);
  const logAppendTime = timestampType(header.attributes) === "LogAppendTime";
  const entries: PartitionEntry[] = [];
  const cursor = new RecordCursor(records, 0, records.byteLength);
  for (let i = 0; i < header.recordCount; i++) {
    const length = cursor.varlong();
    const recordEnd = cursor.pos + length;
    if (length < 0 || recordEnd > records.byteLength) throw new RangeError(`record ${i} of batch ${header.baseOffset} runs past the batch`);
    const record = new RecordCursor(records, cursor.pos, recordEnd);
    record.int8();
    const timestampDelta = record.varlong();
    const offsetDelta = record.varlong();
    const key = record.nullableBytes();
    const value = record.nullableBytes();
    const headerCount = record.varlong();
    const headers: MessageView["headers"] = [];
    for (let h = 0; h < headerCount; h++) {
      const headerKey = record.nullableBytes();
      const headerValue = record.nullableBytes();
      headers.push({ key: headerKey === null ? "" : lenientUtf8.decode(headerKey), value: headerValue === null ? null : bytesView(headerValue) });
    }
    entries.push({
      kind: "message",
      offset: header.baseOffset + offsetDelta,
      timestampMs: logAppendTime ? header.maxTimestamp : header.baseTimestamp + timestampDelta,
      timestampType: logAppendTime ? "LogAppendTime" : "CreateTime",
      key: key === null ? null : bytesView(key),
      value: value === null ? null : bytesView(value),
      headers,
      compression: codec,
    });
    cursor.pos = recordEnd;
  }
  return entries;
}
