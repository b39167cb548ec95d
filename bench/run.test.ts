import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startBareChain } from './bare/chain.js';
import { PlainCaller } from './callers.js';
import { computeRatios, judgeTargets, readmeMarkers, renderTable, withTable, type BenchResults, type VariantResult } from './results.js';
import { summarizeProfiles } from './profile.js';
import { parseOptions } from './run.js';
import { allVariants, parsePaired, UsageError } from './variants.js';
import { median } from '@msa-poc/harness/numbers';
import { measurePaired, pairedShares, rotation, type PairedPlan, type PairedResult, type PairedWindow } from './paired.js';
import type { SystemUnderTest } from './systems.js';

const variant = (name: string, kneeRps: number | null, cpuUsPerRequest: number, kneeIsLowerBound = false): VariantResult => ({
  name, description: name, kneeRps, kneeIsLowerBound, idleCores: 0.05, points: [],
  fixed: { offeredRps: 50, achievedRps: 50, p50Ms: 5, readP50Ms: 3, p99Ms: 20, errorRate: 0, cpuUsPerRequest: cpuUsPerRequest + 500, netCpuUsPerRequest: cpuUsPerRequest, perService: { gateway: { cpuUsPerRequest: cpuUsPerRequest / 2, rssMiB: 90 } } },
});
const micro = [
  { name: 'dpop-proof-verify', cpuUs: 120, p50Us: 80, meanUs: 90, p99Us: 300, samples: 100 },
  { name: 'access-token-verify', cpuUs: 2, p50Us: 1, meanUs: 1, p99Us: 3, samples: 100 },
];

test('ratios: full over bare, each feature\'s share of throughput and CPU, and the micro and client figures', () => {
  const { ratios } = computeRatios(
    [variant('full', 150, 4000), variant('bare', 200, 2000), variant('without-tracing', 160, 3600), variant('without-auth', null, 3000)],
    micro, { autocannonRps: 1000, transportClosedLoopRps: 900, loadClientRps: 850, connections: 64, durationMs: 5000 },
  );
  assert.equal(ratios.full_over_bare_knee, 0.75);
  assert.equal(ratios.full_over_bare_cpu_per_request, 2);
  assert.equal(ratios.tracing_throughput_share, 0.063);
  assert.equal(ratios.tracing_cpu_share, 0.1);
  assert.equal(ratios.auth_throughput_share, undefined, 'a variant without a knee has no throughput share');
  assert.equal(ratios.auth_cpu_share, 0.25);
  assert.equal(ratios.dpop_us_per_request, 120);
  assert.equal(ratios.access_token_us, 2);
  assert.equal(ratios.load_client_over_autocannon, 0.85);
  assert.equal(ratios.load_client_over_transport_closed_loop, 0.944);
  assert.equal(ratios.colocated_over_split_knee, undefined, 'no co-located variant, no granularity ratio');
  const { ratios: together } = computeRatios([variant('full', 150, 4000), variant('without-telemetry', 165, 3700)], [], null);
  assert.deepEqual([together.telemetry_throughput_share, together.telemetry_cpu_share], [0.091, 0.075], 'tracing and metrics switched off together');
  assert.equal(judgeTargets(together).find((t) => t.name === 'telemetry_throughput_share')?.status, 'pass');
});

test('granularity: the co-located variant against the split one, judged against twice the knee and a third of the p50', () => {
  const colocated = { ...variant('colocated', 330, 2500), fixed: { ...variant('colocated', 330, 2500).fixed, p50Ms: 2, readP50Ms: 1.2 } };
  const { ratios } = computeRatios([variant('full', 150, 4000), colocated], [], null);
  assert.equal(ratios.colocated_over_split_knee, 2.2);
  assert.equal(ratios.colocated_over_split_p50, 0.4, 'the whole mix');
  assert.equal(ratios.colocated_over_split_read_p50, 0.4, 'the read path');
  const byName = Object.fromEntries(judgeTargets(ratios).map((t) => [t.name, t]));
  assert.equal(byName.colocated_over_split_knee?.status, 'pass');
  assert.deepEqual([byName.colocated_over_split_read_p50?.status, byName.colocated_over_split_read_p50?.targetMet], ['warn', false], 'the read path\'s p50 fell to 40 %, not to a third');
  assert.equal(byName.colocated_over_split_p50, undefined, 'the goal is the read path\'s');
});

