/**
 * Latencies in log-linear buckets: bucket i holds values in [GROWTH^i, GROWTH^(i+1))
 * microseconds, so any percentile is within 0.5% of the truth (1% bucket width, reported
 * at its geometric middle). Recording is one logarithm and an array increment, and
 * histograms from several processes merge by adding counts, which raw arrays would not
 * allow without shipping every sample.
 */
const GROWTH = 1.01;
const LOG_GROWTH = Math.log(GROWTH);
/** Up to 10^10 µs (about 3 hours): far past any bench's deadline. */
const BUCKETS = Math.ceil(Math.log(1e10) / LOG_GROWTH) + 1;

/** A histogram as it crosses a process boundary: non-empty buckets only. */
export interface HistogramJson {
  count: number;
  /** In µs. */
  min: number;
  max: number;
  /** Pairs of bucket index and count. */
  buckets: number[];
}

export class Histogram {
  readonly #counts = new Float64Array(BUCKETS);
  count = 0;
  /** Exact extremes, in µs, so min and max are not rounded to a bucket. */
  min = Infinity;
  max = -Infinity;

  /** Records one value in microseconds; values below 1 µs land in the first bucket. */
  record(micros: number): void {
    const index = micros < 1 ? 0 : Math.min(BUCKETS - 1, Math.floor(Math.log(micros) / LOG_GROWTH));
    this.#counts[index]++;
    this.count++;
    if (micros < this.min) this.min = micros;
    if (micros > this.max) this.max = micros;
  }

  merge(other: Histogram): void {
    for (let i = 0; i < BUCKETS; i++) this.#counts[i] += other.#counts[i];
    this.count += other.count;
    this.min = Math.min(this.min, other.min);
    this.max = Math.max(this.max, other.max);
  }

  /** Nearest-rank percentile (0 < p <= 1) in µs; NaN when empty. */
  percentile(p: number): number {
    if (this.count === 0) return NaN;
    const rank = Math.max(1, Math.ceil(p * this.count));
    let seen = 0;
    for (let i = 0; i < BUCKETS; i++) {
      seen += this.#counts[i];
      if (seen >= rank) {
        const middle = i === 0 ? 1 : GROWTH ** (i + 0.5);
        return Math.min(this.max, Math.max(this.min, middle));
      }
    }
    return this.max;
  }

  toJSON(): HistogramJson {
    const buckets: number[] = [];
    for (let i = 0; i < BUCKETS; i++) if (this.#counts[i] > 0) buckets.push(i, this.#counts[i]);
    return { count: this.count, min: this.min, max: this.max, buckets };
  }

  static fromJSON(json: HistogramJson): Histogram {
    const histogram = new Histogram();
    for (let i = 0; i < json.buckets.length; i += 2) {
      histogram.#counts[json.buckets[i]] = json.buckets[i + 1];
    }
    histogram.count = json.count;
    // JSON turns Infinity into null: an empty histogram comes back empty.
    histogram.min = json.count === 0 ? Infinity : json.min;
    histogram.max = json.count === 0 ? -Infinity : json.max;
    return histogram;
  }
}
