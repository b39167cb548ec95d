import assert from 'node:assert/strict';
import { generateKeyPairSync, sign, verify } from 'node:crypto';
import { test } from 'node:test';
import { JwkError, PublicKeyCache, importPublicJwk, jwkThumbprint, parsePublicJwk } from './jwk.js';

// RFC 9449 Figure 2's key, whose thumbprint §6.1 / Figure 9 publishes.
const rfc9449Jwk = {
  kty: 'EC',
  x: 'l8tFrhx-34tV3hRICRDY9zCkDlpBhF42UQUfWVAWBFs',
  y: '9VE4jf_Ok_o64zbTTlcuNJajHmt6v9TDVrU0CdvGRDA',
  crv: 'P-256',
};
// RFC 8037 Appendix A.2 / A.3: an Ed25519 public key and its thumbprint.
const rfc8037Jwk = { kty: 'OKP', crv: 'Ed25519', x: '11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo' };

test('RFC 9449 example key has the published thumbprint', () => {
  assert.equal(jwkThumbprint(parsePublicJwk(rfc9449Jwk)), '0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I');
});

test('RFC 8037 example Ed25519 key has the published thumbprint', () => {
  assert.equal(jwkThumbprint(parsePublicJwk(rfc8037Jwk)), 'kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k');
});

test('the thumbprint ignores optional members and member order', () => {
  const decorated = { y: rfc9449Jwk.y, crv: 'P-256', kid: 'mine', use: 'sig', alg: 'ES256', key_ops: ['verify'], ext: true, x: rfc9449Jwk.x, kty: 'EC' };
  const parsed = parsePublicJwk(decorated);
  assert.deepEqual(parsed, { ...rfc9449Jwk, kid: 'mine' });
  assert.equal(jwkThumbprint(parsed), '0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I');
});

test('a private JWK is refused with a clear error', () => {
  const ecPrivate = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'jwk' });
  const edPrivate = generateKeyPairSync('ed25519').privateKey.export({ format: 'jwk' });
  for (const jwk of [ecPrivate, edPrivate]) {
    assert.throws(() => parsePublicJwk(jwk), { name: 'JwkError', message: /private member "d".*PUBLIC key only/ });
  }
  assert.throws(() => parsePublicJwk({ kty: 'oct', k: 'c2VjcmV0' }), /private member "k"/);
});

test('every other key type and curve is refused', () => {
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey.export({ format: 'jwk' });
  const cases: Array<[unknown, RegExp]> = [
    [rsa, /key type "RSA" is not accepted/],
    [{ kty: 'oct' }, /key type "oct"/],
    [{ ...rfc9449Jwk, kty: undefined }, /key type missing/],
    [generateKeyPairSync('ec', { namedCurve: 'P-384' }).publicKey.export({ format: 'jwk' }), /EC curve "P-384"/],
    [generateKeyPairSync('ec', { namedCurve: 'secp256k1' }).publicKey.export({ format: 'jwk' }), /EC curve "secp256k1"/],
    [generateKeyPairSync('x25519').publicKey.export({ format: 'jwk' }), /OKP curve "X25519"/],
    [generateKeyPairSync('ed448').publicKey.export({ format: 'jwk' }), /OKP curve "Ed448"/],
  ];
  for (const [jwk, message] of cases) assert.throws(() => parsePublicJwk(jwk), { name: 'JwkError', message });
});

test('malformed members are refused', () => {
  const cases: Array<[unknown, RegExp]> = [
    [null, /not a JSON object/],
    [[rfc9449Jwk], /not a JSON object/],
    ['{"kty":"EC"}', /not a JSON object/],
    [{ ...rfc9449Jwk, x: undefined }, /"x" is missing/],
    [{ ...rfc9449Jwk, y: 42 }, /"y" is missing or not a string/],
    [{ ...rfc9449Jwk, x: `${rfc9449Jwk.x}A` }, /"x" is not base64url|must encode 32 bytes/],
    [{ ...rfc9449Jwk, x: rfc9449Jwk.x.slice(0, 40) }, /must encode 32 bytes/],
    [{ ...rfc9449Jwk, x: `${rfc9449Jwk.x}=` }, /"x" is not base64url/],
    [{ ...rfc8037Jwk, y: rfc9449Jwk.y }, /no "y" member/],
    [{ ...rfc9449Jwk, alg: 'EdDSA' }, /"alg" "EdDSA" does not fit/],
    [{ ...rfc8037Jwk, alg: 'ES256' }, /"alg" "ES256" does not fit/],
    [{ ...rfc9449Jwk, use: 'enc' }, /"use" must be "sig"/],
    [{ ...rfc9449Jwk, key_ops: ['sign'] }, /"key_ops" may only contain "verify"/],
    [{ ...rfc9449Jwk, kid: '' }, /"kid" must be a string/],
  ];
  for (const [jwk, message] of cases) assert.throws(() => parsePublicJwk(jwk), { name: 'JwkError', message }, JSON.stringify(jwk));
});

test('a point that is not on the curve is refused at import', () => {
  const offCurve = { ...rfc9449Jwk, y: rfc9449Jwk.x };
  assert.doesNotThrow(() => parsePublicJwk(offCurve));
  assert.throws(() => importPublicJwk(offCurve, new PublicKeyCache()), { name: 'JwkError', message: /not on the curve/ });
});

test('imported keys verify signatures and are cached by thumbprint, within a bound', () => {
  const cache = new PublicKeyCache(2);
  const pairs = [generateKeyPairSync('ec', { namedCurve: 'P-256' }), generateKeyPairSync('ed25519'), generateKeyPairSync('ed25519')];
  const first = cache.import(pairs[0]!.publicKey.export({ format: 'jwk' }));
  assert.equal(first.alg, 'ES256');
  assert.equal(first.thumbprint, jwkThumbprint(first.jwk));
  const again = cache.import({ ...pairs[0]!.publicKey.export({ format: 'jwk' }), kid: 'other-kid' });
  assert.equal(again.key, first.key, 'the same KeyObject is reused');
  const data = Buffer.from('data');
  assert.equal(verify('sha256', data, { key: first.key, dsaEncoding: 'ieee-p1363' }, sign('sha256', data, { key: pairs[0]!.privateKey, dsaEncoding: 'ieee-p1363' })), true);
  const ed = cache.import(pairs[1]!.publicKey.export({ format: 'jwk' }));
  assert.equal(ed.alg, 'EdDSA');
  assert.equal(verify(null, data, ed.key, sign(null, data, pairs[1]!.privateKey)), true);
  cache.import(pairs[2]!.publicKey.export({ format: 'jwk' }));
  assert.equal(cache.size, 2);
  assert.notEqual(cache.import(pairs[0]!.publicKey.export({ format: 'jwk' })).key, first.key, 'the oldest key was evicted');
});

test('JwkError is an Error with its own name', () => {
  const error = new JwkError('x');
  assert.ok(error instanceof Error);
  assert.equal(error.name, 'JwkError');
});
