/**
 * `poc grow`: what granularity costs on this machine. Starts the reference system plus a synthetic
 * topology (`--topology synthetic:N[,depth,fanout]`) from a fresh home (new certificates, a new
 * embedded database), then measures the time until every process is ready, each process's
 * resident memory, and the knee of a request through the gateway that crosses one synthetic
 * service against one that crosses a chain of `depth` of them. The knee is found by the proving
 * run's capacity search, with the load client's own health checked at every point.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { availableParallelism, cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseSyntheticTopology, serviceNames, syntheticTopology } from '@msa-poc/contracts';
import { endpointOf, loadConfig } from '@msa-poc/platform/config';
import { ApiClient, loadOrCreateClientKey } from '@msa-poc/harness/api-client';
import { searchCapacity, type CapacityPoint } from '@msa-poc/harness/capacity';
import { constant, describeFailures, runLoad } from '@msa-poc/harness/load';
import { median, round } from '@msa-poc/harness/numbers';
import { registerClient } from './clients.js';
import { startLinkedConsole } from './console-link.js';
import { startSystem } from './system.js';
import { freeServicePorts } from './testing.js';

export interface GrowCommand {
  readonly env: Record<string, string | undefined>;
  readonly json: boolean;
  /** Each capacity step's length; shorter is quicker and noisier. */
  readonly stepMs: number;
  readonly p99Ms: number;
  readonly errorBudget: number;
  /** Only start, time and weigh the system; no capacity search. */
  readonly skipKnee: boolean;
}

export interface KneeResult {
  readonly depth: number;
  readonly kneeRps: number | undefined;
  readonly p50MsAtKnee: number | undefined;
  readonly p99MsAtKnee: number | undefined;
  readonly points: readonly CapacityPoint[];
  /** True when the load client, not the system, could not keep up at the knee or the first rate past it. */
  readonly limitedByClient: boolean;
}

export interface GrowReport {
  readonly topology: string;
  readonly processes: number;
  readonly machine: string;
  readonly node: string;
  readonly date: string;
  /** From the first certificate issued to the last process ready. */
  readonly readySeconds: number;
  /** process_resident_memory_bytes of each service after warm-up, MB. */
  readonly rssMb: Readonly<Record<string, number>>;
  readonly rssMedianMb: number;
  /** Where the synthetic services' resident memory goes, on average over them; on Linux only. */
  readonly syntheticMemory?: MemoryBreakdown;
  readonly knees: readonly KneeResult[];
}

/** A process's resident memory, MB, by what holds it. */
export interface MemoryBreakdown {
  readonly rssMb: number;
  /** Pages of mapped files, nearly all the node binary's code: one copy in RAM for every process that runs it. */
  readonly fileMb: number;
  /** The V8 heap (every space, as committed). */
  readonly heapMb: number;
  /** The rest of its own: native allocations (TLS, the WebAssembly HTTP parser, V8's compiler), stacks. */
  readonly otherMb: number;
  /** Proportional set size: shared pages divided among the processes sharing them, i.e. what one more process costs the machine. */
  readonly pssMb: number;
}

const loadClient = 'grow-load';

const mb = (bytes: number) => round(bytes / 2 ** 20, 1);

async function metricsOf(adminUrl: string): Promise<{ rssMb: number; heapMb: number }> {
  const text = await (await fetch(`${adminUrl}/metrics`, { signal: AbortSignal.timeout(5_000) })).text();
  const value = (name: string) => {
    const match = new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'm').exec(text);
    if (!match) throw new Error(`${adminUrl}/metrics has no ${name}`);
    return mb(Number(match[1]));
  };
  return { rssMb: value('process_resident_memory_bytes'), heapMb: value('nodejs_heap_size_total_bytes') };
}

/** From the kernel's accounting of the process's pages, where it has one (Linux). */
function breakdownOf(pid: number | undefined, heapMb: number): MemoryBreakdown | undefined {
  const file = `/proc/${pid}/smaps_rollup`;
  if (pid === undefined || !existsSync(file)) return undefined;
  const rollup = readFileSync(file, 'utf8');
  const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(rollup)?.[1] ?? NaN) * 1024;
  const [rss, anonymous] = [kb('Rss'), kb('Anonymous')];
  return { rssMb: mb(rss), fileMb: mb(rss - anonymous), heapMb, otherMb: mb(anonymous - heapMb * 2 ** 20), pssMb: mb(kb('Pss')) };
}


/** A relay crossed every hop only when it answers 200: a refusal on the way (401, 429) is no capacity. */
const crossedEveryHop = (status: number): boolean => status === 200;

