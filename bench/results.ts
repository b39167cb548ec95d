/**
 * What a bench run produces: the figures per variant, the ratios between them, the targets they are
 * held to, and the table in bench/README.md that is generated from them.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { median, round } from '@msa-poc/harness/numbers';
import { pairedShares, type PairedResult } from './paired.js';
import type { ServiceProfile } from './profile.js';

export interface VariantResult {
  readonly name: string;
  /** What runs, in words. */
  readonly description: string;
  /** The open-model knee, rps: the highest offered rate that met the objective; null when none did. */
  readonly kneeRps: number | null;
  /** The objective held at every rate the search offered, up to its last: the knee is at least `kneeRps`. */
  readonly kneeIsLowerBound: boolean;
  /** CPU the services used with no load, in cores: pollers, exporters and timers. */
  readonly idleCores: number;
  /** The rates the knee search measured, in order of rate. */
  readonly points: readonly { offeredRps: number; achievedRps: number; p99Ms: number; errorRate: number }[];
  /** At the common fixed rate. */
  readonly fixed: {
    readonly offeredRps: number;
    readonly achievedRps: number;
    readonly p50Ms: number;
    /** p50 of the read path alone (the catalog and an order by id), from intended send time. */
    readonly readP50Ms: number;
    readonly p99Ms: number;
    readonly errorRate: number;
    /** CPU of all the variant's service processes per completed request, µs. */
    readonly cpuUsPerRequest: number;
    /** The same less the idle CPU over the run's length: what the requests themselves cost, µs. */
    readonly netCpuUsPerRequest: number;
    /** Per service: CPU µs per request and resident memory at the end of the fixed-rate run, MiB. */
    readonly perService: Record<string, { cpuUsPerRequest: number; rssMiB: number }>;
  };
}

export interface MicroResult {
  readonly name: string;
  /** This process's CPU time per call, µs. */
  readonly cpuUs: number;
  /** Wall time per iteration, µs. */
  readonly p50Us: number;
  readonly meanUs: number;
  readonly p99Us: number;
  readonly samples: number;
}

export interface ClientComparison {
  readonly autocannonRps: number;
  /** The load client's transport (`harness/http.ts`) in a closed loop, without its scheduling. */
  readonly transportClosedLoopRps: number;
  readonly loadClientRps: number;
  readonly connections: number;
  readonly durationMs: number;
}

export interface Target {
  readonly name: string;
  readonly figure: number;
  /** `max`: the figure must stay at or below; `min`: at or above. */
  readonly direction: 'min' | 'max';
  readonly bar: number;
  readonly target: number;
  /**
   * pass: the bar holds; warn: it does not; inconclusive: the figure is one the system cannot
   * produce (full faster than the bare floor, a feature that makes it faster), so the run's noise
   * outweighed what it measured.
   */
  readonly status: 'pass' | 'warn' | 'inconclusive';
  readonly targetMet: boolean;
  /** Set when the figure is only a bound (a knee the search could not break). */
  readonly bound?: Bound;
}

export interface BenchResults {
  readonly startedAt: string;
  readonly durationS: number;
  readonly options: { readonly quick: boolean; readonly variants: readonly string[] };
  readonly machine: { readonly cores: number; readonly memoryGiB: number; readonly node: string; readonly cpuModel: string; readonly os: string };
  readonly method: Record<string, string>;
  readonly variants: readonly VariantResult[];
  /** The variants measured side by side with a full system at saturation, when any were. */
  readonly paired?: PairedResult;
  readonly micro: readonly MicroResult[];
  readonly client: ClientComparison | null;
  readonly ratios: Record<string, number>;
  /** The ratios that are only bounds, because a knee they divide was only a lower bound. */
  readonly bounds: Readonly<Record<string, Bound>>;
  readonly targets: readonly Target[];
  /** With --cpu-prof: per variant and service, where the busy time under load went. */
  readonly profiles?: Record<string, Record<string, ServiceProfile>>;
}

/** `at most`: the true figure is this or less; `at least`: this or more. */
export type Bound = 'at most' | 'at least';

const cpuOf = (variants: readonly VariantResult[], name: string) => variants.find((v) => v.name === name)?.fixed.netCpuUsPerRequest || undefined;

