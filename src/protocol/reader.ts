/**
 * Bounds-checked reader over one Kafka frame. Every read checks the remaining bytes first and throws
 * ProtocolError on malformed input, so a decoder never reads past `end` and never sizes an allocation
 * from a length it has not checked against the bytes that are actually there.
 *
 * int64 values are JS numbers, read as hi * 2^32 + lo: offsets, timestamps and producer ids fit in 2^53;
 * larger magnitudes lose their low bits (Writer clamps values outside the int64 range).
 */
import type { RecordsView } from "./encodable.ts";

/** Malformed input from the network: answered with a Kafka error or a closed connection, never a crash. */
export class ProtocolError extends Error {
  override name = "ProtocolError";
}

const TWO_POW_32 = 4294967296;
const EMPTY_BYTES = new Uint8Array(0);
/**
 * Decodes UTF-8 straight from any Uint8Array, with U+FFFD for malformed bytes as TextDecoder does, in one native
 * call: a protocol string is mostly short ASCII, where TextDecoder's setup and a JS loop building the string each
 * cost two to three times as much.
 */
const utf8Slice: (this: Uint8Array, start: number, end: number) => string = Buffer.prototype.utf8Slice;

export class Reader {
  pos: number;
  readonly end: number;
  private readonly buf: Uint8Array;
  private readonly view: DataView;

  constructor(buf: Uint8Array, offset = 0, end = buf.byteLength) {
    if (end > buf.byteLength || offset < 0 || offset > end) {
      throw new RangeError(`reader window [${offset}, ${end}) outside buffer of ${buf.byteLength} bytes`);
    }
    this.buf = buf;
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    this.pos = offset;
    this.end = end;
  }

  remaining(): number {
    return this.end - this.pos;
  }

  private need(byteCount: number): void {
    if (byteCount > this.end - this.pos) {
      throw new ProtocolError(`need ${byteCount} bytes at offset ${this.pos}, only ${this.end - this.pos} left`);
    }
  }

  readInt8(): number {
    this.need(1);
    return this.view.getInt8(this.pos++);
  }

  readBool(): boolean {
    this.need(1);
    return this.buf[this.pos++] !== 0;
  }

  readInt16(): number {
    this.need(2);
    const value = this.view.getInt16(this.pos);
    this.pos += 2;
    return value;
  }

  readUInt16(): number {
    this.need(2);
    const value = this.view.getUint16(this.pos);
    this.pos += 2;
    return value;
  }

  readInt32(): number {
    this.need(4);
    const value = this.view.getInt32(this.pos);
    this.pos += 4;
    return value;
  }

  readUInt32(): number {
    this.need(4);
    const value = this.view.getUint32(this.pos);
    this.pos += 4;
    return value;
  }

  readInt64(): number {
    this.need(8);
    const hi = this.view.getInt32(this.pos);
    const lo = this.view.getUint32(this.pos + 4);
    this.pos += 8;
    return hi * TWO_POW_32 + lo;
  }

  readFloat64(): number {
    this.need(8);
    const value = this.view.getFloat64(this.pos);
    this.pos += 8;
    return value;
  }

  /** Unsigned 32-bit varint: at most 5 bytes. */
  readUnsignedVarint(): number {
    let value = 0;
    for (let shift = 0; shift < 35; shift += 7) {
      if (this.pos >= this.end) throw new ProtocolError(`truncated varint at offset ${this.pos}`);
      const byte = this.buf[this.pos++]!;
      value += (byte & 0x7f) * 2 ** shift;
      if ((byte & 0x80) === 0) {
        if (value > 0xffffffff) throw new ProtocolError("unsigned varint exceeds 32 bits");
        return value;
      }
    }
    throw new ProtocolError("unsigned varint longer than 5 bytes");
  }

  /** Zigzag-encoded signed 32-bit varint. */
  readVarint(): number {
    const raw = this.readUnsignedVarint();
    return (raw >>> 1) ^ -(raw & 1);
  }

  /** Zigzag-encoded signed 64-bit varint, as a number (exact up to 2^53 in magnitude). */
  readVarlong(): number {
    const start = this.pos;
    let raw = 0;
    for (let shift = 0; shift < 70; shift += 7) {
      if (this.pos >= this.end) throw new ProtocolError(`truncated varlong at offset ${this.pos}`);
      const byte = this.buf[this.pos++]!;
      raw += (byte & 0x7f) * 2 ** shift;
      if ((byte & 0x80) === 0) {
        // Up to 7 bytes (49 bits) the float sum is exact; longer ones are decoded exactly with BigInt.
        if (shift >= 49) return this.varlongSlow(start);
        return raw % 2 === 0 ? raw / 2 : -(raw + 1) / 2;
      }
    }
    throw new ProtocolError("varlong longer than 10 bytes");
  }

  private varlongSlow(start: number): number {
    let raw = 0n;
    for (let i = start, shift = 0n; i < this.pos; i++, shift += 7n) raw |= BigInt(this.buf[i]! & 0x7f) << shift;
    raw = BigInt.asUintN(64, raw);
    return Number((raw >> 1n) ^ -(raw & 1n));
  }

  readUuid(): string {
    this.need(16);
    const text = uuidFromBytes(this.buf, this.pos);
    this.pos += 16;
    return text;
  }

  private readUtf8(byteLength: number): string {
    this.need(byteLength);
    const start = this.pos;
    this.pos += byteLength;
    return utf8Slice.call(this.buf, start, start + byteLength);
  }

  readString(): string {
    const length = this.readInt16();
    if (length < 0) throw new ProtocolError("null for a non-nullable string");
    return this.readUtf8(length);
  }

  readNullableString(): string | null {
    const length = this.readInt16();
    return length < 0 ? null : this.readUtf8(length);
  }

