import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { renderFiles } from '@msa-poc/deploy/render';
import { allWorkloads } from '@msa-poc/deploy/workloads';
import { parseTargets } from './deploy.js';

const poc = fileURLToPath(new URL('../bin/poc.js', import.meta.url));
const run = (args: string[], env: Record<string, string> = {}) => spawnSync(process.execPath, [poc, ...args], { encoding: 'utf8', env: { ...process.env, ...env }, timeout: 60_000 });
const selfCheck = (service: string, home: string) =>
  spawnSync(process.execPath, [fileURLToPath(new URL(`../../services/${service}/dist/main.js`, import.meta.url)), '--self-check'], { encoding: 'utf8', env: { ...process.env, POC_HOME: home, POC_PROFILE: 'embedded' }, timeout: 30_000 });

function withTempDir(run: (dir: string) => void): void {
  const dir = mkdtempSync(join(tmpdir(), 'poc-deploy-'));
  try {
    run(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('poc deploy', () => {
  test('render --target k8s --out DIR writes the Kubernetes files there, as the generator renders them', () => {
    withTempDir((out) => {
      const result = run(['deploy', 'render', '--target', 'k8s', '--out', out]);
      assert.equal(result.status, 0, result.stderr);
      for (const file of renderFiles(['k8s'], out)) assert.equal(readFileSync(join(out, file.path), 'utf8'), file.content, file.path);
      assert.ok(!existsSync(join(out, 'compose.yaml')), 'another target was written');
    });
  });

  test('an unknown target or action is a usage error naming the choices', () => {
    const target = run(['deploy', 'render', '--target', 'helm']);
    assert.equal(target.status, 2);
    assert.match(target.stderr, /--target must be compose, k8s, monitoring or all, not "helm"/);
    const action = run(['deploy', 'publish']);
    assert.equal(action.status, 2);
    assert.match(action.stderr, /deploy takes render or identities, not "publish"/);
    assert.deepEqual(parseTargets('all'), parseTargets(undefined));
  });

  test('identities creates every file a deployment mounts, and each service\'s self-check accepts its own identity only', () => {
    withTempDir((home) => {
      const result = run(['deploy', 'identities', '--json'], { POC_HOME: home });
      assert.equal(result.status, 0, result.stderr);
      for (const file of allWorkloads().flatMap((w) => w.keyFiles)) assert.ok(existsSync(join(home, 'keys', file)), `keys/${file} missing`);

      const valid = selfCheck('orders', home);
      assert.equal(valid.status, 0, valid.stderr);
      assert.match(valid.stdout, /orders: embedded configuration and identity spiffe:\/\/msa-poc\.local\/orders are valid/);

      copyFileSync(join(home, 'pki', 'store.crt'), join(home, 'pki', 'orders.crt'));
      const foreign = selfCheck('orders', home);
      assert.equal(foreign.status, 1);
      assert.match(foreign.stderr, /orders self-check failed: .*orders\.crt names spiffe:\/\/msa-poc\.local\/store, not spiffe:\/\/msa-poc\.local\/orders/);
    });
  });
});
