/**
 * Paired saturation: what a feature costs in throughput, to within a few per cent.
 *
 * The knee search steps ×1.6 and bisects twice, so two knees measured minutes apart differ by
 * ~15 % from resolution and machine drift alone: too coarse to judge a 5 % budget. Here the full
 * system and the variants it is compared with run side by side (each on its own ports and home,
 * idle while another is loaded), and take turns: in every round each system is driven for the same
 * window by the same closed loop, in an order that rotates from round to round, so drift on the
 * shared machine falls on all of them alike. A system's throughput in a window counts the requests
 * it served, over the window plus the time it then took to go quiet (its asynchronous backlog:
 * the outbox, fulfilment, span exports), so work deferred past the window is charged to it and not
 * to whichever system is driven next. A feature's share is 1 − full / without-it, per round, and
 * the median over the rounds; the spread of the rounds says how far to trust it.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { ScenarioRunner } from '@msa-poc/harness/scenario';
import { deadlineOf } from '@msa-poc/harness/load';
import { served } from '@msa-poc/harness/prove';
import { median, round } from '@msa-poc/harness/numbers';
import { benchScenario } from './measure.js';
import { cpuBetween, cpuOfProcesses, untilQuiet, usageOf } from './processes.js';
import type { SystemUnderTest } from './systems.js';

export interface PairedPlan {
  /** Requests kept in flight by the closed loop: enough to saturate the system, not so many that only queues grow. */
  readonly concurrency: number;
  readonly rounds: number;
  /** The measured window; a lead-in of `leadInMs` before it refills connections and caches and is not counted. */
  readonly windowMs: number;
  readonly leadInMs: number;
  /** The longest wait for a system to go quiet after its window. */
  readonly maxDrainMs: number;
  /** The system is quiet when its processes use less than this share of a core (over its idle use) for one slice. */
  readonly quietCores: number;
}

export const pairedPlan = (quick: boolean): PairedPlan =>
  quick
    ? { concurrency: 32, rounds: 3, windowMs: 2_000, leadInMs: 500, maxDrainMs: 5_000, quietCores: 0.15 }
    : { concurrency: 32, rounds: 5, windowMs: 4_000, leadInMs: 1_000, maxDrainMs: 8_000, quietCores: 0.15 };

export interface PairedWindow {
  readonly served: number;
  readonly failed: number;
  readonly windowMs: number;
  /** From the window's end until the system's processes went quiet. */
  readonly drainMs: number;
  /** Served requests over window + drain, per second. */
  readonly rps: number;
  /** All the system's processes' CPU over window + drain, per served request, µs. */
  readonly cpuUsPerRequest: number;
}

export interface PairedVariant {
  readonly name: string;
  /** One window per round, in round order. */
  readonly windows: readonly PairedWindow[];
  readonly medianRps: number;
  readonly medianCpuUsPerRequest: number;
}

export interface PairedResult {
  readonly plan: PairedPlan;
  /** The reference every share is taken against. */
  readonly reference: string;
  readonly variants: readonly PairedVariant[];
}

export interface PairedSystem {
  readonly name: string;
  readonly system: SystemUnderTest;
  /** Its processes' CPU with no load, in cores. */
  readonly idleCores: number;
}

/** Round r drives the systems starting from the r-th, so each takes every place in the order. */
export const rotation = <T>(items: readonly T[], round: number): T[] => items.map((_, i) => items[(i + round) % items.length] as T);

/**
 * Requests `concurrency` loops keep in flight, each sending the next scenario request as soon as
 * the last one is answered, until `stopAt`; counts what was served and what was not.
 */
async function closedLoop(runner: ScenarioRunner, concurrency: number, stopAt: number, countFrom: number): Promise<{ served: number; failed: number }> {
  let sequence = 0;
  let servedCount = 0;
  let failed = 0;
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (performance.now() < stopAt) {
      const operation = runner.next(sequence++);
      const sentAt = performance.now();
      let ok = false;
      try {
        ok = served((await operation.run(deadlineOf(AbortSignal.timeout(2_000), 2_000))).status);
      } catch {
        ok = false;
      }
      const at = performance.now();
      if (sentAt < countFrom || at > stopAt) continue;
      if (ok) servedCount++;
      else failed++;
    }
  }));
  return { served: servedCount, failed };
}