  readCompactString(): string {
    const lengthPlusOne = this.readUnsignedVarint();
    if (lengthPlusOne === 0) throw new ProtocolError("null for a non-nullable compact string");
    return this.readUtf8(lengthPlusOne - 1);
  }

  readCompactNullableString(): string | null {
    const lengthPlusOne = this.readUnsignedVarint();
    return lengthPlusOne === 0 ? null : this.readUtf8(lengthPlusOne - 1);
  }

  /** A view into the frame, not a copy: valid as long as the frame buffer is. */
  private readView(byteLength: number): Uint8Array {
    if (byteLength === 0) return EMPTY_BYTES;
    this.need(byteLength);
    const view = this.buf.subarray(this.pos, this.pos + byteLength);
    this.pos += byteLength;
    return view;
  }

  readBytes(): Uint8Array {
    const length = this.readInt32();
    if (length < 0) throw new ProtocolError("null for non-nullable bytes");
    return this.readView(length);
  }

  readNullableBytes(): Uint8Array | null {
    const length = this.readInt32();
    return length < 0 ? null : this.readView(length);
  }

  readCompactBytes(): Uint8Array {
    const lengthPlusOne = this.readUnsignedVarint();
    if (lengthPlusOne === 0) throw new ProtocolError("null for non-nullable compact bytes");
    return this.readView(lengthPlusOne - 1);
  }

  readCompactNullableBytes(): Uint8Array | null {
    const lengthPlusOne = this.readUnsignedVarint();
    return lengthPlusOne === 0 ? null : this.readView(lengthPlusOne - 1);
  }

  /** A records field: a view of the record batches in the frame, or null. */
  readRecords(compact: boolean): RecordsView | null {
    return (compact ? this.readCompactNullableBytes() : this.readNullableBytes()) as RecordsView | null;
  }

  /**
   * An array's element count, -1 for null. Every element takes at least one byte on the wire, so a
   * count above the remaining bytes is malformed and is rejected before anything is allocated.
   */
  readArrayCount(compact: boolean): number {
    const count = compact ? this.readUnsignedVarint() - 1 : this.readInt32();
    if (count < -1) throw new ProtocolError(`negative array count ${count}`);
    if (count > this.end - this.pos) {
      throw new ProtocolError(`array count ${count} exceeds the ${this.end - this.pos} bytes left`);
    }
    return count;
  }

  skip(byteCount: number): void {
    this.need(byteCount);
    this.pos += byteCount;
  }

  /** Reads a tagged-field section and drops every field in it. */
  skipTaggedFields(): void {
    const count = this.readUnsignedVarint();
    for (let i = 0; i < count; i++) {
      this.readUnsignedVarint();
      this.skip(this.readUnsignedVarint());
    }
  }
}

// Kafka's Uuid.toString: URL-safe base64 of the 16 bytes, without padding (22 characters).
const BASE64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
const BASE64URL_VALUES = new Int8Array(128).fill(-1);
for (let i = 0; i < BASE64URL.length; i++) BASE64URL_VALUES[BASE64URL.charCodeAt(i)] = i;

export const UUID_BYTES = 16;
export const ZERO_UUID = "AAAAAAAAAAAAAAAAAAAAAA";
/** Kafka reserves this one for the metadata topic; randomUuid never returns it. */
export const METADATA_TOPIC_UUID = "AAAAAAAAAAAAAAAAAAAAAQ";

export function uuidFromBytes(bytes: Uint8Array, offset = 0): string {
  let text = "";
  let i = offset;
  for (; i + 3 <= offset + 15; i += 3) {
    const triple = (bytes[i]! << 16) | (bytes[i + 1]! << 8) | bytes[i + 2]!;
    text +=
      BASE64URL[(triple >> 18) & 63]! + BASE64URL[(triple >> 12) & 63]! + BASE64URL[(triple >> 6) & 63]! + BASE64URL[triple & 63]!;
  }
  const last = bytes[i]!;
  return text + BASE64URL[last >> 2]! + BASE64URL[(last & 3) << 4]!;
}

export function uuidToBytes(text: string, out: Uint8Array = new Uint8Array(UUID_BYTES), offset = 0): Uint8Array {
  if (text.length !== 22) throw new Error(`uuid text must be 22 characters, got ${JSON.stringify(text)}`);
  const digit = (index: number): number => {
    const code = text.charCodeAt(index);
    const value = code < 128 ? BASE64URL_VALUES[code]! : -1;
    if (value < 0) throw new Error(`uuid text has an invalid character: ${JSON.stringify(text)}`);
    return value;
  };
  let o = offset;
  let c = 0;
  for (; c < 20; c += 4) {
    const quad = (digit(c) << 18) | (digit(c + 1) << 12) | (digit(c + 2) << 6) | digit(c + 3);
    out[o++] = quad >> 16;
    out[o++] = (quad >> 8) & 0xff;
    out[o++] = quad & 0xff;
  }
  const tail = digit(21);
  if ((tail & 15) !== 0) throw new Error(`uuid text is not canonical: ${JSON.stringify(text)}`);
  out[o] = (digit(20) << 2) | (tail >> 4);
  return out;
}

/** A random version-4 uuid, skipping the reserved ones and any whose text starts with "-", as Kafka does. */
export function randomUuid(): string {
  const bytes = new Uint8Array(UUID_BYTES);
  for (;;) {
    crypto.getRandomValues(bytes);
    bytes[6] = (bytes[6]! & 0x0f) | 0x40;
    bytes[8] = (bytes[8]! & 0x3f) | 0x80;
    const text = uuidFromBytes(bytes);
    if (text !== ZERO_UUID && text !== METADATA_TOPIC_UUID && !text.startsWith("-")) return text;
  }
}
