import assert from 'node:assert/strict';
import { generateKeyPairSync, type JsonWebKey, type KeyObject } from 'node:crypto';
import { describe, test } from 'node:test';
import {
  checkClientAssertion, clientAssertionType, createClientAssertion, verifyClientAssertion,
  type CheckClientAssertionOptions, type CreateClientAssertionOptions, type RegisteredClient,
} from './client-assertion.js';
import { jwkThumbprint, parsePublicJwk } from './jwk.js';
import { base64urlEncode } from '@msa-poc/platform/jws';
import { OAuthError } from './oauth-error.js';
import { MemoryReplayGuard, type ReplayGuard } from './replay.js';

const issuer = 'https://127.0.0.1:8443';
const tokenEndpoint = 'https://127.0.0.1:8443/oauth/token';
const now = 1_700_000_000_000;

function clientKey(kind: 'ec' | 'ed25519' = 'ec'): { privateKey: KeyObject; publicJwk: JsonWebKey } {
  const pair = kind === 'ec' ? generateKeyPairSync('ec', { namedCurve: 'P-256' }) : generateKeyPairSync('ed25519');
  return { privateKey: pair.privateKey, publicJwk: pair.publicKey.export({ format: 'jwk' }) };
}

const ecKey = clientKey();
const edKey = clientKey('ed25519');
const registered: RegisteredClient[] = [
  { id: 'shop-frontend', jwks: [{ ...ecKey.publicJwk, kid: 'k1' }], scopes: ['orders:read', 'orders:write'] },
  { id: 'ed-client', jwks: [edKey.publicJwk], scopes: ['orders:read'] },
];
const clients = { find: async (id: string) => registered.find((client) => client.id === id) };

function assertion(overrides: Partial<CreateClientAssertionOptions> = {}): string {
  return createClientAssertion({ privateKey: ecKey.privateKey, clientId: 'shop-frontend', audience: tokenEndpoint, now, kid: 'k1', ...overrides });
}

function options(value: string | undefined, extra: Partial<CheckClientAssertionOptions & { replay: ReplayGuard }> = {}): CheckClientAssertionOptions & { replay: ReplayGuard } {
  return { assertionType: clientAssertionType, assertion: value, tokenEndpoint, issuer, clients, now, replay: new MemoryReplayGuard(), ...extra };
}

async function refused(promise: Promise<unknown>, description: RegExp): Promise<void> {
  await assert.rejects(promise, (error) => {
    assert.ok(error instanceof OAuthError, `expected an OAuthError, got ${String(error)}`);
    assert.equal(error.error, 'invalid_client');
    assert.equal(error.status, 401);
    assert.match(error.description, description);
    return true;
  });
}

describe('verifyClientAssertion accepts', () => {
  test('an ES256 assertion for the token endpoint, naming the signing key', async () => {
    const result = await verifyClientAssertion(options(assertion()));
    assert.equal(result.client.id, 'shop-frontend');
    assert.equal(result.exp, now / 1000 + 60);
    assert.equal(result.keyThumbprint, jwkThumbprint(parsePublicJwk(ecKey.publicJwk)));
  });

  test('an EdDSA assertion for the issuer identifier, without kid', async () => {
    const value = createClientAssertion({ privateKey: edKey.privateKey, clientId: 'ed-client', audience: issuer, now });
    assert.equal((await verifyClientAssertion(options(value))).client.id, 'ed-client');
  });

  test('aud as a one-element array, and a matching client_id', async () => {
    await verifyClientAssertion(options(assertion({ claims: { aud: [issuer] } }), { clientId: 'shop-frontend' }));
  });

  test('exp at the 5 minute limit, and a client clock a little ahead', async () => {
    await verifyClientAssertion(options(assertion({ lifetimeSeconds: 300 })));
    await verifyClientAssertion(options(assertion({ now: now + 20_000 })));
  });
});

