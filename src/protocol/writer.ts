/**
 * Growable writer that produces a list of chunks instead of one buffer: record batches are appended as
 * views of their source (request frame or mapped segment) rather than copied, and the network layer
 * writes the chunks back to back after a size prefix computed from byteLength.
 */
import { uuidToBytes } from "./reader.ts";

const INT64_MAX_AS_NUMBER = 9223372036854775807;
const INT64_MIN = -9223372036854775808;
const TWO_POW_32 = 4294967296;
const DEFAULT_FIRST_CHUNK_BYTES = 1024;
const MAX_CHUNK_BYTES = 64 * 1024;
/** Record views smaller than this are copied: a separate chunk costs more than the copy. */
const RECORDS_COPY_THRESHOLD_BYTES = 4096;
const utf8Encoder = new TextEncoder();

export interface WrittenChunks {
  chunks: Uint8Array[];
  byteLength: number;
}

export class Writer {
  private buf: Uint8Array;
  private view: DataView;
  private pos = 0;
  /** Start of the bytes in `buf` not yet handed to `chunks`. */
  private chunkStart = 0;
  private readonly chunks: Uint8Array[] = [];
  private chunkedBytes = 0;

  constructor(firstChunkBytes = DEFAULT_FIRST_CHUNK_BYTES) {
    this.buf = new Uint8Array(Math.max(16, firstChunkBytes));
    this.view = new DataView(this.buf.buffer);
  }

  get byteLength(): number {
    return this.chunkedBytes + this.pos - this.chunkStart;
  }

  private ensure(byteCount: number): void {
    if (this.pos + byteCount > this.buf.byteLength) this.nextChunk(byteCount);
  }

  private closeChunk(): void {
    if (this.pos > this.chunkStart) {
      this.chunks.push(this.buf.subarray(this.chunkStart, this.pos));
      this.chunkedBytes += this.pos - this.chunkStart;
    }
    this.chunkStart = this.pos;
  }

  private nextChunk(byteCount: number): void {
    this.closeChunk();
    const chunkBytes = Math.max(byteCount, Math.min(this.buf.byteLength * 2, MAX_CHUNK_BYTES));
    this.buf = new Uint8Array(chunkBytes);
    this.view = new DataView(this.buf.buffer);
    this.pos = 0;
    this.chunkStart = 0;
  }

  writeInt8(value: number): void {
    this.ensure(1);
    this.view.setInt8(this.pos++, value);
  }

  writeBool(value: boolean): void {
    this.ensure(1);
    this.buf[this.pos++] = value ? 1 : 0;
  }

  writeInt16(value: number): void {
    this.ensure(2);
    this.view.setInt16(this.pos, value);
    this.pos += 2;
  }

  writeUInt16(value: number): void {
    this.ensure(2);
    this.view.setUint16(this.pos, value);
    this.pos += 2;
  }

  writeInt32(value: number): void {
    this.ensure(4);
    this.view.setInt32(this.pos, value);
    this.pos += 4;
  }

  writeUInt32(value: number): void {
    this.ensure(4);
    this.view.setUint32(this.pos, value);
    this.pos += 4;
  }

  /** Values outside the int64 range are clamped to it; fractions are truncated. */
  writeInt64(value: number): void {
    this.ensure(8);
    if (value >= INT64_MAX_AS_NUMBER) {
      this.view.setInt32(this.pos, 0x7fffffff);
      this.view.setUint32(this.pos + 4, 0xffffffff);
    } else if (value <= INT64_MIN) {
      this.view.setInt32(this.pos, -0x80000000);
      this.view.setUint32(this.pos + 4, 0);
    } else {
      const whole = Math.trunc(value);
      const hi = Math.floor(whole / TWO_POW_32);
      this.view.setInt32(this.pos, hi);
      this.view.setUint32(this.pos + 4, whole - hi * TWO_POW_32);
    }
    this.pos += 8;
  }

  writeFloat64(value: number): void {
    this.ensure(8);
    this.view.setFloat64(this.pos, value);
    this.pos += 8;
  }

  writeUnsignedVarint(value: number): void {
    this.ensure(5);
    let rest = value >>> 0;
    while (rest >= 0x80) {
      this.buf[this.pos++] = (rest & 0x7f) | 0x80;
      rest >>>= 7;
    }
    this.buf[this.pos++] = rest;
  }

  writeVarint(value: number): void {
    this.writeUnsignedVarint(((value << 1) ^ (value >> 31)) >>> 0);
  }

  writeVarlong(value: number): void {
    this.ensure(10);
    if (Math.abs(value) >= 2 ** 52) {
      // The zigzag doubling would lose the low bit as a float; BigInt keeps it exact on this rare path.
      const big = BigInt(Math.trunc(value));
      let zigzag = BigInt.asUintN(64, (big << 1n) ^ (big >> 63n));
      while (zigzag >= 0x80n) {
        this.buf[this.pos++] = Number(zigzag & 0x7fn) | 0x80;
        zigzag >>= 7n;
      }
      this.buf[this.pos++] = Number(zigzag);
      return;
    }
    let rest = value >= 0 ? value * 2 : -value * 2 - 1;
    while (rest >= 0x80) {
      this.buf[this.pos++] = (rest % 0x80) | 0x80;
      rest = Math.floor(rest / 0x80);
    }
    this.buf[this.pos++] = rest;
  }

