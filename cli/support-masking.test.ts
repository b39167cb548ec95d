import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import type { ApiClient, ApiResponse } from '@msa-poc/harness/api-client';
import { startTestSystem, type TestSystem } from './testing.js';
import { configEnv } from '@msa-poc/platform/config';

const poc = fileURLToPath(new URL('../bin/poc.js', import.meta.url));
// Distinctive personal data: found anywhere in clear after a support session, it leaked.
const canary = { name: 'Quillon Canaryname', line1: '99 Canaryline Road', postalCode: 'QX97 7ZZ' };
const address = { ...canary, city: 'Lyon', country: 'FR' };

interface Served { auditPosition: number; servedAt: string; route: string; status: number; body: unknown }

for (const profile of ['embedded', 'production'] as const) {
  describe(`what a support session serves (${profile})`, () => {
    let system: TestSystem;
    let engineer: ApiClient;
    let lead: ApiClient;
    let grantId = '';
    let orderId = '';
    let otherOrderId = '';

    before(async () => {
      system = await startTestSystem({ profile });
      engineer = await system.apiClient('engineer', ['orders:read'], undefined, ['support']);
      lead = await system.apiClient('lead', ['orders:read'], undefined, ['support-lead']);
      const place = async (customerId: string) => {
        const reply = await system.api.call<{ id: string }>('POST', '/v1/orders', { body: { customerId, items: [{ sku: 'SKU-0001', quantity: 1 }], shippingAddress: address }, headers: { 'idempotency-key': crypto.randomUUID() } });
        assert.equal(reply.status, 201, JSON.stringify(reply.body));
        return reply.body.id;
      };
      orderId = await place('cust-canary');
      otherOrderId = await place('cust-other');
      const requested = await engineer.call<{ id: string }>('POST', '/v1/support/access-requests', { body: { customerId: 'cust-canary', ticketId: 'TCK-77', reason: 'parcel not delivered', actions: ['orders:read'], durationSeconds: 600 } });
      assert.equal(requested.status, 201);
      grantId = requested.body.id;
      assert.equal((await lead.call('POST', `/v1/support/access-requests/${grantId}/approve`)).status, 200);
    });
    after(async () => system?.dispose());

    test('canary personal data is never in clear where the policy masks it: bodies, headers, errors, logs, audit; the grant log replays exactly what was served', async () => {
      const logsBefore = system.logs.length;
      const exchanged = await engineer.supportToken(grantId);
      assert.equal(exchanged.status, 200);
      const token = exchanged.body.access_token as string;
      const replies: ApiResponse[] = [
        await engineer.call('GET', `/v1/orders/${orderId}`, { token }),
        await engineer.call('GET', '/v1/orders?customerId=cust-canary', { token }),
        await engineer.call('GET', `/v1/orders/${otherOrderId}`, { token }),
        await engineer.call('GET', '/v1/orders?customerId=cust-other', { token }),
        await engineer.call('GET', '/v1/orders?customerId=cust-canary&cursor=not-a-cursor', { token }),
      ];
      assert.deepEqual(replies.map((r) => r.status), [200, 200, 404, 404, 400]);
      const order = replies[0]?.body as { id: string; customerId: string; shippingAddress: Record<string, string> };
      assert.equal(order.id, orderId);
      assert.equal(order.shippingAddress.city, 'Lyon', 'clear by policy');
      assert.equal(order.shippingAddress.postalCode, 'QX***');
      assert.match(order.shippingAddress.name ?? '', /^hash:[0-9a-f]{16}$/);
      assert.equal(order.shippingAddress.line1, undefined);
      // The audit record of each request is stored before the answer; read everything the session left.
      const audit = await (await fetch(`http://127.0.0.1:${system.config.endpoints.gateway.adminPort}/audit?limit=1000`)).text();
      const log = await engineer.call<{ items: Served[] }>('GET', `/v1/support/grants/${grantId}/log`);
      assert.equal(log.status, 200);
      const everything = [
        ...replies.map((r) => `${JSON.stringify(r.headers)}\n${JSON.stringify(r.body)}`), audit, JSON.stringify(log.body), system.logs.slice(logsBefore).join('\n'),
      ].join('\n');
      for (const secret of Object.values(canary)) assert.ok(!everything.includes(secret), `"${secret}" was found in clear`);

      assert.deepEqual(log.body.items.map((i) => [i.status, i.body]), replies.map((r) => [r.status, r.body]), 'the log replays exactly the responses served');
      assert.deepEqual(log.body.items.map((i) => i.route), [`GET /v1/orders/${orderId}`, 'GET /v1/orders?customerId=cust-canary', `GET /v1/orders/${otherOrderId}`, 'GET /v1/orders?customerId=cust-other', 'GET /v1/orders?customerId=cust-canary&cursor=not-a-cursor']);
      const records = (JSON.parse(audit) as { items: { position: number; actor: string; action: string; outcome: string; target: string; traceId?: string; detail?: string }[] }).items;
      const reads = records.filter((r) => r.action === 'support.read');
      assert.equal(reads.length, replies.length, 'one audit record per request served under the grant');
      assert.deepEqual(reads.map((r) => r.position), log.body.items.map((i) => i.auditPosition), 'each logged response points at its audit record');
      assert.deepEqual(reads.map((r) => r.traceId), replies.map((r) => r.headers['x-trace-id']));
      assert.deepEqual(reads.map((r) => r.outcome), ['succeeded', 'succeeded', 'refused', 'refused', 'refused']);
      assert.ok(reads.every((r) => r.actor === 'engineer' && r.detail?.startsWith(`for customer cust-canary under grant ${grantId} (ticket TCK-77)`)));
      assert.match(reads[0]?.detail ?? '', /clear .*shippingAddress\.\{city,country\}.*; masked shippingAddress\.\{name:hashed,line1:omit,postalCode:partial\}/);

      const first = await lead.call<{ items: Served[]; nextAfter?: number }>('GET', `/v1/support/grants/${grantId}/log?limit=2`);
      assert.equal(first.body.items.length, 2);
      const rest = await lead.call<{ items: Served[]; nextAfter?: number }>('GET', `/v1/support/grants/${grantId}/log?after=${first.body.nextAfter ?? 0}&limit=10`);
      assert.equal(rest.body.nextAfter, undefined, 'the last page says so');
      assert.deepEqual([...first.body.items, ...rest.body.items], log.body.items, 'pages continue where the last ended');

      const stranger = await system.apiClient('stranger', ['orders:read'], undefined, ['support']);
      assert.equal((await stranger.call('GET', `/v1/support/grants/${grantId}/log`)).status, 403, 'another engineer cannot read the log');
      assert.equal((await lead.call('GET', `/v1/support/grants/${grantId}/log`)).status, 200, 'a lead can');
      assert.equal((await engineer.call('GET', `/v1/support/grants/${grantId}/log`, { token })).status, 403, 'not with the support token itself');
    });

    test('a response whose audit record cannot be stored is not served: 503, and the log holds nothing of it', { skip: profile === 'embedded' && 'the embedded database lives inside the store process; PostgreSQL is reached from here' }, async () => {
      const token = (await engineer.supportToken(grantId)).body.access_token as string;
      const before = await engineer.call<{ items: Served[] }>('GET', `/v1/support/grants/${grantId}/log?limit=200`);
      const db = new pg.Client({ connectionString: system.config.databaseUrl });
      await db.connect();
      try {
        // The database refuses the served body, so the record and the body are stored together or not at all.
        await db.query(`CREATE FUNCTION refuse_served() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'refused for the test'; END $$`);
        await db.query('CREATE TRIGGER refuse_served BEFORE INSERT ON support_responses FOR EACH ROW EXECUTE FUNCTION refuse_served()');
        const refused = await engineer.call<{ type: string; detail: string }>('GET', `/v1/orders/${orderId}`, { token });
        assert.equal(refused.status, 503);
        assert.match(refused.body.detail, /was not served: it could not be audited/);
        assert.equal((refused.body as Record<string, unknown>).shippingAddress, undefined, 'nothing of the order in the answer');
      } finally {
        await db.query('DROP TRIGGER IF EXISTS refuse_served ON support_responses');
        await db.query('DROP FUNCTION IF EXISTS refuse_served()');
        await db.end();
      }
      const afterwards = await engineer.call<{ items: Served[] }>('GET', `/v1/support/grants/${grantId}/log?limit=200`);
      assert.equal(afterwards.body.items.length, before.body.items.length, 'nothing was logged as served');
      assert.equal((await engineer.call('GET', `/v1/orders/${orderId}`, { token })).status, 200, 'served again once the audit can be stored');
    });

    test('poc support log prints what was served under a grant', { skip: profile === 'production' && 'the same code path as embedded' }, () => {
      const systemEnv = configEnv(system.config);
      const run = (...args: string[]) => spawnSync(process.execPath, [poc, ...args], { encoding: 'utf8', env: { ...process.env, POC_HOME: system.home, ...systemEnv }, timeout: 60_000 });
      const printed = run('support', 'log', grantId, '--client', 'lead');
      assert.equal(printed.status, 0, printed.stderr);
      assert.match(printed.stdout, new RegExp(`#\\d+ .* 200  GET /v1/orders/${orderId}`));
      assert.match(printed.stdout, /"postalCode": "QX\*\*\*"/);
      for (const secret of Object.values(canary)) assert.ok(!printed.stdout.includes(secret));
      const refused = run('support', 'log', grantId, '--client', 'stranger');
      assert.equal(refused.status, 1);
      assert.match(refused.stderr, /refused \(403\)/);
    });
  });
}
