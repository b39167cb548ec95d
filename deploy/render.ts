/**
 * Writes the generated deployment files from the topology. The files are committed so that a
 * reader sees them without running anything; a test fails when they drift from what this renders.
 *
 *   npm run deploy:render                              every target, into deploy/
 *   npx poc deploy render --target k8s --out DIR       one target, anywhere
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Document, isScalar, visit } from 'yaml';
import { composeFile } from './compose.js';
import { repositoryRoot } from './images.js';
import { kubernetesFiles, kustomization } from './kubernetes.js';
import { grafanaDashboard, localPrometheusConfig } from './monitoring.js';

export const deployDir = fileURLToPath(new URL('..', import.meta.url));

export const targets = ['compose', 'k8s', 'monitoring'] as const;
export type Target = (typeof targets)[number];

export interface RenderedFile {
  /** Relative to the output folder (deploy/ by default). */
  readonly path: string;
  readonly content: string;
}

const notice = (generator: string) => `# Generated from packages/contracts/topology.ts by deploy/${generator} (\`npm run deploy:render\`); edit the generator, not this file.\n`;

/**
 * YAML that every reader takes the same way: YAML 1.1 quoting (docker's and Kubernetes' parsers still
 * read `no`, `on` or `8443:8443` the 1.1 way), no anchors, no folded lines, and short lists of
 * scalars on one line, so that a diff shows each change where it is.
 */
function yaml(value: unknown): string {
  const document = new Document(value, { version: '1.1', aliasDuplicateObjects: false });
  visit(document, {
    Seq(_, node) {
      if (node.items.every(isScalar) && node.items.reduce((length, item) => length + String(item.value).length + 2, 0) <= 60) node.flow = true;
    },
  });
  return document.toString({ lineWidth: 0 });
}

function renderTarget(target: Target, outDir: string): RenderedFile[] {
  switch (target) {
    case 'monitoring':
      return [
        { path: 'prometheus.yml', content: notice('monitoring.ts') + yaml(localPrometheusConfig()) },
        { path: 'grafana/msa-poc-dashboard.json', content: `${JSON.stringify(grafanaDashboard(), null, 2)}\n` },
      ];
    case 'compose':
      // Its paths (build context, identities) lead from where it is written back to this repository.
      return [{ path: 'compose.yaml', content: notice('compose.ts') + yaml(composeFile(relative(outDir, repositoryRoot).replaceAll('\\', '/') || '.')) }];
    case 'k8s': {
      const files = kubernetesFiles();
      return [
        ...files.map((file) => ({ path: `k8s/${file.path}`, content: notice('kubernetes.ts') + file.manifests.map(yaml).join('---\n') })),
        { path: 'k8s/kustomization.yaml', content: notice('kubernetes.ts') + yaml(kustomization(files)) },
      ];
    }
  }
}

export function renderFiles(selected: readonly Target[] = targets, outDir = deployDir): RenderedFile[] {
  return selected.flatMap((target) => renderTarget(target, outDir));
}

/** Files whose committed content differs from what the topology renders now. */
export function staleFiles(dir = deployDir, selected: readonly Target[] = targets): string[] {
  return renderFiles(selected, dir)
    .filter((file) => {
      try {
        return readFileSync(join(dir, file.path), 'utf8') !== file.content;
      } catch {
        return true;
      }
    })
    .map((file) => file.path);
}

export function writeFiles(dir = deployDir, selected: readonly Target[] = targets): string[] {
  const written: string[] = [];
  for (const file of renderFiles(selected, dir)) {
    const path = join(dir, file.path);
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, file.content);
    written.push(relative(process.cwd(), path) || path);
  }
  return written;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  for (const path of writeFiles()) process.stdout.write(`wrote ${path}\n`);
}