  writeUuid(text: string): void {
    this.ensure(16);
    uuidToBytes(text, this.buf, this.pos);
    this.pos += 16;
  }

  writeRaw(bytes: Uint8Array): void {
    this.ensure(bytes.byteLength);
    this.buf.set(bytes, this.pos);
    this.pos += bytes.byteLength;
  }

  /** UTF-8 bytes of a string; ASCII strings skip the encoder. */
  private utf8(text: string): Uint8Array | null {
    for (let i = 0; i < text.length; i++) {
      if (text.charCodeAt(i) >= 0x80) return utf8Encoder.encode(text);
    }
    return null;
  }

  private writeStringBody(text: string, encoded: Uint8Array | null): void {
    if (encoded !== null) {
      this.writeRaw(encoded);
      return;
    }
    this.ensure(text.length);
    for (let i = 0; i < text.length; i++) this.buf[this.pos++] = text.charCodeAt(i);
  }

  writeString(text: string): void {
    const encoded = this.utf8(text);
    const byteLength = encoded === null ? text.length : encoded.byteLength;
    if (byteLength > 0x7fff) throw new Error(`string of ${byteLength} bytes exceeds the int16 length limit`);
    this.writeInt16(byteLength);
    this.writeStringBody(text, encoded);
  }

  writeNullableString(text: string | null): void {
    if (text === null) this.writeInt16(-1);
    else this.writeString(text);
  }

  writeCompactString(text: string): void {
    const encoded = this.utf8(text);
    this.writeUnsignedVarint((encoded === null ? text.length : encoded.byteLength) + 1);
    this.writeStringBody(text, encoded);
  }

  writeCompactNullableString(text: string | null): void {
    if (text === null) this.writeUnsignedVarint(0);
    else this.writeCompactString(text);
  }

  writeBytes(bytes: Uint8Array): void {
    this.writeInt32(bytes.byteLength);
    this.writeRaw(bytes);
  }

  writeNullableBytes(bytes: Uint8Array | null): void {
    if (bytes === null) this.writeInt32(-1);
    else this.writeBytes(bytes);
  }

  writeCompactBytes(bytes: Uint8Array): void {
    this.writeUnsignedVarint(bytes.byteLength + 1);
    this.writeRaw(bytes);
  }

  writeCompactNullableBytes(bytes: Uint8Array | null): void {
    if (bytes === null) this.writeUnsignedVarint(0);
    else this.writeCompactBytes(bytes);
  }

  /** An array's element count, -1 for null. */
  writeArrayCount(count: number, compact: boolean): void {
    if (compact) this.writeUnsignedVarint(count + 1);
    else this.writeInt32(count);
  }

  /** Appends a view as its own chunk, without copying it. */
  private appendView(bytes: Uint8Array): void {
    if (bytes.byteLength < RECORDS_COPY_THRESHOLD_BYTES) {
      this.writeRaw(bytes);
      return;
    }
    this.closeChunk();
    this.chunks.push(bytes);
    this.chunkedBytes += bytes.byteLength;
  }

  /** A records field: the length prefix, then the given view(s) appended without copying. */
  writeRecords(records: Uint8Array | readonly Uint8Array[] | null, compact: boolean): void {
    if (records === null) {
      if (compact) this.writeUnsignedVarint(0);
      else this.writeInt32(-1);
      return;
    }
    if (records instanceof Uint8Array) {
      if (compact) this.writeUnsignedVarint(records.byteLength + 1);
      else this.writeInt32(records.byteLength);
      this.appendView(records);
      return;
    }
    let totalBytes = 0;
    for (const view of records) totalBytes += view.byteLength;
    if (compact) this.writeUnsignedVarint(totalBytes + 1);
    else this.writeInt32(totalBytes);
    for (const view of records) this.appendView(view);
  }

  /** One tagged field: its tag, its size, then the bytes another writer produced for its value. */
  writeTaggedField(tag: number, value: Writer): void {
    const { chunks, byteLength } = value.finish();
    this.writeUnsignedVarint(tag);
    this.writeUnsignedVarint(byteLength);
    for (const chunk of chunks) this.appendView(chunk);
  }

  /**
   * The bytes written so far, as chunks to send back to back. The chunks array belongs to the writer:
   * writing more after finish() appends to it.
   */
  finish(): WrittenChunks {
    this.closeChunk();
    return { chunks: this.chunks, byteLength: this.chunkedBytes };
  }

  /** One contiguous copy of everything written; for tests and small control messages. */
  toBytes(): Uint8Array {
    const { chunks, byteLength } = this.finish();
    if (chunks.length === 1) return chunks[0]!;
    const out = new Uint8Array(byteLength);
    let offset = 0;
    for (const chunk of chunks) {
      out.set(chunk, offset);
      offset += chunk.byteLength;
    }
    return out;
  }
}
