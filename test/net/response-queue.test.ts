import { expect, test } from "bun:test";
import { ResponseQueue, type Outgoing } from "../../src/net/response-queue.ts";

const answer = (byte: number): Outgoing => ({ chunks: [new Uint8Array([byte])] });

/** Whether the promise has settled by the time already-queued microtasks have run. */
async function settled(promise: Promise<void>): Promise<boolean> {
  let done = false;
  void promise.then(() => (done = true));
  for (let i = 0; i < 3; i++) await Promise.resolve();
  return done;
}

test("the oldest request in flight has nothing to wait for", () => {
  const queue = new ResponseQueue();
  const first = queue.reserve();
  expect(queue.answeredBefore(first)).toBeNull();
  queue.complete(first, answer(1));
  const second = queue.reserve();
  expect(queue.answeredBefore(second)).toBeNull();
});

test("a request waits until every earlier one is answered, whatever order they finish in", async () => {
  const queue = new ResponseQueue();
  const parkedProduce = queue.reserve();
  const quickProduce = queue.reserve();
  const metadata = queue.reserve();
  const turn = queue.answeredBefore(metadata)!;
  expect(turn).not.toBeNull();

  expect(queue.complete(quickProduce, answer(2))).toEqual([]);
  expect(await settled(turn)).toBe(false);
  expect(queue.complete(parkedProduce, answer(1))).toEqual([answer(1), answer(2)]);
  expect(await settled(turn)).toBe(true);
  expect(queue.complete(metadata, answer(3))).toEqual([answer(3)]);
});

test("a request does not wait for later ones, and several waiters are released in ticket order", async () => {
  const queue = new ResponseQueue();
  const first = queue.reserve();
  const second = queue.reserve();
  const third = queue.reserve();
  const released: number[] = [];
  void queue.answeredBefore(third)!.then(() => released.push(third));
  void queue.answeredBefore(second)!.then(() => released.push(second));

  queue.complete(first, answer(1));
  for (let i = 0; i < 3; i++) await Promise.resolve();
  expect(released).toEqual([second]);
  queue.complete(second, answer(2));
  for (let i = 0; i < 3; i++) await Promise.resolve();
  expect(released).toEqual([second, third]);
});

test("a ticket that was answered or never reserved is a programming error", () => {
  const queue = new ResponseQueue();
  const ticket = queue.reserve();
  queue.complete(ticket, null);
  expect(() => queue.answeredBefore(ticket)).toThrow(/not waiting/);
  expect(() => queue.answeredBefore(ticket + 5)).toThrow(/not waiting/);
});
