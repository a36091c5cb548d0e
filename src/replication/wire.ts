/**
 * The replication protocol between a follower and its leader, over one TCP connection per pair of brokers.
 * Every frame is a 4-byte big-endian size (FrameDecoder's framing), a 1-byte type, then fields in network order.
 * Partitions are multiplexed as streams the follower numbers when it subscribes.
 *
 *   follower -> leader  HELLO      followerId:int32
 *                       SUBSCRIBE  streamId:int32 partition:int32 leaderEpoch:int32 lastEpoch:int32 fetchOffset:int64 logStartOffset:int64 topic:utf8(rest)
 *                       ACK        streamId:int32 endOffset:int64 logStartOffset:int64   (what the follower holds under its flush policy)
 *                       UNSUBSCRIBE streamId:int32
 *   leader -> follower  BATCHES    streamId:int32 highWatermark:int64 logStartOffset:int64 records(rest: whole batches as stored)
 *                       HWM        streamId:int32 highWatermark:int64 logStartOffset:int64
 *                       DIVERGING  streamId:int32 epoch:int32 endOffset:int64   (truncate, then subscribe again)
 *                       ENDED      streamId:int32 errorCode:int16               (stream refused or closed)
 *                       START_AT   streamId:int32 logStartOffset:int64    (the offsets the follower lacks are gone: restart there)
 *
 * After SUBSCRIBE the leader checks the follower's last epoch against its leader epoch cache (Kafka's
 * OffsetForLeaderEpoch, folded into the subscription as in KIP-320) and either answers DIVERGING or pushes
 * batches from fetchOffset as they are appended, bounded by its send queue. The leader's high watermark and log
 * start offset ride along (as in Kafka's fetch response): a follower's log start follows the leader's, so records
 * removed by DeleteRecords stay removed when leadership moves. The follower's own log start comes back with
 * SUBSCRIBE and ACK (as in Kafka's fetch request): DeleteRecords is answered once every live replica's has moved.
 */
export const FrameType = {
  HELLO: 1,
  SUBSCRIBE: 2,
  ACK: 3,
  UNSUBSCRIBE: 4,
  BATCHES: 10,
  HWM: 11,
  DIVERGING: 12,
  ENDED: 13,
  START_AT: 14,
} as const;

export type ReplicationFrame =
  | { type: typeof FrameType.HELLO; followerId: number }
  | { type: typeof FrameType.SUBSCRIBE; streamId: number; topic: string; partition: number; leaderEpoch: number; lastEpoch: number; fetchOffset: number; logStartOffset: number }
  | { type: typeof FrameType.ACK; streamId: number; endOffset: number; logStartOffset: number }
  | { type: typeof FrameType.UNSUBSCRIBE; streamId: number }
  | { type: typeof FrameType.BATCHES; streamId: number; highWatermark: number; logStartOffset: number; records: Uint8Array }
  | { type: typeof FrameType.HWM; streamId: number; highWatermark: number; logStartOffset: number }
  | { type: typeof FrameType.DIVERGING; streamId: number; epoch: number; endOffset: number }
  | { type: typeof FrameType.ENDED; streamId: number; errorCode: number }
  | { type: typeof FrameType.START_AT; streamId: number; logStartOffset: number };

export class ReplicationProtocolError extends Error {}

/** Bytes before the records of a BATCHES frame, size prefix included. */
export const BATCHES_HEADER_BYTES = 4 + 1 + 4 + 8 + 8;

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });

function frame(type: number, bodyBytes: number): { bytes: Uint8Array; view: DataView } {
  const bytes = new Uint8Array(4 + 1 + bodyBytes);
  const view = new DataView(bytes.buffer);
  view.setInt32(0, 1 + bodyBytes);
  view.setUint8(4, type);
  return { bytes, view };
}

function setInt64(view: DataView, at: number, value: number): void {
  if (!Number.isSafeInteger(value)) throw new RangeError(`int64 value ${value}`);
  view.setBigInt64(at, BigInt(value));
}

function getInt64(view: DataView, at: number): number {
  const value = view.getBigInt64(at);
  if (value > BigInt(Number.MAX_SAFE_INTEGER) || value < BigInt(Number.MIN_SAFE_INTEGER)) throw new ReplicationProtocolError(`int64 ${value} out of range`);
  return Number(value);
}

export function encodeHello(followerId: number): Uint8Array {
  const { bytes, view } = frame(FrameType.HELLO, 4);
  view.setInt32(5, followerId);
  return bytes;
}

export function encodeSubscribe(f: { streamId: number; topic: string; partition: number; leaderEpoch: number; lastEpoch: number; fetchOffset: number; logStartOffset: number }): Uint8Array {
  const topic = encoder.encode(f.topic);
  const { bytes, view } = frame(FrameType.SUBSCRIBE, 4 + 4 + 4 + 4 + 8 + 8 + topic.length);
  view.setInt32(5, f.streamId);
  view.setInt32(9, f.partition);
  view.setInt32(13, f.leaderEpoch);
  view.setInt32(17, f.lastEpoch);
  setInt64(view, 21, f.fetchOffset);
  setInt64(view, 29, f.logStartOffset);
  bytes.set(topic, 37);
  return bytes;
}

