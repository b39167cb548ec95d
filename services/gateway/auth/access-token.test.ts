import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { chmod, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { AccessTokenError, AccessTokenSigner, loadOrCreateSigningKey, type AccessTokenClaims } from './access-token.js';
import { jwkThumbprint, parsePublicJwk } from './jwk.js';
import { base64urlEncode, parseCompactJws, signCompactJws } from '@msa-poc/platform/jws';

const issuer = 'https://127.0.0.1:8443';
const audience = 'https://127.0.0.1:8443/v1';
const jkt = '0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I';
const now = 1_700_000_000_000;
const key = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
const signer = new AccessTokenSigner(key);

function issue(overrides: Partial<Parameters<AccessTokenSigner['issueAccessToken']>[0]> = {}): string {
  return signer.issueAccessToken({ clientId: 'shop-frontend', scope: 'orders:read orders:write', jkt, lifetimeSeconds: 300, issuer, audience, now, ...overrides });
}

function refused(fn: () => unknown, message: RegExp): void {
  assert.throws(fn, (error) => error instanceof AccessTokenError && message.test(error.message));
}

describe('issueAccessToken', () => {
  test('an RFC 9068 JWT bound to the DPoP key', () => {
    const jws = parseCompactJws(issue());
    assert.deepEqual(jws.header, { alg: 'ES256', typ: 'at+jwt', kid: signer.kid });
    const claims = jws.payload as unknown as AccessTokenClaims;
    assert.equal(claims.iss, issuer);
    assert.equal(claims.sub, 'shop-frontend');
    assert.equal(claims.client_id, 'shop-frontend');
    assert.equal(claims.aud, audience);
    assert.equal(claims.scope, 'orders:read orders:write');
    assert.equal(claims.iat, now / 1000);
    assert.equal(claims.exp, now / 1000 + 300);
    assert.match(claims.jti, /^[A-Za-z0-9_-]{22}$/);
    assert.deepEqual(claims.cnf, { jkt });
    assert.notEqual(parseCompactJws(issue()).payload.jti, claims.jti, 'every token has its own jti');
  });

  test('lifetime is 1..600 s and the binding a real thumbprint', () => {
    assert.throws(() => issue({ lifetimeSeconds: 601 }), RangeError);
    assert.throws(() => issue({ lifetimeSeconds: 0 }), RangeError);
    assert.throws(() => issue({ lifetimeSeconds: 1.5 }), RangeError);
    assert.throws(() => issue({ jkt: 'not-a-thumbprint' }), RangeError);
    assert.equal(parseCompactJws(issue({ lifetimeSeconds: 600 })).payload.exp, now / 1000 + 600);
  });

  test('the signing key must be P-256', () => {
    assert.throws(() => new AccessTokenSigner(generateKeyPairSync('ed25519').privateKey), AccessTokenError);
    assert.throws(() => new AccessTokenSigner(generateKeyPairSync('ec', { namedCurve: 'P-384' }).privateKey), /only P-256 and Ed25519/);
  });
});

describe('jwks', () => {
  test('publishes the public key with its thumbprint as kid', () => {
    const { keys } = signer.jwks();
    assert.equal(keys.length, 1);
    const [published] = keys;
    assert.ok(published);
    assert.equal(published.kid, jwkThumbprint(parsePublicJwk({ kty: published.kty, crv: published.crv, x: published.x, y: published.y })));
    assert.equal(published.alg, 'ES256');
    assert.equal(published.use, 'sig');
    assert.equal('d' in published, false);
    assert.deepEqual(Object.keys(published).sort(), ['alg', 'crv', 'kid', 'kty', 'use', 'x', 'y']);
  });
});

describe('verifyAccessToken', () => {
  const expectations = { issuer, audience, now };

  test('accepts its own token, and again from the cache', () => {
    const token = issue();
    assert.equal(signer.verifyAccessToken(token, expectations).cnf.jkt, jkt);
    assert.equal(signer.verifyAccessToken(token, expectations).client_id, 'shop-frontend');
  });

  test('accepts a token from another replica holding the same key', () => {
    const replica = new AccessTokenSigner(key);
    assert.equal(replica.verifyAccessToken(issue(), expectations).sub, 'shop-frontend');
  });

  test('refuses wrong issuer or audience, also for a cached token', () => {
    const token = issue();
    signer.verifyAccessToken(token, expectations);
    refused(() => signer.verifyAccessToken(token, { ...expectations, issuer: 'https://evil.example' }), /issuer/);
    refused(() => signer.verifyAccessToken(token, { ...expectations, audience: 'https://other.example' }), /audience/);
    refused(() => signer.verifyAccessToken(issue({ issuer: 'https://evil.example' }), expectations), /issuer/);
  });

  test('refuses an expired token, also once cached, and one issued in the future', () => {
    const token = issue({ lifetimeSeconds: 60 });
    signer.verifyAccessToken(token, expectations);
    signer.verifyAccessToken(token, { ...expectations, now: now + 64_000 });
    refused(() => signer.verifyAccessToken(token, { ...expectations, now: now + 65_000 }), /expired/);
    refused(() => signer.verifyAccessToken(token, { ...expectations, now: now + 61_000, leewaySeconds: 0 }), /expired/);
    refused(() => signer.verifyAccessToken(issue({ now: now + 10_000 }), expectations), /issued in the future/);
  });

  test('refuses a token of another key: foreign kid, or our kid with a foreign signature', () => {
    const foreign = AccessTokenSigner.generate();
    const token = foreign.issueAccessToken({ clientId: 'c', scope: 'orders:read', jkt, lifetimeSeconds: 60, issuer, audience, now });
    refused(() => signer.verifyAccessToken(token, expectations), /not signed by this gateway key/);
    const claims = parseCompactJws(issue()).payload;
    const forged = signCompactJws({ typ: 'at+jwt', kid: signer.kid }, claims, generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey);
    refused(() => signer.verifyAccessToken(forged, expectations), /signature is invalid/);
  });

  test('refuses a tampered token', () => {
    const [header, payload, signature] = issue().split('.');
    const claims = JSON.parse(Buffer.from(payload ?? '', 'base64url').toString());
    const widened = base64urlEncode(JSON.stringify({ ...claims, scope: 'orders:read orders:write admin' }));
    refused(() => signer.verifyAccessToken(`${header}.${widened}.${signature}`, expectations), /signature is invalid/);
  });

  test('refuses another typ, another alg, and an unbound token even when our key signed it', () => {
    const claims = parseCompactJws(issue()).payload;
    refused(() => signer.verifyAccessToken(signCompactJws({ typ: 'dpop+jwt', kid: signer.kid }, claims, key), expectations), /typ must be "at\+jwt"/);
    refused(() => signer.verifyAccessToken(signCompactJws({ kid: signer.kid }, claims, key), expectations), /typ must be "at\+jwt"/);
    assert.equal(signer.verifyAccessToken(signCompactJws({ typ: 'application/at+jwt', kid: signer.kid }, claims, key), expectations).sub, 'shop-frontend');
    const ed = generateKeyPairSync('ed25519').privateKey;
    refused(() => signer.verifyAccessToken(signCompactJws({ typ: 'at+jwt', kid: signer.kid }, claims, ed), expectations), /not signed by this gateway key/);
    refused(() => signer.verifyAccessToken(signCompactJws({ typ: 'at+jwt', kid: signer.kid }, { ...claims, cnf: undefined }, key), expectations), /not bound to a DPoP key/);
    refused(() => signer.verifyAccessToken(signCompactJws({ typ: 'at+jwt', kid: signer.kid }, { ...claims, cnf: { jkt: 'not-a-thumbprint' } }, key), expectations), /not bound to a DPoP key/);
    refused(() => signer.verifyAccessToken(signCompactJws({ typ: 'at+jwt', kid: signer.kid }, { ...claims, client_id: undefined }, key), expectations), /lacks a required claim/);
    refused(() => signer.verifyAccessToken(signCompactJws({ typ: 'at+jwt', kid: signer.kid }, { ...claims, exp: 'later' }, key), expectations), /iat\/exp missing/);
    refused(() => signer.verifyAccessToken('not.a.token', expectations), /not a valid JWS/);
  });
});

describe('loadOrCreateSigningKey', () => {
  const dirs: string[] = [];
  const tempDir = async () => {
    const dir = await mkdtemp(join(tmpdir(), 'poc-auth-'));
    dirs.push(dir);
    return dir;
  };
  after(async () => {
    await Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true })));
  });

  test('creates a 0600 PEM file once, then loads the same key', async () => {
    const dir = join(await tempDir(), 'pki');
    const created = await loadOrCreateSigningKey(dir);
    const path = join(dir, 'access-token-signing-key.pem');
    assert.equal((await stat(path)).mode & 0o777, 0o600);
    assert.equal((await stat(dir)).mode & 0o777, 0o700);
    assert.match(await readFile(path, 'utf8'), /^-----BEGIN PRIVATE KEY-----/);
    const loaded = await loadOrCreateSigningKey(dir);
    assert.equal(loaded.kid, created.kid);
    assert.equal(loaded.verifyAccessToken(created.issueAccessToken({ clientId: 'c', scope: '', jkt, lifetimeSeconds: 60, issuer, audience, now }), { issuer, audience, now }).sub, 'c');
  });

  test('processes starting together end up with one key', async () => {
    const dir = await tempDir();
    const signers = await Promise.all(Array.from({ length: 5 }, () => loadOrCreateSigningKey(dir)));
    assert.equal(new Set(signers.map((s) => s.kid)).size, 1);
  });

  test('refuses a key file other users can read', async () => {
    const dir = await tempDir();
    await loadOrCreateSigningKey(dir, 'k.pem');
    await chmod(join(dir, 'k.pem'), 0o644);
    await assert.rejects(loadOrCreateSigningKey(dir, 'k.pem'), /accessible to other users \(mode 644\)/);
  });

  test('refuses a file that is not a private key', async () => {
    const dir = await tempDir();
    await writeFile(join(dir, 'k.pem'), 'hello', { mode: 0o600 });
    await assert.rejects(loadOrCreateSigningKey(dir, 'k.pem'), /does not hold a PEM private key/);
  });
});
