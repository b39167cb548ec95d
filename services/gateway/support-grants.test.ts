import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { SupportGrant } from '@msa-poc/contracts';
import { SupportGrants } from './support-grants.js';

const start = Date.UTC(2026, 0, 1);
const id = '0190f0e4-0000-7000-8000-000000000001';

function setup(ttlMs: number) {
  let now = start;
  let grant: SupportGrant = {
    id, requester: 'engineer', customerId: 'cust-x', ticketId: 'TCK-1', reason: 'r', actions: ['orders:read'], durationSeconds: 600,
    status: 'approved', requestedAt: new Date(start).toISOString(), expiresAt: new Date(start + 600_000).toISOString(), breakGlass: false,
  };
  let reads = 0;
  const store = { getSupportGrant: async () => { reads += 1; return { status: 200 as const, body: grant }; } };
  const grants = new SupportGrants(store as never, ttlMs, () => now);
  return {
    grants,
    advance: (ms: number) => { now += ms; },
    revoke: () => { grant = { ...grant, status: 'revoked', revokedAt: new Date(now).toISOString() }; },
    reads: () => reads,
  };
}

describe('support grants at the edge', () => {
  test('a revocation is honoured within the cache time, and not later', async () => {
    const { grants, advance, revoke, reads } = setup(2_000);
    assert.equal(await grants.isLive(id, 'engineer'), true);
    revoke();
    advance(1_999);
    assert.equal(await grants.isLive(id, 'engineer'), true, 'still cached: the stated bound is 2 s');
    advance(1);
    assert.equal(await grants.isLive(id, 'engineer'), false, 'refused once the bound has passed');
    assert.equal(reads(), 2);
  });

  test('an expired grant is refused at once, cache or not', async () => {
    const { grants, advance } = setup(60_000);
    assert.equal(await grants.isLive(id, 'engineer'), true);
    advance(600_000 - 1);
    assert.equal(await grants.isLive(id, 'engineer'), true);
    advance(1_000);
    assert.equal(await grants.isLive(id, 'engineer'), false, 'expiry + 1 s');
  });

  test('a grant is live only for the engineer who asked for it', async () => {
    const { grants } = setup(2_000);
    assert.equal(await grants.isLive(id, 'someone-else'), false);
  });

  test('forgetting a grant makes the next check read it again', async () => {
    const { grants, revoke } = setup(60_000);
    assert.equal(await grants.isLive(id, 'engineer'), true);
    revoke();
    grants.forget(id);
    assert.equal(await grants.isLive(id, 'engineer'), false);
  });
});
