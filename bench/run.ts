/**
 * `npm run bench`: what each production feature costs, measured against the bare chain in one run
 * and one process tree. For each variant: the knee, then a run at a common fixed rate (latency,
 * CPU per request, memory per service); then the micro-benchmarks and the load client against
 * autocannon. Writes bench/results.json and the table in bench/README.md.
 *
 * The variants named by --paired (by default those that switch telemetry off, whose budget is a
 * few per cent) are measured instead against a fresh full system side by side (paired.ts): a knee
 * is too coarse for them.
 *
 *   npm run bench -- [--quick] [--variants full,bare,…] [--paired without-…,…] [--out FILE] [--json] [--cpu-prof DIR]
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, platform, release, totalmem } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { SearchPlan } from '@msa-poc/harness/capacity';
import { round } from '@msa-poc/harness/numbers';
import { startHelper } from './child.js';
import { compareWithAutocannon } from './client-vs-autocannon.js';
import { durations, measureVariant, objective } from './measure.js';
import { measurePaired, pairedPlan, type PairedResult, type PairedSystem } from './paired.js';
import { runMicro } from './micro.js';
import { monotonicUs, profilesByService, type ServiceProfile } from './profile.js';
import { boundMark, computeRatios, judgeTargets, updateReadme, type BenchResults, type ClientComparison, type VariantResult } from './results.js';
import { colocated, split } from '@msa-poc/cli/placement';
import { startBare, startFull, type SystemUnderTest } from './systems.js';
import { featuresOf, parsePaired, parseVariants, UsageError } from './variants.js';
import { cpuBetween, usageOf, type ProcessUsage } from './processes.js';

const benchDir = fileURLToPath(new URL('..', import.meta.url));
const usage = 'usage: npm run bench -- [--quick] [--variants full,bare,without-…] [--paired without-…,…] [--out FILE] [--json] [--cpu-prof DIR]';

export interface RunOptions {
  readonly quick: boolean;
  readonly variants: string[];
  /** Of `variants`, those measured side by side with the full system rather than by their knee. */
  readonly paired: string[];
  readonly out: string;
  readonly json: boolean;
  readonly cpuProfDir: string | undefined;
}

export function parseOptions(argv: readonly string[]): RunOptions {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      options: { quick: { type: 'boolean', default: false }, variants: { type: 'string' }, paired: { type: 'string' }, out: { type: 'string' }, json: { type: 'boolean', default: false }, 'cpu-prof': { type: 'string' } },
      strict: true, allowPositionals: false,
    });
  } catch (error) {
    throw new UsageError(`${(error as Error).message}\n${usage}`);
  }
  const { values } = parsed;
  const variants = parseVariants(values.variants);
  return {
    quick: values.quick ?? false,
    variants,
    paired: parsePaired(values.paired, variants),
    out: resolve(values.out ?? join(benchDir, 'results.json')),
    json: values.json ?? false,
    cpuProfDir: values['cpu-prof'] === undefined ? undefined : resolve(values['cpu-prof']),
  };
}

const describe = (variant: string): string => {
  if (variant === 'bare') return 'bare chain: plain HTTP gateway → orders → store, same PGlite statements, no TLS, auth, validation or telemetry';
  if (variant === 'colocated') return 'the real system, every feature on, gateway, orders, store and integration in one process calling each other in-process (the partner apart)';
  const features = featuresOf(variant);
  return features.length > 0 ? `the real system with POC_BENCH_DISABLE=${features.join(',')}` : 'the real system, embedded profile, every feature on, 100 % of traces exported';
};

/**
 * The knee search, the same for every variant: poc prove's, from 25 rps ×1.6 a step, then bisections.
 * Its highest step is 4,398 rps (the bare chain held 1,718 on 2 cores); a knee that reaches it is
 * reported as a lower bound, and so are the ratios made with it.
 */
const searchPlan = (quick: boolean): SearchPlan => ({ startRps: 25, growth: 1.6, maxSteps: 12, bisections: quick ? 1 : 2, minPoints: 0 });

