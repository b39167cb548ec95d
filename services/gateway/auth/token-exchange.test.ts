import assert from 'node:assert/strict';
import { generateKeyPairSync, randomUUID, type JsonWebKey } from 'node:crypto';
import { describe, test } from 'node:test';
import type { SupportGrant } from '@msa-poc/contracts';
import { AccessTokenSigner } from './access-token.js';
import { createDpopProof } from './dpop.js';
import { jwkThumbprint, parsePublicJwk } from './jwk.js';
import { OAuthError } from './oauth-error.js';
import { MemoryReplayGuard } from './replay.js';
import { authenticateResourceRequest } from './resource.js';
import { handleTokenRequest, type TokenRequest } from './token-endpoint.js';
import { accessTokenType, tokenExchangeGrantType } from './token-exchange.js';

const origin = 'https://127.0.0.1:8443';
const url = `${origin}/oauth/token`;
const approvedAt = Date.UTC(2026, 0, 1);
const signer = AccessTokenSigner.generate();

function newKey() {
  const pair = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const publicJwk = parsePublicJwk(pair.publicKey.export({ format: 'jwk' }));
  return { privateKey: pair.privateKey, publicJwk, jkt: jwkThumbprint(publicJwk) };
}
const engineerKey = newKey();
const roles: Record<string, string[]> = { engineer: ['support'], other: ['support'], former: [] };
const clients = { find: async (id: string) => (roles[id] ? { id, jwks: [engineerKey.publicJwk as unknown as JsonWebKey], scopes: ['orders:read'], roles: roles[id] } : undefined) };

function grant(overrides: Partial<SupportGrant> = {}): SupportGrant {
  return {
    id: randomUUID(), requester: 'engineer', customerId: 'cust-x', ticketId: 'TCK-7', reason: 'parcel lost', actions: ['orders:read'], durationSeconds: 900,
    status: 'approved', requestedAt: new Date(approvedAt).toISOString(), decidedBy: 'lead', decidedAt: new Date(approvedAt).toISOString(),
    expiresAt: new Date(approvedAt + 900_000).toISOString(), breakGlass: false, ...overrides,
  };
}

/** The engineer's own token, issued at `now`. */
const ownToken = (now: number, clientId = 'engineer', key = engineerKey) =>
  signer.issueAccessToken({ clientId, scope: 'orders:read', jkt: key.jkt, lifetimeSeconds: 600, issuer: origin, audience: origin, now });

function exchange(target: SupportGrant, now: number, options: { key?: ReturnType<typeof newKey>; subject?: string; details?: string } = {}): Promise<unknown> {
  const request: TokenRequest = {
    form: {
      grant_type: tokenExchangeGrantType, subject_token: options.subject ?? ownToken(now), subject_token_type: accessTokenType,
      authorization_details: options.details ?? JSON.stringify([{ type: 'support_access', grant_id: target.id }]),
    },
    dpopHeaderValues: [createDpopProof({ ...(options.key ?? engineerKey), method: 'POST', url, now })],
    url, issuer: origin, audience: origin, clients, replay: new MemoryReplayGuard(), signer, now,
    grants: { find: async (id) => (id === target.id ? target : undefined) },
  };
  return handleTokenRequest(request);
}

async function refusedWith(promise: Promise<unknown>, error: string, description: RegExp): Promise<void> {
  await assert.rejects(promise, (caught) => {
    assert.ok(caught instanceof OAuthError, String(caught));
    assert.equal(caught.error, error);
    assert.equal(caught.status, 400);
    assert.match(caught.description, description);
    return true;
  });
}

const claimsOf = (token: string) => JSON.parse(Buffer.from(token.split('.')[1] as string, 'base64url').toString('utf8')) as Record<string, unknown>;