describe('verifyClientAssertion refuses, as invalid_client', () => {
  test('another client_assertion_type, or none', async () => {
    await refused(verifyClientAssertion(options(assertion(), { assertionType: 'urn:ietf:params:oauth:client-assertion-type:saml2-bearer' })), /must be private_key_jwt/);
    await refused(verifyClientAssertion(options(assertion(), { assertionType: undefined })), /must be private_key_jwt/);
  });

  test('a missing or malformed assertion', async () => {
    await refused(verifyClientAssertion(options(undefined)), /client_assertion missing/);
    await refused(verifyClientAssertion(options('a.b')), /not a valid JWS/);
    const b64 = (value: unknown) => base64urlEncode(JSON.stringify(value));
    const none = `${b64({ alg: 'none' })}.${b64({ iss: 'shop-frontend', sub: 'shop-frontend', aud: tokenEndpoint, exp: now / 1000 + 60, jti: 'j' })}.`;
    await refused(verifyClientAssertion(options(none)), /not a valid JWS/);
  });

  test('a DPoP proof or an access token offered as an assertion', async () => {
    await refused(verifyClientAssertion(options(assertion({ header: { typ: 'dpop+jwt' } }))), /dpop\+jwt JWT is not a client assertion/);
    await refused(verifyClientAssertion(options(assertion({ header: { typ: 'at+jwt' } }))), /at\+jwt JWT is not a client assertion/);
  });

  test('iss and sub that are not both the client id', async () => {
    await refused(verifyClientAssertion(options(assertion({ claims: { sub: 'someone-else' } }))), /iss and sub/);
    await refused(verifyClientAssertion(options(assertion({ claims: { iss: undefined } }))), /iss and sub/);
    await refused(verifyClientAssertion(options(assertion(), { clientId: 'ed-client' })), /client_id does not match/);
  });

  test('an audience other than this token endpoint or issuer', async () => {
    for (const aud of ['https://other.example/oauth/token', `${tokenEndpoint}/`, [tokenEndpoint, 'https://other.example'], [], undefined]) {
      await refused(verifyClientAssertion(options(assertion({ claims: { aud } }))), /aud must be/);
    }
  });

  test('exp missing, past, or more than 5 minutes ahead', async () => {
    await refused(verifyClientAssertion(options(assertion({ claims: { exp: undefined } }))), /exp missing/);
    await refused(verifyClientAssertion(options(assertion({ now: now - 120_000 }))), /expired/);
    await refused(verifyClientAssertion(options(assertion({ claims: { iat: undefined, exp: now / 1000 + 331 } }))), /more than 300 s ahead/);
    await refused(verifyClientAssertion(options(assertion({ lifetimeSeconds: 301 }))), /within 300 s of exp/);
  });

  test('iat in the future or after exp, nbf in the future', async () => {
    await refused(verifyClientAssertion(options(assertion({ now: now + 31_000 }))), /iat must be in the past/);
    await refused(verifyClientAssertion(options(assertion({ claims: { iat: now / 1000 + 61 } }))), /iat must be/);
    await refused(verifyClientAssertion(options(assertion({ claims: { iat: 'yesterday' } }))), /iat is not a number/);
    await refused(verifyClientAssertion(options(assertion({ claims: { nbf: now / 1000 + 40 } }))), /nbf/);
  });

  test('jti missing or oversized', async () => {
    await refused(verifyClientAssertion(options(assertion({ claims: { jti: undefined } }))), /jti must be/);
    await refused(verifyClientAssertion(options(assertion({ jti: 'x'.repeat(257) }))), /jti must be/);
  });

  test('an unknown client', async () => {
    await refused(verifyClientAssertion(options(assertion({ clientId: 'nobody' }))), /unknown client/);
  });

  test('a signature by a key that is not registered for the client', async () => {
    const stranger = clientKey();
    await refused(verifyClientAssertion(options(assertion({ privateKey: stranger.privateKey }))), /not signed by a key registered/);
    await refused(verifyClientAssertion(options(assertion({ privateKey: edKey.privateKey }))), /not signed by a key registered/);
    await refused(verifyClientAssertion(options(assertion({ kid: 'k2' }))), /not signed by a key registered/);
    const header = assertion().split('.')[0];
    const forgedPayload = base64urlEncode(JSON.stringify({ iss: 'shop-frontend', sub: 'shop-frontend', aud: tokenEndpoint, exp: now / 1000 + 60, jti: 'other' }));
    await refused(verifyClientAssertion(options(`${header}.${forgedPayload}.${assertion().split('.')[2]}`)), /not signed by a key registered/);
  });

  test('a registered private key is never used, and a broken registration is skipped', async () => {
    const leaky = clientKey();
    const leakyClients = { find: async () => ({ id: 'shop-frontend', jwks: [leaky.privateKey.export({ format: 'jwk' }), { kty: 'RSA' }], scopes: [] }) };
    await refused(verifyClientAssertion(options(assertion({ privateKey: leaky.privateKey, kid: undefined }), { clients: leakyClients })), /not signed by a key registered/);
  });

  test('a jti used before, while the assertion is still valid', async () => {
    const replay = new MemoryReplayGuard();
    const value = assertion({ jti: 'once' });
    await verifyClientAssertion(options(value, { replay }));
    await refused(verifyClientAssertion(options(value, { replay })), /already used/);
    await refused(verifyClientAssertion(options(assertion({ jti: 'once', now: now + 1_000 }), { replay, now: now + 1_000 })), /already used/);
  });
});

describe('checkClientAssertion', () => {
  test('does not spend the jti; verifyClientAssertion keeps it for the assertion lifetime', async () => {
    const seen: Array<[string, number]> = [];
    const replay: ReplayGuard = { firstUse: async (k, ttl) => { seen.push([k, ttl]); return true; } };
    const value = assertion({ jti: 'abc' });
    await checkClientAssertion(options(value, { replay }));
    assert.equal(seen.length, 0);
    await verifyClientAssertion(options(value, { replay }));
    assert.deepEqual(seen, [['client-assertion:13:shop-frontend:abc', 90_000]]);
  });

  test('tries at most ten registered keys', async () => {
    const many = Array.from({ length: 11 }, () => clientKey().publicJwk);
    const signer = clientKey();
    const crowded = { find: async () => ({ id: 'shop-frontend', jwks: [...many, signer.publicJwk], scopes: [] }) };
    await refused(checkClientAssertion(options(assertion({ privateKey: signer.privateKey, kid: undefined }), { clients: crowded })), /not signed by a key registered/);
    const fewer = { find: async () => ({ id: 'shop-frontend', jwks: [...many.slice(0, 9), signer.publicJwk], scopes: [] }) };
    await checkClientAssertion(options(assertion({ privateKey: signer.privateKey, kid: undefined }), { clients: fewer }));
  });
});

test('createClientAssertion signs the RFC 7523 claims', () => {
  const [header, payload] = assertion({ jti: 'j1' }).split('.');
  assert.deepEqual(JSON.parse(Buffer.from(header ?? '', 'base64url').toString()), { alg: 'ES256', kid: 'k1' });
  assert.deepEqual(JSON.parse(Buffer.from(payload ?? '', 'base64url').toString()), {
    iss: 'shop-frontend', sub: 'shop-frontend', aud: tokenEndpoint, iat: now / 1000, exp: now / 1000 + 60, jti: 'j1',
  });
});
