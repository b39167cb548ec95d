/**
 * The reference system end to end, as real processes over mutual TLS: what a newcomer sees after
 * `poc up`, and what must hold when things go wrong.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:tls';
import { generateKeyPairSync } from 'node:crypto';
import { request as httpsRequest } from 'node:https';
import { existsSync, readFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { eur, ordersContract, storeContract, toMinor, type Order, type PlaceOrderInput, type Product } from '@msa-poc/contracts';
import pg from 'pg';
import { CallerAssertionSigner } from '@msa-poc/platform/caller-assertion';
import { startTestSystem, type TestSystem, eventually } from './testing.js';

const address = { name: 'Ada Lovelace', line1: '12 St James Square', city: 'London', postalCode: 'SW1Y 4JH', country: 'GB' };
const order = (customerId: string, sku = 'SKU-0001', quantity = 2): PlaceOrderInput => ({ customerId, items: [{ sku, quantity }], shippingAddress: address });

/** One HTTPS request trusting only our CA, returning what a client would see. */
function fetchInsecureFree(origin: string, ca: Buffer, r: { method: string; path: string; body?: string; headers?: Record<string, string> }) {
  return new Promise<{ status: number; body: string; contentType: string; requestId: string; traceId: string }>((resolve, reject) => {
    const req = httpsRequest(`${origin}${r.path}`, { method: r.method, ca, headers: { 'content-type': 'application/json', ...r.headers } }, (res) => {
      let data = '';
      res.on('data', (chunk) => (data += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: data, contentType: String(res.headers['content-type']), requestId: String(res.headers['x-request-id'] ?? ''), traceId: String(res.headers['x-trace-id'] ?? '') }));
    });
    req.on('error', reject);
    req.end(r.body);
  });
}

const variants = [
  { profile: 'embedded', topology: 'split' },
  { profile: 'production', topology: 'split' },
  // Co-located, the walk-through and the allow-lists: the other tests exercise the same code in either topology.
  { profile: 'production', topology: 'colocated' },
] as const;