/**
 * The ratios the issue asks for, from what was measured; a ratio whose inputs were not measured is
 * left out. A feature's throughput share is the part of the knee it costs: 1 − knee(full) /
 * knee(without it); its CPU share the part of the CPU per request (net of idle): 1 − cpu(without) / cpu(full).
 * A variant measured paired at saturation takes its shares from there instead (paired.ts), with
 * the lowest and highest round's throughput share beside the median.
 *
 * `bounds` names the ratios that are only bounds: a knee whose search never broke the objective is
 * a lower bound, so a ratio with it above the line is one too, below the line an upper bound, and a
 * share (1 − full / without) the other way round. A ratio both of whose knees are lower bounds says
 * nothing and is left out.
 */
export function computeRatios(variants: readonly VariantResult[], micro: readonly MicroResult[], client: ClientComparison | null, paired?: PairedResult): { ratios: Record<string, number>; bounds: Record<string, Bound> } {
  const ratios: Record<string, number> = {};
  const bounds: Record<string, Bound> = {};
  const variantOf = (name: string) => variants.find((v) => v.name === name);
  /** knee(numerator) / knee(denominator), or 1 − that for a share, with the bound it is. */
  const kneeRatio = (name: string, numerator: string, denominator: string, share = false) => {
    const [above, below] = [variantOf(numerator), variantOf(denominator)];
    if (!above?.kneeRps || !below?.kneeRps || (above.kneeIsLowerBound && below.kneeIsLowerBound)) return;
    const quotient = above.kneeRps / below.kneeRps;
    ratios[name] = round(share ? 1 - quotient : quotient, 3);
    const bound: Bound | undefined = above.kneeIsLowerBound ? 'at least' : below.kneeIsLowerBound ? 'at most' : undefined;
    if (bound) bounds[name] = share ? (bound === 'at least' ? 'at most' : 'at least') : bound;
  };
  kneeRatio('full_over_bare_knee', 'full', 'bare');
  const fullCpu = cpuOf(variants, 'full');
  const bareCpu = cpuOf(variants, 'bare');
  if (fullCpu && bareCpu) ratios.full_over_bare_cpu_per_request = round(fullCpu / bareCpu, 2);
  const dpop = micro.find((m) => m.name === 'dpop-proof-verify');
  if (dpop) ratios.dpop_us_per_request = round(dpop.cpuUs, 1);
  const token = micro.find((m) => m.name === 'access-token-verify');
  if (token) ratios.access_token_us = round(token.cpuUs, 1);
  if (client && client.autocannonRps > 0) ratios.load_client_over_autocannon = round(client.loadClientRps / client.autocannonRps, 3);
  if (client && client.transportClosedLoopRps > 0) ratios.load_client_over_transport_closed_loop = round(client.loadClientRps / client.transportClosedLoopRps, 3);
  // Granularity: the same system with its services in one process against one process each.
  kneeRatio('colocated_over_split_knee', 'colocated', 'full');
  const [split, together] = [variantOf('full')?.fixed, variantOf('colocated')?.fixed];
  if (split?.p50Ms && together?.p50Ms) ratios.colocated_over_split_p50 = round(together.p50Ms / split.p50Ms, 3);
  if (split?.readP50Ms && together?.readP50Ms) ratios.colocated_over_split_read_p50 = round(together.readP50Ms / split.readP50Ms, 3);
  for (const variant of variants) {
    const feature = /^without-(.+)$/.exec(variant.name)?.[1];
    if (!feature) continue;
    kneeRatio(`${feature}_throughput_share`, 'full', variant.name, true);
    const cpu = cpuOf(variants, variant.name);
    if (fullCpu && cpu) ratios[`${feature}_cpu_share`] = round(1 - cpu / fullCpu, 3);
  }
  if (paired) {
    const reference = paired.variants.find((v) => v.name === paired.reference);
    for (const [name, { share, low, high }] of Object.entries(pairedShares(paired))) {
      const feature = /^without-(.+)$/.exec(name)?.[1] ?? name;
      ratios[`${feature}_throughput_share`] = share;
      delete bounds[`${feature}_throughput_share`];
      ratios[`${feature}_throughput_share_low`] = low;
      ratios[`${feature}_throughput_share_high`] = high;
      const cpu = paired.variants.find((v) => v.name === name)?.medianCpuUsPerRequest;
      if (reference?.medianCpuUsPerRequest && cpu) ratios[`${feature}_cpu_share`] = round(1 - cpu / reference.medianCpuUsPerRequest, 3);
    }
  }
  return { ratios, bounds };
}

