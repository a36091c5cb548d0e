import { describe, expect, test } from "bun:test";
import { FrameDecoder } from "../../src/net/frame-decoder.ts";
import { COALESCE_MAX_BYTES, SocketWriter, type WritableSocket } from "../../src/replication/socket-writer.ts";
import {
  BATCHES_HEADER_BYTES,
  FrameType,
  ReplicationProtocolError,
  decodeFrame,
  encodeAck,
  encodeBatchesHeader,
  encodeDiverging,
  encodeEnded,
  encodeHello,
  encodeHighWatermark,
  encodeStartAt,
  encodeSubscribe,
  encodeUnsubscribe,
} from "../../src/replication/wire.ts";

function roundTrip(frame: Uint8Array) {
  const frames = new FrameDecoder(1 << 20).push(frame);
  expect(frames.length).toBe(1);
  return decodeFrame(frames[0]!);
}

describe("replication wire format", () => {
  test("every frame round-trips through the length framing", () => {
    expect(roundTrip(encodeHello(3))).toEqual({ type: FrameType.HELLO, followerId: 3 });
    const subscribe = { streamId: 7, topic: "orders.ü", partition: 5, leaderEpoch: 9, lastEpoch: 8, fetchOffset: 2 ** 40, logStartOffset: 2 ** 39 };
    expect(roundTrip(encodeSubscribe(subscribe))).toEqual({ type: FrameType.SUBSCRIBE, ...subscribe });
    expect(roundTrip(encodeAck(7, 123_456_789_012, 60))).toEqual({ type: FrameType.ACK, streamId: 7, endOffset: 123_456_789_012, logStartOffset: 60 });
    expect(roundTrip(encodeUnsubscribe(7))).toEqual({ type: FrameType.UNSUBSCRIBE, streamId: 7 });
    expect(roundTrip(encodeHighWatermark(7, 55, 2 ** 40))).toEqual({ type: FrameType.HWM, streamId: 7, highWatermark: 55, logStartOffset: 2 ** 40 });
    expect(roundTrip(encodeDiverging(7, -1, 40))).toEqual({ type: FrameType.DIVERGING, streamId: 7, epoch: -1, endOffset: 40 });
    expect(roundTrip(encodeEnded(7, 74))).toEqual({ type: FrameType.ENDED, streamId: 7, errorCode: 74 });
    expect(roundTrip(encodeStartAt(7, 4096))).toEqual({ type: FrameType.START_AT, streamId: 7, logStartOffset: 4096 });
  });

  test("a BATCHES frame is a header followed by the stored bytes, split anywhere on the wire", () => {
    const records = Uint8Array.from({ length: 300 }, (_, i) => i & 0xff);
    const header = encodeBatchesHeader(2, 99, 7, records.length);
    expect(header.length).toBe(BATCHES_HEADER_BYTES);
    const wire = new Uint8Array([...header, ...records, ...encodeHighWatermark(2, 100, 8)]);
    const decoder = new FrameDecoder(1 << 20);
    const frames = [...decoder.push(wire.subarray(0, 3)), ...decoder.push(wire.subarray(3, 200)), ...decoder.push(wire.subarray(200))];
    expect(frames.length).toBe(2);
    const batches = decodeFrame(frames[0]!);
    expect(batches.type).toBe(FrameType.BATCHES);
    if (batches.type !== FrameType.BATCHES) throw new Error("unreachable");
    expect(batches.highWatermark).toBe(99);
    expect(batches.logStartOffset).toBe(7);
    expect([...batches.records]).toEqual([...records]);
    expect(decodeFrame(frames[1]!)).toEqual({ type: FrameType.HWM, streamId: 2, highWatermark: 100, logStartOffset: 8 });
  });

  test("short, unknown and malformed frames are protocol errors, not crashes", () => {
    expect(() => decodeFrame(new Uint8Array([FrameType.ACK, 0, 0]))).toThrow(ReplicationProtocolError);
    expect(() => decodeFrame(encodeAck(1, 2, 3).subarray(4, 17))).toThrow(ReplicationProtocolError);
    expect(() => decodeFrame(new Uint8Array([99]))).toThrow(ReplicationProtocolError);
    expect(() => decodeFrame(new Uint8Array(0))).toThrow(ReplicationProtocolError);
    const badTopic = encodeSubscribe({ streamId: 1, topic: "t", partition: 0, leaderEpoch: 0, lastEpoch: 0, fetchOffset: 0, logStartOffset: 0 });
    badTopic[badTopic.length - 1] = 0xff;
    expect(() => decodeFrame(badTopic.subarray(4))).toThrow(ReplicationProtocolError);
  });
});

/** A socket whose kernel buffer has room for `budget` more bytes. */
class ChokedSocket implements WritableSocket {
  received: number[] = [];
  constructor(public budget: number) {}
  write(data: Uint8Array): number {
    const n = Math.min(this.budget, data.length);
    this.budget -= n;
    this.received.push(...data.subarray(0, n));
    return n;
  }
}

describe("socket writer", () => {
  test("partial writes keep the rest in order and release views only once fully written", () => {
    const socket = new ChokedSocket(5);
    const writer = new SocketWriter(socket, 2 * COALESCE_MAX_BYTES);
    const released: string[] = [];
    // Too big to copy: the two views are written as they are.
    const header = Uint8Array.of(1, 2, 3);
    const body = new Uint8Array(COALESCE_MAX_BYTES).fill(4);
    writer.write([header, body], () => released.push("a"));
    writer.write([Uint8Array.of(8, 9)], () => released.push("b"));
    expect(socket.received).toEqual([1, 2, 3, 4, 4]);
    expect(writer.queuedBytes).toBe(COALESCE_MAX_BYTES - 2 + 2);
    expect(released).toEqual([]);
    socket.budget = COALESCE_MAX_BYTES - 2;
    expect(writer.drain()).toBe(false);
    expect(released).toEqual(["a"]);
    expect(writer.hasRoom).toBe(true);
    socket.budget = 100;
    expect(writer.drain()).toBe(true);
    expect(socket.received.length).toBe(3 + COALESCE_MAX_BYTES + 2);
    expect(socket.received.slice(-3)).toEqual([4, 8, 9]);
    expect(released).toEqual(["a", "b"]);
  });

  test("a small frame of several chunks goes out in one socket write, and its views are released at once", () => {
    const writes: number[] = [];
    const writer = new SocketWriter({ write: (data) => (writes.push(data.length), data.length) }, 1 << 20);
    let released = 0;
    writer.write([Uint8Array.of(1, 2, 3), new Uint8Array(1000), Uint8Array.of(7)], () => released++);
    expect(writes).toEqual([1004]);
    expect(released).toBe(1);
  });

  test("the queue bound stops producers, and closing releases every held view", () => {
    const socket = new ChokedSocket(0);
    const writer = new SocketWriter(socket, 8);
    let releases = 0;
    writer.write([new Uint8Array(10)], () => releases++);
    expect(writer.hasRoom).toBe(false);
    writer.write([new Uint8Array(1)], () => releases++);
    writer.close();
    expect(releases).toBe(2);
    writer.write([new Uint8Array(1)], () => releases++);
    expect(releases).toBe(3);
    expect(socket.received).toEqual([]);
  });
});
