/**
 * Sparse time index of one segment: (largest timestamp so far, relative offset of the batch that reached it),
 * appended only when the timestamp grows. On disk: 12 bytes per entry, int64 then int32, big-endian.
 */
import { lowerIndex } from "./index-search.ts";

export const TIME_INDEX_ENTRY_BYTES = 12;

export class TimeIndex {
  private timestamps: Float64Array;
  private relativeOffsets: Int32Array;
  private entryCount = 0;

  constructor(readonly maxEntries: number) {
    if (!(maxEntries >= 1)) throw new RangeError(`maxEntries must be >= 1, got ${maxEntries}`);
    const initial = Math.min(maxEntries, 64);
    this.timestamps = new Float64Array(initial);
    this.relativeOffsets = new Int32Array(initial);
  }

  get count(): number {
    return this.entryCount;
  }

  lastTimestamp(): number {
    return this.entryCount === 0 ? -1 : this.timestamps[this.entryCount - 1]!;
  }

  lastRelativeOffset(): number {
    return this.entryCount === 0 ? -1 : this.relativeOffsets[this.entryCount - 1]!;
  }

  /** Records a new maximum; ignored unless both the timestamp and the offset grow. */
  maybeAppend(timestampMs: number, relativeOffset: number): void {
    if (this.entryCount > 0 && !(timestampMs > this.lastTimestamp() && relativeOffset > this.lastRelativeOffset())) return;
    if (!(relativeOffset >= 0 && relativeOffset <= 0x7fffffff)) throw new RangeError(`relative offset ${relativeOffset}`);
    if (this.entryCount === this.timestamps.length) this.grow();
    this.timestamps[this.entryCount] = timestampMs;
    this.relativeOffsets[this.entryCount] = relativeOffset;
    this.entryCount++;
  }

  /**
   * Relative offset from which to scan for the first batch with maxTimestamp >= target: every batch up to and
   * including the returned entry's batch has all timestamps below target. -1 means scan from the segment start.
   */
  scanStartAfter(timestampMs: number): number {
    const i = lowerIndex(this.timestamps, this.entryCount, timestampMs);
    return i < 0 ? -1 : this.relativeOffsets[i]!;
  }

  /** Drops entries for offsets at or beyond relativeOffset. */
  truncateToRelativeOffset(relativeOffset: number): void {
    while (this.entryCount > 0 && this.relativeOffsets[this.entryCount - 1]! >= relativeOffset) this.entryCount--;
  }

  serialize(): Uint8Array {
    const bytes = new Uint8Array(this.entryCount * TIME_INDEX_ENTRY_BYTES);
    const dv = new DataView(bytes.buffer);
    for (let i = 0; i < this.entryCount; i++) {
      dv.setBigInt64(i * TIME_INDEX_ENTRY_BYTES, BigInt(this.timestamps[i]!));
      dv.setInt32(i * TIME_INDEX_ENTRY_BYTES + 8, this.relativeOffsets[i]!);
    }
    return bytes;
  }

  /** Keeps the longest valid prefix whose offsets stay below nextRelativeOffset. */
  static parse(bytes: Uint8Array, maxEntries: number, nextRelativeOffset: number): TimeIndex {
    const index = new TimeIndex(maxEntries);
    const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const entries = Math.min(Math.floor(bytes.length / TIME_INDEX_ENTRY_BYTES), maxEntries);
    for (let i = 0; i < entries; i++) {
      const timestampMs = Number(dv.getBigInt64(i * TIME_INDEX_ENTRY_BYTES));
      const relativeOffset = dv.getInt32(i * TIME_INDEX_ENTRY_BYTES + 8);
      const grows = index.entryCount === 0 || (timestampMs > index.lastTimestamp() && relativeOffset > index.lastRelativeOffset());
      if (!grows || relativeOffset < 0 || relativeOffset >= nextRelativeOffset) break;
      index.maybeAppend(timestampMs, relativeOffset);
    }
    return index;
  }

  private grow(): void {
    if (this.timestamps.length >= this.maxEntries) throw new Error(`time index full at ${this.maxEntries} entries`);
    const capacity = Math.min(this.maxEntries, this.timestamps.length * 2);
    const timestamps = new Float64Array(capacity);
    const offsets = new Int32Array(capacity);
    timestamps.set(this.timestamps);
    offsets.set(this.relativeOffsets);
    this.timestamps = timestamps;
    this.relativeOffsets = offsets;
  }
}