type TargetSpec = Omit<Target, 'figure' | 'status' | 'targetMet'> & { readonly possible?: { readonly min: number; readonly max: number } };

const targetSpecs: readonly TargetSpec[] = [
  { name: 'full_over_bare_knee', direction: 'min', bar: 0.7, target: 0.8, possible: { min: 0, max: 1 } },
  { name: 'tracing_throughput_share', direction: 'max', bar: 0.1, target: 0.05, possible: { min: 0, max: 1 } },
  // Tracing at 100 % sampling and metrics together, switched off in one variant.
  { name: 'telemetry_throughput_share', direction: 'max', bar: 0.1, target: 0.05, possible: { min: 0, max: 1 } },
  { name: 'dpop_us_per_request', direction: 'max', bar: 150, target: 100 },
  { name: 'load_client_over_autocannon', direction: 'min', bar: 0.8, target: 0.9 },
  // Co-location's promise: at least twice the knee, and at most a third of the read path's p50 at the common rate.
  { name: 'colocated_over_split_knee', direction: 'min', bar: 2, target: 2 },
  { name: 'colocated_over_split_read_p50', direction: 'max', bar: 0.333, target: 0.333 },
];

/**
 * Each target whose figure was measured, with pass (the bar holds), warn, or inconclusive. A figure
 * that is only a bound decides where the bound alone settles it (a ratio of at most 0.4 misses a
 * bar of 0.7) and is inconclusive where it does not.
 */
export function judgeTargets(ratios: Readonly<Record<string, number>>, bounds: Readonly<Record<string, Bound>> = {}): Target[] {
  return targetSpecs.flatMap(({ possible, ...spec }) => {
    const figure = ratios[spec.name];
    if (figure === undefined) return [];
    const bound = bounds[spec.name];
    // Whether the true figure, of which `figure` may be a bound, surely holds `limit`, surely misses it, or may do either.
    const judge = (limit: number): 'holds' | 'misses' | 'unknown' => {
      const holds = spec.direction === 'min' ? figure >= limit : figure <= limit;
      const boundHelps = bound === undefined || (bound === 'at least') === (spec.direction === 'min');
      if (holds) return boundHelps ? 'holds' : 'unknown';
      return bound === undefined || !boundHelps ? 'misses' : 'unknown';
    };
    const plausible = !possible || (figure >= possible.min && figure <= possible.max);
    const atBar = judge(spec.bar);
    const status = !plausible || atBar === 'unknown' ? 'inconclusive' : atBar === 'holds' ? 'pass' : 'warn';
    return [{ ...spec, figure, ...(bound ? { bound } : {}), status, targetMet: plausible && judge(spec.target) === 'holds' } as Target];
  });
}

export const readmeMarkers = { start: '<!-- bench:results:start -->', end: '<!-- bench:results:end -->' } as const;

const cell = (value: number | null | undefined, digits = 0) => (value === null || value === undefined ? '–' : value.toFixed(digits));
export const boundMark = (bound: Bound | undefined) => (bound === 'at most' ? '≤ ' : bound === 'at least' ? '≥ ' : '');