test('targets: pass while the bar holds, warn when it does not, and say whether the target was met', () => {
  const targets = judgeTargets({ full_over_bare_knee: 0.75, tracing_throughput_share: 0.12, dpop_us_per_request: 90, load_client_over_autocannon: 0.95 });
  const byName = Object.fromEntries(targets.map((t) => [t.name, t]));
  assert.deepEqual([byName.full_over_bare_knee?.status, byName.full_over_bare_knee?.targetMet], ['pass', false]);
  assert.deepEqual([byName.tracing_throughput_share?.status, byName.tracing_throughput_share?.targetMet], ['warn', false]);
  assert.deepEqual([byName.dpop_us_per_request?.status, byName.dpop_us_per_request?.targetMet], ['pass', true]);
  assert.equal(byName.load_client_over_autocannon?.status, 'pass');
  assert.equal(judgeTargets({}).length, 0, 'a figure not measured is no target');
  const noisy = judgeTargets({ full_over_bare_knee: 1.4, tracing_throughput_share: -0.3 });
  assert.deepEqual(noisy.map((t) => [t.status, t.targetMet]), [['inconclusive', false], ['inconclusive', false]], 'full faster than its floor, or faster with tracing, is noise');
});

test('a knee the search could not break is a lower bound: the ratios made with it are bounds, judged only where the bound settles them', () => {
  const variants = [variant('full', 238, 6800), variant('bare', 1718, 1600, true), variant('without-outbox', 1718, 3800, true), variant('without-mtls', 380, 6500), variant('colocated', 1718, 4900, true)];
  const { ratios, bounds } = computeRatios(variants, [], null);
  assert.equal(ratios.full_over_bare_knee, 0.139);
  assert.equal(bounds.full_over_bare_knee, 'at most', 'the bare chain may go faster still, so full reaches at most this share of it');
  assert.equal(bounds.outbox_throughput_share, 'at least', 'without the outbox the system may go faster still, so the outbox costs at least this');
  assert.equal(bounds.mtls_throughput_share, undefined, 'two measured knees make a measured share');
  assert.equal(bounds.colocated_over_split_knee, 'at least');
  const byName = Object.fromEntries(judgeTargets(ratios, bounds).map((t) => [t.name, t]));
  assert.deepEqual([byName.full_over_bare_knee?.status, byName.full_over_bare_knee?.bound], ['warn', 'at most'], 'at most 0.14 surely misses 0.7');
  assert.equal(byName.colocated_over_split_knee?.status, 'pass', 'at least 7.2 surely holds 2');
  // A bound on the wrong side of the bar settles nothing.
  const unsettled = Object.fromEntries(judgeTargets({ full_over_bare_knee: 0.9, colocated_over_split_knee: 1.5 }, { full_over_bare_knee: 'at most', colocated_over_split_knee: 'at least' }).map((t) => [t.name, t]));
  assert.deepEqual([unsettled.full_over_bare_knee?.status, unsettled.full_over_bare_knee?.targetMet], ['inconclusive', false]);
  assert.equal(unsettled.colocated_over_split_knee?.status, 'inconclusive');
  // Both knees only lower bounds: no ratio at all.
  const { ratios: neither } = computeRatios([variant('full', 1718, 6800, true), variant('bare', 1718, 1600, true)], [], null);
  assert.equal(neither.full_over_bare_knee, undefined);
  const table = renderTable({
    startedAt: '2026-01-02T03:04:05.000Z', durationS: 400, options: { quick: false, variants: variants.map((v) => v.name) },
    machine: { cores: 2, memoryGiB: 8, node: '20.20.0', cpuModel: 'Test CPU', os: 'linux' }, method: {},
    variants, micro: [], client: null, ratios, bounds, targets: judgeTargets(ratios, bounds),
  });
  assert.match(table, /\| bare \| ≥ 1718 \|/);
  assert.match(table, /\| full_over_bare_knee \| ≤ 0\.139 \|\n/);
  assert.match(table, /\| full_over_bare_knee \| ≤ 0\.139 \| ≥ 0\.7 \| ≥ 0\.8 \| warn \(target missed\) \|/);
});

