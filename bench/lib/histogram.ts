/**
 * A fixed-size latency histogram: log-spaced buckets 1% apart from 1 µs to ~100 s, so recording is O(1),
 * memory is bounded whatever the run length, and quantiles are within 1%.
 */
const MIN_MS = 0.001;
const GROWTH = 1.01;
const BUCKETS = Math.ceil(Math.log(100_000 / MIN_MS) / Math.log(GROWTH)) + 1;
const LOG_GROWTH = Math.log(GROWTH);

export class Histogram {
  private readonly counts = new Float64Array(BUCKETS);
  count = 0;
  private sumMs = 0;
  maxMs = 0;

  record(valueMs: number): void {
    const index = valueMs <= MIN_MS ? 0 : Math.min(BUCKETS - 1, Math.ceil(Math.log(valueMs / MIN_MS) / LOG_GROWTH));
    this.counts[index]!++;
    this.count++;
    this.sumMs += valueMs;
    if (valueMs > this.maxMs) this.maxMs = valueMs;
  }

  /** Records n samples of the same value (a batch of records acknowledged together). */
  recordMany(valueMs: number, n: number): void {
    const index = valueMs <= MIN_MS ? 0 : Math.min(BUCKETS - 1, Math.ceil(Math.log(valueMs / MIN_MS) / LOG_GROWTH));
    this.counts[index]! += n;
    this.count += n;
    this.sumMs += valueMs * n;
    if (valueMs > this.maxMs) this.maxMs = valueMs;
  }

  quantileMs(q: number): number {
    if (this.count === 0) return NaN;
    const rank = Math.ceil(q * this.count);
    let seen = 0;
    for (let i = 0; i < BUCKETS; i++) {
      seen += this.counts[i]!;
      if (seen >= rank) return Math.min(MIN_MS * GROWTH ** i, this.maxMs);
    }
    return this.maxMs;
  }

  get meanMs(): number {
    return this.count === 0 ? NaN : this.sumMs / this.count;
  }
}
