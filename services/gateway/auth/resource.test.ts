import assert from 'node:assert/strict';
import { generateKeyPairSync, randomBytes, type JsonWebKey, type KeyObject } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { createClient } from 'redis';
import { AccessTokenSigner } from './access-token.js';
import { clientAssertionType, createClientAssertion, type RegisteredClient } from './client-assertion.js';
import { createDpopProof } from './dpop.js';
import { jwkThumbprint, parsePublicJwk, type PublicJwk } from './jwk.js';
import { MemoryNonceStore, RedisNonceStore, type NonceStore } from './nonces.js';
import { MemoryReplayGuard, RedisReplayGuard, type ReplayGuard } from './replay.js';
import { ResourceAuthError, authenticateResourceRequest, dpopChallenge, type ResourceRequest } from './resource.js';
import { handleTokenRequest } from './token-endpoint.js';

const origin = 'https://127.0.0.1:8443';
const issuer = origin;
const audience = `${origin}/v1`;
const tokenUrl = `${origin}/oauth/token`;
const productsUrl = `${origin}/v1/products`;
const now = 1_700_000_000_000;

interface Key { privateKey: KeyObject; publicJwk: PublicJwk; jkt: string }
function newKey(kind: 'ec' | 'ed25519' = 'ec'): Key {
  const pair = kind === 'ec' ? generateKeyPairSync('ec', { namedCurve: 'P-256' }) : generateKeyPairSync('ed25519');
  const publicJwk = parsePublicJwk(pair.publicKey.export({ format: 'jwk' }));
  return { privateKey: pair.privateKey, publicJwk, jkt: jwkThumbprint(publicJwk) };
}

const signer = AccessTokenSigner.generate();
const clientKey = newKey();
const registry: RegisteredClient[] = [
  { id: 'reader', jwks: [clientKey.publicJwk as unknown as JsonWebKey], scopes: ['orders:read'] },
  { id: 'writer', jwks: [clientKey.publicJwk as unknown as JsonWebKey], scopes: ['orders:read', 'orders:write'] },
];
const clients = { find: async (id: string) => registry.find((c) => c.id === id) };

/** The whole client side: assertion + proof → token endpoint → a bound token. */
async function obtainToken(clientId: string, dpopKey: Key, replay: ReplayGuard = new MemoryReplayGuard()): Promise<string> {
  const response = await handleTokenRequest({
    form: {
      grant_type: 'client_credentials',
      client_assertion_type: clientAssertionType,
      client_assertion: createClientAssertion({ privateKey: clientKey.privateKey, clientId, audience: issuer, now }),
    },
    dpopHeaderValues: [createDpopProof({ ...dpopKey, method: 'POST', url: tokenUrl, now })],
    url: tokenUrl, issuer, audience, clients, replay, signer, now,
  });
  return response.access_token;
}

function resourceRequest(token: string, dpopKey: Key, overrides: Partial<ResourceRequest> = {}): ResourceRequest {
  return {
    authorization: `DPoP ${token}`,
    dpopHeaderValues: [createDpopProof({ ...dpopKey, method: 'GET', url: productsUrl, accessToken: token, now })],
    method: 'GET',
    url: productsUrl,
    requiredScope: 'orders:read',
    tokens: signer,
    issuer,
    audience,
    replay: new MemoryReplayGuard(),
    now,
    ...overrides,
  };
}

async function refused(promise: Promise<unknown>, status: number, wwwAuthenticate: string | RegExp): Promise<ResourceAuthError> {
  let caught: unknown;
  await assert.rejects(promise, (error) => {
    caught = error;
    return true;
  });
  assert.ok(caught instanceof ResourceAuthError, `expected a ResourceAuthError, got ${String(caught)}`);
  assert.equal(caught.status, status);
  if (typeof wwwAuthenticate === 'string') assert.equal(caught.wwwAuthenticate, wwwAuthenticate);
  else assert.match(caught.wwwAuthenticate, wwwAuthenticate);
  assert.equal(caught.headers()['www-authenticate'], caught.wwwAuthenticate);
  return caught;
}