test('the README table is generated between its markers and replaced on the next run', () => {
  const results: BenchResults = {
    startedAt: '2026-01-02T03:04:05.000Z', durationS: 400, options: { quick: false, variants: ['full', 'bare'] },
    machine: { cores: 2, memoryGiB: 8, node: '20.20.0', cpuModel: 'Test CPU', os: 'linux' }, method: {},
    variants: [variant('full', 150, 4000), variant('bare', 200, 2000)], micro, client: null,
    ratios: { full_over_bare_knee: 0.75 }, bounds: {}, targets: judgeTargets({ full_over_bare_knee: 0.75 }),
  };
  const readme = `# bench\n\nbefore\n${readmeMarkers.start}\nold table\n${readmeMarkers.end}\nafter\n`;
  const once = withTable(readme, renderTable(results));
  assert.match(once, /\| full \| 150 \| 0\.05 \| 50\.0 \| 5\.0 \| 3\.0 \| 20\.0 \|/);
  assert.match(once, /\| full_over_bare_knee \| 0\.75 \| ≥ 0\.7 \| ≥ 0\.8 \| pass \(target missed\) \|/);
  assert.match(once, /2 cores \(Test CPU\)/);
  assert.doesNotMatch(once, /old table/);
  assert.ok(once.startsWith('# bench\n\nbefore\n') && once.endsWith(`${readmeMarkers.end}\nafter\n`));
  assert.equal(withTable(once, renderTable(results)), once, 'regenerating gives the same file');
  assert.throws(() => withTable('# no markers', 'x'), /bench:results:start/);
});

test('an unknown variant is a usage error that lists the valid ones', () => {
  assert.throws(() => parseOptions(['--variants', 'full,fastest']), (error: unknown) => error instanceof UsageError && /unknown variant "fastest"; choose from full, colocated, bare, without-mtls/.test(error.message));
  assert.throws(() => parseOptions(['--turbo']), UsageError);
  assert.deepEqual(parseOptions(['--variants', 'bare,full']).variants, ['full', 'bare'], 'full is measured first');
  assert.deepEqual(parseOptions([]).variants, allVariants);
  const run = spawnSync(process.execPath, [fileURLToPath(new URL('./run.js', import.meta.url)), '--variants', 'nope'], { encoding: 'utf8' });
  assert.equal(run.status, 2);
  assert.match(run.stderr, /unknown variant "nope"; choose from/);
});

test('the bare chain serves the read and the write path, idempotently', { timeout: 120_000 }, async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'bench-bare-test-'));
  const chain = await startBareChain({ dataDir });
  const api = new PlainCaller(chain.url);
  try {
    assert.equal(chain.processes.size, 3);
    const products = await api.call<{ items: { sku: string }[] }>('GET', '/v1/products');
    assert.equal(products.status, 200);
    assert.ok(products.body.items.some((p) => p.sku === 'SKU-0001'));
    const body = { customerId: 'bare-1', items: [{ sku: 'SKU-0001', quantity: 2 }], shippingAddress: { name: 'A', line1: 'B', city: 'C', postalCode: '1', country: 'BE' } };
    const placed = await api.call<{ id: string; total: { amount: string }; status: string }>('POST', '/v1/orders', { body, headers: { 'idempotency-key': 'bare-test-1' } });
    assert.equal(placed.status, 201);
    assert.equal(placed.body.status, 'placed');
    const again = await api.call<{ id: string }>('POST', '/v1/orders', { body, headers: { 'idempotency-key': 'bare-test-1' } });
    assert.deepEqual([again.status, again.body.id], [200, placed.body.id], 'the same key answers with the same order');
    const read = await api.call<{ id: string; total: { amount: string } }>('GET', `/v1/orders/${placed.body.id}`);
    assert.deepEqual([read.status, read.body.total.amount], [200, placed.body.total.amount]);
    assert.equal((await api.call('POST', '/v1/orders', { body: { ...body, items: [{ sku: 'SKU-9999', quantity: 1 }] }, headers: { 'idempotency-key': 'bare-test-2' } })).status, 422);
    assert.equal((await api.call('GET', '/v1/orders/00000000-0000-7000-8000-000000000000')).status, 404);
    assert.equal((await api.call('DELETE', '/v1/products')).status, 404);
  } finally {
    await api.close();
    await chain.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
});