describe('support token exchange (RFC 8693)', () => {
  test('issues a DPoP-bound token for the customer, naming the engineer as actor and the grant in authorization_details', async () => {
    const live = grant();
    const now = approvedAt + 1_000;
    const reply = (await exchange(live, now)) as { access_token: string; expires_in: number; scope: string; issued_token_type: string; token_type: string };
    assert.equal(reply.token_type, 'DPoP');
    assert.equal(reply.issued_token_type, accessTokenType);
    assert.equal(reply.scope, 'orders:read');
    assert.equal(reply.expires_in, 300, 'five minutes at most, though the grant runs for fourteen more');
    const claims = claimsOf(reply.access_token);
    assert.equal(claims.sub, 'cust-x');
    assert.deepEqual(claims.act, { sub: 'engineer' });
    assert.equal(claims.client_id, 'engineer');
    assert.deepEqual(claims.cnf, { jkt: engineerKey.jkt });
    assert.deepEqual(claims.authorization_details, [{ type: 'support_access', customer: 'cust-x', actions: ['orders:read'], ticket: 'TCK-7', grant_id: live.id }]);
    assert.equal(claims.exp, Math.floor(now / 1000) + 300);
  });

  test('never outlives its grant', async () => {
    const live = grant();
    const now = approvedAt + 900_000 - 42_000;
    const reply = (await exchange(live, now)) as { access_token: string; expires_in: number };
    assert.equal(reply.expires_in, 42);
    assert.ok((claimsOf(reply.access_token).exp as number) * 1000 <= Date.parse(live.expiresAt as string));
  });

  test('the token is accepted at a resource with a proof by the same key, and carries the grant', async () => {
    const now = approvedAt + 1_000;
    const token = ((await exchange(grant(), now)) as { access_token: string }).access_token;
    const resource = `${origin}/v1/orders`;
    const principal = await authenticateResourceRequest({
      authorization: `DPoP ${token}`, dpopHeaderValues: [createDpopProof({ ...engineerKey, method: 'GET', url: resource, accessToken: token, now })],
      method: 'GET', url: resource, requiredScope: 'orders:read', tokens: signer, issuer: origin, audience: origin, replay: new MemoryReplayGuard(), now,
    });
    assert.equal(principal.clientId, 'engineer');
    assert.equal(principal.customerId, 'cust-x');
    assert.equal(principal.support?.ticketId, 'TCK-7');
  });

  test('is refused before approval, after rejection, after revocation, and one second after expiry', async () => {
    await refusedWith(exchange(grant({ status: 'pending', decidedBy: undefined, decidedAt: undefined, expiresAt: undefined }), approvedAt), 'invalid_grant', /pending: a support lead must approve it first/);
    await refusedWith(exchange(grant({ status: 'rejected', expiresAt: undefined }), approvedAt), 'invalid_grant', /was rejected by lead/);
    await refusedWith(exchange(grant({ status: 'revoked', revokedBy: 'lead', revokedAt: new Date(approvedAt + 5_000).toISOString() }), approvedAt + 6_000), 'invalid_grant', /was revoked/);
    const live = grant();
    await refusedWith(exchange(live, approvedAt + 900_000 + 1_000), 'invalid_grant', /expired at/);
    // The store's word (expired) is believed too, whatever the clocks say.
    await refusedWith(exchange(grant({ status: 'expired' }), approvedAt + 1_000), 'invalid_grant', /expired at/);
  });

  test("is refused for another engineer's grant, an unknown grant, without the subject token's key, and to a client that lost the support role", async () => {
    await refusedWith(exchange(grant({ requester: 'other' }), approvedAt + 1_000), 'invalid_grant', /requested by another client/);
    await refusedWith(exchange(grant(), approvedAt + 1_000, { details: JSON.stringify([{ type: 'support_access', grant_id: randomUUID() }]) }), 'invalid_grant', /no access request/);
    await refusedWith(exchange(grant(), approvedAt + 1_000, { key: newKey() }), 'invalid_dpop_proof', /not the key the access token is bound to/);
    await refusedWith(exchange(grant({ requester: 'former' }), approvedAt + 1_000, { subject: ownToken(approvedAt, 'former') }), 'invalid_grant', /does not have the support role/);
  });

  test('refuses malformed requests with RFC 6749 §5.2 errors', async () => {
    await refusedWith(exchange(grant(), approvedAt, { details: 'not json' }), 'invalid_authorization_details', /not JSON/);
    await refusedWith(exchange(grant(), approvedAt, { details: JSON.stringify([{ type: 'payment', grant_id: randomUUID() }]) }), 'invalid_authorization_details', /support_access/);
    await refusedWith(exchange(grant(), approvedAt, { subject: 'garbage' }), 'invalid_grant', /subject_token refused/);
    const support = ((await exchange(grant(), approvedAt + 1_000)) as { access_token: string }).access_token;
    await refusedWith(exchange(grant(), approvedAt + 2_000, { subject: support }), 'invalid_grant', /cannot be exchanged again/);
  });
});
