import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { ApiClient } from '@msa-poc/harness/api-client';
import { startTestSystem, type TestSystem } from './testing.js';

const poc = fileURLToPath(new URL('../bin/poc.js', import.meta.url));
const address = { name: 'Ada Lovelace', line1: '12 St James Square', city: 'London', postalCode: 'SW1Y 4JH', country: 'GB' };
const ask = (customerId: string) => ({ customerId, ticketId: 'TCK-1001', reason: 'the customer cannot find an order', actions: ['orders:read'], durationSeconds: 600 });

interface Grant { id: string; status: string; requester: string; expiresAt?: string }

for (const profile of ['embedded', 'production'] as const) {
  describe(`support access end to end (${profile})`, () => {
    let system: TestSystem;
    let engineer: ApiClient;
    let lead: ApiClient;
    let both: ApiClient;
    const orders: Record<'x' | 'y', string> = { x: '', y: '' };

    const place = async (customerId: string) => {
      const reply = await system.api.call<{ id: string }>('POST', '/v1/orders', { body: { customerId, items: [{ sku: 'SKU-0001', quantity: 1 }], shippingAddress: address }, headers: { 'idempotency-key': crypto.randomUUID() } });
      assert.equal(reply.status, 201, JSON.stringify(reply.body));
      return reply.body.id;
    };
    const approvedGrant = async (): Promise<Grant> => {
      const requested = await engineer.call<Grant>('POST', '/v1/support/access-requests', { body: ask('cust-x') });
      assert.equal(requested.status, 201, JSON.stringify(requested.body));
      const approved = await lead.call<Grant>('POST', `/v1/support/access-requests/${requested.body.id}/approve`);
      assert.equal(approved.status, 200, JSON.stringify(approved.body));
      return approved.body;
    };
    const supportToken = async (grant: Grant): Promise<string> => {
      const reply = await engineer.supportToken(grant.id);
      assert.equal(reply.status, 200, JSON.stringify(reply.body));
      return reply.body.access_token as string;
    };

    before(async () => {
      system = await startTestSystem({ profile });
      engineer = await system.apiClient('engineer', ['orders:read'], undefined, ['support']);
      lead = await system.apiClient('lead', ['orders:read'], undefined, ['support-lead']);
      both = await system.apiClient('both-roles', ['orders:read'], undefined, ['support', 'support-lead']);
      orders.x = await place('cust-x');
      orders.y = await place('cust-y');
    });
    after(async () => system?.dispose());

    test('a request needs approval before any token, and nobody approves their own request', async () => {
      const requested = await engineer.call<Grant>('POST', '/v1/support/access-requests', { body: ask('cust-x') });
      assert.equal(requested.status, 201);
      assert.equal(requested.body.status, 'pending');
      const early = await engineer.supportToken(requested.body.id);
      assert.equal(early.status, 400);
      assert.equal(early.body.error, 'invalid_grant');
      assert.match(early.body.error_description ?? '', /pending/);

      const self = await engineer.call<{ type: string }>('POST', `/v1/support/access-requests/${requested.body.id}/approve`);
      assert.equal(self.status, 403);
      const own = await both.call<Grant>('POST', '/v1/support/access-requests', { body: ask('cust-x') });
      const selfApproval = await both.call<{ type: string; detail: string }>('POST', `/v1/support/access-requests/${own.body.id}/approve`);
      assert.equal(selfApproval.status, 403, 'a lead with both roles cannot approve its own request');
      assert.match(selfApproval.body.type, /own-support-request/);
      const notSupport = await system.api.call<{ type: string }>('POST', '/v1/support/access-requests', { body: ask('cust-x') });
      assert.equal(notSupport.status, 403, 'a client without the support role cannot ask');
    });

    test("a support token for customer X reads X's orders and gets 404 for customer Y's on every route, lists included", async () => {
      const grant = await approvedGrant();
      const token = await supportToken(grant);
      const list = await engineer.call<{ items: { customerId: string }[] }>('GET', '/v1/orders?customerId=cust-x', { token });
      assert.equal(list.status, 200);
      assert.ok(list.body.items.length > 0 && list.body.items.every((o) => o.customerId === 'cust-x'));
      assert.equal((await engineer.call('GET', `/v1/orders/${orders.x}`, { token })).status, 200);
      assert.equal((await engineer.call('GET', `/v1/orders/${orders.y}`, { token })).status, 404);
      assert.equal((await engineer.call('GET', '/v1/orders?customerId=cust-y', { token })).status, 404);
      assert.equal((await engineer.call('POST', `/v1/orders/${orders.y}/cancel`, { token })).status, 403, 'a read-only grant changes nothing');
      assert.equal((await engineer.call('POST', `/v1/orders/${orders.x}/cancel`, { token })).status, 403);
      assert.equal((await engineer.call('POST', '/v1/orders', { token, body: { customerId: 'cust-x', items: [{ sku: 'SKU-0001', quantity: 1 }], shippingAddress: address }, headers: { 'idempotency-key': crypto.randomUUID() } })).status, 403);
      assert.equal((await engineer.call('GET', '/v1/support/grants', { token })).status, 403, 'a support token cannot manage grants');
    });

    test('a revoked grant stops the token at once and cannot be exchanged again', async () => {
      const grant = await approvedGrant();
      const token = await supportToken(grant);
      assert.equal((await engineer.call('GET', '/v1/orders?customerId=cust-x', { token })).status, 200);
      const revoked = await lead.call<Grant>('POST', `/v1/support/access-requests/${grant.id}/revoke`);
      assert.equal(revoked.status, 200);
      assert.equal(revoked.body.status, 'revoked');
      const after = await engineer.call<{ detail?: string }>('GET', '/v1/orders?customerId=cust-x', { token });
      assert.equal(after.status, 401);
      assert.match(after.body.detail ?? '', /no longer live|not live/);
      const again = await engineer.supportToken(grant.id);
      assert.equal(again.status, 400);
      assert.match(again.body.error_description ?? '', /revoked/);
    });

    test('the audit trail names who asked, who decided, and whom each support request acted for', async () => {
      const audit = async () => ((await (await fetch(`http://127.0.0.1:${system.config.endpoints.gateway.adminPort}/audit?limit=1000`)).json()) as { items: { actor: string; action: string; outcome: string; detail?: string }[] }).items;
      const items = await audit();
      assert.ok(items.some((r) => r.actor === 'engineer' && r.action === 'support.request' && r.outcome === 'succeeded'));
      assert.ok(items.some((r) => r.actor === 'both-roles' && r.action === 'support.approve' && r.outcome === 'refused'));
      assert.ok(items.some((r) => r.actor === 'lead' && r.action === 'support.approve' && r.outcome === 'succeeded'));
      assert.ok(items.some((r) => r.actor === 'engineer' && r.action === 'support.exchange' && r.outcome === 'refused'));
      assert.ok(items.some((r) => r.actor === 'engineer' && r.action === 'auth.request' && /acting for customer cust-x under grant/.test(r.detail ?? '')));
      assert.ok(items.some((r) => r.actor === 'engineer' && r.action === 'auth.request' && r.outcome === 'refused' && /no longer live/.test(r.detail ?? '')));
    });

    test('poc support drives the same endpoints from the command line', { skip: profile === 'production' && 'the same code path as embedded' }, () => {
      // The CLI finds the test system's gateway by the same variables a user would set.
      const ports = Object.fromEntries(Object.entries(system.config.endpoints).flatMap(([name, endpoint]) => [
        [`POC_${name.toUpperCase()}_PORT`, String(endpoint.port)], [`POC_${name.toUpperCase()}_ADMIN_PORT`, String(endpoint.adminPort)],
      ]));
      const run = (...args: string[]) => spawnSync(process.execPath, [poc, ...args, '--json'], { encoding: 'utf8', env: { ...process.env, POC_HOME: system.home, ...ports }, timeout: 60_000 });
      const added = run('client', 'add', 'cli-engineer', '--scope', 'orders:read', '--role', 'support');
      assert.equal(added.status, 0, added.stderr);
      assert.deepEqual((JSON.parse(added.stdout) as { roles: string[] }).roles, ['support']);
      const requested = run('support', 'request', '--client', 'cli-engineer', '--customer', 'cust-x', '--ticket', 'TCK-9', '--reason', 'parcel lost', '--duration', '300');
      assert.equal(requested.status, 0, requested.stderr);
      const { id } = JSON.parse(requested.stdout) as Grant;
      const self = run('support', 'approve', id, '--client', 'cli-engineer');
      assert.equal(self.status, 1);
      assert.match(self.stderr, /refused \(403\)/);
      const approved = run('support', 'approve', id, '--client', 'lead');
      assert.equal(approved.status, 0, approved.stderr);
      assert.equal((JSON.parse(approved.stdout) as Grant).status, 'approved');
      const token = run('support', 'token', id, '--client', 'cli-engineer');
      assert.equal(token.status, 0, token.stderr);
      assert.equal((JSON.parse(token.stdout) as { issued_token_type: string }).issued_token_type, 'urn:ietf:params:oauth:token-type:access_token');
      const curl = run('support', 'token', id, '--client', 'cli-engineer', '--curl', 'GET', '/v1/orders?customerId=cust-x');
      assert.equal(curl.status, 0, curl.stderr);
      const line = (JSON.parse(curl.stdout) as { curl: string }).curl;
      const answer = spawnSync('sh', ['-c', line], { encoding: 'utf8', timeout: 30_000 });
      assert.equal(answer.status, 0, answer.stderr);
      assert.ok((JSON.parse(answer.stdout) as { items: { customerId: string }[] }).items.every((o) => o.customerId === 'cust-x'), answer.stdout);
      const grants = run('support', 'grants', '--client', 'cli-engineer');
      assert.ok((JSON.parse(grants.stdout) as Grant[]).some((g) => g.id === id && g.status === 'approved'));
      assert.equal(run('support', 'revoke', id, '--client', 'cli-engineer').status, 0);
      const missing = run('support', 'request', '--client', 'cli-engineer');
      assert.equal(missing.status, 2);
      assert.match(missing.stderr, /needs --customer, --ticket and --reason/);
    });
  });
}
