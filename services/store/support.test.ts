import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { eur, type SupportAccessRequest } from '@msa-poc/contracts';
import type { Database } from './database.js';
import { migrate } from './migrate.js';
import { registerClient } from './clients.js';
import { getOrder, listOrders, placeOrder, type PricedOrder } from './repository.js';
import { listAudit } from './audit.js';
import { breakGlass, decide, getGrant, grantLog, listAllGrants, listGrants, readUnderGrant, recordServedResponse, requestAccess, reviewBreakGlass, revoke } from './support.js';
import { backends, type Backend } from './test-databases.js';

const jwk = { kty: 'EC' as const, crv: 'P-256' as const, x: 'x', y: 'y' };
const address = { name: 'Grace Hopper', line1: '1 Harbour Street', city: 'Arlington', postalCode: '22201', country: 'US' };
const ask: SupportAccessRequest = { customerId: 'cust-x', ticketId: 'TCK-1', reason: 'order missing', actions: ['orders:read'], durationSeconds: 600 };
const at = (ms: number) => new Date(Date.UTC(2026, 0, 1) + ms);

function suite(backend: Backend) {
  let db: Database;
  let dispose: () => Promise<void>;
  const orders: Record<string, string> = {};

  const place = async (customerId: string): Promise<string> => {
    const order: PricedOrder = { id: randomUUID(), customerId, items: [{ sku: 'SKU-0001', quantity: 1, unitPrice: eur(100) }], total: eur(100), shippingAddress: address };
    const id = randomUUID();
    const event = { specversion: '1.0' as const, id, source: '/store', type: 'dev.msa-poc.order.placed.v1', time: new Date().toISOString(), datacontenttype: 'application/json' as const, data: {} };
    const result = await placeOrder(db, { key: randomUUID(), requestHash: 'h', order, event: { id, type: event.type, subject: 'orders.placed', payload: event } });
    assert.equal(result.outcome, 'created');
    return order.id;
  };
  const approved = async (now = at(0)) => {
    const requested = await requestAccess(db, { ...ask, requester: 'engineer', now });
    assert.equal(requested.outcome, 'requested');
    const grant = (requested as { grant: { id: string } }).grant;
    const decided = await decide(db, { id: grant.id, by: 'lead', decision: 'approve', now });
    assert.equal(decided.outcome, 'decided');
    return grant.id;
  };

  before(async () => {
    ({ db, dispose } = await backend.fresh());
    await migrate(db);
    await registerClient(db, { id: 'engineer', jwks: [jwk], scopes: ['orders:read'], roles: ['support'] });
    await registerClient(db, { id: 'lead', jwks: [jwk], scopes: ['orders:read'], roles: ['support-lead'] });
    await registerClient(db, { id: 'both', jwks: [jwk], scopes: ['orders:read'], roles: ['support', 'support-lead'] });
    await registerClient(db, { id: 'plain', jwks: [jwk], scopes: ['orders:read'] });
    orders.x = await place('cust-x');
    orders.y = await place('cust-y');
  });
  after(async () => dispose?.());

  describe('access requests', () => {
    it('are taken only from a client with the support role, and start pending with no expiry', async () => {
      assert.deepEqual(await requestAccess(db, { ...ask, requester: 'plain', now: at(0) }), { outcome: 'not-support' });
      const requested = await requestAccess(db, { ...ask, requester: 'engineer', now: at(0) });
      assert.equal(requested.outcome, 'requested');
      const grant = (requested as { grant: { status: string; expiresAt?: string; requester: string } }).grant;
      assert.equal(grant.status, 'pending');
      assert.equal(grant.expiresAt, undefined);
      assert.equal(grant.requester, 'engineer');
    });

    it('are approved only by a support lead who is not the requester, whatever roles the requester holds', async () => {
      const own = await requestAccess(db, { ...ask, requester: 'both', now: at(0) });
      const id = (own as { grant: { id: string } }).grant.id;
      assert.deepEqual(await decide(db, { id, by: 'both', decision: 'approve', now: at(0) }), { outcome: 'own-request' });
      assert.deepEqual(await decide(db, { id, by: 'engineer', decision: 'approve', now: at(0) }), { outcome: 'not-lead' });
      const decided = await decide(db, { id, by: 'lead', decision: 'approve', now: at(1_000) });
      assert.equal(decided.outcome, 'decided');
      assert.equal((decided as { grant: { expiresAt: string } }).grant.expiresAt, at(601_000).toISOString(), 'the grant runs from its approval for its duration');
      assert.equal((await decide(db, { id, by: 'lead', decision: 'reject', now: at(2_000) })).outcome, 'not-pending');
    });

    it('can be revoked by the requester or a lead, not by anyone else, and not twice', async () => {
      const id = await approved();
      assert.deepEqual(await revoke(db, { id, by: 'plain', now: at(1) }), { outcome: 'not-allowed' });
      assert.equal((await revoke(db, { id, by: 'engineer', now: at(1) })).outcome, 'revoked');
      assert.equal((await getGrant(db, id, at(2)))?.status, 'revoked');
      assert.equal((await revoke(db, { id, by: 'lead', now: at(3) })).outcome, 'already-ended');
    });

    it('are listed all to a lead, only their own to an engineer, and not at all to others', async () => {
      const all = await listGrants(db, { by: 'lead', limit: 100, now: at(0) });
      const own = await listGrants(db, { by: 'engineer', limit: 100, now: at(0) });
      assert.ok(Array.isArray(all) && Array.isArray(own));
      assert.ok(all.some((g) => g.requester === 'both'));
      assert.ok(own.length > 0 && own.every((g) => g.requester === 'engineer'));
      assert.equal(await listGrants(db, { by: 'plain', limit: 100, now: at(0) }), 'forbidden');
    });
  });

  describe('break-glass', () => {
    const incident = { customerId: 'cust-x', incidentId: 'INC-1', reason: 'checkout down for this customer', durationSeconds: 900, audit: { requestId: 'req-bg' } };
    const opened = async (requester = 'engineer', now = at(0)) => {
      const result = await breakGlass(db, { ...incident, requester, now });
      assert.equal(result.outcome, 'opened');
      return (result as { grant: Awaited<ReturnType<typeof getGrant>> & object }).grant;
    };

    it('is live at once without approval, for its duration, flagged and unreviewed', async () => {
      const grant = await opened();
      assert.equal(grant.status, 'approved');
      assert.equal(grant.breakGlass, true);
      assert.equal(grant.reviewStatus, 'unreviewed');
      assert.equal(grant.decidedBy, undefined, 'nobody approved it');
      assert.equal(grant.ticketId, 'INC-1');
      assert.equal(grant.expiresAt, at(900_000).toISOString());
      assert.equal((await readUnderGrant(db, { id: grant.id, now: at(899_000) }, (tx) => getOrder(tx, orders.x as string))).outcome, 'read');
      assert.deepEqual(await readUnderGrant(db, { id: grant.id, now: at(901_000) }, (tx) => getOrder(tx, orders.x as string)), { outcome: 'no-live-grant' });
      const listed = await listAllGrants(db, { limit: 500, now: at(0) });
      assert.equal(listed.find((g) => g.id === grant.id)?.breakGlass, true);
      assert.ok(listed.some((g) => !g.breakGlass), 'an ordinary request is not flagged');
    });

    it('lasts at most 15 minutes, and only the support role may open it', async () => {
      assert.deepEqual(await breakGlass(db, { ...incident, durationSeconds: 901, requester: 'engineer', now: at(0) }), { outcome: 'too-long' });
      assert.deepEqual(await breakGlass(db, { ...incident, requester: 'lead', now: at(0) }), { outcome: 'not-support' });
      // The table refuses a longer one too, whatever code writes it.
      await assert.rejects(db.query(`INSERT INTO support_grants (id, requester, customer_id, ticket_id, reason, actions, duration_seconds, requested_at, status, expires_at, break_glass, review_status)
        VALUES ($1, 'engineer', 'cust-x', 'INC-2', 'r', ARRAY['orders:read'], 1800, now(), 'approved', now() + interval '30 minutes', true, 'unreviewed')`, [randomUUID()]), /support_grants_break_glass_short/);
    });

    it('is reviewed once, by a lead who did not open it', async () => {
      const own = await opened('both');
      assert.deepEqual(await reviewBreakGlass(db, { id: own.id, by: 'both', outcome: 'justified', note: 'mine', now: at(1), audit: {} }), { outcome: 'own-grant' });
      const grant = await opened();
      assert.deepEqual(await reviewBreakGlass(db, { id: grant.id, by: 'plain', outcome: 'justified', note: 'n', now: at(1), audit: {} }), { outcome: 'not-lead' });
      const reviewed = await reviewBreakGlass(db, { id: grant.id, by: 'lead', outcome: 'unjustified', note: 'no incident on record', now: at(60_000), audit: {} });
      assert.equal(reviewed.outcome, 'reviewed');
      const after = await getGrant(db, grant.id, at(60_000));
      assert.deepEqual([after?.reviewStatus, after?.reviewOutcome, after?.reviewedBy, after?.reviewNote, after?.status], ['reviewed', 'unjustified', 'lead', 'no incident on record', 'approved'],
        'a review does not end the grant; revocation does');
      assert.equal((await reviewBreakGlass(db, { id: grant.id, by: 'both', outcome: 'justified', note: 'n', now: at(2), audit: {} })).outcome, 'already-reviewed');
      const ordinary = await approved();
      assert.deepEqual(await reviewBreakGlass(db, { id: ordinary, by: 'lead', outcome: 'justified', note: 'n', now: at(1), audit: {} }), { outcome: 'not-found' });
    });

    it('writes its audit record in the same transaction as the grant and the review', async () => {
      const grant = await opened();
      await reviewBreakGlass(db, { id: grant.id, by: 'lead', outcome: 'justified', note: 'incident INC-1 confirmed', now: at(1), audit: { keyThumbprint: 'jkt-lead' } });
      const records = (await listAudit(db, { limit: 1000 })).filter((r) => r.target === `grant ${grant.id}`);
      assert.deepEqual(records.map((r) => [r.action, r.actor, r.outcome]), [['support.break-glass', 'engineer', 'succeeded'], ['support.break-glass-review', 'lead', 'succeeded']]);
      assert.match(records[0]?.detail ?? '', /break-glass for customer cust-x \(incident INC-1, 900 s, unreviewed\)/);
      assert.equal(records[0]?.requestId, 'req-bg');
      assert.equal(records[1]?.keyThumbprint, 'jkt-lead');
    });
  });

  describe('reads under a grant', () => {
    it('need an approved grant: pending, revoked and expired grants read nothing', async () => {
      const pending = await requestAccess(db, { ...ask, requester: 'engineer', now: at(0) });
      const pendingId = (pending as { grant: { id: string } }).grant.id;
      assert.deepEqual(await readUnderGrant(db, { id: pendingId, now: at(0) }, (tx) => getOrder(tx, orders.x as string)), { outcome: 'no-live-grant' });
      const live = await approved();
      assert.equal((await readUnderGrant(db, { id: live, now: at(599_000) }, (tx) => getOrder(tx, orders.x as string))).outcome, 'read');
      assert.deepEqual(await readUnderGrant(db, { id: live, now: at(601_000) }, (tx) => getOrder(tx, orders.x as string)), { outcome: 'no-live-grant' }, 'expired one second after its end');
      assert.equal((await getGrant(db, live, at(601_000)))?.status, 'expired');
      await revoke(db, { id: live, by: 'lead', now: at(1_000) });
      assert.deepEqual(await readUnderGrant(db, { id: live, now: at(2_000) }, (tx) => getOrder(tx, orders.x as string)), { outcome: 'no-live-grant' });
    });

    it("see the grant's customer's orders and lines, and another customer's order does not exist", async () => {
      const id = await approved();
      const mine = await readUnderGrant(db, { id, now: at(1) }, (tx) => getOrder(tx, orders.x as string));
      assert.equal(mine.outcome === 'read' && mine.value?.items.length, 1);
      assert.deepEqual(await readUnderGrant(db, { id, now: at(1) }, (tx) => getOrder(tx, orders.y as string)), { outcome: 'read', customerId: 'cust-x', value: null });
      const list = await readUnderGrant(db, { id, now: at(1) }, (tx) => listOrders(tx, { customerId: 'cust-y', limit: 50 }));
      assert.deepEqual(list.outcome === 'read' && list.value.items, [], "a list of another customer's orders is empty");
    });

    it('hold under row-level security even when a query forgets the customer filter', async () => {
      const id = await approved();
      const unscoped = await readUnderGrant(db, { id, now: at(1) }, async (tx) => ({
        orders: (await tx.query<{ customer_id: string }>('SELECT customer_id FROM orders')).rows,
        lines: (await tx.query<{ order_id: string }>('SELECT order_id FROM order_lines')).rows,
        role: (await tx.query<{ role: string; superuser: string }>("SELECT current_user AS role, current_setting('is_superuser') AS superuser")).rows[0],
      }));
      assert.equal(unscoped.outcome, 'read');
      const seen = (unscoped as { value: { orders: { customer_id: string }[]; lines: { order_id: string }[]; role: { role: string; superuser: string } } }).value;
      assert.ok(seen.orders.length > 0 && seen.orders.every((row) => row.customer_id === 'cust-x'), JSON.stringify(seen.orders));
      assert.ok(!seen.lines.some((row) => row.order_id === orders.y), "no line of another customer's order");
      assert.deepEqual(seen.role, { role: 'msa_poc_support_reader', superuser: 'off' });
      // Nothing outlives the transaction: the next statement on the connection sees every row again.
      assert.ok((await db.query<{ n: number }>('SELECT count(DISTINCT customer_id)::int AS n FROM orders')).rows[0]!.n >= 2);
    });

    it('cannot reach tables outside orders and their lines, nor write', async () => {
      const id = await approved();
      await assert.rejects(readUnderGrant(db, { id, now: at(1) }, (tx) => tx.query('SELECT * FROM api_clients')), /permission denied/);
      await assert.rejects(readUnderGrant(db, { id, now: at(1) }, (tx) => tx.query("UPDATE orders SET status = 'cancelled'")), /permission denied/);
    });
  });

  describe('responses served under a grant', () => {
    const record = (detail: string) => ({ at: at(2).toISOString(), actor: 'engineer', action: 'support.read', outcome: 'succeeded' as const, target: 'GET /v1/orders/:id', detail });

    it('are kept with their audit record, replayed in order to the requester and leads only, and never changed', async () => {
      const id = await approved();
      const first = await recordServedResponse(db, { record: record('first'), grantId: id, route: 'GET /v1/orders/1', status: 200, body: '{"id":"1","shippingAddress":{"postalCode":"22***"}}' });
      const second = await recordServedResponse(db, { record: record('second'), grantId: id, route: 'GET /v1/orders/2', status: 404, body: '{"status":404}' });
      assert.ok(second > first);
      const audit = await listAudit(db, { after: first - 1, limit: 2 });
      assert.deepEqual(audit.map((r) => [r.position, r.detail]), [[first, 'first'], [second, 'second']], 'each body points at its own audit record');
      const log = await grantLog(db, { id, by: 'engineer', after: 0, limit: 1, now: at(3) });
      assert.equal(log.outcome, 'log');
      const page = log as Extract<typeof log, { outcome: 'log' }>;
      assert.deepEqual(page.items.map((i) => [i.auditPosition, i.status, i.body]), [[first, 200, { id: '1', shippingAddress: { postalCode: '22***' } }]]);
      assert.equal(page.nextAfter, first);
      const rest = await grantLog(db, { id, by: 'lead', after: first, limit: 10, now: at(3) });
      assert.deepEqual((rest as typeof page).items.map((i) => i.route), ['GET /v1/orders/2']);
      assert.equal((rest as typeof page).nextAfter, undefined);
      assert.equal((await grantLog(db, { id, by: 'plain', after: 0, limit: 10, now: at(3) })).outcome, 'not-allowed');
      assert.equal((await grantLog(db, { id: randomUUID(), by: 'lead', after: 0, limit: 10, now: at(3) })).outcome, 'not-found');
      await assert.rejects(db.query(`UPDATE support_responses SET body = '{}' WHERE audit_position = ${first}`), /append-only/);
      await assert.rejects(db.query(`DELETE FROM support_responses WHERE audit_position = ${first}`), /append-only/);
    });

    it('are stored with their audit record or not at all', async () => {
      const before = await listAudit(db, { limit: 1 });
      // A grant that does not exist: the body cannot be kept, so neither is its record.
      await assert.rejects(recordServedResponse(db, { record: record('orphan'), grantId: randomUUID(), route: 'GET /v1/orders/3', status: 200, body: '{}' }));
      assert.deepEqual(await listAudit(db, { limit: 1 }), before);
    });
  });
}

for (const backend of backends) describe(`support access on ${backend.name}`, () => suite(backend));