test('a CPU profile is summed over the load window into busy time per function and per package', () => {
  const frame = (functionName: string, url: string, lineNumber: number) => ({ functionName, url, lineNumber });
  const profile = {
    startTime: 1_000_000,
    nodes: [
      { id: 1, callFrame: frame('(idle)', '', -1) },
      { id: 2, callFrame: frame('handle', 'file:///work/x/services/gateway/dist/api.js', 4), children: [3] },
      { id: 3, callFrame: frame('verify', 'file:///work/x/node_modules/jose/dist/verify.js', 9) },
    ],
    // The first sample falls before the window (start-up) and is left out; idle is no busy time.
    samples: [3, 1, 3, 3, 2],
    timeDeltas: [1000, 2000, 3000, 3000, 2000],
  };
  const summary = summarizeProfiles([profile, profile], { fromUs: 1_002_000, toUs: 2_000_000 }, 5);
  assert.equal(summary.busyMs, 16);
  assert.deepEqual(summary.functions, [
    { where: 'verify jose/dist/verify.js:10', ms: 12, share: 0.75 },
    { where: 'handle services/gateway/dist/api.js:5', ms: 4, share: 0.25 },
  ]);
  assert.deepEqual(summary.packages, [{ where: 'services/gateway', ms: 16, share: 1 }, { where: 'jose', ms: 12, share: 0.75 }]);
});

const windowOf = (rps: number, cpuUsPerRequest = 1000): PairedWindow => ({ served: rps * 4, failed: 0, windowMs: 4000, drainMs: 0, rps, cpuUsPerRequest });
const pairedOf = (rounds: Record<string, number[]>, cpu: Record<string, number> = {}): PairedResult => ({
  plan: { concurrency: 16, rounds: 3, windowMs: 4000, leadInMs: 1000, maxDrainMs: 8000, quietCores: 0.15 },
  reference: 'full',
  variants: Object.entries(rounds).map(([name, list]) => ({ name, windows: list.map((rps) => windowOf(rps, cpu[name])), medianRps: median(list), medianCpuUsPerRequest: cpu[name] ?? 1000 })),
});

test('paired rounds: each round starts one system later, and a share is the median of the rounds, with the lowest and highest', () => {
  assert.deepEqual([0, 1, 2, 3].map((r) => rotation(['a', 'b', 'c'], r).join('')), ['abc', 'bca', 'cab', 'abc']);
  assert.equal(median([3, 1, 2]), 2);
  assert.equal(median([4, 1, 3, 2]), 2.5);
  // Round 2 was slow for everyone (the machine was busy): per-round pairing cancels it.
  const result = pairedOf({ full: [190, 95, 200], 'without-tracing': [200, 100, 200], 'without-metrics': [180, 100, 210] });
  assert.deepEqual(pairedShares(result), {
    'without-tracing': { share: 0.05, low: 0, high: 0.05 },
    'without-metrics': { share: 0.048, low: -0.056, high: 0.05 },
  });
});

