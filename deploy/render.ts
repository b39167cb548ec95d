/**
 * Writes the generated deployment files from the topology. The files are committed so that a
 * reader sees them without running anything; a test fails when they drift from what this renders.
 *
 *   npm run deploy:render
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { grafanaDashboard, localPrometheusConfig } from './monitoring.js';

export const deployDir = fileURLToPath(new URL('..', import.meta.url));

export interface RenderedFile {
  /** Relative to the deploy folder. */
  readonly path: string;
  readonly content: string;
}

const generatedNotice = '# Generated from packages/contracts/topology.ts by `npm run deploy:render`; edit the generator, not this file.\n';

export function renderFiles(): RenderedFile[] {
  return [
    { path: 'prometheus.yml', content: generatedNotice + stringify(localPrometheusConfig()) },
    { path: 'grafana/msa-poc-dashboard.json', content: `${JSON.stringify(grafanaDashboard(), null, 2)}\n` },
  ];
}

/** Files whose committed content differs from what the topology renders now. */
export function staleFiles(dir = deployDir): string[] {
  return renderFiles()
    .filter((file) => {
      try {
        return readFileSync(join(dir, file.path), 'utf8') !== file.content;
      } catch {
        return true;
      }
    })
    .map((file) => file.path);
}

export function writeFiles(dir = deployDir): string[] {
  const written: string[] = [];
  for (const file of renderFiles()) {
    const path = join(dir, file.path);
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, file.content);
    written.push(relative(process.cwd(), path));
  }
  return written;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  for (const path of writeFiles()) process.stdout.write(`wrote ${path}\n`);
}