/** The Markdown that stands between the README's markers: the run, its variants, ratios and targets. */
export function renderTable(results: BenchResults): string {
  const { machine } = results;
  const services = [...new Set(results.variants.flatMap((v) => Object.keys(v.fixed.perService)))];
  const lines = [
    `Measured ${results.startedAt.slice(0, 16).replace('T', ' ')} UTC by \`npm run bench${results.options.quick ? ' -- --quick' : ''}\` (${results.durationS} s) on ${machine.cores} cores (${machine.cpuModel}), ${machine.memoryGiB} GiB, Node ${machine.node}, ${machine.os}; the machine was shared, so read ratios, not absolute figures.`,
    '',
    `| variant | knee rps | idle CPU cores | at ${results.variants[0]?.fixed.offeredRps ?? '–'} rps: achieved | p50 ms | read p50 ms | p99 ms | CPU µs/request | net of idle | ${services.map((s) => `${s} RSS MiB`).join(' | ')} |`,
    `| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ${services.map(() => '---:').join(' | ')} |`,
    ...results.variants.map((v) => `| ${v.name} | ${v.kneeIsLowerBound ? '≥ ' : ''}${cell(v.kneeRps)} | ${cell(v.idleCores, 2)} | ${cell(v.fixed.achievedRps, 1)} | ${cell(v.fixed.p50Ms, 1)} | ${cell(v.fixed.readP50Ms, 1)} | ${cell(v.fixed.p99Ms, 1)} | ${cell(v.fixed.cpuUsPerRequest)} | ${cell(v.fixed.netCpuUsPerRequest)} | ${services.map((s) => cell(v.fixed.perService[s]?.rssMiB)).join(' | ')} |`),
    ...pairedTable(results.paired),
    '',
    '| micro-benchmark | CPU µs/call | wall p50 µs | wall p99 µs | samples |',
    '| --- | ---: | ---: | ---: | ---: |',
    ...results.micro.map((m) => `| ${m.name} | ${cell(m.cpuUs, 1)} | ${cell(m.p50Us, 1)} | ${cell(m.p99Us, 1)} | ${m.samples} |`),
    '',
    '| ratio | value |',
    '| --- | ---: |',
    ...Object.entries(results.ratios).map(([name, value]) => `| ${name} | ${boundMark(results.bounds[name])}${value} |`),
    '',
    '| target | figure | bar | target | status |',
    '| --- | ---: | ---: | ---: | --- |',
    ...results.targets.map((t) => `| ${t.name} | ${boundMark(t.bound)}${t.figure} | ${t.direction === 'min' ? '≥' : '≤'} ${t.bar} | ${t.direction === 'min' ? '≥' : '≤'} ${t.target} | ${t.status}${t.status === 'inconclusive' || t.targetMet ? '' : ' (target missed)'} |`),
  ];
  return lines.join('\n');
}

/** The side-by-side rounds at saturation, one row per system, when the run had any. */
function pairedTable(paired: PairedResult | undefined): string[] {
  if (!paired) return [];
  const shares = pairedShares(paired);
  const rounds = paired.plan.rounds;
  return [
    '',
    `Side by side at saturation (${paired.plan.concurrency} in flight, ${rounds} rounds of ${paired.plan.windowMs / 1000} s; rps over the window and the drain after it):`,
    '',
    `| variant | ${Array.from({ length: rounds }, (_, i) => `round ${i + 1} rps`).join(' | ')} | median rps | median drain s | CPU µs/request | throughput share (lowest – highest round) |`,
    `| --- | ${Array.from({ length: rounds }, () => '---:').join(' | ')} | ---: | ---: | ---: | ---: |`,
    ...paired.variants.map((v) => {
      const share = shares[v.name];
      return `| ${v.name} | ${v.windows.map((w) => cell(w.rps, 1)).join(' | ')} | ${cell(v.medianRps, 1)} | ${cell(median(v.windows.map((w) => w.drainMs / 1000)), 1)} | ${cell(v.medianCpuUsPerRequest)} | ${share ? `${share.share} (${share.low} – ${share.high})` : 'reference'} |`;
    }),
  ];
}

/** Replaces what stands between the markers in `readme` with the table; the markers must be there. */
export function withTable(readme: string, table: string): string {
  const start = readme.indexOf(readmeMarkers.start);
  const end = readme.indexOf(readmeMarkers.end);
  if (start === -1 || end < start) throw new Error(`the README has no ${readmeMarkers.start} … ${readmeMarkers.end} pair to put the results between`);
  return `${readme.slice(0, start + readmeMarkers.start.length)}\n${table}\n${readme.slice(end)}`;
}

export function updateReadme(file: string, results: BenchResults): void {
  writeFileSync(file, withTable(readFileSync(file, 'utf8'), renderTable(results)));
}
