import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync, spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const poc = fileURLToPath(new URL('../bin/poc.js', import.meta.url));
const run = (args: string[], env: Record<string, string> = {}) => spawnSync(process.execPath, [poc, ...args], { encoding: 'utf8', env: { ...process.env, ...env }, timeout: 60_000 });

test('an unknown command or option is a usage error: exit code 2 and the usage text', () => {
  const unknown = run(['fly']);
  assert.equal(unknown.status, 2);
  assert.match(unknown.stderr, /unknown command "fly"/);
  assert.match(unknown.stderr, /usage: poc <command>/);
  const option = run(['up', '--colour']);
  assert.equal(option.status, 2);
  assert.match(option.stderr, /--colour/);
  const profile = run(['up', '--profile', 'staging']);
  assert.equal(profile.status, 2);
  assert.match(profile.stderr, /--profile must be embedded or production/);
});

test('a bad setting is refused before anything starts, naming the variable', () => {
  const result = run(['up'], { POC_ORDERS_PORT: '70000' });
  assert.equal(result.status, 2);
  assert.match(result.stderr, /POC_ORDERS_PORT="70000" is not a port number/);
});

test('a port already in use is a clear error naming the port and the service', async () => {
  const home = mkdtempSync(join(tmpdir(), 'poc-cli-'));
  const blocker = createServer();
  await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
  const address = blocker.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  try {
    const child = spawn(process.execPath, [poc, 'up', '--quiet'], { env: { ...process.env, POC_HOME: home, POC_STORE_PORT: String(port) } });
    let stderr = '';
    child.stderr.on('data', (chunk) => (stderr += chunk));
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    assert.equal(code, 1);
    assert.match(stderr, new RegExp(`port already in use: ${port} \\(store\\)`));
  } finally {
    blocker.close();
    rmSync(home, { recursive: true, force: true });
  }
});

test('prove --target takes only a gateway https origin, and --client/--ca only with it', () => {
  const cases: [string[], RegExp][] = [
    [['prove', '--target', 'http://127.0.0.1:8443'], /--target must use https/],
    [['prove', '--target', 'https://127.0.0.1:8443/v1'], /origin only .* without a path: https:\/\/127\.0\.0\.1:8443/],
    [['prove', '--target', 'not a url'], /--target must be the gateway's https URL/],
    [['prove', '--client', 'me'], /--client and --ca go with --target/],
    [['prove', '--target', 'https://127.0.0.1:8443', '--profile', 'production'], /with --target the system is already running/],
    [['prove', '--target', 'https://127.0.0.1:8443', '--client', 'bad id!'], /--client must be 1-64 letters/],
  ];
  for (const [args, message] of cases) {
    const result = run(args);
    assert.equal(result.status, 2, `${args.join(' ')}: ${result.stderr}`);
    assert.match(result.stderr, message);
  }
});

test('a wrong --topology is refused before anything starts, naming what is wrong', () => {
  const home = mkdtempSync(join(tmpdir(), 'poc-cli-'));
  try {
    const missing = run(['up', '--topology', join(home, 'none.json')], { POC_HOME: home });
    assert.equal(missing.status, 2);
    assert.match(missing.stderr, /topology error: --topology takes split, colocated or a JSON file; cannot read/);
    const cases: [string[], RegExp][] = [
      [['prove', '--compare-topologies', 'split'], /takes two or more topologies/],
      [['prove', '--compare-topologies', 'split,colocated', '--topology', 'split'], /goes without --target and --topology/],
      [['prove', '--target', 'https://127.0.0.1:8443', '--topology', 'colocated'], /with --target the system is already running/],
    ];
    for (const [args, message] of cases) {
      const result = run(args, { POC_HOME: home });
      assert.equal(result.status, 2, `${args.join(' ')}: ${result.stderr}`);
      assert.match(result.stderr, message);
    }
  } finally {
    rmSync(home, { recursive: true, force: true });
  }
});
