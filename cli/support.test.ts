import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { ApiClient } from '@msa-poc/harness/api-client';
import { startTestSystem, type TestSystem } from './testing.js';
import { configEnv } from '@msa-poc/platform/config';

const poc = fileURLToPath(new URL('../bin/poc.js', import.meta.url));
const address = { name: 'Ada Lovelace', line1: '12 St James Square', city: 'London', postalCode: 'SW1Y 4JH', country: 'GB' };
const ask = (customerId: string) => ({ customerId, ticketId: 'TCK-1001', reason: 'the customer cannot find an order', actions: ['orders:read'], durationSeconds: 600 });

interface Grant { id: string; status: string; requester: string; expiresAt?: string; breakGlass: boolean; reviewStatus?: string; reviewOutcome?: string; reviewedBy?: string }

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
      assert.ok(items.some((r) => r.actor === 'engineer' && r.action === 'support.read' && r.outcome === 'succeeded' && /^for customer cust-x under grant .* \(ticket TCK-1001\); 200; clear .*; masked /.test(r.detail ?? '')));
      assert.ok(items.some((r) => r.actor === 'engineer' && r.action === 'auth.request' && r.outcome === 'refused' && /no longer live/.test(r.detail ?? '')));
    });

    test('break-glass opens access at once for at most 15 minutes, flagged and unreviewed until another lead reviews it', async () => {
      const incident = { customerId: 'cust-x', incidentId: 'INC-77', reason: 'checkout failing for this customer', durationSeconds: 900 };
      const tooLong = await engineer.call<{ type: string; detail: string }>('POST', '/v1/support/break-glass', { body: { ...incident, durationSeconds: 901 } });
      assert.equal(tooLong.status, 422);
      assert.match(tooLong.body.type, /break-glass-too-long/);
      assert.match(tooLong.body.detail, /at most 900 seconds.*request it with approval/);
      assert.equal((await system.api.call('POST', '/v1/support/break-glass', { body: incident })).status, 403, 'a client without the support role cannot break the glass');

      const started = Date.now();
      const opened = await engineer.call<Grant>('POST', '/v1/support/break-glass', { body: incident });
      assert.equal(opened.status, 201, JSON.stringify(opened.body));
      assert.deepEqual([opened.body.status, opened.body.breakGlass, opened.body.reviewStatus], ['approved', true, 'unreviewed']);
      const lifetime = Date.parse(opened.body.expiresAt ?? '') - started;
      assert.ok(lifetime <= 900_000 + 5_000 && lifetime > 850_000, `expires ${lifetime} ms after the request`);
      const token = await supportToken(opened.body);
      assert.equal((await engineer.call('GET', `/v1/orders/${orders.x}`, { token })).status, 200, 'usable without approval');
      assert.equal((await engineer.call('GET', `/v1/orders/${orders.y}`, { token })).status, 404, 'and still only for its customer');

      const ownBreak = await both.call<Grant>('POST', '/v1/support/break-glass', { body: incident });
      const selfReview = await both.call<{ type: string }>('POST', `/v1/support/break-glass/${ownBreak.body.id}/review`, { body: { outcome: 'justified', note: 'mine' } });
      assert.equal(selfReview.status, 403, 'a lead cannot review its own break-glass');
      assert.match(selfReview.body.type, /own-support-request/);
      assert.equal((await engineer.call('POST', `/v1/support/break-glass/${opened.body.id}/review`, { body: { outcome: 'justified', note: 'n' } })).status, 403);

      const listed = await lead.call<{ items: Grant[] }>('GET', '/v1/support/grants');
      assert.deepEqual(listed.body.items.find((g) => g.id === opened.body.id)?.reviewStatus, 'unreviewed');
      const reviewed = await lead.call<Grant>('POST', `/v1/support/break-glass/${opened.body.id}/review`, { body: { outcome: 'justified', note: 'incident INC-77 confirmed' } });
      assert.equal(reviewed.status, 200, JSON.stringify(reviewed.body));
      assert.deepEqual([reviewed.body.reviewStatus, reviewed.body.reviewOutcome, reviewed.body.reviewedBy], ['reviewed', 'justified', 'lead']);
      const again = await both.call<{ detail: string }>('POST', `/v1/support/break-glass/${opened.body.id}/review`, { body: { outcome: 'unjustified', note: 'n' } });
      assert.equal(again.status, 409);
      assert.match(again.body.detail, /reviewed justified by lead/);
      const mine = await engineer.call<{ items: Grant[] }>('GET', '/v1/support/grants');
      assert.equal(mine.body.items.find((g) => g.id === opened.body.id)?.breakGlass, true, 'the flag shows in the grant list');

      const audit = ((await (await fetch(`http://127.0.0.1:${system.config.endpoints.gateway.adminPort}/audit?limit=1000`)).json()) as { items: { actor: string; action: string; outcome: string; target?: string; detail?: string; keyThumbprint?: string }[] }).items;
      const opening = audit.find((r) => r.action === 'support.break-glass' && r.target === `grant ${opened.body.id}`);
      assert.equal(opening?.outcome, 'succeeded');
      assert.match(opening?.detail ?? '', /break-glass for customer cust-x \(incident INC-77, 900 s, unreviewed\)/);
      assert.ok(opening?.keyThumbprint, 'names the key that opened it');
      assert.ok(audit.some((r) => r.action === 'support.break-glass' && r.outcome === 'refused' && r.actor === 'engineer'), 'the refused 901 s attempt is audited');
      assert.ok(audit.some((r) => r.action === 'support.break-glass-review' && r.actor === 'lead' && r.outcome === 'succeeded' && r.target === `grant ${opened.body.id}`));
      assert.ok(audit.some((r) => r.action === 'support.break-glass-review' && r.actor === 'both-roles' && r.outcome === 'refused'));
    });

    test('poc support drives the same endpoints from the command line', { skip: profile === 'production' && 'the same code path as embedded' }, () => {
      // The CLI finds the test system's gateway by the same variables a user would set.
      const systemEnv = configEnv(system.config);
      const run = (...args: string[]) => spawnSync(process.execPath, [poc, ...args, '--json'], { encoding: 'utf8', env: { ...process.env, POC_HOME: system.home, ...systemEnv }, timeout: 60_000 });
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
      const broken = run('support', 'break-glass', '--client', 'cli-engineer', '--customer', 'cust-x', '--incident', 'INC-9', '--reason', 'outage');
      assert.equal(broken.status, 0, broken.stderr);
      const glass = JSON.parse(broken.stdout) as Grant;
      assert.deepEqual([glass.status, glass.breakGlass, glass.reviewStatus], ['approved', true, 'unreviewed']);
      const tooLong = run('support', 'break-glass', '--client', 'cli-engineer', '--customer', 'cust-x', '--incident', 'INC-9', '--reason', 'outage', '--duration', '1800');
      assert.equal(tooLong.status, 1);
      assert.match(tooLong.stderr, /refused \(422\): Break-glass access lasts at most 900 seconds/);
      assert.equal(run('support', 'review', glass.id, '--client', 'cli-engineer', '--outcome', 'justified', '--note', 'mine').status, 1);
      const review = run('support', 'review', glass.id, '--client', 'lead', '--outcome', 'justified', '--note', 'outage confirmed');
      assert.equal(review.status, 0, review.stderr);
      assert.equal((JSON.parse(review.stdout) as Grant).reviewStatus, 'reviewed');
      const badOutcome = run('support', 'review', glass.id, '--client', 'lead', '--outcome', 'maybe', '--note', 'n');
      assert.equal(badOutcome.status, 2);
      assert.match(badOutcome.stderr, /--outcome justified or unjustified, not "maybe"/);
      const missing = run('support', 'request', '--client', 'cli-engineer');
      assert.equal(missing.status, 2);
      assert.match(missing.stderr, /needs --customer, --ticket and --reason/);
    });
  });
}
