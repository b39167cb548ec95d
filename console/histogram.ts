/**
 * A small latency histogram for percentiles: logarithmic buckets, 16 per doubling, kept sparse.
 * A reported percentile is the geometric middle of its bucket, within about ±2.2 % of the true
 * value: plenty for a dashboard, and a few dozen numbers per histogram however many spans it counts.
 */
const bucketsPerDoubling = 16;
/** Durations are bucketed in microseconds; anything under 1 µs shares bucket 0. */
const microsPerMilli = 1000;

export class LogHistogram {
  readonly #counts = new Map<number, number>();
  #total = 0;
  #min = Infinity;
  #max = -Infinity;

  get count(): number {
    return this.#total;
  }

  record(durationMs: number): void {
    if (!Number.isFinite(durationMs)) return;
    const micros = Math.max(durationMs * microsPerMilli, 1);
    const index = Math.floor(Math.log2(micros) * bucketsPerDoubling);
    this.#counts.set(index, (this.#counts.get(index) ?? 0) + 1);
    this.#total += 1;
    this.#min = Math.min(this.#min, durationMs);
    this.#max = Math.max(this.#max, durationMs);
  }

  merge(other: LogHistogram): void {
    for (const [index, count] of other.#counts) this.#counts.set(index, (this.#counts.get(index) ?? 0) + count);
    this.#total += other.#total;
    this.#min = Math.min(this.#min, other.#min);
    this.#max = Math.max(this.#max, other.#max);
  }

  /** The value below which `quantile` (0..1) of the recorded durations fall, in ms; undefined when empty. */
  percentile(quantile: number): number | undefined {
    if (this.#total === 0) return undefined;
    const rank = Math.max(1, Math.ceil(quantile * this.#total));
    let seen = 0;
    for (const index of [...this.#counts.keys()].sort((a, b) => a - b)) {
      seen += this.#counts.get(index)!;
      if (seen >= rank) {
        const middle = 2 ** ((index + 0.5) / bucketsPerDoubling) / microsPerMilli;
        // The bucket's middle can lie past what was actually seen: never report beyond the extremes.
        return Math.min(Math.max(middle, this.#min), this.#max);
      }
    }
    return this.#max;
  }
}
