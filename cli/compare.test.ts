/** The side-by-side comparison of topologies, from two proving reports. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { sampleReport } from '@msa-poc/harness/fixtures/sample-report';
import type { Report } from '@msa-poc/harness/report-schema';
import { compareReports, renderComparison } from './compare.js';
import { colocated, split } from './placement.js';

/** The same system co-located: a higher knee, faster at every step, and integration's death takes its process peers. */
function colocatedReport(): Report {
  const report: Report = structuredClone(sampleReport);
  const capacity = report.capacity as NonNullable<Report['capacity']>;
  return {
    ...report,
    capacity: { ...capacity, knee_rps: 900, points: capacity.points.map((p) => ({ ...p, p50Ms: p.p50Ms / 2, p99Ms: p.p99Ms / 2 })) },
    faults: report.faults.map((f) => (f.name === 'integration-killed' ? { ...f, target: 'integration', sharedFate: ['store', 'orders', 'gateway'], errorRateDuring: 1 } : f)),
  };
}

const comparison = compareReports([{ placement: split, report: sampleReport }, { placement: colocated, report: colocatedReport() }]);

test('the common rate is the highest step both topologies met the objective at', () => {
  assert.equal(comparison.commonRate?.rps, 450);
  assert.deepEqual(comparison.commonRate?.byTopology.colocated, { p50Ms: 6.75, p99Ms: 115.5 });
  assert.equal(comparison.commonRate?.byTopology.split?.p50Ms, 13.5);
});

test('only the hops between processes count as network traffic', () => {
  const [splitFigures, colocatedFigures] = comparison.topologies;
  const edges = sampleReport.chatter.perEdge;
  const allCalls = Object.entries(edges).filter(([key]) => !key.endsWith('->database')).reduce((sum, [, e]) => sum + e.callsPerRequest, 0);
  assert.equal(splitFigures?.networkCallsPerRequest, Number(allCalls.toFixed(2)));
  const partnerHops = Object.entries(edges).filter(([key]) => key.includes('partner')).reduce((sum, [, e]) => sum + e.callsPerRequest, 0);
  assert.ok(partnerHops > 0);
  assert.equal(colocatedFigures?.networkCallsPerRequest, Number(partnerHops.toFixed(2)), 'co-located, only the calls to and from the partner cross the network');
});

test('a synchronous pair with a doubled knee is advised together; an asynchronous one apart, citing the figures', () => {
  const pair = (a: string, b: string) => comparison.pairs.find((p) => p.pair.includes(a as never) && p.pair.includes(b as never));
  const ordersStore = pair('orders', 'store');
  assert.equal(ordersStore?.verdict, 'together');
  assert.match(ordersStore?.because ?? '', /450 rps \(split\) to 900 rps \(colocated\), ×2/);
  assert.match(ordersStore?.because ?? '', /p50 at 450 rps from 13\.5 ms to 6\.8 ms/);
  const integrationStore = pair('integration', 'store');
  assert.equal(integrationStore?.verdict, 'apart');
  assert.match(integrationStore?.because ?? '', /off the user's critical path/);
  assert.match(integrationStore?.because ?? '', /"integration-killed" took store, orders, gateway down with it \(errors 100 %\)/);
  assert.equal(pair('integration', 'partner'), undefined, 'the partner is apart in both: nothing to compare');
});

test('the rendered comparison puts the topologies side by side and names the blast radius', () => {
  const text = renderComparison(comparison);
  assert.match(text, /\| knee \| 450 rps \(store\) \| 900 rps \(store\) \|/);
  assert.match(text, /fault: integration-killed \| errors [\d.]+ % \| errors 100 %, took down store, orders, gateway/);
  assert.match(text, /\*\*orders and store: run together\*\*/);
});
