/**
 * `poc prove`: load the system, find its knee, hold it at a fraction of the knee, break it in the
 * ways production breaks, audit that nothing acknowledged was lost, and write down what it means.
 */
import { cpus, totalmem } from 'node:os';
import { execFileSync } from 'node:child_process';
import type { ApiClient } from './api-client.js';
import { audit, type Integrity, type OrderReader } from './audit.js';
import { fitUsl, limitedBy, searchCapacity, type CapacityPoint, type Objective } from './capacity.js';
import type { ServiceName } from '@msa-poc/contracts';
import { faults as faultScenarios, sharedFateOf, type FaultContext } from './faults.js';
import { summarizeChatter, summarizeCriticalPath, type ChatterSummary, type CriticalPathSummary, type SpanRecord } from './critical-path.js';
import { constant, runLoad, type LoadResult, type LoadSnapshot, type Operation } from './load.js';
import type { FaultProxy } from './proxy.js';
import type { CheckT, FaultT, PhaseT, RecommendationT, Report } from './report-schema.js';
import { defaultScenario, ScenarioRunner, type ScenarioDefinition } from './scenario.js';
import { LoadMonitor, type ServiceLoad } from './scrape.js';
import type { SystemHandle } from './system-handle.js';
import { round } from './numbers.js';

export interface ProveOptions {
  readonly quick: boolean;
  readonly seed: number;
  readonly objective: Objective;
  readonly storeProxy: FaultProxy | undefined;
  readonly databaseProxy: FaultProxy | undefined;
  readonly progress: (line: string) => void;
  readonly scenario?: ScenarioDefinition;
  /**
   * The traces of the requests sent between two moments (epoch ms), when the system's spans are
   * collected (the console beside a system this run started). Without it, critical path and
   * chatter are not measured.
   */
  readonly traces?: (fromMs: number, toMs: number) => Promise<SpanRecord[][]>;
}

/** Spans leave the services in batches about once a second; the event hop ends a little later. */
const spanSettleMs = 3_000;

interface Durations {
  warmupMs: number;
  stepMs: number;
  steps: number;
  bisections: number;
  steadyMs: number;
  faultBeforeMs: number;
  faultMs: number;
  faultAfterMs: number;
  settleMs: number;
}

const durations = (quick: boolean): Durations =>
  quick
    ? { warmupMs: 3_000, stepMs: 3_000, steps: 7, bisections: 1, steadyMs: 6_000, faultBeforeMs: 2_000, faultMs: 3_000, faultAfterMs: 6_000, settleMs: 20_000 }
    : { warmupMs: 5_000, stepMs: 6_000, steps: 9, bisections: 2, steadyMs: 15_000, faultBeforeMs: 3_000, faultMs: 5_000, faultAfterMs: 9_000, settleMs: 30_000 };

interface Completion {
  readonly at: number;
  readonly name: string;
  readonly ok: boolean;
}

/** A 429 is the system refusing service: counted as a failure, or a rate limit would pass for capacity. */
export const served = (status: number) => status < 500 && status !== 429;

const fmtShare = (share: number) => `${(share * 100).toFixed(0)} %`;
const errorRateOf = (r: LoadResult) => (r.intended === 0 ? 0 : round(r.failed / r.intended, 4));

/** One step of the capacity search: what the client measured at `rps`, with each service's load over the step. */
export const capacityPoint = (rps: number, result: LoadResult, loads: readonly ServiceLoad[]): CapacityPoint => ({
  offeredRps: rps, achievedRps: round(result.achievedRps, 1), p50Ms: result.latency.p50, p99Ms: result.latency.p99, errorRate: errorRateOf(result),
  perService: Object.fromEntries(loads.map((l) => [l.service, { elu: l.elu, cpuShare: l.cpuShare, p99Ms: l.p99Ms }])), limitedByClient: result.client.limitedByClient,
});

/**
 * `readOrder` reads an order back for the integrity audit: straight from the store when this run
 * started the system, through the public API for a --target system.
 */