export async function runGrow(command: GrowCommand): Promise<GrowReport> {
  const spec = syntheticTopology();
  if (!spec) throw new Error('poc grow needs a synthetic topology: --topology synthetic:N[,depth,fanout]');
  const shape = parseSyntheticTopology(spec);
  // Other work on the machine slows every figure: the report says how busy it was.
  const loadAtStart = round(loadavg()[0] ?? 0, 1);
  const progress = (line: string) => {
    if (!command.json) process.stderr.write(`poc grow: ${line}\n`);
  };
  // A fresh home and free ports: the figures include issuing every certificate and a new database.
  const home = mkdtempSync(join(tmpdir(), 'msa-poc-grow-'));
  const env: Record<string, string | undefined> = {
    ...command.env, POC_HOME: home, POC_LOG_LEVEL: 'warn', ...(await freeServicePorts()),
    POC_RATE_LIMIT_CLIENTS: [command.env.POC_RATE_LIMIT_CLIENTS, `${loadClient}=20000:40000`].filter(Boolean).join(','),
  };
  const linked = await startLinkedConsole({ env, port: 0, otlpPort: 0, onLog: () => undefined });
  const config = loadConfig({ ...env, ...linked.env });
  progress(`starting ${serviceNames.length} services (${spec}: depth ${shape.depth}, fan-out ${shape.fanout}) and the console`);
  const started = performance.now();
  let system;
  try {
    system = await startSystem({ config, onProgress: () => undefined, extraEnv: { POC_HOME: home, POC_LOG_LEVEL: 'warn', POC_RATE_LIMIT_CLIENTS: env.POC_RATE_LIMIT_CLIENTS as string, ...linked.env } });
  } catch (error) {
    await linked.console.stop();
    rmSync(home, { recursive: true, force: true });
    throw error;
  }
  const readySeconds = round((performance.now() - started) / 1000, 1);
  progress(`all ${serviceNames.length} ready in ${readySeconds} s`);
  const key = loadOrCreateClientKey(config.keysDir, loadClient);
  await registerClient(config, loadClient, [key.publicJwk], ['orders:read']);
  const api = new ApiClient(endpointOf(config, 'gateway').url, loadClient, key, readFileSync(join(config.pkiDir, 'ca.crt'), 'utf8'));
  try {
    const relay = (depth: number) => `/v1/relay?depth=${depth}&breadth=one`;
    // Warm-up: every hop's connections, JIT and caches, before memory is read and load is measured.
    const full = await api.call<{ crossed: string[] }>('GET', '/v1/relay');
    if (full.status !== 200) throw new Error(`GET /v1/relay answered ${full.status}: ${JSON.stringify(full.body)}`);
    progress(`one request crossed all ${full.body.crossed.length} synthetic services`);
    await runLoad({ shape: constant(20), durationMs: 3_000, next: () => ({ name: 'relay', run: ({ signal }) => api.call('GET', '/v1/relay', { signal }) }), timeoutMs: 5_000, maxInFlight: 256 });

    const rssMb: Record<string, number> = {};
    const breakdowns: MemoryBreakdown[] = [];
    for (const [name, service] of system.services) {
      const measured = await metricsOf(service.adminUrl);
      rssMb[name] = measured.rssMb;
      const breakdown = name.startsWith('synth-') ? breakdownOf(service.child.pid, measured.heapMb) : undefined;
      if (breakdown) breakdowns.push(breakdown);
    }
    const rssMedianMb = round(median(Object.values(rssMb)), 1);
    const syntheticMemory = breakdowns.length > 0
      // Means, not medians: the parts of a mean add up to the whole.
      ? Object.fromEntries((['rssMb', 'fileMb', 'heapMb', 'otherMb', 'pssMb'] as const).map((key) => [key, round(breakdowns.reduce((sum, b) => sum + b[key], 0) / breakdowns.length, 1)])) as unknown as MemoryBreakdown
      : undefined;
    progress(`resident memory: median ${rssMedianMb} MB, largest ${Object.entries(rssMb).sort((a, b) => b[1] - a[1]).slice(0, 3).map(([n, mb]) => `${n} ${mb} MB`).join(', ')}`);

    const knees: KneeResult[] = [];
    const chain = Math.min(5, shape.depth);
    for (const depth of command.skipKnee ? [] : [...new Set([1, chain])]) {
      progress(`capacity of a request crossing ${depth} synthetic service${depth > 1 ? 's' : ''} (gateway → ${Array.from({ length: depth }, (_, i) => `level ${i + 1}`).join(' → ')})`);
      const measure = async (rps: number): Promise<CapacityPoint> => {
        const result = await runLoad({
          shape: constant(rps), durationMs: command.stepMs, timeoutMs: 5_000, maxInFlight: 512,
          next: () => ({ name: `depth-${depth}`, run: ({ signal }) => api.call('GET', relay(depth), { signal }) }),
          isSuccess: (outcome) => crossedEveryHop(outcome.status),
        });
        const point: CapacityPoint = {
          offeredRps: rps, achievedRps: round(result.achievedRps, 1), p50Ms: result.latency.p50, p99Ms: result.latency.p99,
          // `failed` already counts the requests that could not be issued.
          errorRate: result.intended > 0 ? round(result.failed / result.intended, 4) : 0,
          perService: {}, limitedByClient: result.client.limitedByClient,
        };
        const what = describeFailures(result, crossedEveryHop);
        progress(`  ${rps} req/s offered: ${point.achievedRps} achieved, p50 ${round(point.p50Ms, 1)} ms, p99 ${round(point.p99Ms, 1)} ms, errors ${round(point.errorRate * 100, 2)} %${what ? ` (${what})` : ''}${point.limitedByClient ? ' (load client saturated)' : ''}`);
        return point;
      };
      const search = await searchCapacity(measure, { p99Ms: command.p99Ms, errorBudget: command.errorBudget }, { startRps: 25, growth: 1.6, maxSteps: 12, bisections: 3, minPoints: 4 });
      knees.push({
        depth, kneeRps: search.knee?.offeredRps, p50MsAtKnee: search.knee && round(search.knee.p50Ms, 1), p99MsAtKnee: search.knee && round(search.knee.p99Ms, 1), points: search.points,
        limitedByClient: Boolean(search.knee?.limitedByClient || search.firstBad?.limitedByClient),
      });
    }
    return {
      topology: spec, processes: serviceNames.length, machine: `${cpus()[0]?.model.trim() ?? 'unknown CPU'}, ${availableParallelism()} cores, load average ${loadAtStart} at the start`, node: process.version,
      date: new Date().toISOString(), readySeconds, rssMb, rssMedianMb, ...(syntheticMemory ? { syntheticMemory } : {}), knees,
    };
  } finally {
    await api.close();
    await system.stop();
    await linked.console.stop();
    rmSync(home, { recursive: true, force: true });
  }
}

