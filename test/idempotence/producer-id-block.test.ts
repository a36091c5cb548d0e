import { expect, test } from "bun:test";
import { ProducerIdBlockAllocator, reserveProducerIdBlock } from "../../src/idempotence/producer-id-block.ts";

test("the controller reserves consecutive blocks of 1000", () => {
  const first = reserveProducerIdBlock(0);
  expect(first).toEqual({ block: { firstProducerId: 0, size: 1000 }, nextBlockStartId: 1000 });
  expect(reserveProducerIdBlock(first.nextBlockStartId, 10).block).toEqual({ firstProducerId: 1000, size: 10 });
  expect(() => reserveProducerIdBlock(Number.MAX_SAFE_INTEGER - 5, 10)).toThrow(/exhausted/);
});

test("ids come from the block, a block is requested at 90%, and the prefetched block follows", () => {
  const allocator = new ProducerIdBlockAllocator();
  expect(allocator.next()).toEqual({ kind: "need-block" });
  expect(allocator.needsBlock()).toBe(true);
  allocator.onBlockRequested();
  expect(allocator.needsBlock()).toBe(false);
  let reserved = reserveProducerIdBlock(0, 10);
  allocator.installBlock(reserved.block);
  const handed: number[] = [];
  for (let i = 0; i < 9; i++) {
    const next = allocator.next();
    if (next.kind !== "id") throw new Error("expected an id");
    handed.push(next.producerId);
  }
  expect(allocator.needsBlock()).toBe(true);
  allocator.onBlockRequested();
  reserved = reserveProducerIdBlock(reserved.nextBlockStartId, 10);
  allocator.installBlock(reserved.block);
  for (let i = 0; i < 11; i++) {
    const next = allocator.next();
    if (next.kind !== "id") throw new Error("expected an id");
    handed.push(next.producerId);
  }
  expect(handed).toEqual([...Array(20).keys()]);
  expect(allocator.next()).toEqual({ kind: "need-block" });
});

test("a restart skips the unused rest of a block: ids are never reused", () => {
  let nextBlockStartId = 0;
  const seen = new Set<number>();
  for (let restart = 0; restart < 3; restart++) {
    const allocator = new ProducerIdBlockAllocator();
    const reserved = reserveProducerIdBlock(nextBlockStartId, 100);
    nextBlockStartId = reserved.nextBlockStartId;
    allocator.onBlockRequested();
    allocator.installBlock(reserved.block);
    for (let i = 0; i < 7; i++) {
      const next = allocator.next();
      if (next.kind !== "id") throw new Error("expected an id");
      expect(seen.has(next.producerId)).toBe(false);
      seen.add(next.producerId);
    }
  }
  expect(Math.min(...seen)).toBe(0);
  expect(seen.has(200)).toBe(true);
});

test("overlapping or surplus blocks are programmer errors", () => {
  const allocator = new ProducerIdBlockAllocator();
  allocator.installBlock({ firstProducerId: 100, size: 10 });
  expect(() => allocator.installBlock({ firstProducerId: 105, size: 10 })).toThrow(/overlaps/);
  allocator.installBlock({ firstProducerId: 110, size: 10 });
  expect(() => allocator.installBlock({ firstProducerId: 120, size: 10 })).toThrow(/already held/);
  expect(() => new ProducerIdBlockAllocator({ prefetchFraction: 2 })).toThrow();
});
