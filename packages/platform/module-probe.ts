/**
 * For tests of what a process loads: every module costs resident memory in each process, so a
 * dependency belongs only in the processes (and profiles) that use it.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

// ES modules are seen through a resolve hook, CommonJS ones in the require cache (Node 20's hooks do not see require).
const hook = `
import { appendFileSync } from 'node:fs';
let log;
export function initialize(data) { log = data.log; }
export async function resolve(specifier, context, next) {
  const resolved = await next(specifier, context);
  if (resolved.url.startsWith('file:')) appendFileSync(log, new URL(resolved.url).pathname + '\\n');
  return resolved;
}`;

/**
 * Runs `script` (the body of an ES module, run from `cwd`) in a fresh node process and returns
 * every file under node_modules it loaded, as a path from the package name on, e.g.
 * `undici/lib/dispatcher/pool.js`. Throws with the process's stderr when the script fails.
 */
export function modulesLoadedBy(script: string, cwd: string, env: Record<string, string | undefined> = process.env): string[] {
  const dir = mkdtempSync(join(tmpdir(), 'module-probe-'));
  try {
    const log = join(dir, 'loaded.txt');
    const program = `
import { appendFileSync } from 'node:fs';
import { createRequire, register } from 'node:module';
register('data:text/javascript,' + encodeURIComponent(${JSON.stringify(hook)}), { data: { log: ${JSON.stringify(log)} } });
${script}
appendFileSync(${JSON.stringify(log)}, Object.keys(createRequire(import.meta.url).cache).join('\\n') + '\\n');
process.exit(0);`;
    execFileSync(process.execPath, ['--input-type=module', '-e', program], { cwd, env, stdio: ['ignore', 'ignore', 'pipe'] });
    const files = readFileSync(log, 'utf8').split('\n').filter((line) => line.includes('/node_modules/'));
    return [...new Set(files.map((line) => line.slice(line.lastIndexOf('/node_modules/') + '/node_modules/'.length)))];
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** `@scope/name` or `name` of a path that `modulesLoadedBy` returns. */
export const packageOf = (file: string): string => file.split('/').slice(0, file.startsWith('@') ? 2 : 1).join('/');