export function encodeAck(streamId: number, endOffset: number, logStartOffset: number): Uint8Array {
  const { bytes, view } = frame(FrameType.ACK, 20);
  view.setInt32(5, streamId);
  setInt64(view, 9, endOffset);
  setInt64(view, 17, logStartOffset);
  return bytes;
}

export function encodeUnsubscribe(streamId: number): Uint8Array {
  const { bytes, view } = frame(FrameType.UNSUBSCRIBE, 4);
  view.setInt32(5, streamId);
  return bytes;
}

/** Only the header: the records follow it on the socket as views of the leader's mapped segments. */
export function encodeBatchesHeader(streamId: number, highWatermark: number, logStartOffset: number, recordsBytes: number): Uint8Array {
  const bytes = new Uint8Array(BATCHES_HEADER_BYTES);
  const view = new DataView(bytes.buffer);
  view.setInt32(0, BATCHES_HEADER_BYTES - 4 + recordsBytes);
  view.setUint8(4, FrameType.BATCHES);
  view.setInt32(5, streamId);
  setInt64(view, 9, highWatermark);
  setInt64(view, 17, logStartOffset);
  return bytes;
}

export function encodeHighWatermark(streamId: number, highWatermark: number, logStartOffset: number): Uint8Array {
  const { bytes, view } = frame(FrameType.HWM, 20);
  view.setInt32(5, streamId);
  setInt64(view, 9, highWatermark);
  setInt64(view, 17, logStartOffset);
  return bytes;
}

export function encodeDiverging(streamId: number, epoch: number, endOffset: number): Uint8Array {
  const { bytes, view } = frame(FrameType.DIVERGING, 16);
  view.setInt32(5, streamId);
  view.setInt32(9, epoch);
  setInt64(view, 13, endOffset);
  return bytes;
}

export function encodeEnded(streamId: number, errorCode: number): Uint8Array {
  const { bytes, view } = frame(FrameType.ENDED, 6);
  view.setInt32(5, streamId);
  view.setInt16(9, errorCode);
  return bytes;
}

export function encodeStartAt(streamId: number, logStartOffset: number): Uint8Array {
  const { bytes, view } = frame(FrameType.START_AT, 12);
  view.setInt32(5, streamId);
  setInt64(view, 9, logStartOffset);
  return bytes;
}

/** Decodes one frame body (the size prefix already removed). Records of BATCHES are a view of `body`. */
export function decodeFrame(body: Uint8Array): ReplicationFrame {
  const view = new DataView(body.buffer, body.byteOffset, body.byteLength);
  const need = (bytes: number) => {
    if (body.length < bytes) throw new ReplicationProtocolError(`frame type ${body[0]} of ${body.length} bytes, need ${bytes}`);
  };
  need(1);
  const type = body[0]!;
  switch (type) {
    case FrameType.HELLO:
      need(5);
      return { type, followerId: view.getInt32(1) };
    case FrameType.SUBSCRIBE: {
      need(33);
      let topic: string;
      try {
        topic = decoder.decode(body.subarray(33));
      } catch {
        throw new ReplicationProtocolError("topic name is not UTF-8");
      }
      return {
        type,
        streamId: view.getInt32(1),
        partition: view.getInt32(5),
        leaderEpoch: view.getInt32(9),
        lastEpoch: view.getInt32(13),
        fetchOffset: getInt64(view, 17),
        logStartOffset: getInt64(view, 25),
        topic,
      };
    }
    case FrameType.ACK:
      need(21);
      return { type, streamId: view.getInt32(1), endOffset: getInt64(view, 5), logStartOffset: getInt64(view, 13) };
    case FrameType.UNSUBSCRIBE:
      need(5);
      return { type, streamId: view.getInt32(1) };
    case FrameType.BATCHES:
      need(21);
      return { type, streamId: view.getInt32(1), highWatermark: getInt64(view, 5), logStartOffset: getInt64(view, 13), records: body.subarray(21) };
    case FrameType.HWM:
      need(21);
      return { type, streamId: view.getInt32(1), highWatermark: getInt64(view, 5), logStartOffset: getInt64(view, 13) };
    case FrameType.DIVERGING:
      need(17);
      return { type, streamId: view.getInt32(1), epoch: view.getInt32(5), endOffset: getInt64(view, 9) };
    case FrameType.ENDED:
      need(7);
      return { type, streamId: view.getInt32(1), errorCode: view.getInt16(5) };
    case FrameType.START_AT:
      need(13);
      return { type, streamId: view.getInt32(1), logStartOffset: getInt64(view, 5) };
    default:
      throw new ReplicationProtocolError(`unknown frame type ${type}`);
  }
}
