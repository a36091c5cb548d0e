/**
 * A connection takes no further request while it is over its bounds: maxInflightRequests unanswered, or more
 * than maxQueuedResponseBytes of answers its client has not read. The bounds hold inside one read too, which
 * can carry hundreds of small requests.
 */
import { afterEach, expect, test } from "bun:test";
import type { Socket } from "bun";
import { FrameDecoder } from "../../src/net/frame-decoder.ts";
import { KafkaServer, type FrameHandler } from "../../src/net/kafka-server.ts";
import { waitFor } from "../helpers/wait.ts";

const cleanups: (() => void)[] = [];

afterEach(() => {
  for (const cleanup of cleanups.splice(0).reverse()) cleanup();
});

function listen(options: { maxInflightRequests: number; maxQueuedResponseBytes: number }, handler: FrameHandler): KafkaServer {
  const server = new KafkaServer({ host: "127.0.0.1", port: 0, maxFrameBytes: 1 << 20, maxConnections: 10, ...options }, handler);
  server.listen();
  cleanups.push(() => server.stop());
  return server;
}

/** A client that reads nothing until resume(); its requests are 4-byte frames holding their sequence number. */
async function quietClient(port: number) {
  const decoder = new FrameDecoder(1 << 30);
  const answers: number[] = [];
  let closed = false;
  const socket: Socket<undefined> = await Bun.connect({
    hostname: "127.0.0.1",
    port,
    socket: {
      open: (s) => s.pause(),
      data: (_s, chunk) => answers.push(...decoder.push(chunk).map((frame) => new DataView(frame.buffer, frame.byteOffset).getInt32(0))),
      close: () => void (closed = true),
    },
  });
  socket.pause();
  cleanups.push(() => socket.end());
  /** Every request in one write, so they reach the server in one read. */
  const sendAll = (count: number) => {
    const bytes = new Uint8Array(8 * count);
    const view = new DataView(bytes.buffer);
    for (let i = 0; i < count; i++) {
      view.setInt32(8 * i, 4);
      view.setInt32(8 * i + 4, i);
    }
    expect(socket.write(bytes)).toBe(bytes.length);
  };
  return { socket, answers, sendAll, closed: () => closed };
}

/** An answer of `bytes` bytes that starts with the request's sequence number. */
function answerFor(frame: Uint8Array, bytes: number): Uint8Array {
  const answer = new Uint8Array(bytes);
  answer.set(frame.subarray(0, 4));
  return answer;
}

test("one read of many requests starts no more than maxInflightRequests of them", async () => {
  const held: (() => void)[] = [];
  const server = listen({ maxInflightRequests: 10, maxQueuedResponseBytes: 1 << 20 }, (frame) => new Promise((resolve) => held.push(() => resolve({ chunks: [answerFor(frame, 4)] }))));
  const client = await quietClient(server.port);
  client.socket.resume();
  client.sendAll(100);

  await waitFor(() => held.length >= 10, "the first requests to reach the handler");
  expect(held.length).toBe(10);
  // Each answer lets exactly one more request in.
  held[0]!();
  await waitFor(() => held.length >= 11, "the next request once one was answered");
  expect(held.length).toBe(11);

  for (let answered = 1; answered < 100; answered++) {
    await waitFor(() => held.length > answered, `request ${answered} to reach the handler`);
    held[answered]!();
  }
  await waitFor(() => client.answers.length === 100, "every request to be answered");
  expect(client.answers).toEqual(Array.from({ length: 100 }, (_, i) => i));
});

test("no further request is taken while a client leaves more than maxQueuedResponseBytes unread", async () => {
  const ANSWER_BYTES = 64 * 1024;
  const MAX_QUEUED = 256 * 1024;
  const REQUESTS = 400;
  let handled = 0;
  const server = listen({ maxInflightRequests: 1000, maxQueuedResponseBytes: MAX_QUEUED }, (frame) => {
    handled++;
    return { chunks: [answerFor(frame, ANSWER_BYTES)] };
  });
  const client = await quietClient(server.port);
  client.sendAll(REQUESTS);

  // Answers fill the kernel's socket buffers, then queue in the server until the bound stops the requests.
  await waitFor(() => server.stats.queuedResponseBytes > MAX_QUEUED, "unread answers to pass the bound");
  expect(handled).toBeLessThan(REQUESTS);
  // Answered synchronously, so the bound is passed by at most the answer that crossed it.
  expect(server.stats.queuedResponseBytes).toBeLessThanOrEqual(MAX_QUEUED + 4 + ANSWER_BYTES);

  client.socket.resume();
  await waitFor(() => client.answers.length === REQUESTS, "every request to be answered once the client reads");
  expect(client.answers).toEqual(Array.from({ length: REQUESTS }, (_, i) => i));
  expect(server.stats.queuedResponseBytes).toBe(0);
});

test("a client that leaves with answers unread releases what they borrowed", async () => {
  const ANSWER_BYTES = 1 << 20;
  let handled = 0;
  let released = 0;
  const server = listen({ maxInflightRequests: 100, maxQueuedResponseBytes: 4 << 20 }, (frame) => {
    handled++;
    return { chunks: [answerFor(frame, ANSWER_BYTES)], onWritten: () => void released++ };
  });
  const client = await quietClient(server.port);
  client.sendAll(50);
  await waitFor(() => server.stats.queuedResponseBytes > 4 << 20, "unread answers to pass the bound");
  expect(released).toBeLessThan(handled);

  client.socket.end();
  await waitFor(() => server.stats.connections === 0, "the server to see the client leave");
  expect(released).toBe(handled);
  expect(server.stats.queuedResponseBytes).toBe(0);
});