describe('end to end: client key → assertion + proof → token → resource request', () => {
  test('ES256 proof key', async () => {
    const dpopKey = newKey();
    const token = await obtainToken('writer', dpopKey);
    const principal = await authenticateResourceRequest(resourceRequest(token, dpopKey, { requiredScope: 'orders:write' }));
    assert.equal(principal.clientId, 'writer');
    assert.equal(principal.jkt, dpopKey.jkt);
    assert.deepEqual(principal.scopes, ['orders:read', 'orders:write']);
    assert.equal(principal.expiresAt, now / 1000 + 300);
    assert.match(principal.tokenId, /^[A-Za-z0-9_-]{22}$/);
  });

  test('EdDSA proof key, a POST with a query string, and the scheme name in any case', async () => {
    const dpopKey = newKey('ed25519');
    const token = await obtainToken('reader', dpopKey);
    const target = `${origin}/v1/orders?customerId=c-1`;
    const principal = await authenticateResourceRequest(resourceRequest(token, dpopKey, {
      authorization: `dpop ${token}`,
      method: 'POST',
      url: target,
      dpopHeaderValues: [createDpopProof({ ...dpopKey, method: 'POST', url: target, accessToken: token, now })],
    }));
    assert.equal(principal.clientId, 'reader');
  });

  test('a route without a required scope', async () => {
    const dpopKey = newKey();
    const token = await obtainToken('reader', dpopKey);
    const { requiredScope: _unused, ...rest } = resourceRequest(token, dpopKey);
    assert.equal((await authenticateResourceRequest(rest)).clientId, 'reader');
  });
});

describe('authenticateResourceRequest refuses', () => {
  const dpopKey = newKey();
  let token = '';
  before(async () => {
    token = await obtainToken('reader', dpopKey);
  });

  test('no credentials: 401 with a bare challenge', async () => {
    await refused(authenticateResourceRequest(resourceRequest(token, dpopKey, { authorization: undefined })), 401, 'DPoP error_description="a DPoP-bound access token is required", algs="ES256 EdDSA"');
    const basic = await refused(authenticateResourceRequest(resourceRequest(token, dpopKey, { authorization: 'Basic dXNlcjpwYXNz' })), 401, /^DPoP error_description=.*algs="ES256 EdDSA"$/);
    assert.equal(basic.error, undefined);
  });

  test('a DPoP-bound token presented as Bearer (no downgrade)', async () => {
    await refused(authenticateResourceRequest(resourceRequest(token, dpopKey, { authorization: `Bearer ${token}`, dpopHeaderValues: undefined })), 401,
      'DPoP error="invalid_token", error_description="DPoP-bound access tokens must be sent with the DPoP scheme, not Bearer", algs="ES256 EdDSA"');
    await refused(authenticateResourceRequest(resourceRequest(token, dpopKey, { authorization: `Bearer ${token}` })), 401, /error="invalid_token"/);
  });

  test('a malformed, tampered, foreign or expired token', async () => {
    await refused(authenticateResourceRequest(resourceRequest(token, dpopKey, { authorization: 'DPoP' })), 401, /error="invalid_token", error_description="malformed access token"/);
    await refused(authenticateResourceRequest(resourceRequest(token, dpopKey, { authorization: 'DPoP a,b' })), 401, /error="invalid_token"/);
    const tampered = `${token.slice(0, -4)}AAAA`;
    await refused(authenticateResourceRequest(resourceRequest(tampered, dpopKey)), 401, /error="invalid_token", error_description="access token signature is invalid"/);
    const foreign = AccessTokenSigner.generate().issueAccessToken({ clientId: 'reader', scope: 'orders:read', jkt: dpopKey.jkt, lifetimeSeconds: 300, issuer, audience, now });
    await refused(authenticateResourceRequest(resourceRequest(foreign, dpopKey)), 401, /error="invalid_token", error_description="access token was not signed by this gateway key"/);
    const later = now + 400_000;
    await refused(authenticateResourceRequest(resourceRequest(token, dpopKey, {
      now: later,
      dpopHeaderValues: [createDpopProof({ ...dpopKey, method: 'GET', url: productsUrl, accessToken: token, now: later })],
    })), 401, /error="invalid_token", error_description="access token expired"/);
  });

  test('a token without a proof', async () => {
    await refused(authenticateResourceRequest(resourceRequest(token, dpopKey, { dpopHeaderValues: undefined })), 401,
      'DPoP error="invalid_dpop_proof", error_description="DPoP proof missing: send exactly one DPoP header", algs="ES256 EdDSA"');
  });

  test('a stolen token used with the thief\'s own key', async () => {
    const thief = newKey();
    await refused(authenticateResourceRequest(resourceRequest(token, thief)), 401, /error="invalid_dpop_proof", error_description="DPoP proof key is not the key the access token is bound to"/);
  });

  test('a proof without ath, or made for another token', async () => {
    const noAth = createDpopProof({ ...dpopKey, method: 'GET', url: productsUrl, now });
    await refused(authenticateResourceRequest(resourceRequest(token, dpopKey, { dpopHeaderValues: [noAth] })), 401, /invalid_dpop_proof.*ath does not match/);
    const otherToken = await obtainToken('reader', dpopKey);
    const forOther = createDpopProof({ ...dpopKey, method: 'GET', url: productsUrl, accessToken: otherToken, now });
    await refused(authenticateResourceRequest(resourceRequest(token, dpopKey, { dpopHeaderValues: [forOther] })), 401, /ath does not match/);
  });

  test('a proof for another request, or replayed', async () => {
    const request = resourceRequest(token, dpopKey, { url: `${origin}/v1/orders` });
    await refused(authenticateResourceRequest(request), 401, /invalid_dpop_proof.*htu does not match/);
    const replay = new MemoryReplayGuard();
    const once = resourceRequest(token, dpopKey, { replay });
    await authenticateResourceRequest(once);
    await refused(authenticateResourceRequest(once), 401, /invalid_dpop_proof.*already used/);
  });

  test('a token without the route\'s scope: 403 insufficient_scope', async () => {
    const denied = await refused(authenticateResourceRequest(resourceRequest(token, dpopKey, { requiredScope: 'orders:write' })), 403,
      'DPoP error="insufficient_scope", error_description="this request needs the scope orders:write", scope="orders:write", algs="ES256 EdDSA"');
    assert.equal(denied.error, 'insufficient_scope');
  });

  test('a proof without the required nonce: 401 use_dpop_nonce with a DPoP-Nonce', async () => {
    const nonces = new MemoryNonceStore();
    const denied = await refused(authenticateResourceRequest(resourceRequest(token, dpopKey, { nonces, requireNonce: true })), 401, /^DPoP error="use_dpop_nonce", /);
    assert.ok(denied.dpopNonce);
    assert.equal(denied.headers()['dpop-nonce'], denied.dpopNonce);
    const retry = createDpopProof({ ...dpopKey, method: 'GET', url: productsUrl, accessToken: token, nonce: denied.dpopNonce, now });
    await authenticateResourceRequest(resourceRequest(token, dpopKey, { nonces, requireNonce: true, dpopHeaderValues: [retry] }));
  });
});

