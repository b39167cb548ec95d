/**
 * Reads what each service says about itself on its admin port: event-loop utilisation and CPU,
 * the evidence for which service saturated first.
 */
export interface ServiceSample {
  readonly service: string;
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

export async function scrape(service: string, adminUrl: string): Promise<ServiceSample | undefined> {
  try {
    const response = await fetch(`${adminUrl}/metrics`, { signal: AbortSignal.timeout(2_000) });
    const text = await response.text();
    return {
      service,
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
      return { service: name, elu: round(elu), cpuShare: round(cpuShare), rssMiB: round((last?.rssBytes ?? 0) / 1024 / 1024) };
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

const round = (value: number) => Math.round(value * 1000) / 1000;
