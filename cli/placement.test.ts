/** Topologies: the built-in ones, and a topology file checked for every mistake at once. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { colocated, placementFrom, placementOf, processOf, split } from './placement.js';

test('split gives each service a process; colocated hosts all but the partner in one, callees first', () => {
  assert.equal(placementOf(undefined), split);
  assert.ok(split.processes.every((p) => p.services.length === 1 && p.name === p.services[0]));
  assert.equal(split.processes.length, 5);
  assert.deepEqual(placementOf('colocated'), colocated);
  assert.deepEqual(processOf(colocated, 'orders').services, ['store', 'orders', 'integration', 'gateway']);
  assert.deepEqual(processOf(colocated, 'partner').services, ['partner']);
});

test('a topology file names processes; their services start callees first', () => {
  const dir = mkdtempSync(join(tmpdir(), 'poc-placement-'));
  try {
    const file = join(dir, 'core.json');
    writeFileSync(file, JSON.stringify({ processes: { edge: ['gateway'], core: ['orders', 'store'], integration: ['integration'], partner: ['partner'] } }));
    const placement = placementOf(file);
    assert.equal(placement.name, file);
    assert.deepEqual(processOf(placement, 'store'), { name: 'core', services: ['store', 'orders'] });
    assert.throws(() => placementOf(join(dir, 'missing.json')), /takes split, colocated or a JSON file; cannot read/);
    writeFileSync(file, '{ "processes": ');
    assert.throws(() => placementOf(file), /is not JSON/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a wrong topology file is refused with every mistake named', () => {
  assert.throws(() => placementFrom('t.json', { edge: ['gateway'] }), /must have a "processes" object/);
  assert.throws(
    () => placementFrom('t.json', { processes: { app: ['gateway', 'orders', 'billing'], more: ['orders'], ext: ['partner', 'store'] } }),
    (error: Error) => {
      assert.match(error.message, /"billing", which is not a service/);
      assert.match(error.message, /orders is placed in both "app" and "more"/);
      assert.match(error.message, /partner is an external system and cannot share process "ext" with store/);
      assert.match(error.message, /no process hosts integration/);
      return true;
    },
  );
  assert.throws(() => placementFrom('t.json', { processes: { App: ['gateway'], empty: [] } }), /process name "App"[\s\S]*"empty" must list one or more service names/);
});
