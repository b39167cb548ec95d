/**
 * `npm run images`: builds every workload's image from the one Containerfile, with whichever
 * engine this machine has (docker with a running daemon, podman, or buildah).
 *
 *   npm run images -- [--service orders,store] [--base IMAGE] [--tag TAG] [--registry NAME]
 *                     [--engine docker|podman|buildah] [--dry-run]
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { allWorkloads, imageName, type Workload } from './workloads.js';

export type Engine = 'docker' | 'podman' | 'buildah';
export const engines: readonly Engine[] = ['docker', 'podman', 'buildah'];

export interface BuildOptions {
  readonly engine: Engine;
  readonly registry: string;
  readonly tag: string;
  /** BASE_IMAGE; the Containerfile's default (an official Node LTS slim image) when absent. */
  readonly baseImage?: string | undefined;
  /** buildah's storage driver: vfs works where overlay mounts are refused (containers, CI sandboxes). */
  readonly storageDriver?: string | undefined;
}

export const repositoryRoot = fileURLToPath(new URL('../..', import.meta.url));
export const defaultRegistry = 'localhost/msa-poc';
export const defaultTag = 'dev';

/** The command that builds one workload's image, as argv. */
export function buildCommand(workload: Workload, options: BuildOptions): string[] {
  const args = [
    '--build-arg', `SERVICE=${workload.name}`,
    '--build-arg', `WORKSPACE=${workload.workspace}`,
    ...(options.baseImage ? ['--build-arg', `BASE_IMAGE=${options.baseImage}`] : []),
    '--file', 'Containerfile',
    '--tag', imageName(options.registry, workload, options.tag),
    '.',
  ];
  switch (options.engine) {
    case 'docker':
      return ['docker', 'build', ...args];
    case 'podman':
      // The docker format keeps HEALTHCHECK, which the OCI image format has no field for.
      return ['podman', 'build', '--format', 'docker', ...args];
    case 'buildah':
      return ['buildah', '--storage-driver', options.storageDriver ?? 'vfs', 'bud', '--isolation', 'chroot', '--format', 'docker', ...args];
  }
}

const answers = (command: string, args: string[]): boolean => spawnSync(command, args, { stdio: 'ignore', timeout: 20_000 }).status === 0;

/** The first engine that can build here: docker only with a daemon that answers, since its client alone cannot. */
export function detectEngine(usable: (engine: Engine) => boolean = (engine) => answers(engine, engine === 'docker' ? ['info'] : ['--version'])): Engine {
  const found = engines.find(usable);
  if (!found) {
    throw new Error(
      'no container engine can build images here: docker has no running daemon (or is not installed), and neither podman nor buildah is installed. ' +
        'Start Docker, or install Podman or Buildah (on Debian: apt-get install -y buildah), then run `npm run images` again.',
    );
  }
  return found;
}

export function selectWorkloads(names: string | undefined, available: readonly Workload[] = allWorkloads()): Workload[] {
  if (!names) return [...available];
  return names.split(',').map((raw) => {
    const name = raw.trim();
    const workload = available.find((w) => w.name === name);
    if (!workload) throw new Error(`--service "${name}" is not a workload; choose from ${available.map((w) => w.name).join(', ')}`);
    return workload;
  });
}

function main(argv: string[]): number {
  const { values } = parseArgs({
    args: argv,
    options: {
      service: { type: 'string' }, base: { type: 'string' }, tag: { type: 'string', default: defaultTag },
      registry: { type: 'string', default: defaultRegistry }, engine: { type: 'string' }, 'dry-run': { type: 'boolean', default: false },
    },
    strict: true,
  });
  if (values.engine !== undefined && !(engines as readonly string[]).includes(values.engine)) throw new Error(`--engine must be one of ${engines.join(', ')}, not "${values.engine}"`);
  const engine = (values.engine as Engine | undefined) ?? detectEngine();
  const options: BuildOptions = { engine, registry: values.registry, tag: values.tag, baseImage: values.base, storageDriver: process.env.STORAGE_DRIVER };
  // A workload whose folder this checkout lacks (the console, on a branch without it) is named, not failed.
  const present = (w: Workload) => existsSync(join(repositoryRoot, w.workspace, 'package.json'));
  const workloads = selectWorkloads(values.service).filter((w) => present(w) || !process.stderr.write(`images: skipping ${w.name}: ${w.workspace}/ is not in this checkout\n`));
  process.stderr.write(`images: building ${workloads.map((w) => w.name).join(', ')} with ${engine}${values.base ? ` on ${values.base}` : ''}\n`);
  const built: string[] = [];
  for (const workload of workloads) {
    const [command, ...args] = buildCommand(workload, options);
    process.stderr.write(`\n$ ${[command, ...args].join(' ')}\n`);
    if (values['dry-run']) continue;
    const started = Date.now();
    const result = spawnSync(command!, args, { cwd: repositoryRoot, stdio: 'inherit' });
    if (result.status !== 0) {
      process.stderr.write(`images: ${workload.name} failed to build (${result.error?.message ?? `exit code ${result.status}`}); its output is above. Built so far: ${built.join(', ') || 'none'}.\n`);
      return 1;
    }
    built.push(`${imageName(options.registry, workload, options.tag)} (${((Date.now() - started) / 1000).toFixed(0)} s)`);
  }
  if (!values['dry-run']) process.stderr.write(`\nimages: built\n  ${built.join('\n  ')}\n`);
  return 0;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  try {
    process.exitCode = main(process.argv.slice(2));
  } catch (error) {
    process.stderr.write(`images: ${(error as Error).message}\n`);
    process.exitCode = 2;
  }
}
