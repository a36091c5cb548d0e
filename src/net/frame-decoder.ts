/**
 * Splits a TCP byte stream into Kafka frames (a 4-byte big-endian size, then that many bytes).
 * Whole frames inside one chunk are returned as views of it; only frames that straddle chunks are
 * copied, into a buffer allocated once the size prefix has been checked against the limit.
 */
export class FrameTooLargeError extends Error {}

export class FrameDecoder {
  private readonly sizePrefix = new Uint8Array(4);
  private sizePrefixBytes = 0;
  private partial: Uint8Array | null = null;
  private partialFilled = 0;

  constructor(private readonly maxFrameBytes: number) {}

  /** Bytes held for an incomplete frame; bounded by maxFrameBytes + 4. */
  get bufferedBytes(): number {
    return this.sizePrefixBytes + this.partialFilled;
  }

  /** Appends a chunk and returns every frame it completes. Throws FrameTooLargeError on a bad size prefix. */
  push(chunk: Uint8Array): Uint8Array[] {
    const frames: Uint8Array[] = [];
    let pos = 0;
    while (pos < chunk.length) {
      if (this.partial !== null) {
        const take = Math.min(this.partial.length - this.partialFilled, chunk.length - pos);
        this.partial.set(chunk.subarray(pos, pos + take), this.partialFilled);
        this.partialFilled += take;
        pos += take;
        if (this.partialFilled === this.partial.length) {
          frames.push(this.partial);
          this.partial = null;
          this.partialFilled = 0;
        }
        continue;
      }
      let frameBytes: number;
      if (this.sizePrefixBytes === 0 && chunk.length - pos >= 4) {
        frameBytes = ((chunk[pos]! << 24) | (chunk[pos + 1]! << 16) | (chunk[pos + 2]! << 8) | chunk[pos + 3]!) | 0;
        pos += 4;
      } else {
        while (this.sizePrefixBytes < 4 && pos < chunk.length) this.sizePrefix[this.sizePrefixBytes++] = chunk[pos++]!;
        if (this.sizePrefixBytes < 4) break;
        const p = this.sizePrefix;
        frameBytes = ((p[0]! << 24) | (p[1]! << 16) | (p[2]! << 8) | p[3]!) | 0;
        this.sizePrefixBytes = 0;
      }
      if (frameBytes <= 0 || frameBytes > this.maxFrameBytes) {
        throw new FrameTooLargeError(`frame size ${frameBytes} outside 1..${this.maxFrameBytes}`);
      }
      if (chunk.length - pos >= frameBytes) {
        frames.push(chunk.subarray(pos, pos + frameBytes));
        pos += frameBytes;
      } else {
        this.partial = new Uint8Array(frameBytes);
        this.partialFilled = 0;
      }
    }
    return frames;
  }
}
