/** A small seeded PRNG (SplitMix32 variant) so every random choice in Raft and its simulation replays from a seed. */
export class Prng {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  /** A uniformly distributed 32-bit unsigned integer. */
  nextU32(): number {
    this.state = (this.state + 0x9e3779b9) >>> 0;
    let z = this.state;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  }

  /** An integer in [0, bound). */
  int(bound: number): number {
    if (!(bound > 0 && Number.isInteger(bound))) throw new RangeError(`bound must be a positive integer, got ${bound}`);
    return this.nextU32() % bound;
  }

  /** True with the given probability. */
  chance(probability: number): boolean {
    return this.nextU32() / 0x1_0000_0000 < probability;
  }
}
