import assert from 'node:assert/strict';
import { createHmac, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { describe, test } from 'node:test';
import { DpopError, accessTokenHash, createDpopProof, normalizeHtu, verifyDpopProof, type VerifyDpopOptions } from './dpop.js';
import { jwkThumbprint, parsePublicJwk, type PublicJwk } from './jwk.js';
import { base64urlEncode, signCompactJws } from '@msa-poc/platform/jws';
import { MemoryNonceStore } from './nonces.js';
import { MemoryReplayGuard, type ReplayGuard } from './replay.js';

// RFC 9449 Figure 2 (token request) and the resource request proof of §7.1, both by the same key.
const rfcTokenProof = 'eyJ0eXAiOiJkcG9wK2p3dCIsImFsZyI6IkVTMjU2IiwiandrIjp7Imt0eSI6IkVDIiwieCI6Imw4dEZyaHgtMzR0VjNoUklDUkRZOXpDa0RscEJoRjQyVVFVZldWQVdCRnMiLCJ5IjoiOVZFNGpmX09rX282NHpiVFRsY3VOSmFqSG10NnY5VERWclUwQ2R2R1JEQSIsImNydiI6IlAtMjU2In19.eyJqdGkiOiItQndDM0VTYzZhY2MybFRjIiwiaHRtIjoiUE9TVCIsImh0dSI6Imh0dHBzOi8vc2VydmVyLmV4YW1wbGUuY29tL3Rva2VuIiwiaWF0IjoxNTYyMjYyNjE2fQ.2-GxA6T8lP4vfrg8v-FdWP0A0zdrj8igiMLvqRMUvwnQg4PtFLbdLXiOSsX0x7NVY-FNyJK70nfbV37xRZT3Lg';
const rfcResourceProof = 'eyJ0eXAiOiJkcG9wK2p3dCIsImFsZyI6IkVTMjU2IiwiandrIjp7Imt0eSI6IkVDIiwieCI6Imw4dEZyaHgtMzR0VjNoUklDUkRZOXpDa0RscEJoRjQyVVFVZldWQVdCRnMiLCJ5IjoiOVZFNGpmX09rX282NHpiVFRsY3VOSmFqSG10NnY5VERWclUwQ2R2R1JEQSIsImNydiI6IlAtMjU2In19.eyJqdGkiOiJlMWozVl9iS2ljOC1MQUVCIiwiaHRtIjoiR0VUIiwiaHR1IjoiaHR0cHM6Ly9yZXNvdXJjZS5leGFtcGxlLm9yZy9wcm90ZWN0ZWRyZXNvdXJjZSIsImlhdCI6MTU2MjI2MjYxOCwiYXRoIjoiZlVIeU8ycjJaM0RaNTNFc05yV0JiMHhXWG9hTnk1OUlpS0NBcWtzbVFFbyJ9.2oW9RP35yRqzhrtNP86L-Ey71EOptxRimPPToA1plemAgR6pxHF8y6-yqyVnmcw6Fy1dqd-jfxSYoMxhAJpLjA';
const rfcAccessToken = 'Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU';
const rfcJkt = '0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I';

interface TestKey { privateKey: KeyObject; publicJwk: PublicJwk; jkt: string }
function testKey(kind: 'ec' | 'ed25519' = 'ec'): TestKey {
  const pair = kind === 'ec' ? generateKeyPairSync('ec', { namedCurve: 'P-256' }) : generateKeyPairSync('ed25519');
  const publicJwk = parsePublicJwk(pair.publicKey.export({ format: 'jwk' }));
  return { privateKey: pair.privateKey, publicJwk, jkt: jwkThumbprint(publicJwk) };
}

const now = 1_700_000_000_000;
const url = 'https://api.example.com/v1/orders';
const key = testKey();

function proof(overrides: Partial<Parameters<typeof createDpopProof>[0]> = {}): string {
  return createDpopProof({ ...key, method: 'GET', url, now, ...overrides });
}

function options(headerValues: string[] | undefined, extra: Partial<VerifyDpopOptions> = {}): VerifyDpopOptions {
  return { headerValues, method: 'GET', url, now, replay: new MemoryReplayGuard(), ...extra };
}

async function refused(promise: Promise<unknown>, code: DpopError['code'], description: RegExp): Promise<DpopError> {
  let caught: unknown;
  await assert.rejects(promise, (error) => {
    caught = error;
    return true;
  });
  assert.ok(caught instanceof DpopError, `expected a DpopError, got ${String(caught)}`);
  assert.equal(caught.code, code);
  assert.match(caught.description, description);
  return caught;
}

describe('RFC 9449 examples', () => {
  test('the token request proof (Figure 2) verifies and yields the published jkt', async () => {
    const result = await verifyDpopProof({
      headerValues: [rfcTokenProof], method: 'POST', url: 'https://server.example.com/token', now: 1562262616_000, replay: new MemoryReplayGuard(),
    });
    assert.equal(result.jkt, rfcJkt);
    assert.equal(result.jti, '-BwC3ESc6acc2lTc');
    assert.equal(result.iat, 1562262616);
  });

  test('the resource request proof verifies with the example access token and its ath', async () => {
    assert.equal(accessTokenHash(rfcAccessToken), 'fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo');
    const result = await verifyDpopProof({
      headerValues: [rfcResourceProof], method: 'GET', url: 'https://resource.example.org/protectedresource', accessToken: rfcAccessToken,
      expectedJkt: rfcJkt, now: 1562262618_000, replay: new MemoryReplayGuard(),
    });
    assert.equal(result.jkt, rfcJkt);
    await refused(verifyDpopProof({
      headerValues: [rfcResourceProof], method: 'GET', url: 'https://resource.example.org/protectedresource', accessToken: `${rfcAccessToken}x`,
      now: 1562262618_000, replay: new MemoryReplayGuard(),
    }), 'invalid_dpop_proof', /ath does not match/);
  });
});

describe('htu normalisation', () => {
  test('scheme and host lower-cased, default port dropped, query and fragment ignored', () => {
    assert.equal(normalizeHtu('HTTPS://API.Example.COM:443/v1/orders?customerId=1#top'), 'https://api.example.com/v1/orders');
    assert.equal(normalizeHtu('http://api.example.com:80/x'), 'http://api.example.com/x');
    assert.equal(normalizeHtu('https://127.0.0.1:8443/v1/products'), 'https://127.0.0.1:8443/v1/products');
    assert.equal(normalizeHtu('https://api.example.com'), 'https://api.example.com/');
    assert.equal(normalizeHtu('https://api.example.com/a/./b/../c'), 'https://api.example.com/a/c');
  });

  test('percent-encodings made canonical, path case kept', () => {
    assert.equal(normalizeHtu('https://a.example/%7euser/%2f/%41'), 'https://a.example/~user/%2F/A');
    assert.notEqual(normalizeHtu('https://a.example/Orders'), normalizeHtu('https://a.example/orders'));
  });

  test('not comparable: relative, other schemes, user info', () => {
    for (const value of ['/v1/orders', 'ftp://a.example/x', 'https://user:pw@a.example/x', 'https://user@a.example/x', 'https://:pw@a.example/x', 'not a url']) {
      assert.equal(normalizeHtu(value), undefined, value);
    }
  });
});

describe('verifyDpopProof accepts', () => {
  test('a fresh ES256 proof, returning the key thumbprint', async () => {
    const result = await verifyDpopProof(options([proof()]));
    assert.equal(result.jkt, key.jkt);
    assert.deepEqual(result.jwk, { ...key.publicJwk });
  });

  test('a fresh EdDSA proof', async () => {
    const edKey = testKey('ed25519');
    const result = await verifyDpopProof(options([createDpopProof({ ...edKey, method: 'GET', url, now })]));
    assert.equal(result.jkt, edKey.jkt);
  });

  test('a proof whose htu differs only in normalisation', async () => {
    const value = proof({ claims: { htu: 'HTTPS://API.EXAMPLE.COM:443/v1/orders' } });
    await verifyDpopProof(options([value], { url: 'https://api.example.com/v1/orders?customerId=c1' }));
  });

  test('iat at the edge of the window, either way', async () => {
    await verifyDpopProof(options([proof({ now: now - 60_000 })]));
    await verifyDpopProof(options([proof({ now: now + 60_000 })]));
  });
});

describe('verifyDpopProof refuses (RFC 9449 §4.3, one check each)', () => {
  test('no DPoP header, or more than one', async () => {
    await refused(verifyDpopProof(options(undefined)), 'invalid_dpop_proof', /missing/);
    await refused(verifyDpopProof(options([])), 'invalid_dpop_proof', /missing/);
    await refused(verifyDpopProof(options([proof(), proof()])), 'invalid_dpop_proof', /more than one DPoP header/);
    await refused(verifyDpopProof(options([`${proof()}, ${proof()}`])), 'invalid_dpop_proof', /more than one DPoP proof/);
  });

  test('something that is not a JWT', async () => {
    await refused(verifyDpopProof(options(['hello'])), 'invalid_dpop_proof', /not a valid JWS/);
    await refused(verifyDpopProof(options([`${proof()}.extra`])), 'invalid_dpop_proof', /not a valid JWS/);
    const long = proof({ claims: { pad: 'x'.repeat(4000) } });
    await refused(verifyDpopProof(options([long])), 'invalid_dpop_proof', /longer than 4096/);
  });

  test('typ other than dpop+jwt', async () => {
    await refused(verifyDpopProof(options([proof({ header: { typ: 'JWT' } })])), 'invalid_dpop_proof', /typ must be "dpop\+jwt"/);
    await refused(verifyDpopProof(options([proof({ header: { typ: undefined } })])), 'invalid_dpop_proof', /typ/);
  });

  test('alg none, HMAC, or any algorithm outside ES256/EdDSA', async () => {
    const b64 = (value: unknown) => base64urlEncode(JSON.stringify(value));
    const payload = b64({ jti: 'j', htm: 'GET', htu: url, iat: now / 1000 });
    const none = `${b64({ typ: 'dpop+jwt', alg: 'none', jwk: key.publicJwk })}.${payload}.`;
    await refused(verifyDpopProof(options([none])), 'invalid_dpop_proof', /not a valid JWS/);
    const hsInput = `${b64({ typ: 'dpop+jwt', alg: 'HS256', jwk: key.publicJwk })}.${payload}`;
    const hs = `${hsInput}.${createHmac('sha256', key.publicJwk.x).update(hsInput).digest('base64url')}`;
    await refused(verifyDpopProof(options([hs])), 'invalid_dpop_proof', /alg "HS256" is not accepted/);
    const rs = `${b64({ typ: 'dpop+jwt', alg: 'RS256', jwk: key.publicJwk })}.${payload}.AAAA`;
    await refused(verifyDpopProof(options([rs])), 'invalid_dpop_proof', /alg "RS256" is not accepted/);
  });

  test('jwk missing, private, or of a refused kind', async () => {
    await refused(verifyDpopProof(options([proof({ header: { jwk: undefined } })])), 'invalid_dpop_proof', /jwk: JWK is not a JSON object/);
    const privateJwk = key.privateKey.export({ format: 'jwk' });
    await refused(verifyDpopProof(options([proof({ header: { jwk: privateJwk } })])), 'invalid_dpop_proof', /private member "d"/);
    const p384 = generateKeyPairSync('ec', { namedCurve: 'P-384' }).publicKey.export({ format: 'jwk' });
    await refused(verifyDpopProof(options([proof({ header: { jwk: p384 } })])), 'invalid_dpop_proof', /EC curve "P-384"/);
  });

  test('alg that does not fit the jwk', async () => {
    const edKey = testKey('ed25519');
    const mismatched = createDpopProof({ privateKey: edKey.privateKey, publicJwk: key.publicJwk, method: 'GET', url, now });
    await refused(verifyDpopProof(options([mismatched])), 'invalid_dpop_proof', /alg EdDSA does not fit its P-256 jwk/);
  });

  test('a signature not made by the jwk in the header', async () => {
    const other = testKey();
    const forged = createDpopProof({ privateKey: other.privateKey, publicJwk: key.publicJwk, method: 'GET', url, now });
    await refused(verifyDpopProof(options([forged])), 'invalid_dpop_proof', /signature is invalid/);
    const [header, , signature] = proof().split('.');
    const alteredPayload = base64urlEncode(JSON.stringify({ jti: 'j2', htm: 'GET', htu: url, iat: now / 1000 }));
    await refused(verifyDpopProof(options([`${header}.${alteredPayload}.${signature}`])), 'invalid_dpop_proof', /signature is invalid/);
  });

  test('htm that is not the request method', async () => {
    await refused(verifyDpopProof(options([proof({ method: 'POST' })])), 'invalid_dpop_proof', /htm does not match/);
    await refused(verifyDpopProof(options([proof({ method: 'get' })])), 'invalid_dpop_proof', /htm does not match/);
    await refused(verifyDpopProof(options([proof({ claims: { htm: undefined } })])), 'invalid_dpop_proof', /htm/);
  });

  test('htu that is not the request URL', async () => {
    for (const htu of ['https://api.example.com/v1/orders/1', 'https://evil.example.com/v1/orders', 'http://api.example.com/v1/orders', 'https://api.example.com:8443/v1/orders', '/v1/orders']) {
      await refused(verifyDpopProof(options([proof({ claims: { htu } })])), 'invalid_dpop_proof', /htu does not match/);
    }
    await refused(verifyDpopProof(options([proof({ claims: { htu: undefined } })])), 'invalid_dpop_proof', /htu missing/);
  });

  test('iat outside the window, missing or not a number', async () => {
    await refused(verifyDpopProof(options([proof({ now: now - 61_000 })])), 'invalid_dpop_proof', /iat is more than 60 s away/);
    await refused(verifyDpopProof(options([proof({ now: now + 61_000 })])), 'invalid_dpop_proof', /iat is more than 60 s away/);
    await refused(verifyDpopProof(options([proof({ now: now - 11_000 })], { skewSeconds: 10 })), 'invalid_dpop_proof', /more than 10 s/);
    await refused(verifyDpopProof(options([proof({ claims: { iat: undefined } })])), 'invalid_dpop_proof', /iat missing/);
    await refused(verifyDpopProof(options([proof({ claims: { iat: String(now / 1000) } })])), 'invalid_dpop_proof', /iat missing or not a number/);
  });

  test('jti missing, empty or oversized', async () => {
    await refused(verifyDpopProof(options([proof({ claims: { jti: undefined } })])), 'invalid_dpop_proof', /jti must be/);
    await refused(verifyDpopProof(options([proof({ jti: '' })])), 'invalid_dpop_proof', /jti must be/);
    await refused(verifyDpopProof(options([proof({ jti: 'j'.repeat(257) })])), 'invalid_dpop_proof', /jti must be/);
  });

  test('a jti seen before, within the window', async () => {
    const replay = new MemoryReplayGuard();
    const value = proof();
    await verifyDpopProof(options([value], { replay }));
    await refused(verifyDpopProof(options([value], { replay })), 'invalid_dpop_proof', /already used/);
    await verifyDpopProof(options([proof({ jti: 'fixed' })], { replay }));
    const sameJtiLater = proof({ jti: 'fixed', now: now + 5_000 });
    await refused(verifyDpopProof(options([sameJtiLater], { replay, now: now + 5_000 })), 'invalid_dpop_proof', /already used/);
  });

  test('the replay key is per key and lives for the whole window', async () => {
    const seen: Array<[string, number]> = [];
    const recorder: ReplayGuard = { firstUse: async (k, ttl) => { seen.push([k, ttl]); return true; } };
    await verifyDpopProof(options([proof({ jti: 'same' })], { replay: recorder }));
    const other = testKey();
    await verifyDpopProof(options([createDpopProof({ ...other, method: 'GET', url, now, jti: 'same' })], { replay: recorder, skewSeconds: 30 }));
    assert.deepEqual(seen, [[`dpop:${key.jkt}:same`, 120_000], [`dpop:${other.jkt}:same`, 60_000]]);
  });

  test('ath missing or wrong when an access token is presented', async () => {
    await refused(verifyDpopProof(options([proof()], { accessToken: 'token-1' })), 'invalid_dpop_proof', /ath does not match/);
    await refused(verifyDpopProof(options([proof({ accessToken: 'token-2' })], { accessToken: 'token-1' })), 'invalid_dpop_proof', /ath does not match/);
    await verifyDpopProof(options([proof({ accessToken: 'token-1' })], { accessToken: 'token-1' }));
  });

  test('a proof key other than the one the token is bound to', async () => {
    const other = testKey();
    await refused(verifyDpopProof(options([proof()], { expectedJkt: other.jkt })), 'invalid_dpop_proof', /not the key the access token is bound to/);
    await verifyDpopProof(options([proof()], { expectedJkt: key.jkt }));
  });

  test('a missing, unknown or expired nonce when one is required (§8, §9)', async () => {
    let clock = now;
    const nonces = new MemoryNonceStore({ ttlMs: 300_000, rotateMs: 60_000, now: () => clock });
    const missing = await refused(verifyDpopProof(options([proof()], { nonces, requireNonce: true })), 'use_dpop_nonce', /nonce is required/);
    assert.match(missing.nonce ?? '', /^[A-Za-z0-9_-]{43}$/, 'the error carries a nonce to send');
    assert.equal(await nonces.isValid(missing.nonce ?? ''), true);
    const unknown = 'A'.repeat(43);
    await refused(verifyDpopProof(options([proof({ nonce: unknown })], { nonces, requireNonce: true })), 'use_dpop_nonce', /unknown or expired/);
    await verifyDpopProof(options([proof({ nonce: missing.nonce ?? '' })], { nonces, requireNonce: true }));
    clock += 300_000;
    await refused(verifyDpopProof(options([proof({ nonce: missing.nonce ?? '', now: clock })], { nonces, requireNonce: true, now: clock })), 'use_dpop_nonce', /unknown or expired/);
    const storeless = await refused(verifyDpopProof(options([proof()], { requireNonce: true })), 'use_dpop_nonce', /nonce is required/);
    assert.equal(storeless.nonce, undefined);
  });

  test('a proof refused for its nonce has not spent its jti', async () => {
    const replay = new MemoryReplayGuard();
    const nonces = new MemoryNonceStore();
    await refused(verifyDpopProof(options([proof({ jti: 'keep' })], { replay, nonces, requireNonce: true })), 'use_dpop_nonce', /required/);
    await verifyDpopProof(options([proof({ jti: 'keep', nonce: await nonces.issue() })], { replay, nonces, requireNonce: true }));
  });

  test('a signature check happens before any state is touched', async () => {
    const other = testKey();
    let touched = false;
    const replay: ReplayGuard = { firstUse: async () => { touched = true; return true; } };
    const forged = signCompactJws({ typ: 'dpop+jwt', jwk: key.publicJwk }, { jti: 'j', htm: 'GET', htu: url, iat: now / 1000 }, other.privateKey);
    await refused(verifyDpopProof(options([forged], { replay })), 'invalid_dpop_proof', /signature is invalid/);
    assert.equal(touched, false);
  });
});
