import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ApiClient } from './api-client.js';
import { defaultScenario, loadScenario, ScenarioRunner } from './scenario.js';
import { deadlineOf } from './load.js';

const workDir = fileURLToPath(new URL('../.scenarios/', import.meta.url));

/** Answers like the API would, and remembers what was asked. */
function fakeApi() {
  const calls: string[] = [];
  let n = 0;
  const api = {
    call: async (method: string, path: string) => {
      calls.push(`${method} ${path}`);
      if (method === 'POST' && path === '/v1/orders') return { status: n % 3 === 2 ? 503 : 201, headers: {}, body: { id: `01890000-0000-7000-8000-${String(++n).padStart(12, '0')}` } };
      return { status: 200, headers: {}, body: {} };
    },
  } as unknown as ApiClient;
  return { api, calls };
}

const run = async (runner: ScenarioRunner, count: number) => {
  for (let i = 0; i < count; i++) await runner.next(i).run(deadlineOf(new AbortController().signal, 1_000));
};

test('the same seed replays the same operations; placements are recorded with their outcome', async () => {
  const a = fakeApi();
  const b = fakeApi();
  await run(new ScenarioRunner(a.api, 7), 200);
  const runner = new ScenarioRunner(b.api, 7);
  await run(runner, 200);
  assert.deepEqual(a.calls.map((c) => c.replace(/\d{12}/, 'N')), b.calls.map((c) => c.replace(/\d{12}/, 'N')));
  const places = b.calls.filter((c) => c === 'POST /v1/orders').length;
  assert.ok(places > 30 && places < 100, `${places} placements in 200 operations at a 30-35 % share`);
  assert.equal(runner.placements.length, places);
  assert.ok(runner.placements.some((p) => p.outcome === 'failed') && runner.placements.some((p) => p.outcome === 'acknowledged'));
  assert.equal(new Set(runner.placements.map((p) => p.key)).size, places, 'a fresh idempotency key per placement');
  assert.deepEqual(runner.dependencies().browse, ['gateway', 'orders']);
});

test('a TypeScript scenario file is compiled and loaded, and its operations run with their weights', async () => {
  const example = fileURLToPath(new URL('../examples/checkout-rush.ts', import.meta.url));
  const definition = await loadScenario(example, workDir);
  assert.equal(definition.name, 'checkout rush');
  const { api, calls } = fakeApi();
  const runner = new ScenarioRunner(api, 3, definition);
  await run(runner, 60);
  assert.ok(calls.some((c) => c === 'POST /v1/orders'));
  assert.ok(runner.placements.some((p) => p.body.items.length >= 1));
  assert.notEqual(definition, defaultScenario);
});

test('a scenario that does not compile or exports nothing usable is refused with a clear error', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'scenario-'));
  try {
    writeFileSync(join(dir, 'broken.ts'), 'export default defineScenario({ name: "x", operations: { a: { weight: 1, run: (ctx) => ctx.api.call( } } });');
    await assert.rejects(loadScenario(join(dir, 'broken.ts'), workDir), /does not compile/);
    writeFileSync(join(dir, 'empty.ts'), 'export const nothing = 1;');
    await assert.rejects(loadScenario(join(dir, 'empty.ts'), workDir), /must export default defineScenario/);
    await assert.rejects(loadScenario(join(dir, 'missing.ts'), workDir), /cannot read the scenario/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  assert.throws(() => new ScenarioRunner(fakeApi().api, 1, { name: 'zero', operations: { a: { weight: 0, run: async () => ({ status: 200 }) } } }), /no operation with a positive weight/);
});
