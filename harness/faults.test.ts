/** Which services a fault hits depends on the topology: a process fault hits every service the process hosts. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ServiceName } from '@msa-poc/contracts';
import { faults, sharedFateOf, type FaultContext } from './faults.js';
import type { FaultProxy } from './proxy.js';

const contextWith = (groups: ServiceName[][]): FaultContext => ({
  system: {
    description: 'test', profile: 'embedded', adminUrls: {},
    processes: { signal: () => true, restart: async () => undefined, sharing: (service) => groups.find((g) => g.includes(service)) ?? [service] },
  },
  partnerAdmin: undefined,
  storeProxy: {} as FaultProxy,
  databaseProxy: undefined,
});
const fault = (name: string) => faults.find((f) => f.name === name) as (typeof faults)[number];
const colocated = contextWith([['store', 'orders', 'integration', 'gateway'], ['partner']]);
const split = contextWith([]);

test('killing integration co-located takes its process peers with it; split, it goes alone', () => {
  assert.deepEqual(sharedFateOf(fault('integration killed'), colocated), ['store', 'orders', 'gateway']);
  assert.deepEqual(sharedFateOf(fault('integration killed'), split), []);
  assert.deepEqual(sharedFateOf(fault('store paused'), colocated), ['orders', 'integration', 'gateway']);
});

test('a fault outside the process (the partner failing) shares nobody\'s fate', () => {
  assert.deepEqual(sharedFateOf(fault('partner failing'), colocated), []);
});

test('the store cannot be slowed on the network when its callers reach it in-process', () => {
  assert.match(String(fault('store slowed').unavailable(colocated)), /shares its process with orders, integration, gateway/);
  assert.equal(fault('store slowed').unavailable(split), undefined);
});
