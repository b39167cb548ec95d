/**
 * Capacity: the highest arrival rate at which the system still meets its objective, found by
 * stepping the offered rate up until the objective breaks and then bisecting between the last good
 * and the first bad rate. A Universal Scalability Law fit over the points says how throughput
 * would behave beyond them.
 */
export interface Objective {
  /** The p99 latency objective, ms, measured from intended send time. */
  readonly p99Ms: number;
  /** The share of requests allowed to fail. */
  readonly errorBudget: number;
}

export interface CapacityPoint {
  readonly offeredRps: number;
  readonly achievedRps: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly errorRate: number;
  readonly perService: Record<string, { elu: number; cpuShare: number; p99Ms: number }>;
  readonly limitedByClient: boolean;
}

export const meets = (point: CapacityPoint, objective: Objective): boolean =>
  point.p99Ms <= objective.p99Ms && point.errorRate <= objective.errorBudget && point.achievedRps >= point.offeredRps * 0.9;

export interface SearchPlan {
  readonly startRps: number;
  readonly growth: number;
  readonly maxSteps: number;
  readonly bisections: number;
  /** Points to have in the end: when the search was short, rates below the knee are filled in. */
  readonly minPoints: number;
}

/**
 * Runs `measure` at rising rates until the objective breaks, then bisects. Returns every measured
 * point, in the order measured, and the knee (the best rate that met the objective).
 */
export async function searchCapacity(
  measure: (rps: number) => Promise<CapacityPoint>,
  objective: Objective,
  plan: SearchPlan,
): Promise<{ points: CapacityPoint[]; knee: CapacityPoint | undefined; firstBad: CapacityPoint | undefined }> {
  const points: CapacityPoint[] = [];
  let good: CapacityPoint | undefined;
  let bad: CapacityPoint | undefined;
  let rate = plan.startRps;
  for (let step = 0; step < plan.maxSteps; step++) {
    const point = await measure(Math.round(rate));
    points.push(point);
    if (meets(point, objective)) good = point;
    else {
      bad = point;
      break;
    }
    rate *= plan.growth;
  }
  // Even the first rate broke the objective (a slow machine, a cold system): step down until one holds.
  const floor = Math.max(1, Math.round(plan.startRps / 4));
  for (let rate2 = Math.round(plan.startRps / 2); !good && rate2 >= 1; rate2 = Math.round(rate2 / 2)) {
    const point = await measure(Math.max(1, rate2));
    points.push(point);
    if (meets(point, objective)) good = point;
    else bad = point;
    if (rate2 <= 1) break;
  }
  for (let i = 0; i < plan.bisections && good && bad && bad.offeredRps - good.offeredRps > Math.max(2, good.offeredRps * 0.05); i++) {
    const point = await measure(Math.round((good.offeredRps + bad.offeredRps) / 2));
    points.push(point);
    if (meets(point, objective)) good = point;
    else bad = point;
  }
  // A short search (an early knee) gets points below the knee, so the curve and the USL fit have shape.
  const reference = good ?? bad;
  for (const fraction of [0.5, 0.25, 0.75, 0.125, 0.375, 0.625, 0.875]) {
    if (points.length >= plan.minPoints || !reference) break;
    const rate = Math.max(reference.offeredRps >= floor * 2 ? floor : 1, Math.round(reference.offeredRps * fraction));
    if (points.some((p) => Math.abs(p.offeredRps - rate) < Math.max(1, rate * 0.05))) continue;
    points.push(await measure(rate));
  }
  return { points: [...points].sort((a, b) => a.offeredRps - b.offeredRps), knee: good, firstBad: bad };
}

export interface UslFit {
  /** Contention (serial fraction). */
  readonly sigma: number;
  /** Coherency (crosstalk) cost. */
  readonly kappa: number;
  /** Throughput of one unit of concurrency, requests/s. */
  readonly lambda: number;
  readonly r2: number;
}

export const uslThroughput = (fit: Pick<UslFit, 'sigma' | 'kappa' | 'lambda'>, n: number): number => (fit.lambda * n) / (1 + fit.sigma * (n - 1) + fit.kappa * n * (n - 1));

