/** Binary searches over sorted index columns: the pure O(log n) core behind offset and time lookups. */

/** Index of the last entry with keys[i] <= target among the first count entries, or -1. */
export function floorIndex(keys: ArrayLike<number>, count: number, target: number): number {
  let lo = 0;
  let hi = count - 1;
  let found = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    if (keys[mid]! <= target) {
      found = mid;
      lo = mid + 1;
    } else {
      hi = mid - 1;
    }
  }
  return found;
}

/** Index of the last entry with keys[i] < target among the first count entries, or -1. */
export function lowerIndex(keys: ArrayLike<number>, count: number, target: number): number {
  let lo = 0;
  let hi = count - 1;
  let found = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    if (keys[mid]! < target) {
      found = mid;
      lo = mid + 1;
    } else {
      hi = mid - 1;
    }
  }
  return found;
}