export async function prove(system: SystemHandle, api: ApiClient, readOrder: OrderReader, options: ProveOptions): Promise<Report> {
  const started = Date.now();
  const d = durations(options.quick);
  const { objective, progress } = options;
  const services = Object.entries(system.adminUrls).map(([name, adminUrl]) => ({ name, adminUrl: adminUrl as string }));
  const partnerAdmin = system.adminUrls.partner;
  const monitor = new LoadMonitor(services);
  const scenario = new ScenarioRunner(api, options.seed, options.scenario ?? defaultScenario);
  const needs = scenario.dependencies();
  const completions: Completion[] = [];
  const phases: PhaseT[] = [];
  const warnings: string[] = [];
  const peaks = new Map<string, { cpu: number; elu: number; rss: number }>();
  const notePeaks = (loads: readonly ServiceLoad[]) => {
    for (const l of loads) {
      const p = peaks.get(l.service) ?? { cpu: 0, elu: 0, rss: 0 };
      peaks.set(l.service, { cpu: Math.max(p.cpu, l.cpuShare), elu: Math.max(p.elu, l.elu), rss: Math.max(p.rss, l.rssMiB) });
    }
  };
  let clientHealth = { cpuPeak: 0, eldP99: 0, late: 0, intended: 0, unissued: 0, limited: false };

  const next = (sequence: number): Operation => {
    const operation = scenario.next(sequence);
    return {
      name: operation.name,
      // Outcomes are filed under the moment the request left: a request sent during a fault that
      // times out after it is still a failure during the fault.
      run: async (request) => {
        const sentAt = Date.now();
        try {
          const outcome = await operation.run(request);
          completions.push({ at: sentAt, name: operation.name, ok: served(outcome.status) });
          return outcome;
        } catch (error) {
          completions.push({ at: sentAt, name: operation.name, ok: false });
          throw error;
        }
      },
    };
  };

  let rateLimited = 0;
  const load = async (rps: number, durationMs: number, onProgress?: (s: LoadSnapshot) => void) => {
    const result = await runLoad({ shape: constant(rps), durationMs, next, timeoutMs: 5_000, maxInFlight: 512, progressEveryMs: 1_000, isSuccess: (o) => served(o.status), ...(onProgress ? { onProgress } : {}) });
    rateLimited += result.statuses['429'] ?? 0;
    clientHealth = {
      cpuPeak: Math.max(clientHealth.cpuPeak, result.client.cpuShareOfOneCore),
      eldP99: Math.max(clientHealth.eldP99, result.client.eventLoopDelayP99Ms),
      late: clientHealth.late + result.lateSends,
      intended: clientHealth.intended + result.intended,
      unissued: clientHealth.unissued + result.couldNotIssue,
      limited: clientHealth.limited || result.client.limitedByClient,
    };
    return result;
  };

  const phase = async <T>(name: string, fn: () => Promise<T>): Promise<T> => {
    const at = new Date();
    progress(`▶ ${name}`);
    try {
      return await fn();
    } finally {
      phases.push({ name, startedAt: at.toISOString(), durationMs: Date.now() - at.getTime() });
    }
  };

  // Warm-up: JIT, connection pools, caches. Excluded from every figure.
  await phase('warm-up', () => load(20, d.warmupMs));

  // Capacity search.
  const measure = async (rps: number): Promise<CapacityPoint> => {
    await monitor.start();
    const result = await load(rps, d.stepMs);
    const loads = await monitor.stop();
    notePeaks(loads);
    const point = capacityPoint(rps, result, loads);
    progress(`  ${String(rps).padStart(5)} rps offered → ${point.achievedRps} achieved, p99 ${point.p99Ms} ms, errors ${(point.errorRate * 100).toFixed(2)} %, busiest ${loads.slice().sort((a, b) => b.elu - a.elu)[0]?.service ?? '?'}`);
    return point;
  };
  const capacity = await phase('capacity', () => searchCapacity(measure, objective, { startRps: 25, growth: 1.6, maxSteps: d.steps, bisections: d.bisections, minPoints: 6 }));
  const kneeRps = capacity.knee?.offeredRps ?? null;
  const limiter = capacity.points.length > 0 ? limitedBy(capacity.points, capacity.firstBad, cpus().length) : null;
  // N is the offered rate, X the achieved one: how throughput bends as the offered load grows.
  const usl = fitUsl(capacity.points.map((p) => ({ n: p.offeredRps, x: p.achievedRps })));
  if (!capacity.firstBad) warnings.push(`the objective never broke up to ${capacity.points.at(-1)?.offeredRps ?? 0} rps: the knee is at least that, not measured`);

  // Steady state at half the knee.
  const steadyRps = Math.max(5, Math.round((kneeRps ?? 20) * 0.5));
  const steadyFrom = Date.now();
  let steadyLoads: readonly ServiceLoad[] = [];
  const steady = await phase('steady-state', async () => {
    await monitor.start();
    const result = await load(steadyRps, d.steadyMs);
    steadyLoads = await monitor.stop();
    notePeaks(steadyLoads);
    return result;
  });
  // Per process, not per service: co-located services report the same process's CPU and memory.
  const processLoads = [...new Map(steadyLoads.map((l) => [system.processes?.sharing(l.service as ServiceName)[0] ?? l.service, l])).values()];
  const steadyResources = processLoads.length === 0 || steady.achievedRps <= 0 ? { cpuMsPerRequest: null, rssMiB: null } : {
    cpuMsPerRequest: round(processLoads.reduce((sum, l) => sum + l.cpuShare, 0) * 1000 / steady.achievedRps, 3),
    rssMiB: round(processLoads.reduce((sum, l) => sum + l.rssMiB, 0)),
  };
  const steadyTo = Date.now();

  // Where the steady state's time went, from its traces, before any fault adds its own.
  let path: { critical: CriticalPathSummary; chatter: ChatterSummary } | undefined;
  if (options.traces) {
    path = await phase('critical path and chatter', async () => {
      await new Promise((resolve) => setTimeout(resolve, spanSettleMs));
      const traces = await options.traces!(steadyFrom, steadyTo);
      const critical = summarizeCriticalPath(traces);
      progress(`  ${critical.traces} traces; between services ${(critical.networkShare * 100).toFixed(1)} % of the critical path`);
      return { critical, chatter: summarizeChatter(traces) };
    });
    if (path.critical.traces === 0) warnings.push('no trace of the steady state reached the console: critical path and chatter are empty (is tracing off, or sampled to 0?)');
  }

  // Faults, each during steady load.
  const context: FaultContext = { system, partnerAdmin, storeProxy: options.storeProxy, databaseProxy: options.databaseProxy };
  const faultReports: FaultT[] = [];
  await phase('faults', async () => {
    for (const fault of faultScenarios) {
      const reason = fault.unavailable(context);
      if (reason) {
        progress(`  ${fault.name}: skipped (${reason})`);
        warnings.push(`fault "${fault.name}" skipped: ${reason}`);
        continue;
      }
      progress(`  ${fault.name}: ${fault.expected}`);
      const shared = sharedFateOf(fault, context);
      if (shared.length > 0) progress(`    in this topology ${fault.affects.join(', ')} shares its process with ${shared.join(', ')}: the fault hits them too`);
      faultReports.push(await runFault(fault, context, shared));
    }
  });

  async function runFault(fault: (typeof faultScenarios)[number], ctx: FaultContext, sharedFate: readonly ServiceName[]): Promise<FaultT> {
    const timeline: FaultT['timeline'] = [];
    let previous = { completed: 0, failed: 0 };
    const start = Date.now();
    const total = d.faultBeforeMs + d.faultMs + d.faultAfterMs;
    let injectedAt = 0;
    let healedAt = 0;
    const schedule = (async () => {
      await new Promise((r) => setTimeout(r, d.faultBeforeMs));
      injectedAt = Date.now() - start;
      await fault.inject(ctx);
      await new Promise((r) => setTimeout(r, d.faultMs));
      await fault.heal(ctx);
      healedAt = Date.now() - start;
    })();
    const completionsBefore = completions.length;
    await load(steadyRps, total, (s) => {
      // Every request that landed, whether with an answer or not: when the gateway itself is down
      // (a co-located process killed), every request fails without one.
      const completed = s.succeeded + s.failed;
      const failed = s.failed;
      const dc = completed - previous.completed;
      timeline.push({ tMs: s.elapsedMs, rps: round(s.interval.succeededRps, 1), errorRate: dc > 0 ? round((failed - previous.failed) / dc, 4) : 0, p99Ms: s.interval.latency.p99 });
      previous = { completed, failed };
    });
    await schedule.catch((error: unknown) => warnings.push(`fault "${fault.name}" could not be injected or healed: ${(error as Error).message}`));
    const during = timeline.filter((t) => t.tMs > injectedAt && t.tMs <= healedAt + 1_000);
    // A one-second bucket holds a few dozen requests, so its p99 is nearly its maximum: one slow
    // request would count as an incident. Latency counts only beyond twice the objective; errors count at the budget.
    const outside = (t: (typeof timeline)[number]) => t.errorRate > objective.errorBudget || t.p99Ms > objective.p99Ms * 2;
    const detected = timeline.find((t) => t.tMs > injectedAt && outside(t));
    // Recovered: from some bucket on, every remaining bucket (at least two) is back within the objective.
    let recoveredAt: number | null = null;
    const after = timeline.filter((t) => t.tMs > healedAt);
    for (let i = 0; i + 1 < after.length; i++) {
      if (after.slice(i).every((t) => !outside(t))) {
        recoveredAt = (after[i] as { tMs: number }).tMs;
        break;
      }
    }
    const window = completions.slice(completionsBefore).filter((c) => c.at - start > injectedAt && c.at - start <= healedAt);
    const kinds = [...new Set(window.map((c) => c.name))];
    const affected = kinds.filter((name) => {
      const mine = window.filter((c) => c.name === name);
      return mine.filter((c) => !c.ok).length / mine.length > objective.errorBudget;
    });
    // Spread: a request kind hurt by a fault in a service it does not need (nor in a service that shares the faulted process).
    const blastRadius = [...fault.affects, ...sharedFate];
    const spreadTo = affected.filter((name) => !(needs[name] ?? []).some((service) => blastRadius.includes(service)));
    const errorRateDuring = window.length ? round(window.filter((c) => !c.ok).length / window.length, 4) : 0;
    const recovered = detected === undefined || recoveredAt !== null;
    const report: FaultT = {
      name: fault.name, target: fault.target, sharedFate: [...sharedFate], injection: injectionOf(fault.name), expected: fault.expected,
      injectedAtMs: Math.round(injectedAt), durationMs: Math.round(healedAt - injectedAt), errorRateDuring, p99DuringMs: Math.max(0, ...during.map((t) => t.p99Ms)),
      timeToDetectMs: detected ? Math.round(detected.tMs - injectedAt) : null,
      timeToRecoverMs: detected ? (recoveredAt === null ? null : Math.round(Math.max(0, recoveredAt - healedAt))) : 0,
      spread: { affected, unaffected: kinds.filter((k) => !affected.includes(k)) },
      expectationMet: spreadTo.length === 0 && recovered,
      method: 'per-second buckets of the steady load (open model, latency from intended send time); a bucket is degraded when its error rate exceeds the budget or its p99 exceeds twice the objective; detected at the first degraded bucket after injection, recovered from the first bucket after which none is degraded; spread from the error rate per request kind while the fault was on',
      timeline,
    };
    progress(`    errors during ${(errorRateDuring * 100).toFixed(1)} %, affected: ${affected.join(', ') || 'none'}, ${report.timeToDetectMs === null ? 'no visible effect' : `recovered ${report.timeToRecoverMs === null ? 'not within the run' : `${(report.timeToRecoverMs / 1000).toFixed(1)} s after the fault ended`}`}`);
    return report;
  }

  const readBack = system.processes ? 'from the store over mTLS, past the gateway and orders' : 'through the public API (GET /v1/orders/{id})';
  const integrity: Integrity = await phase('integrity', () =>
    audit(scenario.placements, readOrder, partnerAdmin, { settleMs: d.settleMs, onProgress: (m) => progress(`  ${m}`) }),
  );

  const checks: CheckT[] = [
    { name: 'capacity search measured enough points', pass: capacity.points.length >= 6, figure: capacity.points.length, threshold: '≥ 6 points', howMeasured: 'stepped open-model rates, then bisection' },
    { name: 'a knee was found within the objective', pass: kneeRps !== null, figure: kneeRps ?? 'none', unit: 'rps', threshold: `p99 ≤ ${objective.p99Ms} ms and errors ≤ ${objective.errorBudget * 100} % at some rate`, howMeasured: 'highest offered rate that met the objective' },
    { name: 'steady-state p99 within the objective', pass: steady.latency.p99 <= objective.p99Ms, figure: steady.latency.p99, unit: 'ms', threshold: `≤ ${objective.p99Ms} ms`, howMeasured: `HDR histogram from intended send time at ${steadyRps} rps` },
    { name: 'steady-state errors within the budget', pass: errorRateOf(steady) <= objective.errorBudget, figure: errorRateOf(steady), unit: '%', threshold: `≤ ${objective.errorBudget * 100} %`, howMeasured: 'failed, timed-out and unissued requests over intended requests' },
    ...faultReports.map((f) => ({ name: `fault: ${f.name} behaves as expected`, pass: f.expectationMet, figure: f.spread.affected.join(', ') || 'no request kind affected', threshold: f.expected, howMeasured: f.method })),
    {
      name: 'no acknowledged order lost', pass: integrity.lost === 0 && integrity.unverified === 0,
      figure: integrity.unverified === 0 ? integrity.lost : `${integrity.lost} lost, ${integrity.unverified} unverified`, threshold: '= 0, every one read back', howMeasured: `every acknowledged order id read back ${readBack}`,
    },
    ...(integrity.duplicates === null ? [] : [{ name: 'no order fulfilled twice', pass: integrity.duplicates === 0, figure: integrity.duplicates, threshold: '= 0', howMeasured: "the partner's ledger: accepts per order id" }]),
    { name: 'every deliverable order reached the partner', pass: integrity.undelivered === 0, figure: integrity.undelivered, threshold: '= 0 undelivered', howMeasured: `acknowledged, not cancelled orders fulfilled${partnerAdmin ? " and in the partner's ledger" : ' (their state as the API reports it; the ledger is out of reach)'} within ${d.settleMs / 1000} s after the load` },
  ];

  const recommendations: RecommendationT[] = [];
  if (limiter && limiter.service !== 'unknown' && limiter.service !== 'load-client' && kneeRps !== null) {
    recommendations.push({
      kind: limiter.service === 'store' ? 'split' : 'scale', target: limiter.service,
      text: limiter.service === 'store'
        ? `The store saturated first. It is one process owning the database: move order reads to a replica or cache, and keep one transaction per order; scaling it out means more connections to the same database.`
        : `${limiter.service} saturated first. It is stateless: run more replicas of it (and of nothing else) before anything else.`,
      evidence: [`knee ${kneeRps} rps`, limiter.evidence],
    });
  }
  for (const f of faultReports.filter((x) => !x.expectationMet)) {
    recommendations.push({
      kind: f.spread.affected.length > 0 ? 'bulkhead' : 'timeout', target: f.target,
      text: `The "${f.name}" fault reached request kinds that do not depend on ${f.target} (${f.spread.affected.join(', ')}): isolate their resources (separate pools, a bulkhead) or tighten timeouts and breakers on the path to ${f.target}.`,
      evidence: [`errors during the fault ${(f.errorRateDuring * 100).toFixed(1)} %`, `p99 during ${f.p99DuringMs} ms`],
    });
  }
  const hops = path ? Object.entries(path.critical.perEdge).sort((a, b) => b[1].meanMs - a[1].meanMs) : [];
  const [widestHop, widest] = hops[0] ?? [];
  if (path && widestHop && widest && path.critical.networkShare >= 0.25) {
    const [caller, callee] = widestHop.split('->');
    const calls = path.chatter.perEdge[widestHop]?.callsPerRequest ?? 0;
    recommendations.push({
      kind: 'colocate', target: widestHop.replace('->', ' → '),
      text: `${fmtShare(path.critical.networkShare)} of the critical path is spent between services, most of it on ${caller} → ${callee}. Run the two in one process (their calls then skip TLS and the network), or make fewer calls between them by batching what ${caller} asks of ${callee} per request.`,
      evidence: [`${fmtShare(widest.share)} of the critical path on ${widestHop}, ${widest.meanMs} ms per request`, `${calls} calls per request on it`, `${path.critical.traces} traces at ${steadyRps} rps`],
    });
  }
  const reads = steady.byOperation.read?.latency.p50;
  // Only the default scenario's operation names carry this meaning.
  const browse = steady.byOperation.browse?.latency.p50;
  if (reads !== undefined && browse !== undefined && reads > browse * 1.5) {
    recommendations.push({
      kind: 'cache', target: 'orders → store (order reads)',
      text: 'Order reads cost clearly more than catalog reads, which orders already caches: an order changes state a few times in its life, so a short-lived cache keyed by id and invalidated on transition would take most reads off the store.',
      evidence: [`read p50 ${reads} ms`, `browse (cached catalog) p50 ${browse} ms`, `read share of traffic ${Math.round((steady.byOperation.read?.count ?? 0) / Math.max(1, steady.intended) * 100)} %`],
    });
  }
  if (integrity.duplicates === null) warnings.push("duplicate fulfilments were not measured: the partner's ledger (its admin port) is out of reach of this run");
  if (services.length === 0) warnings.push('no admin port is reachable: which service saturated, per-service latency, CPU and memory are not measured');
  if (rateLimited > 0) warnings.push(`the system answered 429 (rate limited) ${rateLimited} times, counted as failures: if that was the load client's own policy, raise it where the system runs (e.g. POC_RATE_LIMIT_CLIENTS=${api.clientId}=20000:40000), or the knee is the rate limit`);
  if (clientHealth.limited) warnings.push('the load client was at its own limit during part of the run: the knee it reports is a lower bound');
  const machineCores = cpus().length;
  if (machineCores <= 4 && system.processes) warnings.push(`the load client shares ${machineCores} cores with the five services: every figure includes that contention`);

  let commit = 'unknown';
  try {
    commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    // not a git checkout
  }
  const notMeasured = 'not measured: this run collects no spans (a --target run, or tracing off)';
  const criticalMethod = `from every trace the steady state sent (100 % sampled, collected by the console): the path the response waited for, walked back from the gateway's server span's end through the child that finished last at each step; a service's own time is its spans' time not covered by a child on the path, a hop's time is a client span's time not covered by its callee's server span (connection, TLS, serialisation, queueing), database statements count as the database's; work after the response (events, the partner) is off the path`;
  const chatterMethod = 'client spans per hop per user request over the same traces, the event hop and the partner included, retries counted as calls; bytes are request plus response bodies as the caller sent and received them; calls that overlap in time count as one round trip';
  return {
    schemaVersion: 1,
    system: {
      profile: system.profile, topology: system.description, commit, node: process.version,
      machine: { cores: machineCores, memoryGiB: round(totalmem() / 1024 ** 3, 1), cpuModel: cpus()[0]?.model ?? 'unknown' },
      loadClientSharesCores: system.processes !== undefined, seed: options.seed,
      config: { quick: options.quick, objective, durations: d, scenario: scenario.definition.name },
    },
    loadClient: {
      cpuSharePeak: round(Math.min(1, clientHealth.cpuPeak / machineCores)), eventLoopDelayP99Ms: round(clientHealth.eldP99),
      lateSendShare: clientHealth.intended ? round(clientHealth.late / clientHealth.intended, 4) : 0, unissued: clientHealth.unissued, wasLimit: clientHealth.limited,
    },
    startedAt: new Date(started).toISOString(),
    durationMs: Date.now() - started,
    phases: path ? phases : [...phases, { name: 'critical path and chatter', startedAt: new Date().toISOString(), durationMs: 0, skipped: { reason: notMeasured } }],
    services: [...peaks].map(([name, p]) => ({ name, cpuSharePeak: round(Math.min(1, p.cpu / machineCores)), eventLoopUtilizationPeak: Math.min(1, p.elu), rssMiB: p.rss })),
    capacity: {
      knee_rps: kneeRps, limited_by: limiter, slo: objective,
      points: capacity.points.map((p) => ({ offeredRps: p.offeredRps, achievedRps: p.achievedRps, p50Ms: p.p50Ms, p99Ms: p.p99Ms, errorRate: p.errorRate, perService: Object.fromEntries(Object.entries(p.perService).map(([k, v]) => [k, { elu: Math.min(1, v.elu), p99Ms: v.p99Ms }])) })),
      usl: usl ? { sigma: usl.sigma, kappa: usl.kappa, lambda: Math.max(usl.lambda, 1e-9), r2: Math.min(1, usl.r2) } : null,
      method: `open-model arrival rate from 25 rps, ×1.6 per ${d.stepMs / 1000} s step until p99 > ${objective.p99Ms} ms or errors > ${objective.errorBudget * 100} % or achieved < 90 % of offered, then ${d.bisections} bisection(s); latency from intended send time in HDR histograms; ${services.length > 0 ? "per-service event-loop utilisation scraped from each admin port every second; per-service p99 from the difference of each service's server-side latency histogram over the step (resolution: its bucket bounds)" : 'no admin port reachable, so no per-service figures'}`,
    },
    steady_state: {
      offeredRps: steadyRps, achievedRps: round(steady.achievedRps, 1), fractionOfKnee: kneeRps ? round(steadyRps / kneeRps, 2) : 0, durationMs: steady.durationMs, requests: steady.intended,
      p50Ms: steady.latency.p50, p90Ms: steady.latency.p90, p99Ms: steady.latency.p99, p999Ms: steady.latency.p999, maxMs: steady.latency.max, errorRate: errorRateOf(steady),
      ...steadyResources,
      method: "open model at half the knee; latency from intended send time (coordinated omission corrected), HDR histogram; CPU per request from each process's process_cpu_seconds_total over the phase (admin port scraped every second) divided by completed requests, memory from process_resident_memory_bytes",
    },
    critical_path: path ? { ...path.critical, method: criticalMethod } : { perService: {}, perEdge: {}, networkShare: 0, traces: 0, method: notMeasured },
    chatter: path ? { ...path.chatter, method: chatterMethod } : { perEdge: {}, method: notMeasured },
    faults: faultReports,
    integrity: {
      acknowledged: integrity.acknowledged, indeterminate: integrity.indeterminate, persisted: integrity.persisted, lost: integrity.lost, unverified: integrity.unverified, delivered: integrity.delivered, duplicates: integrity.duplicates,
      lost_order_ids: integrity.lostOrderIds.slice(0, 20),
      method: `every placement classified by what the client saw; acknowledged ids read back ${readBack}; ${partnerAdmin ? "the partner's ledger read from its admin port" : "the partner's ledger out of reach, so delivery is the order state the API reports"} after the system settled (≤ ${d.settleMs / 1000} s)`,
    },
    checks,
    recommendations,
    warnings,
  };
}

function injectionOf(name: string): string {
  switch (name) {
    case 'partner failing': return "the partner's admin fault switch: every fulfilment request answered 503";
    case 'integration killed': return 'SIGKILL to the integration process, restarted when the fault ends';
    case 'store paused': return 'SIGSTOP to the store process, SIGCONT when the fault ends';
    case 'store slowed': return 'TCP fault proxy between every caller and the store: 100 ms ± 20 ms added to each chunk';
    case 'database connection cut': return 'TCP fault proxy between the store and PostgreSQL: every connection reset while the fault lasts';
    default: return name;
  }
}