/**
 * Fits X(N) = λN / (1 + σ(N−1) + κN(N−1)) by least squares. For each (σ, κ) on a log grid, λ has a
 * closed form; the best (σ, κ) is then refined on a finer grid around it.
 */
export function fitUsl(samples: readonly { n: number; x: number }[]): UslFit | undefined {
  const data = samples.filter((s) => s.n > 0 && s.x > 0);
  if (data.length < 3) return undefined;
  const evaluate = (sigma: number, kappa: number) => {
    const shape = data.map((s) => s.n / (1 + sigma * (s.n - 1) + kappa * s.n * (s.n - 1)));
    const lambda = data.reduce((sum, s, i) => sum + s.x * (shape[i] as number), 0) / shape.reduce((sum, f) => sum + f * f, 0);
    const sse = data.reduce((sum, s, i) => sum + (s.x - lambda * (shape[i] as number)) ** 2, 0);
    return { sigma, kappa, lambda, sse };
  };
  const grid = (from: number, to: number, count: number) => Array.from({ length: count }, (_, i) => (i === 0 ? 0 : from * (to / from) ** ((i - 1) / (count - 2))));
  let best = evaluate(0, 0);
  for (const sigma of grid(1e-4, 1, 60)) for (const kappa of grid(1e-6, 0.5, 60)) {
    const candidate = evaluate(sigma, kappa);
    if (candidate.sse < best.sse) best = candidate;
  }
  for (let round = 0; round < 3; round++) {
    const { sigma, kappa } = best;
    for (const ds of [0.5, 0.8, 0.9, 1.1, 1.25, 2]) for (const dk of [0.5, 0.8, 0.9, 1.1, 1.25, 2]) {
      const candidate = evaluate(Math.min(1, sigma * ds), kappa * dk);
      if (candidate.sse < best.sse) best = candidate;
    }
  }
  const mean = data.reduce((sum, s) => sum + s.x, 0) / data.length;
  const sst = data.reduce((sum, s) => sum + (s.x - mean) ** 2, 0);
  const r2 = sst > 0 ? 1 - best.sse / sst : 1;
  const round = (v: number, digits: number) => Number(v.toPrecision(digits));
  return { sigma: round(best.sigma, 4), kappa: round(best.kappa, 4), lambda: round(best.lambda, 5), r2: round(r2, 4) };
}

/**
 * Which service saturated first: at the first point that broke the objective (or the last measured),
 * the service whose event loop was busiest, and how that compares with the others. When the
 * services together used up the machine's cores, that is said too: then no service can be faster
 * alone, and more cores (or fewer processes) are the remedy.
 */
export function limitedBy(points: readonly CapacityPoint[], firstBad: CapacityPoint | undefined, cores = Infinity): { service: string; evidence: string } {
  const at = firstBad ?? points.at(-1);
  if (!at || Object.keys(at.perService).length === 0) return { service: 'unknown', evidence: 'no service metrics were collected' };
  const ranked = Object.entries(at.perService).sort((a, b) => b[1].elu - a[1].elu);
  const [top, second] = ranked;
  if (!top) return { service: 'unknown', evidence: 'no service metrics were collected' };
  const cpu = Object.values(at.perService).reduce((sum, s) => sum + s.cpuShare, 0);
  const machineBound = cpu >= cores * 0.8;
  // A saturated service (or machine) is the limit even when the client also ran late: on shared cores it would.
  if (at.limitedByClient && top[1].elu < 0.8 && !machineBound) return { service: 'load-client', evidence: `the load client itself could not keep the schedule at ${at.offeredRps} rps, while no service was saturated (busiest: ${top[0]} at ${Math.round(top[1].elu * 100)} %)` };
  return {
    service: top[0],
    evidence: `at ${at.offeredRps} rps offered, ${top[0]}'s event loop was busy ${Math.round(top[1].elu * 100)} % of the time (CPU ${Math.round(top[1].cpuShare * 100)} % of a core)` +
      (second ? `, the next busiest was ${second[0]} at ${Math.round(second[1].elu * 100)} %` : '') +
      (machineBound ? `; the services together used ${cpu.toFixed(2)} of the machine's ${cores} cores, so the CPU itself was exhausted` : '; a saturated event loop queues every request behind it'),
  };
}
