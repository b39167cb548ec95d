/**
 * `poc prove --compare-topologies split,colocated[,FILE…]`: the same proving run on each topology,
 * one after the other on this machine, then the figures side by side and, for each pair of
 * services that call each other, whether to run them together or apart — citing the figures.
 */
import { writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { writeReport } from '@msa-poc/harness/report';
import type { Report } from '@msa-poc/harness/report-schema';
import type { Placement } from './placement.js';
import { proveStarted, scenarioOf, timestamp, type ProveCommand } from './prove.js';

export interface TopologyRun {
  readonly placement: Placement;
  readonly report: Report;
}

export interface TopologyFigures {
  readonly topology: string;
  readonly processes: readonly string[];
  readonly kneeRps: number | null;
  readonly limitedBy: string | null;
  readonly steady: { readonly rps: number; readonly p50Ms: number; readonly p99Ms: number; readonly cpuMsPerRequest: number | null; readonly rssMiB: number | null } | null;
  /** Service-to-service calls and bytes per user request that crossed a process boundary (database statements not counted). */
  readonly networkCallsPerRequest: number;
  readonly networkBytesPerRequest: number;
  /** Share of the critical path spent between services (in-process hops included: serialisation and validation remain). */
  readonly betweenServicesShare: number | null;
  readonly faults: readonly { readonly name: string; readonly sharedFate: readonly string[]; readonly errorRateDuring: number; readonly p99DuringMs: number; readonly expectationMet: boolean }[];
  readonly checksFailed: readonly string[];
}

export interface PairAdvice {
  readonly pair: readonly [string, string];
  readonly verdict: 'together' | 'apart' | 'either';
  readonly because: string;
}

export interface Comparison {
  /** The highest capacity-search rate every topology measured and met the objective at; null when there is none. */
  readonly commonRate: { readonly rps: number; readonly byTopology: Record<string, { p50Ms: number; p99Ms: number }> } | null;
  readonly topologies: readonly TopologyFigures[];
  readonly pairs: readonly PairAdvice[];
  readonly method: string;
}

const processIndex = (placement: Placement, service: string): number => placement.processes.findIndex((p) => (p.services as readonly string[]).includes(service));
/** Whether a hop from caller to callee leaves the process: always for the database and anything no process hosts. */
const crosses = (placement: Placement, caller: string, callee: string): boolean => {
  const a = processIndex(placement, caller);
  const b = processIndex(placement, callee);
  return a < 0 || b < 0 || a !== b;
};
const edgeOf = (key: string): [string, string] => key.split('->') as [string, string];
const fmt = (value: number | null | undefined, unit = '', digits = 1): string => (value === null || value === undefined ? 'n/a' : `${Number(value.toFixed(digits))}${unit}`);

function figuresOf({ placement, report }: TopologyRun): TopologyFigures {
  let calls = 0;
  let bytes = 0;
  for (const [key, edge] of Object.entries(report.chatter.perEdge)) {
    const [caller, callee] = edgeOf(key);
    // Statements go where the store's database is, whatever the topology: not a hop between services.
    if (callee === 'database' || !crosses(placement, caller, callee)) continue;
    calls += edge.callsPerRequest;
    bytes += edge.bytesPerRequest;
  }
  const steady = report.steady_state;
  return {
    topology: placement.name,
    processes: placement.processes.map((p) => `${p.name}: ${p.services.join(' + ')}`),
    kneeRps: report.capacity?.knee_rps ?? null,
    limitedBy: report.capacity?.limited_by?.service ?? null,
    steady: steady ? { rps: steady.offeredRps, p50Ms: steady.p50Ms, p99Ms: steady.p99Ms, cpuMsPerRequest: steady.cpuMsPerRequest, rssMiB: steady.rssMiB } : null,
    networkCallsPerRequest: Number(calls.toFixed(2)),
    networkBytesPerRequest: Math.round(bytes),
    betweenServicesShare: report.critical_path.traces > 0 ? report.critical_path.networkShare : null,
    faults: report.faults.map((f) => ({ name: f.name, sharedFate: f.sharedFate, errorRateDuring: f.errorRateDuring, p99DuringMs: f.p99DuringMs, expectationMet: f.expectationMet })),
    checksFailed: report.checks.filter((c) => !c.pass).map((c) => c.name),
  };
}

function commonRateOf(runs: readonly TopologyRun[]): Comparison['commonRate'] {
  const met = (run: TopologyRun) => new Map((run.report.capacity?.points ?? [])
    .filter((p) => p.p99Ms <= (run.report.capacity?.slo.p99Ms ?? 0) && p.errorRate <= (run.report.capacity?.slo.errorBudget ?? 0))
    .map((p) => [p.offeredRps, p]));
  const byRun = runs.map(met);
  const shared = [...(byRun[0]?.keys() ?? [])].filter((rate) => byRun.every((m) => m.has(rate))).sort((a, b) => b - a);
  const rate = shared[0];
  if (rate === undefined) return null;
  return { rps: rate, byTopology: Object.fromEntries(runs.map((run, i) => { const p = byRun[i]?.get(rate); return [run.placement.name, { p50Ms: p?.p50Ms ?? 0, p99Ms: p?.p99Ms ?? 0 }]; })) };
}

/**
 * For each pair of services with calls between them, compares a topology that runs them together
 * with one that keeps them apart: together when that raises the knee or cuts the latency at the
 * common rate by a fifth or more and their calls are on the user's critical path (they already
 * fail together through it); apart when their calls are off the path (asynchronous work) or the
 * gain is smaller.
 */
function pairsOf(runs: readonly TopologyRun[], common: Comparison['commonRate']): PairAdvice[] {
  const advice: PairAdvice[] = [];
  const seen = new Set<string>();
  for (const run of runs) {
    for (const key of Object.keys(run.report.chatter.perEdge)) {
      const [a, b] = edgeOf(key);
      const pairKey = [a, b].sort().join('+');
      if (seen.has(pairKey) || b === 'database' || processIndex(run.placement, a) < 0 || processIndex(run.placement, b) < 0) continue;
      const together = runs.find((r) => !crosses(r.placement, a, b));
      const apart = runs.find((r) => crosses(r.placement, a, b));
      if (!together || !apart) continue;
      seen.add(pairKey);
      const traffic = [`${a}->${b}`, `${b}->${a}`].map((k) => apart.report.chatter.perEdge[k]).filter((e) => e !== undefined);
      const calls = traffic.reduce((sum, e) => sum + e.callsPerRequest, 0);
      const bytes = traffic.reduce((sum, e) => sum + e.bytesPerRequest, 0);
      const onPath = [`${a}->${b}`, `${b}->${a}`].some((k) => (apart.report.critical_path.perEdge[k]?.meanMs ?? 0) > 0);
      const kneeApart = apart.report.capacity?.knee_rps ?? null;
      const kneeTogether = together.report.capacity?.knee_rps ?? null;
      const kneeRatio = kneeApart && kneeTogether ? kneeTogether / kneeApart : null;
      const p50Apart = common?.byTopology[apart.placement.name]?.p50Ms;
      const p50Together = common?.byTopology[together.placement.name]?.p50Ms;
      const latencyRatio = p50Apart && p50Together !== undefined ? p50Together / p50Apart : null;
      const sharedFate = together.report.faults.filter((f) => f.sharedFate.length > 0 && [a, b].some((s) => f.target.startsWith(s)) && [a, b].some((s) => f.sharedFate.includes(s)));
      const figures = [
        `the knee ${kneeRatio === null ? 'could not be compared' : `goes from ${fmt(kneeApart, ' rps', 0)} (${apart.placement.name}) to ${fmt(kneeTogether, ' rps', 0)} (${together.placement.name}), ×${fmt(kneeRatio, '', 2)}`}`,
        common && latencyRatio !== null ? `p50 at ${common.rps} rps from ${fmt(p50Apart, ' ms')} to ${fmt(p50Together, ' ms')}` : 'no common rate to compare latency at',
        `${fmt(calls, '', 2)} calls and ${fmt(bytes, ' B', 0)} per user request stop crossing the network`,
        sharedFate.length > 0 ? `but ${sharedFate.map((f) => `"${f.name}" took ${f.sharedFate.join(', ')} down with it (errors ${fmt(f.errorRateDuring * 100, ' %')})`).join('; ')}` : '',
      ].filter(Boolean).join('; ');
      const gains = (kneeRatio !== null && kneeRatio >= 1.2) || (latencyRatio !== null && latencyRatio <= 0.8);
      const verdict: PairAdvice['verdict'] = !onPath ? 'apart' : gains ? 'together' : kneeRatio !== null && kneeRatio < 0.9 ? 'apart' : 'either';
      const why = !onPath
        ? `their calls are off the user's critical path (asynchronous work), so co-locating them buys users nothing and makes them share fate: ${figures}`
        : verdict === 'together'
          ? `their calls are on the critical path, so they already fail together through a synchronous dependency; co-located, ${figures}`
          : verdict === 'apart'
            ? `co-located, the system did worse: ${figures}`
            : `the gain is under a fifth (within this machine's noise): ${figures}`;
      advice.push({ pair: [a, b], verdict, because: why });
    }
  }
  return advice;
}

export function compareReports(runs: readonly TopologyRun[]): Comparison {
  const commonRate = commonRateOf(runs);
  return {
    commonRate,
    topologies: runs.map(figuresOf),
    pairs: pairsOf(runs, commonRate),
    method: "each topology proved in turn on the same machine with the same seed and phases (poc prove); knee and latency from the capacity search (open model, latency from intended send time); the common rate is the highest search step every topology measured within the objective; CPU per request and memory over the steady state, each process once; network calls and bytes from the steady state's traces (client spans per user request), counted where caller and callee run in different processes, database statements not counted; fault blast radius from each process fault's co-located services",
  };
}

export function renderComparison(c: Comparison): string {
  const names = c.topologies.map((t) => t.topology);
  const row = (label: string, cell: (t: TopologyFigures) => string) => `| ${label} | ${c.topologies.map(cell).join(' | ')} |`;
  const lines = [
    '# Topologies compared', '',
    `| | ${names.join(' | ')} |`, `|---|${names.map(() => '---:').join('|')}|`,
    row('processes', (t) => t.processes.join('; ')),
    row('knee', (t) => `${fmt(t.kneeRps, ' rps', 0)}${t.limitedBy ? ` (${t.limitedBy})` : ''}`),
    ...(c.commonRate ? [row(`p50 / p99 at ${c.commonRate.rps} rps`, (t) => `${fmt(c.commonRate?.byTopology[t.topology]?.p50Ms, ' ms')} / ${fmt(c.commonRate?.byTopology[t.topology]?.p99Ms, ' ms')}`)] : []),
    row('steady state p50 / p99', (t) => (t.steady ? `${fmt(t.steady.p50Ms, ' ms')} / ${fmt(t.steady.p99Ms, ' ms')} at ${t.steady.rps} rps` : 'n/a')),
    row('CPU per request', (t) => fmt(t.steady?.cpuMsPerRequest, ' ms', 2)),
    row('memory (all processes)', (t) => fmt(t.steady?.rssMiB, ' MiB', 0)),
    row('calls / bytes between processes per request', (t) => `${fmt(t.networkCallsPerRequest, '', 2)} / ${fmt(t.networkBytesPerRequest, ' B', 0)}`),
    row('critical path between services', (t) => (t.betweenServicesShare === null ? 'n/a' : fmt(t.betweenServicesShare * 100, ' %'))),
    ...[...new Set(c.topologies.flatMap((t) => t.faults.map((f) => f.name)))].map((name) => row(`fault: ${name}`, (t) => {
      const f = t.faults.find((x) => x.name === name);
      return f ? `errors ${fmt(f.errorRateDuring * 100, ' %')}${f.sharedFate.length ? `, took down ${f.sharedFate.join(', ')}` : ''}${f.expectationMet ? '' : ' (not as expected)'}` : 'not run';
    })),
    row('failed checks', (t) => t.checksFailed.join(', ') || 'none'),
    '', '## Per pair of services', '',
    ...(c.pairs.length ? c.pairs.map((p) => `- **${p.pair.join(' and ')}: ${p.verdict === 'together' ? 'run together' : p.verdict === 'apart' ? 'keep apart' : 'either'}** — ${p.because}.`) : ['- No pair of services runs together in one topology and apart in another.']),
    '', `_How measured: ${c.method}._`, '',
  ];
  return lines.join('\n');
}

/** Proves each topology in turn, writes each report and the comparison; exit code 1 when a run failed a check. */
export async function runComparison(command: ProveCommand, placements: readonly Placement[]): Promise<number> {
  const progress = (line: string) => {
    if (!command.json) process.stderr.write(`${line}\n`);
  };
  const scenario = await scenarioOf(command);
  const outDir = resolve(command.outDir ?? join('reports', `compare-${timestamp()}`));
  const runs: TopologyRun[] = [];
  for (const [i, placement] of placements.entries()) {
    progress(`poc prove --compare-topologies: ${placement.name} (${i + 1} of ${placements.length})`);
    const dir = join(outDir, `${i + 1}-${placement.name.replace(/[^A-Za-z0-9_-]+/g, '_').slice(-40)}`);
    const report = await proveStarted({ ...command, placement }, scenario, dir, progress);
    await writeReport(report, dir);
    runs.push({ placement, report });
  }
  const comparison = compareReports(runs);
  const text = renderComparison(comparison);
  writeFileSync(join(outDir, 'comparison.json'), `${JSON.stringify(comparison, null, 2)}\n`);
  writeFileSync(join(outDir, 'comparison.md'), text);
  if (command.json) process.stdout.write(`${JSON.stringify({ comparison: join(outDir, 'comparison.json'), ...comparison })}\n`);
  else process.stdout.write(`\n${text}\ncomparison: ${join(outDir, 'comparison.md')}\n`);
  return comparison.topologies.every((t) => t.checksFailed.length === 0) ? 0 : 1;
}
