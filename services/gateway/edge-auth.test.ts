import assert from 'node:assert/strict';
import { generateKeyPairSync, randomUUID, type JsonWebKey } from 'node:crypto';
import { describe, test } from 'node:test';
import type { SupportGrant } from '@msa-poc/contracts';
import { CallerAssertionSigner } from '@msa-poc/platform/caller-assertion';
import { ProblemError } from '@msa-poc/platform/errors';
import { requestContext, runWithContext } from '@msa-poc/platform/telemetry';
import { ROOT_CONTEXT, trace } from '@msa-poc/platform/tracing';
import { AccessTokenSigner } from './auth/access-token.js';
import { createDpopProof } from './auth/dpop.js';
import { jwkThumbprint, parsePublicJwk } from './auth/jwk.js';
import { MemoryNonceStore } from './auth/nonces.js';
import { MemoryReplayGuard } from './auth/replay.js';
import { accessTokenType, tokenExchangeGrantType } from './auth/token-exchange.js';
import type { AuditEntry, AuditTrail } from './audit.js';
import { EdgeAuth } from './edge-auth.js';
import { MemoryRateLimiter } from './rate-limit.js';
import { SupportGrants } from './support-grants.js';

const origin = 'https://127.0.0.1:8443';
const approvedAt = Date.UTC(2026, 0, 1);

/** The edge with a clock the test moves, a store of one grant the test changes, and the audit it writes. */
function edge(grantSeconds: number) {
  let now = approvedAt;
  const pair = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const publicJwk = parsePublicJwk(pair.publicKey.export({ format: 'jwk' }));
  const key = { privateKey: pair.privateKey, publicJwk, jkt: jwkThumbprint(publicJwk) };
  let grant: SupportGrant = {
    id: randomUUID(), requester: 'engineer', customerId: 'cust-x', ticketId: 'TCK-3', reason: 'r', actions: ['orders:read'], durationSeconds: grantSeconds,
    status: 'approved', requestedAt: new Date(approvedAt).toISOString(), expiresAt: new Date(approvedAt + grantSeconds * 1000).toISOString(), breakGlass: false,
  };
  const store = { getSupportGrant: async () => ({ status: 200 as const, body: grant }) };
  const audit: AuditEntry[] = [];
  const signer = AccessTokenSigner.generate();
  const clock = () => now;
  const auth = new EdgeAuth({
    origin, signer, replay: new MemoryReplayGuard(), nonces: new MemoryNonceStore(), requireNonce: false, tokenLifetimeSeconds: 300,
    clients: { find: async (id) => (id === 'engineer' ? { id, jwks: [publicJwk as unknown as JsonWebKey], scopes: ['orders:read'], roles: ['support'] } : undefined) },
    limiter: new MemoryRateLimiter(clock), policyOf: () => ({ ratePerSecond: 1000, burst: 1000 }),
    audit: { record: (entry: AuditEntry) => audit.push(entry), recordDurably: async (entry: AuditEntry) => { audit.push(entry); } } as unknown as AuditTrail,
    assertions: new CallerAssertionSigner(generateKeyPairSync('ed25519').privateKey, 'gateway'),
    grants: new SupportGrants(store, 2_000, clock), clock,
  });
  const supportToken = async (): Promise<string> => {
    const own = signer.issueAccessToken({ clientId: 'engineer', scope: 'orders:read', jkt: key.jkt, lifetimeSeconds: 300, issuer: origin, audience: origin, now });
    const form = { grant_type: tokenExchangeGrantType, subject_token: own, subject_token_type: accessTokenType, authorization_details: JSON.stringify([{ type: 'support_access', grant_id: grant.id }]) };
    const reply = await auth.token(form, { method: 'POST', url: `${origin}/oauth/token`, headers: { dpop: createDpopProof({ ...key, method: 'POST', url: `${origin}/oauth/token`, now }) }, rawBody: undefined });
    assert.equal(reply.status, 200, JSON.stringify(reply.body));
    return (reply.body as { access_token: string }).access_token;
  };
  const read = (token: string, path = '/v1/orders', scope: 'orders:read' | 'none' = 'orders:read') => {
    const url = `${origin}${path}`;
    return auth.authenticate({ method: 'GET', url, headers: { authorization: `DPoP ${token}`, dpop: createDpopProof({ ...key, method: 'GET', url, accessToken: token, now }) }, rawBody: undefined }, scope === 'none' ? undefined : scope);
  };
  return {
    supportToken, read, audit, auth,
    advance: (ms: number) => { now += ms; },
    revoke: () => { grant = { ...grant, status: 'revoked', revokedAt: new Date(now).toISOString() }; },
  };
}

async function refused(promise: Promise<unknown>, status: number, detail: RegExp): Promise<void> {
  await assert.rejects(promise, (error) => {
    assert.ok(error instanceof ProblemError, String(error));
    assert.equal(error.problem.status, status);
    assert.match(error.problem.detail ?? '', detail);
    return true;
  });
}

describe('support tokens at the edge', () => {
  test('act for the grant\'s customer, and tell the services behind which grant they act under', async () => {
    const { supportToken, read, audit, auth } = edge(600);
    const token = await supportToken();
    // Within one request (its context), the edge knows the support session its response must be masked and audited for.
    const request = requestContext(ROOT_CONTEXT, { requestId: 'r-1', deadline: Date.now() + 10_000, span: trace.wrapSpanContext({ traceId: 'a'.repeat(32), spanId: 'b'.repeat(16), traceFlags: 0 }) });
    const caller = await runWithContext(request, () => read(token));
    assert.deepEqual(runWithContext(request, () => auth.supportSession()), { engineer: 'engineer', keyThumbprint: caller.keyThumbprint, customerId: 'cust-x', grantId: caller.support?.grantId, ticketId: 'TCK-3' });
    assert.equal(auth.supportSession(), undefined, 'and nothing outside that request');
    assert.equal(caller.clientId, 'engineer');
    assert.equal(caller.customerId, 'cust-x');
    const assertion = caller.forwardTo('orders')['caller-assertion'];
    const claims = JSON.parse(Buffer.from(assertion.split('.')[1] as string, 'base64url').toString('utf8')) as Record<string, unknown>;
    assert.equal(claims.customer_id, 'cust-x');
    assert.equal(typeof claims.support_grant, 'string');
    // Its audit record is written with its response, naming what was served (support-masking.ts), not here.
    assert.ok(!audit.some((entry) => entry.actor === 'engineer' && entry.action === 'auth.request'));
  });

  test('are refused (401) one second after the grant expires, though the token itself would still pass its leeway', async () => {
    const { supportToken, read, advance } = edge(60);
    const token = await supportToken();
    advance(59_000);
    await read(token);
    advance(2_000);
    await refused(read(token), 401, /no longer live/);
  });

  test('are refused within the grant cache time after a revocation', async () => {
    const { supportToken, read, advance, revoke, audit } = edge(600);
    const token = await supportToken();
    await read(token);
    revoke();
    advance(1_000);
    await read(token); // still inside the stated 2 s bound
    advance(1_000);
    await refused(read(token), 401, /no longer live/);
    assert.ok(audit.some((entry) => entry.outcome === 'refused' && entry.actor === 'engineer' && /no longer live/.test(entry.detail ?? '')));
  });

  test('are refused on routes that serve no customer data', async () => {
    const { supportToken, read } = edge(600);
    await refused(read(await supportToken(), '/v1/support/grants', 'none'), 403, /support token reads customer data only/);
  });
});
