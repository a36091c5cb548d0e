/**
 * Sparse offset index of one segment: (offset relative to the segment base, byte position) of a batch every
 * index.interval.bytes. On disk as Kafka lays it out: 8 bytes per entry, both int32 big-endian.
 */
import { floorIndex } from "./index-search.ts";

export const OFFSET_INDEX_ENTRY_BYTES = 8;

export class OffsetIndex {
  private relativeOffsets: Int32Array;
  private positions: Int32Array;
  private entryCount = 0;

  /** maxEntries bounds memory: a segment cannot hold more batches than this. */
  constructor(readonly maxEntries: number) {
    if (!(maxEntries >= 1)) throw new RangeError(`maxEntries must be >= 1, got ${maxEntries}`);
    const initial = Math.min(maxEntries, 64);
    this.relativeOffsets = new Int32Array(initial);
    this.positions = new Int32Array(initial);
  }

  get count(): number {
    return this.entryCount;
  }

  lastPosition(): number {
    return this.entryCount === 0 ? -1 : this.positions[this.entryCount - 1]!;
  }

  lastRelativeOffset(): number {
    return this.entryCount === 0 ? -1 : this.relativeOffsets[this.entryCount - 1]!;
  }

  entry(i: number): { relativeOffset: number; position: number } {
    if (!(i >= 0 && i < this.entryCount)) throw new RangeError(`index entry ${i} of ${this.entryCount}`);
    return { relativeOffset: this.relativeOffsets[i]!, position: this.positions[i]! };
  }

  append(relativeOffset: number, position: number): void {
    if (this.entryCount > 0) {
      if (!(relativeOffset > this.lastRelativeOffset() && position > this.lastPosition())) {
        throw new Error(`offset index must grow: (${relativeOffset}, ${position}) after (${this.lastRelativeOffset()}, ${this.lastPosition()})`);
      }
    }
    if (!(relativeOffset >= 0 && relativeOffset <= 0x7fffffff && position >= 0 && position <= 0x7fffffff)) {
      throw new RangeError(`offset index entry out of int32 range (${relativeOffset}, ${position})`);
    }
    if (this.entryCount === this.relativeOffsets.length) this.grow();
    this.relativeOffsets[this.entryCount] = relativeOffset;
    this.positions[this.entryCount] = position;
    this.entryCount++;
  }

  /** Position of the last indexed batch whose relative offset is <= target, or 0 (segment start). */
  lookup(relativeOffset: number): number {
    const i = floorIndex(this.relativeOffsets, this.entryCount, relativeOffset);
    return i < 0 ? 0 : this.positions[i]!;
  }

  /** Drops entries at or beyond the byte position (after a truncation). */
  truncateToPosition(position: number): void {
    while (this.entryCount > 0 && this.positions[this.entryCount - 1]! >= position) this.entryCount--;
  }

  serialize(): Uint8Array {
    const bytes = new Uint8Array(this.entryCount * OFFSET_INDEX_ENTRY_BYTES);
    const dv = new DataView(bytes.buffer);
    for (let i = 0; i < this.entryCount; i++) {
      dv.setInt32(i * OFFSET_INDEX_ENTRY_BYTES, this.relativeOffsets[i]!);
      dv.setInt32(i * OFFSET_INDEX_ENTRY_BYTES + 4, this.positions[i]!);
    }
    return bytes;
  }

  /**
   * Loads entries from disk, keeping the longest valid prefix: strictly increasing and inside validBytes.
   * Whatever is dropped is rebuilt by scanning the segment from the last kept entry.
   */
  static parse(bytes: Uint8Array, maxEntries: number, validBytes: number): OffsetIndex {
    const index = new OffsetIndex(maxEntries);
    const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const entries = Math.min(Math.floor(bytes.length / OFFSET_INDEX_ENTRY_BYTES), maxEntries);
    for (let i = 0; i < entries; i++) {
      const relativeOffset = dv.getInt32(i * OFFSET_INDEX_ENTRY_BYTES);
      const position = dv.getInt32(i * OFFSET_INDEX_ENTRY_BYTES + 4);
      const grows = index.entryCount === 0 || (relativeOffset > index.lastRelativeOffset() && position > index.lastPosition());
      if (!grows || relativeOffset < 0 || position < 0 || position >= validBytes) break;
      index.append(relativeOffset, position);
    }
    return index;
  }

  private grow(): void {
    if (this.relativeOffsets.length >= this.maxEntries) throw new Error(`offset index full at ${this.maxEntries} entries`);
    const capacity = Math.min(this.maxEntries, this.relativeOffsets.length * 2);
    const offsets = new Int32Array(capacity);
    const positions = new Int32Array(capacity);
    offsets.set(this.relativeOffsets);
    positions.set(this.positions);
    this.relativeOffsets = offsets;
    this.positions = positions;
  }
}
