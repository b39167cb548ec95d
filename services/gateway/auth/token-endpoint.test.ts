import assert from 'node:assert/strict';
import { generateKeyPairSync, type JsonWebKey, type KeyObject } from 'node:crypto';
import { describe, test } from 'node:test';
import { AccessTokenSigner } from './access-token.js';
import { clientAssertionType, createClientAssertion, type RegisteredClient } from './client-assertion.js';
import { createDpopProof } from './dpop.js';
import { jwkThumbprint, parsePublicJwk, type PublicJwk } from './jwk.js';
import { MemoryNonceStore } from './nonces.js';
import { OAuthError, type OAuthErrorCode } from './oauth-error.js';
import { MemoryReplayGuard } from './replay.js';
import { grantScopes, handleTokenRequest, type TokenRequest } from './token-endpoint.js';

const issuer = 'https://127.0.0.1:8443';
const audience = 'https://127.0.0.1:8443/v1';
const url = 'https://127.0.0.1:8443/oauth/token';
const now = 1_700_000_000_000;
const signer = AccessTokenSigner.generate();

interface Key { privateKey: KeyObject; publicJwk: PublicJwk; jkt: string }
function newKey(kind: 'ec' | 'ed25519' = 'ec'): Key {
  const pair = kind === 'ec' ? generateKeyPairSync('ec', { namedCurve: 'P-256' }) : generateKeyPairSync('ed25519');
  const publicJwk = parsePublicJwk(pair.publicKey.export({ format: 'jwk' }));
  return { privateKey: pair.privateKey, publicJwk, jkt: jwkThumbprint(publicJwk) };
}

const clientKey = newKey();
const edClientKey = newKey('ed25519');
const dpopKey = newKey();
const registry: RegisteredClient[] = [
  { id: 'shop', jwks: [clientKey.publicJwk as unknown as JsonWebKey], scopes: ['orders:read', 'orders:write'] },
  { id: 'ed-shop', jwks: [edClientKey.publicJwk as unknown as JsonWebKey], scopes: ['orders:read'] },
  { id: 'no-scopes', jwks: [clientKey.publicJwk as unknown as JsonWebKey], scopes: [] },
];
const clients = { find: async (id: string) => registry.find((c) => c.id === id) };

function form(extra: Record<string, string | undefined> = {}, clientId = 'shop', key: Key = clientKey): Record<string, string> {
  const entries = Object.entries({
    grant_type: 'client_credentials',
    client_assertion_type: clientAssertionType,
    client_assertion: createClientAssertion({ privateKey: key.privateKey, clientId, audience: url, now }),
    ...extra,
  }).filter((entry): entry is [string, string] => entry[1] !== undefined);
  return Object.fromEntries(entries);
}

function proof(extra: Partial<Parameters<typeof createDpopProof>[0]> = {}): string {
  return createDpopProof({ ...dpopKey, method: 'POST', url, now, ...extra });
}

function request(overrides: Partial<TokenRequest> = {}): TokenRequest {
  return { form: form(), dpopHeaderValues: [proof()], url, issuer, audience, clients, replay: new MemoryReplayGuard(), signer, now, ...overrides };
}

async function refused(promise: Promise<unknown>, code: OAuthErrorCode, status: number, description: RegExp): Promise<OAuthError> {
  let caught: unknown;
  await assert.rejects(promise, (error) => {
    caught = error;
    return true;
  });
  assert.ok(caught instanceof OAuthError, `expected an OAuthError, got ${String(caught)}`);
  assert.equal(caught.error, code);
  assert.equal(caught.status, status);
  assert.match(caught.description, description);
  return caught;
}

describe('handleTokenRequest issues', () => {
  test('a DPoP-bound token with every registered scope when none is asked for', async () => {
    const response = await handleTokenRequest(request());
    assert.equal(response.token_type, 'DPoP');
    assert.equal(response.expires_in, 300);
    assert.equal(response.scope, 'orders:read orders:write');
    const claims = signer.verifyAccessToken(response.access_token, { issuer, audience, now });
    assert.equal(claims.client_id, 'shop');
    assert.equal(claims.cnf.jkt, dpopKey.jkt, 'bound to the proof key, not the client key');
    assert.equal(claims.exp - claims.iat, 300);
  });

  test('a narrower scope on request, with an Ed25519 client and an Ed25519 proof key', async () => {
    const edProofKey = newKey('ed25519');
    const response = await handleTokenRequest(request({
      form: form({ scope: 'orders:read' }, 'ed-shop', edClientKey),
      dpopHeaderValues: [createDpopProof({ ...edProofKey, method: 'POST', url, now })],
      lifetimeSeconds: 600,
    }));
    assert.equal(response.scope, 'orders:read');
    assert.equal(response.expires_in, 600);
    assert.equal(signer.verifyAccessToken(response.access_token, { issuer, audience, now }).cnf.jkt, edProofKey.jkt);
  });

  test('after a use_dpop_nonce answer, the same assertion with a proof carrying the nonce', async () => {
    const nonces = new MemoryNonceStore();
    const replay = new MemoryReplayGuard();
    const sameForm = form();
    const first = await refused(handleTokenRequest(request({ form: sameForm, nonces, requireNonce: true, replay })), 'use_dpop_nonce', 400, /nonce is required/);
    assert.ok(first.dpopNonce);
    assert.equal(first.headers()['dpop-nonce'], first.dpopNonce);
    const response = await handleTokenRequest(request({ form: sameForm, dpopHeaderValues: [proof({ nonce: first.dpopNonce })], nonces, requireNonce: true, replay }));
    assert.equal(response.token_type, 'DPoP');
  });
});

