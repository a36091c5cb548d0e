import { describe, expect, test } from "bun:test";
import { ErrorCode, errorName } from "../../src/protocol/error-codes.ts";
import { ProtocolError, randomUuid, Reader, uuidFromBytes, uuidToBytes, ZERO_UUID } from "../../src/protocol/reader.ts";
import { Writer } from "../../src/protocol/writer.ts";

const roundTrip = (write: (w: Writer) => void, read: (r: Reader) => unknown): unknown => {
  const w = new Writer(16);
  write(w);
  const r = new Reader(w.toBytes());
  const value = read(r);
  expect(r.remaining()).toBe(0);
  return value;
};

describe("Reader and Writer", () => {
  test("int64 round trip across the safe range, clamped outside int64", () => {
    for (const value of [0, 1, -1, 2 ** 32, -(2 ** 32) - 5, 2 ** 53 - 1, -(2 ** 53) + 1, 1700000000000]) {
      expect(roundTrip((w) => w.writeInt64(value), (r) => r.readInt64())).toBe(value);
    }
    const max = new Writer();
    max.writeInt64(2 ** 70);
    expect([...max.toBytes()]).toEqual([0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
    const min = new Writer();
    min.writeInt64(-(2 ** 70));
    expect([...min.toBytes()]).toEqual([0x80, 0, 0, 0, 0, 0, 0, 0]);
  });

  test("varints match Kafka's encoding", () => {
    const bytesOf = (write: (w: Writer) => void): number[] => {
      const w = new Writer();
      write(w);
      return [...w.toBytes()];
    };
    expect(bytesOf((w) => w.writeUnsignedVarint(300))).toEqual([0xac, 0x02]);
    expect(bytesOf((w) => w.writeVarint(-1))).toEqual([0x01]);
    expect(bytesOf((w) => w.writeVarint(1))).toEqual([0x02]);
    for (const value of [0, 1, -1, 63, -64, 2 ** 31 - 1, -(2 ** 31)]) {
      expect(roundTrip((w) => w.writeVarint(value), (r) => r.readVarint())).toBe(value);
    }
    for (const value of [0, -1, 2 ** 40, -(2 ** 40), 2 ** 52, -(2 ** 52) - 1, 2 ** 53 - 1, -(2 ** 53) + 1]) {
      expect(roundTrip((w) => w.writeVarlong(value), (r) => r.readVarlong())).toBe(value);
    }
    expect(roundTrip((w) => w.writeUnsignedVarint(0xffffffff), (r) => r.readUnsignedVarint())).toBe(0xffffffff);
    expect(() => new Reader(new Uint8Array([0x80, 0x80, 0x80, 0x80, 0x80, 0x01])).readUnsignedVarint()).toThrow(ProtocolError);
  });

  test("strings: ASCII, multi-byte, null", () => {
    for (const text of ["", "topic-1", "é✓𝄞 ünïcödé", "x".repeat(1000)]) {
      expect(roundTrip((w) => w.writeString(text), (r) => r.readString())).toBe(text);
      expect(roundTrip((w) => w.writeCompactString(text), (r) => r.readCompactString())).toBe(text);
    }
    expect(roundTrip((w) => w.writeNullableString(null), (r) => r.readNullableString())).toBeNull();
    expect(roundTrip((w) => w.writeCompactNullableString(null), (r) => r.readCompactNullableString())).toBeNull();
    expect(() => new Reader(new Uint8Array([0xff, 0xff])).readString()).toThrow(ProtocolError);
  });

  test("bytes are views into the frame, not copies", () => {
    const frame = new Uint8Array([0, 0, 0, 3, 9, 8, 7]);
    const view = new Reader(frame).readBytes();
    frame[4] = 42;
    expect([...view]).toEqual([42, 8, 7]);
  });

  test("records are appended as chunks without copying", () => {
    const big = new Uint8Array(16 * 1024).fill(5);
    const w = new Writer();
    w.writeInt32(1);
    w.writeRecords(big, false);
    w.writeInt16(2);
    w.writeRecords([big.subarray(0, 10), big], true);
    const { chunks, byteLength } = w.finish();
    expect(chunks.filter((c) => c === big).length).toBe(2);
    expect(byteLength).toBe(4 + 4 + big.byteLength + 2 + 3 + 10 + big.byteLength);
    const r = new Reader(w.toBytes());
    expect(r.readInt32()).toBe(1);
    expect(r.readRecords(false)!.byteLength).toBe(big.byteLength);
    expect(r.readInt16()).toBe(2);
    expect(r.readRecords(true)!.byteLength).toBe(10 + big.byteLength);
    expect(r.remaining()).toBe(0);
  });

  test("array counts larger than the frame fail before allocating", () => {
    const started = performance.now();
    expect(() => new Reader(new Uint8Array([0x7f, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 0])).readArrayCount(false)).toThrow(ProtocolError);
    expect(() => new Reader(new Uint8Array([0xff, 0xff, 0xff, 0xff, 0x0f, 0])).readArrayCount(true)).toThrow(ProtocolError);
    expect(() => new Reader(new Uint8Array([0xff, 0xff, 0xff, 0xfe])).readArrayCount(false)).toThrow(ProtocolError);
    expect(performance.now() - started).toBeLessThan(1000);
  });

  test("a reader never reads past its end", () => {
    const frame = new Uint8Array([0, 0, 0, 1, 0, 0, 0, 2]);
    const r = new Reader(frame, 0, 4);
    expect(r.readInt32()).toBe(1);
    expect(() => r.readInt32()).toThrow(ProtocolError);
    expect(() => r.readInt8()).toThrow(ProtocolError);
  });
});

describe("uuids in Kafka's text form", () => {
  test("zero uuid and byte round trip", () => {
    expect(uuidFromBytes(new Uint8Array(16))).toBe(ZERO_UUID);
    const bytes = new Uint8Array(16).map((_, i) => i * 17);
    const text = uuidFromBytes(bytes);
    expect(text).toHaveLength(22);
    expect(text).toBe(Buffer.from(bytes).toString("base64url"));
    expect(uuidToBytes(text)).toEqual(bytes);
    expect(() => uuidToBytes("not a uuid")).toThrow();
  });

  test("randomUuid is never zero and never starts with a dash", () => {
    for (let i = 0; i < 2000; i++) {
      const id = randomUuid();
      expect(id).not.toBe(ZERO_UUID);
      expect(id.startsWith("-")).toBe(false);
      expect(uuidFromBytes(uuidToBytes(id))).toBe(id);
    }
  });
});

describe("error codes", () => {
  test("names and codes match Kafka's Errors enum", () => {
    expect(ErrorCode.NONE).toBe(0);
    expect(ErrorCode.UNKNOWN_SERVER_ERROR).toBe(-1);
    expect(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION).toBe(3);
    expect(ErrorCode.NOT_LEADER_OR_FOLLOWER).toBe(6);
    expect(ErrorCode.UNSUPPORTED_VERSION).toBe(35);
    expect(ErrorCode.INVALID_REPLICATION_FACTOR).toBe(38);
    expect(ErrorCode.PRODUCER_FENCED).toBe(90);
    expect(ErrorCode.UNKNOWN_TOPIC_ID).toBe(100);
    expect(errorName(29)).toBe("TOPIC_AUTHORIZATION_FAILED");
    expect(errorName(9999)).toBe("UNKNOWN_ERROR_9999");
    expect(new Set(Object.values(ErrorCode)).size).toBe(Object.keys(ErrorCode).length);
  });
});
