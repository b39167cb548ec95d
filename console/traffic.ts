/**
 * Traffic over a sliding window, from every span received (also those the span store later drops):
 * per service, the RED figures of its server spans; per edge, the calls A made to B (client spans
 * naming `peer.service`) and the events B processed from A (consumer spans and the producer span
 * they continue). Time is the console's receipt time, bucketed: it does not depend on the services'
 * clocks, and spans that an exporter sends a few seconds late do not leave a dip at the window's edge.
 */
import { LogHistogram } from './histogram.js';
import { stringAttribute, type Span } from './span.js';

export interface TrafficOptions {
  /** Width of one bucket: the resolution of the charts. */
  readonly bucketMs: number;
  /** How much history is kept: the longest window or series that can be asked for. */
  readonly retainMs: number;
}

export const defaultTrafficOptions: TrafficOptions = { bucketMs: 5_000, retainMs: 15 * 60_000 };

/** Rate, errors and duration over a window. Percent and percentiles are null when nothing happened. */
export interface Red {
  /** Per second. */
  readonly rate: number;
  readonly count: number;
  readonly errors: number;
  readonly errorPercent: number | null;
  readonly p50Ms: number | null;
  readonly p99Ms: number | null;
}

export interface SeriesPoint extends Red {
  /** Start of the bucket, epoch ms. */
  readonly atUnixMs: number;
}

export interface ServiceTraffic extends Red {
  readonly name: string;
  readonly series: SeriesPoint[];
}

/**
 * `call`: synchronous requests, latency is the client span's duration. `event`: asynchronous
 * hand-offs, latency is the delivery lag from the end of publishing to the start of processing.
 */
export type EdgeKind = 'call' | 'event';

export interface EdgeTraffic extends Red {
  readonly from: string;
  readonly to: string;
  readonly kind: EdgeKind;
}

class Tally {
  count = 0;
  errors = 0;
  readonly latency = new LogHistogram();

  add(failed: boolean, durationMs: number): void {
    this.count += 1;
    if (failed) this.errors += 1;
    this.latency.record(durationMs);
  }

  merge(other: Tally): void {
    this.count += other.count;
    this.errors += other.errors;
    this.latency.merge(other.latency);
  }

  red(seconds: number): Red {
    return {
      rate: this.count / seconds,
      count: this.count,
      errors: this.errors,
      errorPercent: this.count === 0 ? null : (100 * this.errors) / this.count,
      p50Ms: this.latency.percentile(0.5) ?? null,
      p99Ms: this.latency.percentile(0.99) ?? null,
    };
  }
}

interface Bucket {
  readonly startMs: number;
  readonly services: Map<string, Tally>;
  readonly edges: Map<string, Tally>;
}

const edgeKey = (from: string, to: string, kind: EdgeKind): string => JSON.stringify([from, to, kind]);

/** Finds a span by id among those received; consumers need their producer's service. */
export type SpanLookup = (traceId: string, spanId: string) => Span | undefined;

/** Consumer spans whose producer span has not arrived yet (exporters batch independently) wait this long. */
const producerWaitMs = 30_000;
const maxWaitingConsumers = 10_000;

export class TrafficWindow {
  readonly options: TrafficOptions;
  readonly #startedAt: number;
  /** Oldest first. */
  readonly #buckets: Bucket[] = [];
  #waiting: { span: Span; receivedAt: number }[] = [];

  constructor(options: TrafficOptions = defaultTrafficOptions, startedAt = Date.now()) {
    if (!(options.bucketMs >= 100) || !(options.retainMs >= options.bucketMs)) throw new RangeError(`traffic window options out of range: ${JSON.stringify(options)}`);
    this.options = options;
    this.#startedAt = startedAt;
  }

  observe(spans: readonly Span[], lookup: SpanLookup, now = Date.now()): void {
    this.#prune(now);
    const bucket = this.#bucketAt(now);
    if (!bucket) return;
    for (const span of spans) {
      const failed = span.status === 'error';
      if (span.kind === 'server') tally(bucket.services, span.service).add(failed, span.durationMs);
      const peer = stringAttribute(span, 'peer.service');
      if (span.kind === 'client' && peer) tally(bucket.edges, edgeKey(span.service, peer, 'call')).add(failed, span.durationMs);
      if (span.kind === 'consumer' && !this.#countEvent(span, lookup, now) && this.#waiting.length < maxWaitingConsumers) {
        this.#waiting.push({ span, receivedAt: now });
      }
    }
    // Producers that arrived in this batch may be what earlier consumers were waiting for.
    this.#waiting = this.#waiting.filter(({ span, receivedAt }) => receivedAt >= now - producerWaitMs && !this.#countEvent(span, lookup, receivedAt));
  }