describe('handleTokenRequest refuses', () => {
  test('a client secret, of any kind', async () => {
    await refused(handleTokenRequest(request({ form: form({ client_secret: 's3cret' }) })), 'invalid_client', 401, /client secrets are not accepted/);
  });

  test('a missing or unsupported grant type', async () => {
    await refused(handleTokenRequest(request({ form: form({ grant_type: undefined }) })), 'invalid_request', 400, /grant_type missing/);
    await refused(handleTokenRequest(request({ form: form({ grant_type: 'password' }) })), 'unsupported_grant_type', 400, /client_credentials/);
  });

  test('no client authentication, or another method', async () => {
    await refused(handleTokenRequest(request({ form: form({ client_assertion: undefined, client_assertion_type: undefined }) })), 'invalid_client', 401, /private_key_jwt/);
    await refused(handleTokenRequest(request({ form: form({ client_assertion: undefined }) })), 'invalid_client', 401, /client_assertion missing/);
  });

  test('an unregistered client, a wrong key, a wrong audience, an expired or replayed assertion', async () => {
    await refused(handleTokenRequest(request({ form: form({}, 'stranger') })), 'invalid_client', 401, /unknown client/);
    await refused(handleTokenRequest(request({ form: form({}, 'shop', newKey()) })), 'invalid_client', 401, /not signed by a key registered/);
    const wrongAudience = createClientAssertion({ privateKey: clientKey.privateKey, clientId: 'shop', audience: 'https://elsewhere.example/token', now });
    await refused(handleTokenRequest(request({ form: form({ client_assertion: wrongAudience }) })), 'invalid_client', 401, /aud must be/);
    const old = createClientAssertion({ privateKey: clientKey.privateKey, clientId: 'shop', audience: url, now: now - 600_000 });
    await refused(handleTokenRequest(request({ form: form({ client_assertion: old }) })), 'invalid_client', 401, /expired/);
    const replay = new MemoryReplayGuard();
    const once = form();
    await handleTokenRequest(request({ form: once, replay }));
    await refused(handleTokenRequest(request({ form: once, replay, dpopHeaderValues: [proof()] })), 'invalid_client', 401, /already used/);
    await refused(handleTokenRequest(request({ form: form({ client_id: 'ed-shop' }) })), 'invalid_client', 401, /client_id does not match/);
  });

  test('a scope outside the registration, or malformed', async () => {
    await refused(handleTokenRequest(request({ form: form({ scope: 'orders:read admin' }) })), 'invalid_scope', 400, /not registered for this client: admin/);
    await refused(handleTokenRequest(request({ form: form({ scope: 'orders:read  orders:write' }) })), 'invalid_scope', 400, /malformed/);
    await refused(handleTokenRequest(request({ form: form({ scope: '' }) })), 'invalid_scope', 400, /malformed/);
    await refused(handleTokenRequest(request({ form: form({}, 'no-scopes') })), 'invalid_scope', 400, /no scopes registered/);
  });

  test('a missing or invalid DPoP proof', async () => {
    await refused(handleTokenRequest(request({ dpopHeaderValues: undefined })), 'invalid_dpop_proof', 400, /missing/);
    await refused(handleTokenRequest(request({ dpopHeaderValues: [proof({ method: 'GET' })] })), 'invalid_dpop_proof', 400, /htm/);
    await refused(handleTokenRequest(request({ dpopHeaderValues: [proof({ url: 'https://127.0.0.1:8443/v1/products' })] })), 'invalid_dpop_proof', 400, /htu/);
    const replay = new MemoryReplayGuard();
    const sameProof = proof();
    await handleTokenRequest(request({ replay, dpopHeaderValues: [sameProof] }));
    await refused(handleTokenRequest(request({ replay, dpopHeaderValues: [sameProof] })), 'invalid_dpop_proof', 400, /already used/);
  });

  test('a request whose DPoP proof fails does not spend the assertion', async () => {
    const replay = new MemoryReplayGuard();
    const sameForm = form();
    await refused(handleTokenRequest(request({ form: sameForm, replay, dpopHeaderValues: [proof({ method: 'GET' })] })), 'invalid_dpop_proof', 400, /htm/);
    await handleTokenRequest(request({ form: sameForm, replay }));
  });
});

test('grantScopes', () => {
  assert.deepEqual(grantScopes(undefined, ['a', 'b', 'a']), ['a', 'b']);
  assert.deepEqual(grantScopes('b b', ['a', 'b']), ['b']);
  assert.throws(() => grantScopes('c', ['a']), OAuthError);
  assert.throws(() => grantScopes('a"', ['a"']), /malformed/);
});
