import { afterEach, expect, test } from "bun:test";
import type { Socket } from "bun";
import { FrameDecoder } from "../../src/net/frame-decoder.ts";
import { KafkaServer } from "../../src/net/kafka-server.ts";
import type { Outgoing } from "../../src/net/response-queue.ts";
import { waitFor } from "../helpers/wait.ts";

const MAX_QUEUED_REQUEST_BYTES = 10_000;
const cleanups: (() => void)[] = [];

afterEach(() => {
  for (const cleanup of cleanups.splice(0).reverse()) cleanup();
});

/** A server whose handler holds every request until the test answers it; requests are tagged by their first byte. */
function holdingServer() {
  const held = new Map<number, (outgoing: Outgoing) => void>();
  const seen: number[] = [];
  const server = new KafkaServer(
    { host: "127.0.0.1", port: 0, maxFrameBytes: 1 << 20, maxConnections: 10, maxInflightRequests: 100, maxQueuedRequestBytes: MAX_QUEUED_REQUEST_BYTES },
    (frame) => {
      const tag = frame[0]!;
      seen.push(tag);
      return new Promise<Outgoing>((resolve) => held.set(tag, resolve));
    },
  );
  server.listen();
  cleanups.push(() => server.stop());
  const answer = (tag: number) => held.get(tag)!({ chunks: [Uint8Array.of(tag)] });
  return { server, seen, answer };
}

async function connect(port: number) {
  const decoder = new FrameDecoder(1 << 20);
  const answers: number[] = [];
  const socket: Socket<undefined> = await Bun.connect({
    hostname: "127.0.0.1",
    port,
    socket: { data: (_s, chunk) => answers.push(...decoder.push(chunk).map((frame) => frame[0]!)) },
  });
  cleanups.push(() => socket.end());
  const send = (tag: number, bytes: number) => {
    const frame = new Uint8Array(4 + bytes);
    new DataView(frame.buffer).setInt32(0, bytes);
    frame[4] = tag;
    expect(socket.write(frame)).toBe(frame.length);
  };
  return { send, answers };
}

test("reading pauses on every connection while the requests in progress hold more than queued.max.request.bytes", async () => {
  const { server, seen, answer } = holdingServer();
  const first = await connect(server.port);
  first.send(1, 8_000);
  await waitFor(() => seen.length === 1, "the first request to reach the handler");
  first.send(2, 4_000);
  await waitFor(() => seen.length === 2, "the second request, read while under the bound");
  expect(server.stats.queuedRequestBytes).toBe(12_000);

  // Over the bound: the paused connection's next request waits, while a new connection's first read still arrives.
  first.send(3, 100);
  const second = await connect(server.port);
  second.send(4, 100);
  await waitFor(() => seen.includes(4), "the new connection's request");
  expect(seen).not.toContain(3);

  // Answering one request brings the bytes under the bound, and the paused connection is read again.
  answer(1);
  await waitFor(() => seen.includes(3), "the held-back request once the bytes fell under the bound");
  for (const tag of [2, 3, 4]) answer(tag);
  await waitFor(() => first.answers.length === 3 && second.answers.length === 1, "every request to be answered");
  expect(first.answers).toEqual([1, 2, 3]);
  expect(server.stats.queuedRequestBytes).toBe(0);
});
