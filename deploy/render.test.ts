import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, test } from 'node:test';
import { parse } from 'yaml';
import { topology } from '@msa-poc/contracts';
import { exposedMetrics, grafanaDashboard, queriedMetrics } from './monitoring.js';
import { repositoryRoot } from './images.js';
import { renderFiles, staleFiles, targets, writeFiles } from './render.js';

describe('generated deployment files', () => {
  test('the committed files of every target are what the topology renders now (run `npm run deploy:render` after changing it)', () => {
    assert.deepEqual(staleFiles(), []);
    assert.deepEqual(targets, ['compose', 'k8s', 'monitoring']);
  });

  test('every generated file says it is generated and by what, and renders the same twice', () => {
    for (const file of renderFiles()) {
      if (file.path.endsWith('.json')) continue; // JSON has no comments: the dashboard's description says it
      assert.match(file.content, /^# Generated from packages\/contracts\/topology\.ts by deploy\/\w+\.ts/, file.path);
    }
    assert.deepEqual(renderFiles(), renderFiles());
  });

  test('written elsewhere, the compose file still builds from and mounts identities of this repository', () => {
    const out = mkdtempSync(join(tmpdir(), 'poc-render-'));
    try {
      assert.deepEqual(writeFiles(out, ['compose']).map((p) => resolve(p)), [join(out, 'compose.yaml')]);
      const compose = parse(readFileSync(join(out, 'compose.yaml'), 'utf8')) as { services: { orders: { build: { context: string } } }; secrets: Record<string, { file: string }> };
      assert.equal(resolve(out, compose.services.orders.build.context), resolve(repositoryRoot));
      assert.equal(resolve(out, compose.secrets['pki-ca.crt']!.file), join(resolve(repositoryRoot), '.poc/pki/ca.crt'));
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });

  test('Prometheus scrapes every admin port in the topology, labelled with its service', () => {
    const prometheus = renderFiles().find((f) => f.path === 'prometheus.yml');
    const config = parse(prometheus!.content) as { scrape_configs: { static_configs: { targets: string[]; labels: { service: string } }[] }[] };
    const scraped = config.scrape_configs.flatMap((job) => job.static_configs).map((c) => `${c.labels.service} ${c.targets.join()}`);
    assert.deepEqual(scraped, topology.map((s) => `${s.name} 127.0.0.1:${s.adminPort}`));
  });

  test('the dashboard has unique panel ids, a query on every panel, and panels inside the 24-column grid', () => {
    const panels = (grafanaDashboard() as { panels: { id: number; type: string; gridPos: { x: number; w: number }; targets?: { expr: string }[] }[] }).panels;
    assert.equal(new Set(panels.map((p) => p.id)).size, panels.length);
    for (const panel of panels.filter((p) => p.type !== 'row')) {
      assert.ok((panel.targets ?? []).length > 0, `panel ${panel.id} has no query`);
      assert.ok(panel.gridPos.x + panel.gridPos.w <= 24, `panel ${panel.id} overflows the grid`);
    }
  });

  test('queried series are read from selectors; a histogram is exposed as its bucket, count and sum series, a gauge named _count as itself', () => {
    const dashboard = { panels: [{ targets: [{ expr: 'histogram_quantile(0.99, sum by (le, service) (rate(a_seconds_bucket{x="1"}[5m]))) / sum(rate(b_total[1m])) + c_count{}' }] }] };
    assert.deepEqual(queriedMetrics(dashboard), ['a_seconds_bucket', 'b_total', 'c_count']);
    const exposed = exposedMetrics('# HELP a_seconds x\n# TYPE a_seconds histogram\na_seconds_bucket{le="1"} 0\n# TYPE c_count gauge\nc_count 1\n');
    assert.deepEqual([...exposed].sort(), ['a_seconds_bucket', 'a_seconds_count', 'a_seconds_sum', 'c_count']);
  });
});
