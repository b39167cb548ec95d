/**
 * Reads what each service says about itself on its admin port: event-loop utilisation and CPU,
 * the evidence for which service saturated first.
 */
import { round } from './numbers.js';
export interface ServiceSample {
  readonly service: string;
  /** Cumulative server-side request counts per histogram bucket bound (seconds), all routes together. */
  readonly buckets: ReadonlyMap<number, number>;
  /** Event-loop utilisation since the previous scrape (the gauge resets its window on each scrape). */
  readonly elu: number;
  /** Process CPU seconds so far (user + system). */
  readonly cpuSeconds: number;
  readonly rssBytes: number;
  readonly at: number;
}

/** The value of an unlabelled sample (or the sum over its label sets) in Prometheus text format. */
export function metricValue(text: string, name: string): number | undefined {
  let total: number | undefined;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const rest = line.slice(name.length);
    if (rest[0] !== ' ' && rest[0] !== '{') continue;
    const value = Number(line.slice(line.lastIndexOf(' ') + 1));
    if (Number.isFinite(value)) total = (total ?? 0) + value;
  }
  return total;
}

/** Sums `name_bucket` samples by their `le` bound, over every label set. */
export function histogramBuckets(text: string, name: string): Map<number, number> {
  const buckets = new Map<number, number>();
  const prefix = `${name}_bucket{`;
  for (const line of text.split('\n')) {
    if (!line.startsWith(prefix)) continue;
    const le = /le="([^"]+)"/.exec(line)?.[1];
    const value = Number(line.slice(line.lastIndexOf(' ') + 1));
    if (le === undefined || !Number.isFinite(value)) continue;
    const bound = le === '+Inf' ? Infinity : Number(le);
    buckets.set(bound, (buckets.get(bound) ?? 0) + value);
  }
  return buckets;
}

/**
 * The p99 of what a service observed between two scrapes, from the difference of its cumulative
 * histogram buckets: the upper bound of the bucket holding the 99th percentile (a bucket's
 * resolution, not better).
 */
export function quantileBetween(before: ReadonlyMap<number, number>, after: ReadonlyMap<number, number>, q: number): number | undefined {
  const bounds = [...after.keys()].sort((a, b) => a - b);
  const total = (after.get(Infinity) ?? 0) - (before.get(Infinity) ?? 0);
  if (total <= 0) return undefined;
  for (const bound of bounds) {
    const cumulative = (after.get(bound) ?? 0) - (before.get(bound) ?? 0);
    if (cumulative >= total * q) return bound;
  }
  return undefined;
}

export async function scrape(service: string, adminUrl: string): Promise<ServiceSample | undefined> {
  try {
    const response = await fetch(`${adminUrl}/metrics`, { signal: AbortSignal.timeout(2_000) });
    const text = await response.text();
    return {
      service,
      buckets: histogramBuckets(text, 'http_server_request_duration_seconds'),
      elu: metricValue(text, 'nodejs_eventloop_utilization_ratio') ?? 0,
      cpuSeconds: metricValue(text, 'process_cpu_seconds_total') ?? 0,
      rssBytes: metricValue(text, 'process_resident_memory_bytes') ?? 0,
      at: Date.now(),
    };
  } catch {
    return undefined;
  }
}

export interface ServiceLoad {
  readonly service: string;
  /** Server-side p99 over the window, ms (bucket upper bound); 0 when the service served nothing. */
  readonly p99Ms: number;
  /** Mean event-loop utilisation over the window. */
  readonly elu: number;
  /** CPU used over the window, as a share of one core. */
  readonly cpuShare: number;
  readonly rssMiB: number;
}

/**
 * Samples every service once a second while a phase runs, and reports each one's mean load over
 * the phase. Started before the phase and stopped after it.
 */
export class LoadMonitor {
  readonly #samples = new Map<string, ServiceSample[]>();
  #timer: NodeJS.Timeout | undefined;

  constructor(private readonly services: readonly { name: string; adminUrl: string }[]) {}

  async start(): Promise<void> {
    this.#samples.clear();
    await this.#tick(); // resets each service's ELU window
    this.#timer = setInterval(() => void this.#tick(), 1_000);
  }

  async stop(): Promise<ServiceLoad[]> {
    clearInterval(this.#timer);
    await this.#tick();
    return this.services.map(({ name }) => {
      const samples = this.#samples.get(name) ?? [];
      const first = samples[0];
      const last = samples.at(-1);
      const later = samples.slice(1);
      const elu = later.length ? later.reduce((sum, s) => sum + s.elu, 0) / later.length : 0;
      const seconds = first && last ? (last.at - first.at) / 1000 : 0;
      const cpuShare = first && last && seconds > 0 ? (last.cpuSeconds - first.cpuSeconds) / seconds : 0;
      const p99 = first && last ? quantileBetween(first.buckets, last.buckets, 0.99) : undefined;
      return { service: name, p99Ms: p99 === undefined || !Number.isFinite(p99) ? 0 : round(p99 * 1000), elu: round(elu), cpuShare: round(cpuShare), rssMiB: round((last?.rssBytes ?? 0) / 1024 / 1024) };
    });
  }

  async #tick(): Promise<void> {
    const samples = await Promise.all(this.services.map((s) => scrape(s.name, s.adminUrl)));
    for (const sample of samples) {
      if (!sample) continue;
      const list = this.#samples.get(sample.service) ?? [];
      list.push(sample);
      this.#samples.set(sample.service, list);
    }
  }
}