for (const { profile, topology } of variants) {
  describe(`reference system (${profile} profile, ${topology})`, { timeout: 180_000 }, () => {
    const splitOnly = topology === 'split' ? {} : { skip: 'the same code in either topology: run split only, to spare CI time' };
    let system: TestSystem;
    before(async () => {
      system = await startTestSystem({ profile, topology, env: { POC_INTEGRATION_MAX_ATTEMPTS: '3', POC_INTEGRATION_RETRY_BASE_MS: '50', POC_INTEGRATION_RETRY_CAP_MS: '200' } });
    });
    after(async () => {
      await system?.dispose();
    });

    test('through the gateway: an order is placed once per key, replayed, refused with another body, and fulfilled by the partner', async () => {
      const key = `key-${profile}-${Date.now()}`;
      const first = await system.api.call<Order>('POST', '/v1/orders', { body: order('cust-1'), headers: { 'idempotency-key': key } });
      assert.equal(first.status, 201, JSON.stringify(first.body));
      assert.equal(first.body.status, 'placed');
      assert.equal(first.body.items[0]?.quantity, 2);
      assert.match(first.body.total.amount, /^\d+\.\d{2}$/);
      assert.ok(first.headers['x-request-id']);
      assert.match(String(first.headers['x-trace-id']), /^[0-9a-f]{32}$/);

      const replay = await system.api.call<Order>('POST', '/v1/orders', { body: order('cust-1'), headers: { 'idempotency-key': key } });
      assert.equal(replay.status, 200);
      assert.equal(replay.body.id, first.body.id);

      const other = await system.api.call<{ type: string }>('POST', '/v1/orders', { body: order('cust-1', 'SKU-0002'), headers: { 'idempotency-key': key } });
      assert.equal(other.status, 422);
      assert.match(other.body.type, /idempotency-key-reused$/);

      const fulfilled = await eventually('fulfilment', async () => {
        const current = await system.api.call<Order>('GET', `/v1/orders/${first.body.id}`);
        return current.status === 200 && current.body.status === 'fulfilled' ? current.body : undefined;
      });
      assert.equal(fulfilled.id, first.body.id);
    });

    test('the topology decides which services share a process: co-located, one process hosts all but the partner', async () => {
      const pids = Object.fromEntries([...system.services].map(([name, service]) => [name, service.child.pid]));
      const shared = new Set(['gateway', 'orders', 'store', 'integration'].map((name) => pids[name]));
      if (topology === 'colocated') {
        assert.equal(shared.size, 1, `one process for gateway, orders, store and integration: ${JSON.stringify(pids)}`);
        assert.notEqual(pids.partner, pids.gateway, 'the external partner runs apart');
      } else {
        assert.equal(new Set(Object.values(pids)).size, system.services.size, `a process per service: ${JSON.stringify(pids)}`);
      }
    });

    test("a customer's orders page by cursor, newest first, without gaps or repeats", splitOnly, async () => {
      const customerId = `pager-${profile}-${Date.now()}`;
      const ids: string[] = [];
      for (let i = 0; i < 5; i++) {
        const placed = await system.api.call<Order>('POST', '/v1/orders', { body: order(customerId, 'SKU-0004', 1), headers: { 'idempotency-key': `${customerId}-${i}` } });
        assert.equal(placed.status, 201);
        ids.push(placed.body.id);
      }
      const seen: string[] = [];
      let cursor: string | null = null;
      do {
        const page: { status: number; body: { items: Order[]; nextCursor: string | null } } = await system.api.call('GET', `/v1/orders?customerId=${customerId}&limit=2${cursor ? `&cursor=${cursor}` : ''}`);
        assert.equal(page.status, 200);
        assert.ok(page.body.items.length <= 2);
        seen.push(...page.body.items.map((o) => o.id));
        cursor = page.body.nextCursor;
      } while (cursor);
      assert.deepEqual(seen, [...ids].reverse());
      const bad = await system.api.call('GET', `/v1/orders?customerId=${customerId}&cursor=forged`);
      assert.equal(bad.status, 400);
    });

    test('out of stock is 409 and unknown SKUs are 422; nothing is written', splitOnly, async () => {
      const unknown = await system.api.call<{ type: string }>('POST', '/v1/orders', { body: order('cust-2', 'SKU-0999'), headers: { 'idempotency-key': `unknown-${Date.now()}` } });
      assert.equal(unknown.status, 422);
      assert.match(unknown.body.type, /unknown-sku$/);
      const products = await system.api.call<{ items: Product[] }>('GET', '/v1/products');
      assert.equal(products.status, 200);
      assert.ok(products.body.items.length >= 50);
      const product = products.body.items.find((p) => p.sku === 'SKU-0050');
      assert.ok(product);
      // Orders caps quantities per line, so the store is asked directly for one more than its stock.
      const tooMany = await system.client(storeContract, 'orders').client.placeOrder({
        headers: { 'idempotency-key': `stock-${Date.now()}` },
        body: {
          requestHash: 'x'.repeat(43),
          order: {
            id: '01890000-0000-7000-8000-000000000001', customerId: 'cust-2', shippingAddress: address,
            items: [{ sku: 'SKU-0050', quantity: product.stock + 1, unitPrice: product.price }], total: eur(toMinor(product.price.amount) * (product.stock + 1)),
          },
        },
      });
      assert.equal(tooMany.status, 409);
      assert.match(tooMany.body.detail ?? '', /SKU-0050/);
      const after = await system.client(storeContract, 'orders').client.listProducts({});
      assert.equal(after.body.items.find((p) => p.sku === 'SKU-0050')?.stock, product.stock);
    });

    test('cancel works once from placed (a repeat answers the same), and a late fulfilment of a cancelled order is refused', splitOnly, async () => {
      const partnerAdmin = `http://127.0.0.1:${system.config.endpoints.partner.adminPort}/faults`;
      await fetch(partnerAdmin, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ fulfilDelayMs: 3_000 }) });
      try {
        const placed = await system.api.call<Order>('POST', '/v1/orders', { body: order('cust-3', 'SKU-0003', 1), headers: { 'idempotency-key': `cancel-${profile}-${Date.now()}` } });
        assert.equal(placed.status, 201);
        const cancel = await system.api.call<Order>('POST', `/v1/orders/${placed.body.id}/cancel`);
        assert.equal(cancel.status, 200);
        assert.equal(cancel.body.status, 'cancelled');
        const again = await system.api.call<Order>('POST', `/v1/orders/${placed.body.id}/cancel`);
        assert.equal(again.status, 200);
        await new Promise((r) => setTimeout(r, 4_000));
        const later = await system.api.call<Order>('GET', `/v1/orders/${placed.body.id}`);
        assert.equal(later.body.status, 'cancelled', 'the partner callback cannot fulfil a cancelled order');
      } finally {
        await fetch(partnerAdmin, { method: 'DELETE' });
      }
      const shipped = await system.api.call<Order>('POST', '/v1/orders', { body: order('cust-3', 'SKU-0003', 1), headers: { 'idempotency-key': `cancel-late-${profile}-${Date.now()}` } });
      const fulfilled = await eventually('fulfilment', async () => {
        const current = await system.api.call<Order>('GET', `/v1/orders/${shipped.body.id}`);
        return current.body.status === 'fulfilled' ? current.body : undefined;
      });
      const refused = await system.api.call<{ type: string }>('POST', `/v1/orders/${fulfilled.id}/cancel`);
      assert.equal(refused.status, 409);
      assert.match(refused.body.type, /invalid-transition$/);
    });

    test('the edge refuses missing credentials (401 with a DPoP challenge) and missing scopes (403)', splitOnly, async () => {
      const ca = readFileSync(join(system.config.pkiDir, 'ca.crt'));
      const anonymous = await fetchInsecureFree(system.config.endpoints.gateway.url, ca, { method: 'GET', path: '/v1/products' });
      assert.equal(anonymous.status, 401);
      const readOnly = await system.apiClient(`reader-${profile}`, ['orders:read']);
      const listed = await readOnly.call('GET', '/v1/products');
      assert.equal(listed.status, 200);
      const write = await readOnly.call<{ type: string }>('POST', '/v1/orders', { body: order('cust-4'), headers: { 'idempotency-key': `scope-${Date.now()}` } });
      assert.equal(write.status, 403);
      assert.match(write.body.type, /insufficient-scope$/);
      assert.match(String(write.headers['www-authenticate']), /insufficient_scope/);
    });

    test('a client over its rate limit gets 429 with Retry-After and the RateLimit fields; within it, the fields say what is left', splitOnly, async () => {
      const rationed = await system.apiClient('rationed', ['orders:read']);
      const first = await rationed.call('GET', '/v1/products');
      assert.equal(first.status, 200);
      assert.match(String(first.headers['ratelimit-policy']), /^"client";q=2;w=2$/);
      assert.match(String(first.headers.ratelimit), /^"client";r=1;t=\d+$/);
      await rationed.call('GET', '/v1/products');
      const refused = await rationed.call<{ type: string }>('GET', '/v1/products');
      assert.equal(refused.status, 429);
      assert.match(refused.body.type, /too-many-requests$/);
      assert.ok(Number(refused.headers['retry-after']) >= 1);
      const other = await system.api.call('GET', '/v1/products');
      assert.equal(other.status, 200, "one client's limit is not another's");
      const metrics = await (await fetch(`http://127.0.0.1:${system.config.endpoints.gateway.adminPort}/metrics`)).text();
      assert.match(metrics, /rate_limit_rejections_total\{policy="1:2"[^}]*\} [1-9]/);
    });

    test('the audit trail records authentication decisions and state changes, with who and which request, and refuses to be rewritten', splitOnly, async () => {
      const placed = await system.api.call<Order>('POST', '/v1/orders', { body: order('audited'), headers: { 'idempotency-key': `audit-${profile}-${Date.now()}` } });
      assert.equal(placed.status, 201);
      const ca = readFileSync(join(system.config.pkiDir, 'ca.crt'));
      await fetchInsecureFree(system.config.endpoints.gateway.url, ca, { method: 'GET', path: '/v1/products', headers: { authorization: 'DPoP forged' } });
      const tail = async () => ((await (await fetch(`http://127.0.0.1:${system.config.endpoints.gateway.adminPort}/audit?limit=1000`)).json()) as { items: { actor: string; action: string; outcome: string; target?: string; requestId?: string; keyThumbprint?: string }[] }).items;
      const records = await eventually('audit records', async () => {
        const items = await tail();
        return items.some((r) => r.target === `order ${placed.body.id}`) && items.some((r) => r.outcome === 'refused') ? items : undefined;
      });
      const place = records.find((r) => r.target === `order ${placed.body.id}`);
      assert.equal(place?.action, 'orders.place');
      assert.equal(place?.actor, 'test-client');
      assert.match(place?.keyThumbprint ?? '', /^[A-Za-z0-9_-]{43}$/);
      assert.equal(place?.requestId, placed.headers['x-request-id']);
      assert.ok(records.some((r) => r.action === 'auth.token' && r.actor === 'test-client' && r.outcome === 'allowed'));
      assert.ok(records.some((r) => r.action === 'auth.request' && r.actor === 'anonymous' && r.outcome === 'refused'));
      assert.ok(records.some((r) => r.action === 'clients.register' && r.actor === 'operator'));
      for (const record of records) assert.doesNotMatch(JSON.stringify(record), /DPoP forged|eyJ/, 'no token or proof in the trail');
    });

    test('`poc audit verify` checks every link of the hash chain, prints its head, and holds to an anchored head', splitOnly, async () => {
      const verify = (...args: string[]) => spawnSync(process.execPath, [fileURLToPath(new URL('../bin/poc.js', import.meta.url)), 'audit', 'verify', ...args], {
        encoding: 'utf8', timeout: 60_000, env: { ...process.env, POC_HOME: system.home, POC_GATEWAY_ADMIN_PORT: String(system.config.endpoints.gateway.adminPort) },
      });
      const clean = verify('--json');
      assert.equal(clean.status, 0, clean.stdout + clean.stderr);
      const verdict = JSON.parse(clean.stdout) as { ok: boolean; checked: number; head: { position: number; hash: string } };
      assert.equal(verdict.ok, true);
      assert.ok(verdict.checked >= 5 && verdict.checked === verdict.head.position, clean.stdout);
      const text = verify('--anchor', `${verdict.head.position}:${verdict.head.hash}`);
      assert.equal(text.status, 0, text.stdout + text.stderr);
      assert.match(text.stdout, new RegExp(`audit chain intact: \\d+ records[^]*head \\d+:[0-9a-f]{64}`));
      const wrongAnchor = verify('--anchor', `${verdict.head.position}:${'0'.repeat(64)}`);
      assert.equal(wrongAnchor.status, 1);
      assert.match(wrongAnchor.stdout, new RegExp(`BROKEN at record ${verdict.head.position}[^]*rewritten`));
      assert.equal(verify('--anchor', 'latest').status, 2, 'a malformed anchor is a usage error');
      if (profile !== 'production') return;

      // Someone with the database's superuser rights changes a stored record behind the append-only trigger.
      const db = new pg.Client({ connectionString: system.config.databaseUrl });
      await db.connect();
      const tamper = (sql: string) => db.query(`BEGIN; ALTER TABLE audit_records DISABLE TRIGGER audit_records_append_only; ${sql}; ALTER TABLE audit_records ENABLE TRIGGER audit_records_append_only; COMMIT`);
      try {
        const original = (await db.query<{ outcome: string }>('SELECT outcome FROM audit_records WHERE position = 3')).rows[0]?.outcome;
        await tamper(`UPDATE audit_records SET outcome = 'refused' WHERE position = 3`);
        const tampered = verify();
        assert.equal(tampered.status, 1, tampered.stdout + tampered.stderr);
        assert.match(tampered.stdout, /BROKEN at record 3 \(2 records before it verified\):\nrecord 3 was altered after it was written[^]*\nexpected [0-9a-f]{64}\nfound    [0-9a-f]{64}/);
        await tamper(`UPDATE audit_records SET outcome = '${original}' WHERE position = 3`);
        assert.equal(verify().status, 0, 'the restored record verifies again');
      } finally {
        await db.end();
      }
    });

    // The audit table is broken from outside the store, which only the production profile's database allows.
    if (profile === 'production') test('when the audit trail cannot store a record, state changes are not made and the caller is told why (503)', splitOnly, async () => {
      const unaudited = await system.apiClient('unaudited', ['orders:read', 'orders:write']);
      const db = new pg.Client({ connectionString: system.config.databaseUrl });
      await db.connect();
      const customerId = `unaudited-${Date.now()}`;
      try {
        await db.query(`CREATE FUNCTION refuse_audit() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'audit storage is failing'; END $$;
          CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_records FOR EACH ROW EXECUTE FUNCTION refuse_audit()`);
        const placed = await system.api.call<{ type: string; detail: string }>('POST', '/v1/orders', { body: order(customerId), headers: { 'idempotency-key': `${customerId}-1` } });
        assert.equal(placed.status, 503);
        assert.match(String(placed.headers['content-type']), /^application\/problem\+json/);
        assert.match(placed.body.detail, /POST \/v1\/orders was not performed: it could not be audited/);
        await assert.rejects(unaudited.call('GET', '/v1/products'), /token endpoint refused unaudited: 503 temporarily_unavailable No token was issued: the issue could not be audited/);
        await assert.rejects(system.apiClient('never-registered', ['orders:read']), /clients\.register of client never-registered was not performed: it could not be audited/);
      } finally {
        await db.query('DROP TRIGGER IF EXISTS refuse_audit ON audit_records; DROP FUNCTION IF EXISTS refuse_audit()');
        await db.end();
      }
      const listed = await eventually('the gateway reading orders again', async () => {
        const reply = await system.api.call<{ items: unknown[] }>('GET', `/v1/orders?customerId=${customerId}`);
        return reply.status === 200 ? reply.body : undefined;
      });
      assert.deepEqual(listed.items, [], 'the refused order was not placed');
      const clients = await (await fetch(`http://127.0.0.1:${system.config.endpoints.gateway.adminPort}/clients`)).json() as { items: { id: string }[] };
      assert.ok(!clients.items.some((c) => c.id === 'never-registered'), 'the refused registration was not made');
    });

    test('a storm of malformed requests at the edge is answered with 4xx problem documents, and the gateway stays up', splitOnly, async () => {
      const origin = system.config.endpoints.gateway.url;
      const ca = readFileSync(join(system.config.pkiDir, 'ca.crt'));
      const good = JSON.stringify(order('storm'));
      const bodies = [
        '{', '[]', 'null', '"text"', '{"customerId":1}', good.replace('"quantity":2', '"quantity":-1'), good.replace('"quantity":2', '"quantity":"2"'),
        good.replace('"customerId":"storm"', '"customerId":"a\\u0000b"'), good.replace('"customerId":"storm"', '"customerId":"\\ud800"'),
        good.replace('{', '{"__proto__":{"polluted":true},'), good.replace('{', '{"extra":1,'),
        JSON.stringify({ ...order('storm'), items: Array.from({ length: 5000 }, () => ({ sku: 'SKU-0001', quantity: 1 })) }),
        'x'.repeat(200_000), good.replace('"SKU-0001"', '"../../etc/passwd"'),
      ];
      const requests: { method: string; path: string; body?: string; headers?: Record<string, string> }[] = [
        ...bodies.map((body) => ({ method: 'POST', path: '/v1/orders', body, headers: { 'idempotency-key': 'storm-key-123' } })),
        { method: 'POST', path: '/v1/orders', body: good },
        { method: 'POST', path: '/v1/orders', body: good, headers: { 'idempotency-key': 'short' } },
        { method: 'POST', path: '/v1/orders', body: good, headers: { 'content-type': 'text/plain', 'idempotency-key': 'storm-key-123' } },
        { method: 'GET', path: '/v1/orders/not-a-uuid' },
        { method: 'GET', path: '/v1/orders?customerId=%00' },
        { method: 'GET', path: '/v1/orders?customerId=c&limit=100000' },
        { method: 'GET', path: `/v1/orders/${'a'.repeat(5000)}` },
        { method: 'DELETE', path: '/v1/orders' },
        { method: 'GET', path: '/v1/../../etc/passwd' },
        { method: 'POST', path: '/v1/partner/callbacks', body: '{"orderId":"x"}' },
        { method: 'POST', path: '/v1/partner/callbacks', body: JSON.stringify({ orderId: '01890000-0000-7000-8000-000000000001', fulfilmentId: 'f1', status: 'fulfilled', fulfilledAt: new Date().toISOString() }) },
        { method: 'GET', path: '/v1/products', headers: { authorization: 'Bearer forged.token.here' } },
        { method: 'GET', path: '/v1/products', headers: { authorization: 'DPoP x', dpop: 'not-a-jwt' } },
      ];
      for (const r of requests) {
        const response = await fetchInsecureFree(origin, ca, r);
        assert.ok(response.status >= 400 && response.status < 500, `${r.method} ${r.path.slice(0, 60)} ${r.body?.slice(0, 50) ?? ''} → ${response.status} ${response.body.slice(0, 200)}`);
        assert.match(response.contentType, /application\/problem\+json/, `${r.method} ${r.path.slice(0, 60)} → ${response.status} ${response.contentType}`);
        assert.ok(response.requestId, 'x-request-id on every response');
        assert.match(response.traceId, /^[0-9a-f]{32}$/, 'x-trace-id on every response');
      }
      const health = await fetch(`http://127.0.0.1:${system.config.endpoints.gateway.adminPort}/healthz`);
      assert.equal(health.status, 200);
    });

    test('a customer-scoped client sees and places only its own customer\'s orders; others\' do not exist for it', splitOnly, async () => {
      const scoped = await system.apiClient(`shop-${profile}`, ['orders:read', 'orders:write'], 'cust-scoped');
      const own = await scoped.call<Order>('POST', '/v1/orders', { body: order('cust-scoped'), headers: { 'idempotency-key': `scoped-${profile}-${Date.now()}` } });
      assert.equal(own.status, 201, JSON.stringify(own.body));
      const forOther = await scoped.call<{ type: string; detail: string }>('POST', '/v1/orders', { body: order('cust-other'), headers: { 'idempotency-key': `scoped-other-${profile}-${Date.now()}` } });
      assert.equal(forOther.status, 403);
      assert.match(forOther.body.type, /acts-for-another-customer$/);
      assert.match(forOther.body.detail, /cust-scoped only/);

      const othersOrder = await system.api.call<Order>('POST', '/v1/orders', { body: order('cust-other'), headers: { 'idempotency-key': `other-${profile}-${Date.now()}` } });
      assert.equal(othersOrder.status, 201);
      assert.equal((await scoped.call('GET', `/v1/orders/${othersOrder.body.id}`)).status, 404);
      assert.equal((await scoped.call('POST', `/v1/orders/${othersOrder.body.id}/cancel`)).status, 404);
      assert.equal((await scoped.call('GET', '/v1/orders?customerId=cust-other')).status, 404);
      assert.equal((await system.api.call<Order>('GET', `/v1/orders/${othersOrder.body.id}`)).body.status !== 'cancelled', true, 'the refused cancel changed nothing');

      const mine = await scoped.call<{ items: Order[] }>('GET', '/v1/orders?customerId=cust-scoped');
      assert.equal(mine.status, 200);
      assert.deepEqual(mine.body.items.map((o) => o.id), [own.body.id]);
      assert.equal((await scoped.call<Order>('GET', `/v1/orders/${own.body.id}`)).status, 200);
    });

    test('orders believes who the end user is only from an assertion the gateway signed', async () => {
      const asGateway = system.client(ordersContract, 'gateway').client;
      const params = { id: '01890000-0000-7000-8000-000000000001' };
      // The gateway's certificate alone is not enough: an assertion the gateway's key did not sign is refused.
      const malformed = await asGateway.getOrder({ headers: { 'caller-assertion': 'e30.eyJzdWIiOiJhZG1pbiJ9.c2lnbmF0dXJl' }, params });
      assert.equal(malformed.status, 401);
      const impostor = new CallerAssertionSigner(generateKeyPairSync('ed25519').privateKey, 'gateway');
      const user = { clientId: 'test-client', keyThumbprint: 'x'.repeat(43), scopes: ['orders:read'] };
      const foreign = await asGateway.getOrder({ headers: { 'caller-assertion': impostor.sign(user, 'orders') }, params });
      assert.equal(foreign.status, 401);
      assert.match((foreign.body as { detail?: string }).detail ?? '', /does not verify with the gateway key/);
    });

    test('poc prove --target names the registration a client it does not know needs, before any load', { skip: topology === 'colocated' ? splitOnly.skip : profile === 'production' && 'the same code path as embedded' }, async () => {
      const poc = fileURLToPath(new URL('../bin/poc.js', import.meta.url));
      const result = spawnSync(process.execPath, [poc, 'prove', '--quick', '--target', system.config.endpoints.gateway.url, '--ca', join(system.config.pkiDir, 'ca.crt'), '--client', 'stranger', '--out', join(system.home, 'target-report')], {
        encoding: 'utf8', env: { ...process.env, POC_HOME: system.home }, timeout: 60_000,
      });
      assert.equal(result.status, 1, result.stderr);
      assert.match(result.stderr, /does not know the client stranger/);
      assert.match(result.stderr, /npx poc client add stranger --jwk \S+stranger\.public\.jwk --scope "orders:read orders:write"/);
      assert.doesNotMatch(result.stderr, /▶ warm-up/, 'no load before the client is known');
      assert.ok(existsSync(join(system.config.keysDir, 'stranger.public.jwk')), 'the public key to register is written for the user');
    });

    test('the store refuses a caller the contract does not allow (403) and a caller without a certificate gets no connection', async () => {
      const asGateway = system.client(storeContract, 'gateway').client;
      await assert.rejects(asGateway.listProducts({}), (error: Error) => /403|forbidden/i.test(error.message) || /outside its contract|does not list/.test(error.message));
      const port = system.config.endpoints.store.port;
      const ca = readFileSync(join(system.config.pkiDir, 'ca.crt'));
      const outcome = await new Promise<string>((resolve) => {
        const socket = connect({ host: '127.0.0.1', port, ca, minVersion: 'TLSv1.3', checkServerIdentity: () => undefined }, () => {
          socket.write('GET /products HTTP/1.1\r\nhost: store\r\n\r\n');
        });
        let data = '';
        socket.on('data', (chunk) => (data += chunk));
        socket.on('error', (error) => resolve(`error: ${error.message}`));
        socket.on('close', () => resolve(data ? `answered: ${data.slice(0, 40)}` : 'closed without answer'));
      });
      assert.doesNotMatch(outcome, /^answered/, outcome);
    });

    test('an order the partner keeps failing is dead-lettered after the last attempt and stays placed; a refused one fails and returns its stock', splitOnly, async () => {
      const faults = `http://127.0.0.1:${system.config.endpoints.partner.adminPort}/faults`;
      const deadLetters = system.client(storeContract, 'integration').client;
      const before = (await deadLetters.listDeadLetters({ query: {} })).body.items.length;
      await fetch(faults, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ errorRate: 1 }) });
      let failing: Order;
      try {
        const placed = await system.api.call<Order>('POST', '/v1/orders', { body: order('dlq'), headers: { 'idempotency-key': `dlq-${profile}-${Date.now()}` } });
        assert.equal(placed.status, 201);
        failing = placed.body;
        const letter = await eventually('a dead letter', async () => {
          const items = (await deadLetters.listDeadLetters({ query: {} })).body.items;
          return items.length > before ? items.find((d) => (d.event.data as { orderId?: string }).orderId === failing.id) : undefined;
        });
        assert.equal(letter.attempts, 3);
        assert.match(letter.error, /partner unavailable/);
        // Filed with the broker too (production): the consumer moves past it instead of holding it unacknowledged.
        await eventually('the dead letter to be counted', async () => {
          const metrics = await (await fetch(`http://127.0.0.1:${system.config.endpoints.integration.adminPort}/metrics`)).text();
          const filed = Number(/^dead_letters_total\{consumer="integration"[^}]*\} (\d+)/m.exec(metrics)?.[1] ?? 0);
          return filed >= 1 ? filed : undefined;
        });
      } finally {
        await fetch(faults, { method: 'DELETE' });
      }
      const still = await system.api.call<Order>('GET', `/v1/orders/${failing.id}`);
      assert.equal(still.body.status, 'placed', 'a transient failure leaves the order for a replay');

      await fetch(faults, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ refuseCountries: ['NZ'] }) });
      try {
        const stockBefore = (await system.api.call<{ items: Product[] }>('GET', '/v1/products')).body.items.find((p) => p.sku === 'SKU-0007')?.stock;
        const refused = await system.api.call<Order>('POST', '/v1/orders', {
          body: { ...order('nz', 'SKU-0007', 3), shippingAddress: { ...address, country: 'NZ' } }, headers: { 'idempotency-key': `nz-${profile}-${Date.now()}` },
        });
        assert.equal(refused.status, 201);
        const failed = await eventually('the order to fail', async () => {
          const current = await system.api.call<Order>('GET', `/v1/orders/${refused.body.id}`);
          return current.body.status === 'failed' ? current.body : undefined;
        });
        assert.equal(failed.status, 'failed');
        const stockAfter = (await system.client(storeContract, 'orders').client.listProducts({})).body.items.find((p) => p.sku === 'SKU-0007')?.stock;
        assert.equal(stockAfter, stockBefore, 'stock returned');
      } finally {
        await fetch(faults, { method: 'DELETE' });
      }
    });

    test('the partner refuses an unsigned or wrongly signed fulfilment request', splitOnly, async () => {
      const ca = readFileSync(join(system.config.pkiDir, 'ca.crt'));
      const body = JSON.stringify({ orderId: '01890000-0000-7000-8000-000000000009', items: [{ sku: 'SKU-0001', quantity: 1 }], shippingAddress: address });
      const unsigned = await fetchInsecureFree(system.config.endpoints.partner.url, ca, { method: 'POST', path: '/fulfilments', body, headers: { 'idempotency-key': '01890000-0000-7000-8000-000000000009' } });
      assert.equal(unsigned.status, 401);
      const forged = await fetchInsecureFree(system.config.endpoints.partner.url, ca, {
        method: 'POST', path: '/fulfilments', body,
        headers: { 'idempotency-key': '01890000-0000-7000-8000-000000000009', 'signature-input': 'sig1=("@method");created=1;keyid="integration";alg="ed25519"', signature: 'sig1=:AAAA:' },
      });
      assert.equal(forged.status, 401);
      assert.match(forged.body, /bad-signature/);
    });

    test('readiness follows dependencies: orders is unready while the store is down, and ready again once it is back', splitOnly, async () => {
      const readyz = async () => {
        const response = await fetch(`http://127.0.0.1:${system.config.endpoints.orders.adminPort}/readyz`);
        return { status: response.status, body: (await response.json()) as { checks: { name: string; ok: boolean }[] } };
      };
      assert.equal((await readyz()).status, 200);
      await system.api.accessToken(); // a token held before the outage stays usable: the gateway verifies it alone
      const store = system.services.get('store')?.child;
      assert.ok(store);
      const exited = new Promise((resolve) => store.once('exit', resolve));
      store.kill('SIGKILL');
      await exited;
      const down = await eventually('orders to report the store unreachable', async () => {
        const r = await readyz();
        return r.status === 503 ? r : undefined;
      });
      assert.deepEqual(down.body.checks.find((c) => c.name === 'store')?.ok, false);
      // The catalog is cached by orders: within its TTL it is still served; after it, a 503 problem, never a hang.
      const products = await system.api.call<{ type: string }>('GET', '/v1/products');
      assert.ok(products.status === 200 || products.status === 503, `catalog while the store is down: ${products.status}`);
      const placed = await system.api.call<{ type: string }>('POST', '/v1/orders', { body: order('outage'), headers: { 'idempotency-key': `outage-${profile}-${Date.now()}` } });
      assert.equal(placed.status, 503);
      assert.match(placed.body.type, /unavailable$/);
      await system.restart('store');
      await eventually('orders ready again', async () => ((await readyz()).status === 200 ? true : undefined));
    });
  });
}
