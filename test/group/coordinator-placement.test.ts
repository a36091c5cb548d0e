import { expect, test } from "bun:test";
import { groupCoordinatorId } from "../../src/group/coordinator-placement.ts";

const groups = Array.from({ length: 3000 }, (_, i) => `group-${i}`);

test("every broker computes the same coordinator, whatever order it lists the brokers in", () => {
  for (const group of groups.slice(0, 200)) {
    expect(groupCoordinatorId(group, [3, 1, 2])).toBe(groupCoordinatorId(group, [1, 2, 3])!);
  }
  expect(groupCoordinatorId("g", [7])).toBe(7);
  expect(groupCoordinatorId("g", [])).toBeUndefined();
});

test("groups spread over the brokers", () => {
  const counts = new Map<number, number>();
  for (const group of groups) {
    const id = groupCoordinatorId(group, [1, 2, 3])!;
    counts.set(id, (counts.get(id) ?? 0) + 1);
  }
  expect([...counts.keys()].sort()).toEqual([1, 2, 3]);
  // 1,000 each on average; a hash that favoured one broker would be far off.
  for (const count of counts.values()) expect(count).toBeGreaterThan(850);
});

test("a new broker takes only the groups it wins; the others stay where they were", () => {
  let moved = 0;
  for (const group of groups) {
    const before = groupCoordinatorId(group, [1, 2, 3])!;
    const after = groupCoordinatorId(group, [1, 2, 3, 4])!;
    if (after !== before) {
      expect(after).toBe(4);
      moved++;
    }
  }
  expect(moved).toBeGreaterThan(600);
  expect(moved).toBeLessThan(900);
});
