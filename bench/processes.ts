/**
 * CPU time and resident memory of a process, read from /proc (Linux). Every variant is measured
 * this way, the bare chain and a system without metrics included, so none depends on an admin port.
 */
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

/** Clock ticks per second of /proc/<pid>/stat's times: USER_HZ, 100 on every Linux that Node supports. */
const ticksPerSecond = 100;

export interface ProcessUsage {
  readonly cpuSeconds: number;
  readonly rssBytes: number;
}

export function processUsage(pid: number): ProcessUsage | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name, which is in parentheses and may hold spaces: state is field 3.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const utime = Number(fields[11]);
    const stime = Number(fields[12]);
    const rssKiB = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
    return { cpuSeconds: (utime + stime) / ticksPerSecond, rssBytes: rssKiB * 1024 };
  } catch {
    return undefined;
  }
}

/** Usage of each named process now. */
export const usageOf = (pids: ReadonlyMap<string, number>): Map<string, ProcessUsage> =>
  new Map([...pids].flatMap(([name, pid]) => {
    const usage = processUsage(pid);
    return usage ? [[name, usage] as const] : [];
  }));

/** CPU seconds the processes have used in all, those still running. */
export const cpuOfProcesses = (pids: ReadonlyMap<string, number>): number =>
  [...pids.values()].reduce((sum, pid) => sum + (processUsage(pid)?.cpuSeconds ?? 0), 0);

/** CPU seconds each process used between two readings, and their sum. */
export function cpuBetween(before: ReadonlyMap<string, ProcessUsage>, after: ReadonlyMap<string, ProcessUsage>): { total: number; byService: Map<string, number> } {
  const byService = new Map<string, number>();
  for (const [name, end] of after) {
    const start = before.get(name);
    if (start) byService.set(name, end.cpuSeconds - start.cpuSeconds);
  }
  return { total: [...byService.values()].reduce((sum, s) => sum + s, 0), byService };
}

/**
 * Waits, at most `maxMs`, for a slice of `sliceMs` in which `cpuSeconds` (a reading of some
 * processes' CPU time) grew by less than `cores` of a core; returns the time until that slice began,
 * or `maxMs` and more when none came.
 */
export async function untilQuiet(cpuSeconds: () => number, cores: number, sliceMs: number, maxMs: number): Promise<number> {
  const start = performance.now();
  while (performance.now() - start < maxMs) {
    const before = cpuSeconds();
    await sleep(sliceMs);
    if ((cpuSeconds() - before) / (sliceMs / 1000) < cores) return performance.now() - start - sliceMs;
  }
  return performance.now() - start;
}