const memoryLine = (m: MemoryBreakdown): string =>
  `          synthetic services on average: ${m.rssMb} MB resident = ${m.fileMb} MB of mapped files (the node binary, shared by every process) + ${m.heapMb} MB V8 heap + ${m.otherMb} MB other; ${m.pssMb} MB proportional (what one more process costs)`;

/** The report as a person reads it: each figure with its target and how it was measured. */
export function formatGrowReport(report: GrowReport): string {
  const over = Object.entries(report.rssMb).filter(([, mb]) => mb > 80).length;
  const lines = [
    `${report.topology}: ${report.processes} service processes (and the console) on ${report.machine}, Node ${report.node}, ${report.date}`,
    `  ready:  ${report.readySeconds} s from the first certificate to the last /readyz (target < 30 s)${report.readySeconds < 30 ? '' : ' — MISSED'}`,
    `  memory: median ${report.rssMedianMb} MB resident per service after warm-up (target < 80 MB); ${over} of ${report.processes} above 80 MB`,
    ...(report.syntheticMemory ? [memoryLine(report.syntheticMemory)] : []),
    ...Object.entries(report.rssMb).map(([name, size]) => `          ${name.padEnd(12)} ${size} MB`),
  ];
  for (const knee of report.knees) {
    lines.push(`  knee, depth ${knee.depth}: ${knee.kneeRps ?? 'none'} req/s (p50 ${knee.p50MsAtKnee ?? '–'} ms, p99 ${knee.p99MsAtKnee ?? '–'} ms at the knee)${knee.limitedByClient ? ' — the load client saturated: the system may take more' : ''}`);
  }
  const [shallow, deep] = report.knees;
  if (shallow?.kneeRps && deep?.kneeRps && deep !== shallow) {
    // Latency is compared at the same offered rate (the search's first), not at two different knees.
    const [a, b] = [shallow.points[0], deep.points.find((p) => p.offeredRps === shallow.points[0]?.offeredRps)];
    const latency = a && b ? ` and, at ${a.offeredRps} req/s, adds ${round(b.p50Ms - a.p50Ms, 1)} ms at p50 (${round(a.p50Ms, 1)} → ${round(b.p50Ms, 1)} ms) and ${round(b.p99Ms - a.p99Ms, 1)} ms at p99` : '';
    lines.push(`  crossing ${deep.depth} services instead of ${shallow.depth} costs ${round((1 - deep.kneeRps / shallow.kneeRps) * 100, 0)} % of the throughput${latency}`);
  }
  return lines.join('\n');
}
