/**
 * Where a service's CPU went under load, from the .cpuprofile files `node --cpu-prof` writes when a
 * process exits. Only the samples inside the load window count (start-up, such as PGlite creating
 * its database, is left out), and idle samples are dropped: shares are of the busy time.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

interface ProfileNode {
  readonly id: number;
  readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number };
  readonly children?: readonly number[];
}

export interface CpuProfile {
  readonly nodes: readonly ProfileNode[];
  /** Microseconds on the monotonic clock, as `process.hrtime` reads it. */
  readonly startTime: number;
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
}

export interface HotSpot {
  /** A function and where it is (the file below node_modules or the project, and its line), or a package. */
  readonly where: string;
  readonly ms: number;
  /** Of the busy (non-idle) time in the window. */
  readonly share: number;
}

export interface ServiceProfile {
  readonly busyMs: number;
  /** Self time per function. */
  readonly functions: HotSpot[];
  /** Time with a package's (or the project folder's) code anywhere on the stack. */
  readonly packages: HotSpot[];
}

const trimmed = (url: string): string => {
  const path = url.replace(/^file:\/\//, '');
  const modules = path.lastIndexOf('node_modules/');
  if (modules !== -1) return path.slice(modules + 'node_modules/'.length);
  const project = /\/(services|packages|harness|bench|cli|console)\//.exec(path);
  return project ? path.slice(project.index + 1) : path || '(native)';
};

const packageOf = (url: string): string => {
  const path = trimmed(url);
  if (path.startsWith('node:')) return 'node';
  if (path.startsWith('wasm:')) return 'wasm';
  const parts = path.split('/');
  return path.startsWith('@') || /^(services|packages)$/.test(parts[0] ?? '') ? parts.slice(0, 2).join('/') : (parts[0] as string);
};

const top = (totals: Map<string, number>, busy: number, count: number): HotSpot[] =>
  [...totals].sort((a, b) => b[1] - a[1]).slice(0, count).map(([where, micros]) => ({ where, ms: Math.round(micros / 1000), share: busy ? Math.round((micros / busy) * 1000) / 1000 : 0 }));

/** Sums `profiles` over the samples taken within [fromUs, toUs]. */
export function summarizeProfiles(profiles: readonly CpuProfile[], window: { fromUs: number; toUs: number }, count: number): ServiceProfile {
  const self = new Map<string, number>();
  const inclusive = new Map<string, number>();
  let busy = 0;
  for (const profile of profiles) {
    const nodes = new Map(profile.nodes.map((node) => [node.id, node]));
    const parents = new Map<number, number>();
    for (const node of profile.nodes) for (const child of node.children ?? []) parents.set(child, node.id);
    let at = profile.startTime;
    profile.samples.forEach((id, i) => {
      const micros = profile.timeDeltas[i] ?? 0;
      at += micros;
      const node = nodes.get(id);
      if (!node || at < window.fromUs || at > window.toUs || node.callFrame.functionName === '(idle)') return;
      busy += micros;
      const { functionName, url, lineNumber } = node.callFrame;
      const where = `${functionName || '(anonymous)'} ${trimmed(url)}${url ? `:${lineNumber + 1}` : ''}`;
      self.set(where, (self.get(where) ?? 0) + micros);
      const seen = new Set<string>();
      for (let current: number | undefined = id; current !== undefined; current = parents.get(current)) {
        const frame = nodes.get(current)?.callFrame;
        if (!frame?.url) continue;
        const name = packageOf(frame.url);
        if (!seen.has(name)) inclusive.set(name, (inclusive.get(name) ?? 0) + micros);
        seen.add(name);
      }
    });
  }
  return { busyMs: Math.round(busy / 1000), functions: top(self, busy, count), packages: top(inclusive, busy, count) };
}

/**
 * Each service's profile from the files in `dir`. Node names them
 * CPU.<date>.<time>.<pid>.<tid>.<seq>.cpuprofile; `pids` tells which service each pid was.
 */
export function profilesByService(dir: string, pids: ReadonlyMap<string, number>, window: { fromUs: number; toUs: number }, count = 10): Record<string, ServiceProfile> {
  const files = readdirSync(dir).filter((f) => f.endsWith('.cpuprofile'));
  const result: Record<string, ServiceProfile> = {};
  for (const [service, pid] of pids) {
    const mine = files.filter((f) => f.split('.')[3] === String(pid));
    if (mine.length) result[service] = summarizeProfiles(mine.map((f) => JSON.parse(readFileSync(join(dir, f), 'utf8')) as CpuProfile), window, count);
  }
  return result;
}

/** Now on the clock the profiles' sample times use. */
export const monotonicUs = (): number => Number(process.hrtime.bigint() / 1000n);
