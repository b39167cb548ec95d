import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fitUsl, limitedBy, searchCapacity, uslThroughput, type CapacityPoint } from './capacity.js';

const point = (offeredRps: number, capacity: number): CapacityPoint => {
  const achievedRps = Math.min(offeredRps, capacity);
  const overloaded = offeredRps > capacity;
  return { offeredRps, achievedRps, p50Ms: overloaded ? 300 : 5, p99Ms: overloaded ? 2_000 : 40, errorRate: 0, perService: { store: { elu: Math.min(1, offeredRps / capacity), cpuShare: 0.5, p99Ms: 10 }, orders: { elu: 0.3, cpuShare: 0.3, p99Ms: 10 } }, limitedByClient: false };
};

test('steps up until the objective breaks, then bisects towards the knee', async () => {
  const rates: number[] = [];
  const result = await searchCapacity(async (rps) => {
    rates.push(rps);
    return point(rps, 230);
  }, { p99Ms: 250, errorBudget: 0.01 }, { startRps: 50, growth: 1.5, maxSteps: 10, bisections: 4, minPoints: 6 });
  assert.deepEqual(rates.slice(0, 5), [50, 75, 113, 169, 253]);
  assert.ok(result.knee && result.knee.offeredRps <= 230 && result.knee.offeredRps >= 200, `knee ${result.knee?.offeredRps}`);
  assert.ok(result.points.length >= 6);
  assert.equal(limitedBy(result.points, result.firstBad).service, 'store');
});

test('a point that misses its rate breaks the objective even with good latency', async () => {
  const result = await searchCapacity(async (rps) => ({ ...point(rps, 1_000), achievedRps: Math.min(rps, 80) }), { p99Ms: 250, errorBudget: 0.01 }, { startRps: 50, growth: 2, maxSteps: 5, bisections: 0, minPoints: 1 });
  assert.equal(result.knee?.offeredRps, 50);
  assert.equal(result.firstBad?.offeredRps, 100);
});

test('an early knee gets points filled in below it, so that at least the minimum is measured', async () => {
  const result = await searchCapacity(async (rps) => point(rps, 30), { p99Ms: 250, errorBudget: 0.01 }, { startRps: 25, growth: 1.6, maxSteps: 10, bisections: 1, minPoints: 6 });
  assert.ok(result.points.length >= 6, `${result.points.length} points`);
  assert.deepEqual(result.points.map((p) => p.offeredRps), [...result.points.map((p) => p.offeredRps)].sort((a, b) => a - b));
  assert.ok(result.points.some((p) => p.offeredRps < 25), 'below the first step');
});

test('when even the first rate breaks the objective, the search steps down to find the knee and still measures enough points', async () => {
  const result = await searchCapacity(async (rps) => point(rps, 9), { p99Ms: 250, errorBudget: 0.01 }, { startRps: 25, growth: 1.6, maxSteps: 10, bisections: 1, minPoints: 6 });
  assert.ok(result.knee && result.knee.offeredRps <= 9, `knee ${result.knee?.offeredRps}`);
  assert.ok(result.points.length >= 6, `${result.points.length} points`);
});

test('the limiter is the saturated service, even when the client also ran late', () => {
  const saturated = { ...point(100, 50), limitedByClient: true };
  assert.equal(limitedBy([saturated], saturated).service, 'store');
  const idle = { ...point(100, 1_000), limitedByClient: true, perService: { store: { elu: 0.2, cpuShare: 0.1, p99Ms: 10 } } };
  assert.equal(limitedBy([idle], idle).service, 'load-client');
  const busyMachine = { ...point(100, 1_000), limitedByClient: true, perService: { store: { elu: 0.7, cpuShare: 0.9, p99Ms: 10 }, gateway: { elu: 0.6, cpuShare: 0.8, p99Ms: 10 } } };
  const verdict = limitedBy([busyMachine], busyMachine, 2);
  assert.equal(verdict.service, 'store');
  assert.match(verdict.evidence, /1\.70 of the machine's 2 cores/);
});

test('the USL fit recovers known coefficients', () => {
  const truth = { sigma: 0.05, kappa: 0.002, lambda: 100 };
  const samples = [1, 2, 4, 8, 16, 32, 48].map((n) => ({ n, x: uslThroughput(truth, n) }));
  const fit = fitUsl(samples);
  assert.ok(fit);
  assert.ok(Math.abs(fit.sigma - truth.sigma) < 0.02, `sigma ${fit.sigma}`);
  assert.ok(Math.abs(fit.kappa - truth.kappa) < 0.001, `kappa ${fit.kappa}`);
  assert.ok(fit.r2 > 0.99);
  assert.equal(fitUsl([{ n: 1, x: 1 }]), undefined, 'too few points');
});