test('ratios: a paired variant\'s shares come from the rounds at saturation, and its target is judged on them', () => {
  const paired = pairedOf({ full: [190, 95, 200], 'without-telemetry': [200, 100, 200] }, { full: 8000, 'without-telemetry': 7600 });
  const { ratios } = computeRatios([variant('full', 150, 4000)], [], null, paired);
  assert.equal(ratios.telemetry_throughput_share, 0.05);
  assert.deepEqual([ratios.telemetry_throughput_share_low, ratios.telemetry_throughput_share_high], [0, 0.05]);
  assert.equal(ratios.telemetry_cpu_share, 0.05);
  assert.deepEqual(judgeTargets(ratios).filter((t) => t.name === 'telemetry_throughput_share').map((t) => [t.status, t.targetMet]), [['pass', true]]);
  const table = renderTable({
    startedAt: '2026-01-02T03:04:05.000Z', durationS: 400, options: { quick: false, variants: ['full', 'without-telemetry'] },
    machine: { cores: 2, memoryGiB: 8, node: '20.20.0', cpuModel: 'Test CPU', os: 'linux' }, method: {},
    variants: [variant('full', 150, 4000)], paired, micro: [], client: null, ratios, bounds: {}, targets: judgeTargets(ratios),
  });
  assert.match(table, /\| without-telemetry \| 200\.0 \| 100\.0 \| 200\.0 \| 200\.0 \| 0\.0 \| 7600 \| 0\.05 \(0 – 0\.05\) \|/);
  assert.match(table, /\| full \| 190\.0 \| 95\.0 \| 200\.0 \| 190\.0 \| 0\.0 \| 8000 \| reference \|/);
});

test('--paired: the telemetry variants by default, none on request, never full nor a variant the run leaves out', () => {
  assert.deepEqual(parseOptions([]).paired, ['without-tracing', 'without-metrics', 'without-telemetry']);
  assert.deepEqual(parseOptions(['--variants', 'full,without-metrics,bare']).paired, ['without-metrics']);
  assert.deepEqual(parseOptions(['--paired', 'none']).paired, []);
  assert.deepEqual(parseOptions(['--variants', 'full,without-mtls,without-auth', '--paired', 'without-auth,without-mtls']).paired, ['without-mtls', 'without-auth']);
  assert.throws(() => parsePaired('full', allVariants), (error: unknown) => error instanceof UsageError && /cannot take "full"/.test(error.message));
  assert.throws(() => parsePaired('without-auth', ['full', 'bare']), (error: unknown) => error instanceof UsageError && /"without-auth", which --variants leaves out/.test(error.message));
});

test('paired at saturation: a slower system shows a positive share, answers of 5xx are not served, every system is driven every round', { timeout: 60_000 }, async () => {
  const calls: string[] = [];
  const fake = (name: string, delayMs: number, status = 200): SystemUnderTest => ({
    caller: { call: async () => { calls.push(name); await new Promise((resolve) => setTimeout(resolve, delayMs)); return { status, headers: {}, body: { id: 'o-1' } as never }; } },
    pids: new Map(), logTail: () => [], stop: async () => undefined,
  });
  const plan: PairedPlan = { concurrency: 4, rounds: 2, windowMs: 300, leadInMs: 50, maxDrainMs: 100, quietCores: 0.15 };
  const result = await measurePaired([
    { name: 'full', system: fake('full', 40), idleCores: 0 },
    { name: 'without-x', system: fake('without-x', 4), idleCores: 0 },
    { name: 'broken', system: fake('broken', 4, 503), idleCores: 0 },
  ], plan, () => undefined);
  const byName = Object.fromEntries(result.variants.map((v) => [v.name, v]));
  assert.ok(result.variants.every((v) => v.windows.length === 2), 'two windows each');
  assert.ok((pairedShares(result)['without-x']?.share ?? 0) > 0.5, `ten times faster answers: ${JSON.stringify(pairedShares(result))}`);
  assert.ok(byName.broken?.windows.every((w) => w.served === 0 && w.failed > 0), 'a 503 is not served');
  const turns = calls.filter((name, i) => name !== calls[i - 1]);
  assert.deepEqual(turns, ['full', 'without-x', 'broken', 'without-x', 'broken', 'full'], 'one at a time, the second round starting one system later');
});
