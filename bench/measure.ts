/**
 * Loads one system the way `poc prove` does (open model, latency from intended send time) with the
 * read and write paths only: the knee by the same capacity search, then a run at the common fixed
 * rate during which the services' CPU and memory are read from /proc.
 */
import { searchCapacity, type Objective, type SearchPlan } from '@msa-poc/harness/capacity';
import { constant, describeFailures, mergeSummaries, runLoad, type LoadResult } from '@msa-poc/harness/load';
import { capacityPoint, served } from '@msa-poc/harness/prove';
import { defineScenario, ScenarioRunner } from '@msa-poc/harness/scenario';
import { round } from '@msa-poc/harness/numbers';
import { cpuBetween, usageOf } from './processes.js';
import type { VariantResult } from './results.js';
import type { SystemUnderTest } from './systems.js';

/** The read path (the catalog, an order) and the write path (an order with an Idempotency-Key). */
export const benchScenario = defineScenario({
  name: 'bench: list products 40 %, get an order 30 %, place an order 30 %',
  operations: {
    products: { weight: 0.4, run: (ctx) => ctx.api.call('GET', '/v1/products', { signal: ctx.signal }) },
    order: {
      weight: 0.3,
      run: (ctx) => {
        const id = ctx.knownOrder();
        return id ? ctx.api.call('GET', `/v1/orders/${id}`, { signal: ctx.signal }) : ctx.placeOrder();
      },
    },
    place: { weight: 0.3, run: (ctx) => ctx.placeOrder() },
  },
});

/** The read path's operations: the catalog (gateway → orders) and an order (gateway → orders → store). */
export const readOperations = ['products', 'order'] as const;

/** `poc prove`'s default objective. */
export const objective: Objective = { p99Ms: 250, errorBudget: 0.01 };

export interface Durations {
  readonly idleMs: number;
  readonly warmupMs: number;
  readonly stepMs: number;
  readonly fixedMs: number;
}

export const durations = (quick: boolean): Durations => (quick ? { idleMs: 1_000, warmupMs: 2_000, stepMs: 2_000, fixedMs: 4_000 } : { idleMs: 2_000, warmupMs: 3_000, stepMs: 4_000, fixedMs: 8_000 });

export interface MeasureOptions {
  readonly durations: Durations;
  readonly search: SearchPlan;
  /** The common fixed rate, given this variant's knee (the first variant measured sets it). */
  readonly fixedRate: (kneeRps: number | null) => number;
  readonly progress: (line: string) => void;
  readonly seed: number;
}

export async function measureVariant(name: string, description: string, system: SystemUnderTest, options: MeasureOptions): Promise<VariantResult> {
  const { durations: d, progress } = options;
  const scenario = new ScenarioRunner(system.caller, options.seed, benchScenario);
  const load = (rps: number, durationMs: number): Promise<LoadResult> =>
    // Past 2 s a request has long broken the objective; a shorter deadline than poc prove's 5 s keeps overloaded steps short.
    runLoad({ shape: constant(rps), durationMs, next: scenario.next, timeoutMs: 2_000, maxInFlight: 512, isSuccess: (o) => served(o.status) });

  // What the services burn with no request at all (pollers, exporters, timers): part of every figure below.
  const idleFrom = usageOf(system.pids);
  await new Promise((resolve) => setTimeout(resolve, d.idleMs));
  const idleCores = round(cpuBetween(idleFrom, usageOf(system.pids)).total / (d.idleMs / 1000), 3);
  progress(`  idle: ${idleCores} of a core over ${d.idleMs / 1000} s`);
  progress(`  warm-up ${d.warmupMs / 1000} s at 20 rps`);
  await load(20, d.warmupMs);

  const capacity = await searchCapacity(async (rps) => {
    const result = await load(rps, d.stepMs);
    const point = capacityPoint(rps, result, []);
    progress(`  ${String(rps).padStart(5)} rps offered → ${point.achievedRps} achieved, p99 ${point.p99Ms} ms, errors ${(point.errorRate * 100).toFixed(2)} %${point.errorRate > 0 ? ` (${describeFailures(result, served)})` : ''}`);
    return point;
  }, objective, options.search);
  const kneeRps = capacity.knee?.offeredRps ?? null;
  // The objective held at the search's highest rate: the knee lies above it, unmeasured.
  const kneeIsLowerBound = kneeRps !== null && capacity.firstBad === undefined;
  progress(`  knee: ${kneeRps === null ? 'none (not even the lowest rate met the objective)' : kneeIsLowerBound ? `at least ${kneeRps} rps (the objective held up to the search's highest rate)` : `${kneeRps} rps`}`);

  const rate = options.fixedRate(kneeRps);
  progress(`  fixed rate ${rate} rps for ${d.fixedMs / 1000} s`);
  const before = usageOf(system.pids);
  const fixed = await load(rate, d.fixedMs);
  const after = usageOf(system.pids);
  const used = cpuBetween(before, after);
  const perRequest = (seconds: number) => (fixed.completed ? round((seconds * 1e6) / fixed.completed, 0) : 0);
  const perService = Object.fromEntries([...after].map(([service, end]) => [service, { cpuUsPerRequest: perRequest(used.byService.get(service) ?? 0), rssMiB: round(end.rssBytes / 2 ** 20, 1) }]));
  const cpuUsPerRequest = perRequest(used.total);
  const fixedSeconds = fixed.durationMs / 1000;
  const netCpuUsPerRequest = perRequest(Math.max(0, used.total - idleCores * fixedSeconds));
  const errorRate = fixed.intended ? round(fixed.failed / fixed.intended, 4) : 0;
  const reads = readOperations.flatMap((name) => (fixed.byOperation[name] ? [fixed.byOperation[name].latency] : []));
  const readP50Ms = reads.length > 0 ? mergeSummaries(reads).p50 : 0;
  if (fixed.failed > 0) progress(`  failures at the fixed rate: ${describeFailures(fixed, served)}`);
  progress(`  → ${round(fixed.achievedRps, 1)} rps achieved, p50 ${fixed.latency.p50} ms (read path ${readP50Ms} ms), p99 ${fixed.latency.p99} ms, ${cpuUsPerRequest} µs CPU per request (${netCpuUsPerRequest} net of idle)`);
  return {
    name, description, kneeRps, kneeIsLowerBound, idleCores,
    points: capacity.points.map((p) => ({ offeredRps: p.offeredRps, achievedRps: p.achievedRps, p99Ms: p.p99Ms, errorRate: p.errorRate })),
    fixed: { offeredRps: rate, achievedRps: round(fixed.achievedRps, 1), p50Ms: fixed.latency.p50, readP50Ms, p99Ms: fixed.latency.p99, errorRate, cpuUsPerRequest, netCpuUsPerRequest, perService },
  };
}
