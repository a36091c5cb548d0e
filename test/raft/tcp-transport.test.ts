import { afterEach, expect, test } from "bun:test";
import { connect } from "node:net";
import { pack } from "msgpackr";
import { TcpTransport, type PeerAddress } from "../../src/raft/tcp-transport.ts";
import { EntryType, MessageType, type Message } from "../../src/raft/types.ts";

const open: TcpTransport[] = [];
afterEach(async () => {
  for (const t of open.splice(0)) await t.close();
});

async function waitFor(condition: () => boolean, what: string, timeoutMs = 5_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!condition()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(5);
  }
}

function start(nodeId: number, peers: Map<number, PeerAddress>, inbox: Message[], listenPort = 0, extra = {}): TcpTransport {
  const t = TcpTransport.start({
    nodeId,
    listenHost: "127.0.0.1",
    listenPort,
    peers,
    onMessage: (m) => inbox.push(m),
    reconnectInitialBackoffMs: 10,
    reconnectMaxBackoffMs: 50,
    ...extra,
  });
  open.push(t);
  return t;
}

function append(from: number, to: number, seq: number, payloadBytes = 8): Message {
  const data = new Uint8Array(payloadBytes).fill(seq % 251);
  return { type: MessageType.Append, from, to, term: 1, index: seq, logTerm: 1, commit: 0, entries: [{ index: seq + 1, term: 1, type: EntryType.Normal, data }] };
}

test("two transports exchange messages; after one restarts, messages flow again", async () => {
  const inbox1: Message[] = [];
  const inbox2: Message[] = [];
  const peers1 = new Map<number, PeerAddress>();
  const peers2 = new Map<number, PeerAddress>();
  const t1 = start(1, peers1, inbox1);
  let t2 = start(2, peers2, inbox2);
  t1.setPeerAddress(2, { host: "127.0.0.1", port: t2.port });
  t2.setPeerAddress(1, { host: "127.0.0.1", port: t1.port });

  for (let i = 0; i < 100; i++) t1.send(append(1, 2, i));
  t2.send({ type: MessageType.AppendResp, from: 2, to: 1, term: 1, index: 99 });
  await waitFor(() => inbox2.length === 100 && inbox1.length === 1, "first exchange");
  expect(inbox2.map((m) => m.index)).toEqual(Array.from({ length: 100 }, (_, i) => i));
  expect(Array.from(inbox2[7]!.entries![0]!.data)).toEqual(new Array(8).fill(7));

  // Restart node 2 on the same port; node 1 reconnects with backoff.
  const port2 = t2.port;
  await t2.close();
  open.splice(open.indexOf(t2), 1);
  t2 = start(2, peers2, inbox2, port2);
  t2.setPeerAddress(1, { host: "127.0.0.1", port: t1.port });
  inbox2.length = 0;
  await waitFor(() => {
    t1.send(append(1, 2, 1000));
    return inbox2.length > 0;
  }, "messages after restart");
  expect(inbox2[0]!.index).toBe(1000);
  t2.send({ type: MessageType.AppendResp, from: 2, to: 1, term: 1, index: 1000 });
  await waitFor(() => inbox1.some((m) => m.index === 1000), "reply after restart");
});

test("large frames survive partial writes; the send queue is bounded and counts drops", async () => {
  const inbox: Message[] = [];
  // The receiver accepts messages only from peers it knows.
  const receiver = start(2, new Map([[1, { host: "127.0.0.1", port: 1 }]]), inbox);
  const sender = start(1, new Map([[2, { host: "127.0.0.1", port: receiver.port }]]), [], 0, { maxQueuedFramesPerPeer: 8 });
  // 4 MiB frames overflow the socket buffer: writes go out in pieces across drain events.
  for (let i = 0; i < 6; i++) sender.send(append(1, 2, i, 4 << 20));
  await waitFor(() => inbox.length === 6, "six large frames");
  for (const [i, m] of inbox.entries()) {
    const data = m.entries![0]!.data;
    expect(data.byteLength).toBe(4 << 20);
    expect(data[0]).toBe(i % 251);
    expect(data[data.byteLength - 1]).toBe(i % 251);
  }

  // A peer that does not exist: the queue holds at most 8 frames and counts the rest as dropped.
  sender.setPeerAddress(3, { host: "127.0.0.1", port: 1 });
  for (let i = 0; i < 20; i++) sender.send(append(1, 3, i));
  const stats = sender.stats().get(3)!;
  expect(stats.queuedFrames).toBeLessThanOrEqual(8);
  expect(stats.droppedFrames).toBe(12);
});

test("the bytes queued for an unreachable peer stay under maxQueuedBytesPerPeer; the oldest unsent frames go", () => {
  const sender = start(1, new Map([[3, { host: "127.0.0.1", port: 1 }]]), [], 0, { maxQueuedBytesPerPeer: 1 << 20 });
  for (let i = 0; i < 10; i++) sender.send(append(1, 3, i, 300 * 1024));
  const stats = sender.stats().get(3)!;
  expect(stats.queuedBytes).toBeLessThanOrEqual(1 << 20);
  expect(stats.queuedFrames).toBe(3);
  expect(stats.droppedFrames).toBe(7);
});

test("a message from an unknown peer closes the connection", async () => {
  const inbox: Message[] = [];
  const receiver = start(2, new Map(), inbox);
  const stranger = start(9, new Map([[2, { host: "127.0.0.1", port: receiver.port }]]), []);
  stranger.send(append(9, 2, 1));
  await waitFor(() => stranger.stats().get(2)!.sentFrames === 1, "the stranger's frame to go out");
  await Bun.sleep(50);
  expect(inbox.length).toBe(0);
});

test("an oversized or malformed frame closes the connection", async () => {
  const inbox: Message[] = [];
  const receiver = start(2, new Map(), inbox, 0, { maxFrameBytes: 1024 });
  const closed = new Promise<void>((resolve) => {
    const socket = connect(receiver.port, "127.0.0.1", () => {
      const header = Buffer.alloc(4);
      header.writeUInt32BE(1 << 30);
      socket.write(header);
    });
    socket.on("close", () => resolve());
    socket.on("error", () => resolve());
  });
  await closed;
  expect(inbox.length).toBe(0);
});

test("a well-framed message missing its fields closes the connection", async () => {
  const inbox: Message[] = [];
  const receiver = start(2, new Map([[1, { host: "127.0.0.1", port: 1 }]]), inbox);
  const payload = pack({ type: MessageType.Append, from: 1, to: 2, term: 1 });
  const frame = Buffer.alloc(4 + payload.byteLength);
  frame.writeUInt32BE(payload.byteLength);
  frame.set(payload, 4);
  await new Promise<void>((resolve) => {
    const socket = connect(receiver.port, "127.0.0.1", () => socket.write(frame));
    socket.on("close", () => resolve());
    socket.on("error", () => resolve());
  });
  expect(inbox.length).toBe(0);
});