test('dpopChallenge keeps parameter values inside a quoted-string', () => {
  assert.equal(dpopChallenge(), 'DPoP algs="ES256 EdDSA"');
  assert.equal(dpopChallenge({ error: 'invalid_token', description: 'say "hi"\\' }), 'DPoP error="invalid_token", error_description="say ?hi??", algs="ES256 EdDSA"');
});

describe('two gateway replicas sharing Redis (real Redis)', () => {
  const url = process.env.POC_REDIS_URL ?? 'redis://127.0.0.1:6379';
  const prefix = `test:resource:${randomBytes(6).toString('hex')}:`;
  const redisA = createClient({ url, socket: { reconnectStrategy: false, connectTimeout: 2_000 } });
  const redisB = createClient({ url, socket: { reconnectStrategy: false, connectTimeout: 2_000 } });
  let replicas: Array<{ replay: ReplayGuard; nonces: NonceStore }> = [];

  before(async () => {
    await Promise.all([redisA.connect(), redisB.connect()]);
    replicas = [redisA, redisB].map((redis) => ({
      replay: new RedisReplayGuard(redis, { prefix: `${prefix}replay:` }),
      nonces: new RedisNonceStore(redis, { prefix: `${prefix}nonce:` }),
    }));
  });
  after(async () => {
    const keys = await redisA.keys(`${prefix}*`);
    if (keys.length > 0) await redisA.del(keys);
    await Promise.all([redisA.close(), redisB.close()]);
  });

  test('a proof accepted by one replica is refused as a replay by the other', async () => {
    const [a, b] = replicas as [typeof replicas[0], typeof replicas[0]];
    const dpopKey = newKey();
    const token = await obtainToken('reader', dpopKey, a.replay);
    const request = resourceRequest(token, dpopKey);
    assert.equal((await authenticateResourceRequest({ ...request, replay: a.replay })).clientId, 'reader');
    await refused(authenticateResourceRequest({ ...request, replay: b.replay }), 401, /invalid_dpop_proof.*already used/);
  });

  test('a nonce handed out by one replica is honoured by the other', async () => {
    const [a, b] = replicas as [typeof replicas[0], typeof replicas[0]];
    const dpopKey = newKey();
    const token = await obtainToken('reader', dpopKey, a.replay);
    const denied = await refused(authenticateResourceRequest(resourceRequest(token, dpopKey, { ...a, requireNonce: true })), 401, /use_dpop_nonce/);
    const retry = createDpopProof({ ...dpopKey, method: 'GET', url: productsUrl, accessToken: token, nonce: denied.dpopNonce ?? '', now });
    const principal = await authenticateResourceRequest(resourceRequest(token, dpopKey, { ...b, requireNonce: true, dpopHeaderValues: [retry] }));
    assert.equal(principal.jkt, dpopKey.jkt);
  });
});
