import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { Type } from '@sinclair/typebox';
import { contract, orderPolicy, problem, problemViews, route, type FieldPolicy } from '@msa-poc/contracts';
import { ProblemError } from '@msa-poc/platform/errors';
import { MaskingError, type Masker } from '@msa-poc/platform/masking';
import { SerializedJson, type HttpView } from '@msa-poc/platform/server';
import { createLogger } from '@msa-poc/platform/telemetry';
import type { AuditEntry, AuditTrail } from './audit.js';
import { compactPaths, GrantSalts, withSupportMasking, type SupportSession } from './support-masking.js';

const canary = { name: 'Quillon Canaryname', line1: '99 Canaryline Road', postalCode: 'QX97ZZ' };
const order = {
  id: '01890000-0000-7000-8000-000000000001', customerId: 'cust-canary', status: 'placed', createdAt: '2026-01-01T00:00:00.000Z', updatedAt: '2026-01-01T00:00:00.000Z',
  total: { amount: '10.00', currency: 'EUR' }, items: [], shippingAddress: { ...canary, city: 'Lyon', country: 'FR' },
};
const session: SupportSession = { engineer: 'ana', keyThumbprint: 'jkt', customerId: 'cust-canary', grantId: '01890000-0000-7000-8000-0000000000aa', ticketId: 'TCK-1' };

// A response that gained a field the policy does not name yet.
const testContract = contract({
  service: 'gateway', version: '1.0.0',
  routes: {
    read: route({ method: 'GET', path: '/v1/orders/:id', summary: 'x', responses: { 200: Type.Object({}), 404: Type.Object({}) }, callers: 'public', idempotent: true, support: { ...problemViews(404), 200: orderPolicy as FieldPolicy } }),
  },
});
const http: HttpView = { method: 'GET', url: 'https://127.0.0.1:8443/v1/orders/01890000-0000-7000-8000-000000000001', headers: {}, rawBody: undefined };

function setup(options: { body?: unknown; throws?: unknown; mask?: Masker; auditFails?: boolean; support?: boolean } = {}) {
  const lines: string[] = [];
  const log = createLogger('gateway', 'info', new Writable({ write(chunk, _encoding, done) { lines.push(String(chunk)); done(); } }));
  const served: { entry: AuditEntry; body: string; status: number }[] = [];
  const audit = {
    recordServed: async (entry: AuditEntry, response: { body: string; status: number }) => {
      if (options.auditFails) throw new Error('store down');
      served.push({ entry, body: response.body, status: response.status });
      return served.length;
    },
  } as unknown as AuditTrail;
  const handlers = withSupportMasking(testContract, {
    read: async () => {
      if (options.throws) throw options.throws;
      return { status: 200 as const, body: (options.body ?? { ...order, loyaltyTier: 'gold' }) as never };
    },
  }, { session: () => (options.support === false ? undefined : session), audit, log, salts: new GrantSalts(), ...(options.mask ? { mask: options.mask } : {}) });
  const call = async () => (await handlers.read({ http, caller: { kind: 'public' } } as never)) as { status: number; body: unknown; headers?: Record<string, string> };
  return { call, served, lines };
}

const text = (body: unknown) => (body instanceof SerializedJson ? body.json : JSON.stringify(body));
const noCanary = (where: string, value: string) => {
  for (const secret of Object.values(canary)) assert.ok(!value.includes(secret), `${where} carries "${secret}" in clear: ${value}`);
};

test('a support response is masked by the contract, a field without a policy is not served, and its audit record says what was', async () => {
  const { call, served } = setup();
  const reply = await call();
  assert.equal(reply.status, 200);
  const body = JSON.parse(text(reply.body)) as Record<string, unknown> & { shippingAddress: Record<string, string> };
  assert.equal('loyaltyTier' in body, false);
  assert.equal(body.shippingAddress.postalCode, 'QX***');
  noCanary('the body', text(reply.body));
  assert.equal(served.length, 1);
  assert.equal(served[0]?.body, text(reply.body), 'the body kept for the log is the body served');
  assert.equal(served[0]?.entry.action, 'support.read');
  assert.equal(served[0]?.entry.actor, 'ana');
  assert.equal(served[0]?.entry.target, 'GET /v1/orders/:id');
  assert.match(served[0]?.entry.detail ?? '', /^for customer cust-canary under grant 01890000-0000-7000-8000-0000000000aa \(ticket TCK-1\); 200; clear .*shippingAddress\.\{city,country\}.*; masked .*loyaltyTier:no-policy/);
  noCanary('the audit record', JSON.stringify(served[0]?.entry));
});

test('errors are masked like bodies: a problem keeps its kind, not its free text', async () => {
  const { call, served } = setup({ throws: new ProblemError('notFound', `No order for ${canary.name} at ${canary.line1}.`) });
  const reply = await call();
  assert.equal(reply.status, 404);
  const body = JSON.parse(text(reply.body)) as { type: string; detail?: string; instance: string };
  assert.match(body.type, /not-found/);
  assert.equal(body.detail, undefined);
  assert.equal(body.instance, '/v1/orders/01890000-0000-7000-8000-000000000001');
  noCanary('the error', text(reply.body));
  assert.equal(served[0]?.entry.outcome, 'refused');
});

test('a dependency failing under a support token is logged by its kind, and its message, which may quote data, is not served or logged', async () => {
  const { call, lines } = setup({ throws: new ProblemError('unavailable', `store answered: ${canary.line1}`) });
  const reply = await call();
  assert.equal(reply.status, 503);
  noCanary('the answer', text(reply.body));
  assert.ok(lines.some((line) => line.includes('dependency failure') && line.includes('/problems/unavailable')));
  noCanary('the log', lines.join('\n'));
});

test('a masker that fails fails the request: 500, nothing of the response served, the failure audited and logged without values', async () => {
  const { call, served, lines } = setup({ mask: () => { throw new MaskingError(`cannot mask ${canary.name}`); } });
  const reply = await call();
  assert.equal(reply.status, 500);
  assert.match(text(reply.body), /masking-failed/);
  noCanary('the answer', text(reply.body));
  assert.equal(served[0]?.status, 500);
  assert.equal(served[0]?.entry.outcome, 'failed');
  assert.ok(lines.some((line) => line.includes('could not be masked')));
  noCanary('the log', lines.join('\n'));
});

test('an audit that fails fails the request: 503 and nothing served', async () => {
  const { call, lines } = setup({ auditFails: true });
  const reply = await call();
  assert.equal(reply.status, 503);
  assert.equal(reply.body instanceof SerializedJson, false);
  assert.match((reply.body as { detail: string }).detail, /was not served: it could not be audited/);
  noCanary('the answer', JSON.stringify(reply.body));
  noCanary('the log', lines.join('\n'));
});

test('a request without a support token is left as the handler answered it', async () => {
  const { call, served } = setup({ support: false, body: order });
  assert.deepEqual((await call()).body, order);
  assert.equal(served.length, 0);
  const failing = setup({ support: false, throws: new ProblemError('notFound', 'x') });
  await assert.rejects(failing.call(), ProblemError);
});

test('field lists are compacted for the audit record', () => {
  assert.equal(compactPaths(['id', 'total.amount', 'total.currency', 'items[].sku']), 'id,total.{amount,currency},items[].sku');
  assert.equal(compactPaths([]), '-');
  assert.ok(problem('maskingFailed').status === 500);
});
