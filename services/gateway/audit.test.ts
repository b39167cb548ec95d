import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { AuditRecord, storeContract } from '@msa-poc/contracts';
import { Counter } from '@msa-poc/platform/metrics';
import type { Client } from '@msa-poc/platform/service';
import { createLogger } from '@msa-poc/platform/telemetry';
import { AuditTrail, AuditUnavailableError } from './audit.js';

function fakeStore(failFirst = 0) {
  const stored: AuditRecord[] = [];
  let failures = failFirst;
  const store = {
    appendAudit: async ({ body }: { body: { records: AuditRecord[] } }) => {
      if (failures-- > 0) throw new Error('store down');
      stored.push(...body.records);
      return { status: 200, body: { appended: body.records.length } };
    },
  } as unknown as Client<typeof storeContract>;
  return { store, stored };
}

const counter = () => new Counter({ name: `dropped_${Math.random().toString(36).slice(2)}`, help: 'x', registers: [] });

test('a flush with nothing to send does not block the flushes after it', async () => {
  const { store, stored } = fakeStore();
  const trail = new AuditTrail(store, createLogger('gateway', 'silent'), counter());
  await trail.flush();
  trail.record({ actor: 'a', action: 'auth.request', outcome: 'allowed' });
  await trail.flush();
  assert.equal(stored.length, 1);
  assert.match(stored[0]?.at ?? '', /^\d{4}-/);
});

test('records survive a store outage and keep their order; a full queue drops the oldest and counts them', async () => {
  const { store, stored } = fakeStore(1);
  const dropped = counter();
  const trail = new AuditTrail(store, createLogger('gateway', 'silent'), dropped, { maxQueue: 3, batch: 2, flushMs: 1_000 });
  for (const actor of ['a', 'b', 'c', 'd']) trail.record({ actor, action: 'orders.place', outcome: 'succeeded' });
  await trail.flush(); // fails: everything stays queued
  assert.equal(stored.length, 0);
  await trail.flush();
  assert.deepEqual(stored.map((r) => r.actor), ['b', 'c', 'd']);
  assert.equal((await dropped.get()).values[0]?.value, 1);
});

test('a durable record resolves once the store holds it, in order after what was queued before it', async () => {
  const { store, stored } = fakeStore();
  const trail = new AuditTrail(store, createLogger('gateway', 'silent'), counter());
  trail.record({ actor: 'a', action: 'auth.request', outcome: 'allowed' });
  await trail.recordDurably({ actor: 'a', action: 'orders.place', outcome: 'allowed' });
  assert.deepEqual(stored.map((r) => r.action), ['auth.request', 'orders.place']);
});

test('when the store refuses, a durable record is refused at once and never sent later; queued records still are', async () => {
  const { store, stored } = fakeStore(1);
  const trail = new AuditTrail(store, createLogger('gateway', 'silent'), counter());
  trail.record({ actor: 'a', action: 'auth.request', outcome: 'refused' });
  await assert.rejects(trail.recordDurably({ actor: 'a', action: 'clients.remove', outcome: 'allowed' }), (error: Error) => error instanceof AuditUnavailableError && /store down/.test(error.message));
  await trail.flush();
  assert.deepEqual(stored.map((r) => r.action), ['auth.request'], 'the refused action was not taken, so its record must not appear');
});

test('a full queue drops the oldest queued record, never a durable one still waiting', async () => {
  let release: () => void = () => undefined;
  const stored: AuditRecord[] = [];
  const store = {
    appendAudit: async ({ body }: { body: { records: AuditRecord[] } }) => {
      await new Promise<void>((resolve) => (release = resolve));
      stored.push(...body.records);
      return { status: 200, body: { appended: body.records.length } };
    },
  } as unknown as Client<typeof storeContract>;
  const dropped = counter();
  const trail = new AuditTrail(store, createLogger('gateway', 'silent'), dropped, { maxQueue: 2, batch: 10, flushMs: 1_000 });
  trail.record({ actor: 'first', action: 'auth.request', outcome: 'allowed' });
  void trail.flush(); // holds 'first' in flight
  const durable = trail.recordDurably({ actor: 'durable', action: 'orders.cancel', outcome: 'allowed' });
  trail.record({ actor: 'b', action: 'auth.request', outcome: 'allowed' });
  trail.record({ actor: 'c', action: 'auth.request', outcome: 'allowed' });
  release();
  await new Promise((resolve) => setImmediate(resolve));
  release();
  await durable;
  assert.deepEqual(stored.map((r) => r.actor), ['first', 'durable', 'c']);
  assert.equal((await dropped.get()).values[0]?.value, 1);
});