export async function runBench(options: RunOptions): Promise<BenchResults> {
  const started = new Date();
  const progress = (line: string) => process.stderr.write(`${line}\n`);
  const d = durations(options.quick);
  const elapsed = () => `${Math.round((Date.now() - started.getTime()) / 1000)} s`;
  progress(`npm run bench: ${options.variants.join(', ')}${options.quick ? ' (quick)' : ''}; results in ${options.out}`);

  const sink = await startHelper('./span-sink.js');
  const spanSink = `http://127.0.0.1:${sink.port}/v1/traces`;
  const running = new Set<SystemUnderTest>();
  const interrupted = () => {
    progress('\ninterrupted: stopping what this run started');
    void Promise.allSettled([...[...running].map((s) => s.stop()), sink.stop()]).finally(() => process.exit(130));
  };
  process.once('SIGINT', interrupted);
  process.once('SIGTERM', interrupted);
  const start = async (variant: string, execArgv: string[]): Promise<SystemUnderTest> => {
    const startOptions = { spanSink, execArgv, progress };
    const system = variant === 'bare' ? await startBare(startOptions) : await startFull(featuresOf(variant), startOptions, variant === 'colocated' ? colocated : split);
    running.add(system);
    return system;
  };
  const stop = async (system: SystemUnderTest) => {
    running.delete(system);
    await system.stop();
  };

  const sequential = options.variants.filter((v) => !options.paired.includes(v));
  const variants: VariantResult[] = [];
  const profiles: Record<string, Record<string, ServiceProfile>> = {};
  let paired: PairedResult | undefined;
  let commonRate: number | undefined;
  let loadTo = 0;
  try {
    for (const [index, variant] of sequential.entries()) {
      progress(`▶ [${index + 1}/${sequential.length}] ${variant} (${elapsed()} so far)`);
      const execArgv: string[] = [];
      if (options.cpuProfDir) {
        const dir = join(options.cpuProfDir, variant);
        mkdirSync(dir, { recursive: true });
        execArgv.push('--cpu-prof', `--cpu-prof-dir=${dir}`);
      }
      const system = await start(variant, execArgv);
      const loadFrom = monotonicUs();
      try {
        const result = await measureVariant(variant, describe(variant), system, {
          durations: d, seed: 42 + index, progress,
          search: searchPlan(options.quick),
          // Half the first variant's knee, as poc prove's steady state: every variant is compared at it.
          fixedRate: (knee) => (commonRate ??= Math.max(5, Math.round((knee ?? 20) / 2))),
        });
        variants.push(result);
      } catch (error) {
        throw new Error(`measuring ${variant} failed: ${(error as Error).message}\nits services' last lines:\n${system.logTail().join('\n')}`);
      } finally {
        loadTo = monotonicUs();
        await stop(system);
      }
      // The processes write their profiles as they exit.
      if (options.cpuProfDir) {
        const byService = profilesByService(join(options.cpuProfDir, variant), system.pids, { fromUs: loadFrom, toUs: loadTo });
        profiles[variant] = byService;
        for (const [service, profile] of Object.entries(byService)) {
          progress(`  ${service}: ${profile.busyMs} ms busy under load; by package ${profile.packages.slice(0, 6).map((p) => `${p.where} ${(p.share * 100).toFixed(0)} %`).join(', ')}`);
          for (const spot of profile.functions.slice(0, 5)) progress(`    ${(spot.share * 100).toFixed(1).padStart(5)} % self  ${spot.where}`);
        }
      }
    }
    if (options.paired.length > 0) paired = await runPaired(['full', ...options.paired], start, stop, options.quick, progress, elapsed);
  } finally {
    process.removeListener('SIGINT', interrupted);
    process.removeListener('SIGTERM', interrupted);
    await Promise.allSettled([...running].map((s) => stop(s)));
    await sink.stop();
  }

  progress(`▶ micro-benchmarks (${elapsed()} so far)`);
  const micro = await runMicro(options.quick, progress);
  progress(`▶ load client against autocannon (${elapsed()} so far)`);
  const client: ClientComparison = await compareWithAutocannon(options.quick ? 3_000 : 5_000, progress);

  const { ratios, bounds } = computeRatios(variants, micro, client, paired);
  const results: BenchResults = {
    startedAt: started.toISOString(),
    durationS: Math.round((Date.now() - started.getTime()) / 1000),
    options: { quick: options.quick, variants: options.variants },
    machine: { cores: cpus().length, memoryGiB: round(totalmem() / 2 ** 30, 1), node: process.versions.node, cpuModel: cpus()[0]?.model.trim() ?? 'unknown', os: `${platform()} ${release()}` },
    method: {
      load: `open model (harness runLoad), latency from intended send time; read path GET /v1/products and GET /v1/orders/{id}, write path POST /v1/orders with an Idempotency-Key (40/30/30 %); the real system through a registered OAuth client with a DPoP proof per request, the bare chain and without-auth over plain requests`,
      knee: `harness searchCapacity with poc prove's objective (p99 ≤ ${objective.p99Ms} ms, errors ≤ ${objective.errorBudget * 100} %, achieved ≥ 90 % of offered), ${d.stepMs / 1000} s a step after ${d.idleMs / 1000} s idle (idle CPU) and a ${d.warmupMs / 1000} s warm-up at 20 rps; requests time out after 2 s; every variant from 25 rps ×1.6 a step (at most 12 steps: a knee that reaches the last is reported as at least that rate), then bisections`,
      fixed: `${d.fixedMs / 1000} s at half the first variant's knee, the same rate for every variant; CPU per request is the services' user + system CPU time (/proc/<pid>/stat) over the run divided by the requests completed; RSS from /proc/<pid>/status at its end`,
      tracing: 'the real system samples 100 % of traces and exports them over OTLP/HTTP (protobuf) to a minimal sink in its own process that reads and acknowledges every export',
      micro: 'tinybench, a fixed number of iterations after a warm-up, wall time per iteration in this process',
      client: `autocannon (closed loop), a closed loop on the load client's transport, and the harness load client (open model at 1.5 × autocannon's rate, at most as many in flight as connections) against the same plain Fastify route in its own process, ${client.connections} connections each, ${client.durationMs / 1000} s each`,
      ...(paired ? { paired: `${paired.reference} and ${paired.variants.slice(1).map((v) => v.name).join(', ')} started side by side, each idle while another is driven; ${paired.plan.rounds} rounds (after one unmeasured) in which each is driven in turn, the order rotating each round, by a closed loop of the same scenario keeping ${paired.plan.concurrency} requests in flight for ${paired.plan.windowMs / 1000} s after a ${paired.plan.leadInMs / 1000} s lead-in; a window's rps counts the requests served in it over the window plus the time until its processes went quiet again (under ${paired.plan.quietCores} of a core above idle in a 300 ms slice, at most ${paired.plan.maxDrainMs / 1000} s), so deferred asynchronous work counts; CPU per request over the same span, net of idle; a feature's throughput share is the median over rounds of 1 − rps(full) / rps(without it), its CPU share 1 − median cpu(without) / median cpu(full)` } : {}),
      ratios: 'full_over_bare_knee = knee(full) / knee(bare); <feature>_throughput_share = 1 − knee(full) / knee(without-<feature>); full_over_bare_cpu_per_request = cpu(full) / cpu(bare); <feature>_cpu_share = 1 − cpu(without-<feature>) / cpu(full); CPU per request net of idle; dpop_us_per_request and access_token_us are micro-benchmark CPU µs per call',
    },
    variants, ...(paired ? { paired } : {}), micro, client, ratios, bounds, targets: judgeTargets(ratios, bounds),
    ...(options.cpuProfDir ? { profiles } : {}),
  };
  return results;
}