  /** Counts a consumer span on the edge from its producer's service; false while the producer is unknown. */
  #countEvent(consumer: Span, lookup: SpanLookup, receivedAt: number): boolean {
    const candidates = [...consumer.links.map((l) => [l.traceId, l.spanId] as const), ...(consumer.parentSpanId ? [[consumer.traceId, consumer.parentSpanId] as const] : [])];
    for (const [traceId, spanId] of candidates) {
      const producer = lookup(traceId, spanId);
      if (producer?.kind !== 'producer') continue;
      const bucket = this.#bucketAt(receivedAt);
      if (!bucket) return true; // too old to count: stop waiting
      const lagMs = Math.max(0, consumer.startUnixMs - (producer.startUnixMs + producer.durationMs));
      tally(bucket.edges, edgeKey(producer.service, consumer.service, 'event')).add(consumer.status === 'error', lagMs);
      return true;
    }
    return false;
  }

  /** RED per service over the last `windowMs`, with a series over the last `seriesMs`; `names` are listed even when idle. */
  services(options: { windowMs: number; seriesMs: number; names?: Iterable<string> }, now = Date.now()): ServiceTraffic[] {
    this.#prune(now);
    const { tallies, seconds } = this.#merged((bucket) => bucket.services, options.windowMs, now);
    const names = new Set([...(options.names ?? []), ...tallies.keys()]);
    const series = this.#buckets.filter((b) => b.startMs + this.options.bucketMs > now - options.seriesMs);
    return [...names].map((name) => ({
      name,
      ...(tallies.get(name) ?? new Tally()).red(seconds),
      series: this.#alignedStarts(options.seriesMs, now).map((atUnixMs) => {
        const bucket = series.find((b) => b.startMs === atUnixMs);
        const elapsed = Math.min(this.options.bucketMs, now - atUnixMs, now - this.#startedAt);
        return { atUnixMs, ...(bucket?.services.get(name) ?? new Tally()).red(Math.max(elapsed, 1000) / 1000) };
      }),
    }));
  }

  edges(options: { windowMs: number }, now = Date.now()): EdgeTraffic[] {
    this.#prune(now);
    const { tallies, seconds } = this.#merged((bucket) => bucket.edges, options.windowMs, now);
    return [...tallies].map(([key, t]) => {
      const [from, to, kind] = JSON.parse(key) as [string, string, EdgeKind];
      return { from, to, kind, ...t.red(seconds) };
    });
  }

  /** The tallies of the buckets that overlap the window, and the seconds they cover (never before the console started). */
  #merged(pick: (bucket: Bucket) => Map<string, Tally>, windowMs: number, now: number): { tallies: Map<string, Tally>; seconds: number } {
    const windowStart = this.#alignedStart(now - windowMs);
    const tallies = new Map<string, Tally>();
    for (const bucket of this.#buckets) {
      if (bucket.startMs < windowStart) continue;
      for (const [key, t] of pick(bucket)) tally(tallies, key).merge(t);
    }
    const covered = now - Math.max(windowStart, this.#startedAt);
    return { tallies, seconds: Math.max(covered, 1000) / 1000 };
  }

  #alignedStart(at: number): number {
    return Math.floor(at / this.options.bucketMs) * this.options.bucketMs;
  }

  /** Bucket starts from `now - spanMs` up to the bucket holding `now`. */
  #alignedStarts(spanMs: number, now: number): number[] {
    const starts: number[] = [];
    for (let at = this.#alignedStart(now - spanMs + this.options.bucketMs); at <= now; at += this.options.bucketMs) starts.push(at);
    return starts;
  }

  #bucketAt(at: number): Bucket | undefined {
    const startMs = this.#alignedStart(at);
    const last = this.#buckets[this.#buckets.length - 1];
    if (last && last.startMs === startMs) return last;
    const existing = this.#buckets.find((b) => b.startMs === startMs);
    if (existing) return existing;
    if (last && startMs < last.startMs) return undefined; // older than anything kept and long pruned
    const bucket: Bucket = { startMs, services: new Map(), edges: new Map() };
    this.#buckets.push(bucket);
    return bucket;
  }

  #prune(now: number): void {
    const oldest = now - this.options.retainMs;
    while (this.#buckets.length > 0 && this.#buckets[0]!.startMs + this.options.bucketMs <= oldest) this.#buckets.shift();
  }
}

function tally(map: Map<string, Tally>, key: string): Tally {
  let found = map.get(key);
  if (!found) map.set(key, (found = new Tally()));
  return found;
}
