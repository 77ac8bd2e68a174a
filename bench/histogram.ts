/**
 * Latencies in log-spaced buckets, 1% apart, from 1 µs to ~100 s: recording
 * is O(1) with no allocation, so the load generator measures the server
 * rather than its own garbage collector, and percentiles are within 1%.
 */
const MIN_NANOS = 1_000;
const GROWTH = 1.01;
const LOG_GROWTH = Math.log(GROWTH);
const BUCKETS = Math.ceil(Math.log(1e11 / MIN_NANOS) / LOG_GROWTH) + 1;

export class LatencyHistogram {
  private readonly counts = new Uint32Array(BUCKETS);
  private total = 0;
  private maxNanos = 0;

  record(nanos: number): void {
    const index = nanos <= MIN_NANOS ? 0 : Math.min(BUCKETS - 1, Math.ceil(Math.log(nanos / MIN_NANOS) / LOG_GROWTH));
    this.counts[index] = (this.counts[index] ?? 0) + 1;
    this.total++;
    if (nanos > this.maxNanos) this.maxNanos = nanos;
  }

  get count(): number {
    return this.total;
  }

  /** The latency below which `quantile` of the samples fall, in ms; null without samples. */
  percentileMs(quantile: number): number | null {
    if (this.total === 0) return null;
    const rank = Math.max(1, Math.ceil(quantile * this.total));
    let seen = 0;
    for (let index = 0; index < BUCKETS; index++) {
      seen += this.counts[index] ?? 0;
      if (seen >= rank) return Math.min(this.maxNanos, MIN_NANOS * GROWTH ** index) / 1e6;
    }
    return this.maxNanos / 1e6;
  }

  maxMs(): number | null {
    return this.total === 0 ? null : this.maxNanos / 1e6;
  }
}