/** Waits until the system's processes use less than `quietCores` over their idle use for one 300 ms slice. */
const drain = (entry: PairedSystem, plan: PairedPlan): Promise<number> =>
  untilQuiet(() => cpuOfProcesses(entry.system.pids), entry.idleCores + plan.quietCores, 300, plan.maxDrainMs);

async function window(entry: PairedSystem, runner: ScenarioRunner, plan: PairedPlan): Promise<PairedWindow> {
  const begin = performance.now();
  const countFrom = begin + plan.leadInMs;
  const stopAt = countFrom + plan.windowMs;
  const counting = closedLoop(runner, plan.concurrency, stopAt, countFrom);
  await sleep(plan.leadInMs);
  const before = usageOf(entry.system.pids);
  const { served: servedCount, failed } = await counting;
  const drainMs = Math.max(0, await drain(entry, plan));
  const cpu = cpuBetween(before, usageOf(entry.system.pids)).total;
  const seconds = (plan.windowMs + drainMs) / 1000;
  return {
    served: servedCount, failed, windowMs: plan.windowMs, drainMs: round(drainMs, 0),
    rps: round(servedCount / seconds, 1),
    cpuUsPerRequest: servedCount ? round((Math.max(0, cpu - entry.idleCores * seconds) * 1e6) / servedCount, 0) : 0,
  };
}

/** Drives the systems in turn, round after round; the first is the reference. */
export async function measurePaired(systems: readonly PairedSystem[], plan: PairedPlan, progress: (line: string) => void, seed = 7): Promise<PairedResult> {
  const runners = new Map(systems.map((entry, i) => [entry.name, new ScenarioRunner(entry.system.caller, seed + i, benchScenario)]));
  const windows = new Map<string, PairedWindow[]>(systems.map((entry) => [entry.name, []]));
  for (let r = 0; r < plan.rounds; r++) {
    const line: string[] = [];
    for (const entry of rotation(systems, r)) {
      const result = await window(entry, runners.get(entry.name) as ScenarioRunner, plan);
      windows.get(entry.name)?.push(result);
      line.push(`${entry.name} ${result.rps} rps${result.failed ? ` (${result.failed} not served)` : ''}, drain ${(result.drainMs / 1000).toFixed(1)} s`);
    }
    progress(`  round ${r + 1}/${plan.rounds}: ${line.join('; ')}`);
  }
  return {
    plan,
    reference: systems[0]?.name ?? 'full',
    variants: systems.map(({ name }) => {
      const list = windows.get(name) ?? [];
      return { name, windows: list, medianRps: round(median(list.map((w) => w.rps)), 1), medianCpuUsPerRequest: round(median(list.map((w) => w.cpuUsPerRequest)), 0) };
    }),
  };
}

/**
 * Per variant other than the reference: the share of throughput its missing feature costs, as the
 * median over rounds of 1 − reference / variant, with the lowest and highest round.
 */
export function pairedShares(result: PairedResult): Record<string, { share: number; low: number; high: number }> {
  const reference = result.variants.find((v) => v.name === result.reference);
  if (!reference) return {};
  const shares: Record<string, { share: number; low: number; high: number }> = {};
  for (const variant of result.variants) {
    if (variant === reference) continue;
    const perRound = variant.windows.flatMap((w, i) => {
      const own = reference.windows[i]?.rps;
      return own !== undefined && w.rps > 0 ? [1 - own / w.rps] : [];
    });
    if (perRound.length === 0) continue;
    shares[variant.name] = { share: round(median(perRound), 3), low: round(Math.min(...perRound), 3), high: round(Math.max(...perRound), 3) };
  }
  return shares;
}