/**
 * The full system and the paired variants started side by side, each read idle, warmed up, then
 * driven in turn (paired.ts); all of them stopped at the end.
 */
async function runPaired(
  names: readonly string[],
  start: (variant: string, execArgv: string[]) => Promise<SystemUnderTest>,
  stop: (system: SystemUnderTest) => Promise<void>,
  quick: boolean,
  progress: (line: string) => void,
  elapsed: () => string,
): Promise<PairedResult> {
  const plan = pairedPlan(quick);
  progress(`▶ paired at saturation: ${names.join(', ')} side by side, ${plan.rounds} rounds of ${plan.windowMs / 1000} s each with ${plan.concurrency} requests in flight (${elapsed()} so far)`);
  const started: { name: string; system: SystemUnderTest }[] = [];
  try {
    for (const name of names) {
      progress(`  starting ${name}`);
      started.push({ name, system: await start(name, []) });
    }
    const idleMs = 2_000;
    const before = started.map(({ system }) => usageOf(system.pids));
    await new Promise((resolve) => setTimeout(resolve, idleMs));
    const systems: PairedSystem[] = started.map(({ name, system }, i) => ({
      name, system, idleCores: round(cpuBetween(before[i] as Map<string, ProcessUsage>, usageOf(system.pids)).total / (idleMs / 1000), 3),
    }));
    progress(`  idle: ${systems.map((s) => `${s.name} ${s.idleCores}`).join(', ')} of a core`);
    progress('  warm-up: one unmeasured round');
    await measurePaired(systems, { ...plan, rounds: 1, windowMs: Math.min(plan.windowMs, 2_000), leadInMs: 0 }, () => undefined);
    return await measurePaired(systems, plan, progress);
  } finally {
    await Promise.allSettled(started.map(({ system }) => stop(system)));
  }
}

async function main(): Promise<number> {
  let options: RunOptions;
  try {
    options = parseOptions(process.argv.slice(2));
  } catch (error) {
    if (error instanceof UsageError) {
      process.stderr.write(`${error.message}\n`);
      return 2;
    }
    throw error;
  }
  const results = await runBench(options);
  mkdirSync(dirname(options.out), { recursive: true });
  writeFileSync(options.out, `${JSON.stringify(results, null, 2)}\n`);
  updateReadme(join(benchDir, 'README.md'), results);
  if (options.json) process.stdout.write(`${JSON.stringify(results)}\n`);
  else {
    process.stdout.write(`\nratios:\n${Object.entries(results.ratios).map(([k, v]) => `  ${k}: ${boundMark(results.bounds[k])}${v}`).join('\n')}\ntargets:\n`);
    process.stdout.write(results.targets.map((t) => `  ${t.status.padEnd(12)} ${t.name} ${boundMark(t.bound)}${t.figure} (bar ${t.direction === 'min' ? '≥' : '≤'} ${t.bar}, target ${t.target}${t.targetMet ? ', met' : ', missed'})`).join('\n'));
    process.stdout.write(`\nresults: ${options.out}; table: ${join(benchDir, 'README.md')}\n`);
  }
  return 0;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().then((code) => process.exit(code), (error: unknown) => {
    process.stderr.write(`npm run bench failed: ${(error as Error).message}\n`);
    process.exit(1);
  });
}
