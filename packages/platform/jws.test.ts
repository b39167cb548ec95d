import assert from 'node:assert/strict';
import { createHmac, createPublicKey, generateKeyPairSync, sign } from 'node:crypto';
import { test } from 'node:test';
import {
  JwsError, base64urlDecode, base64urlEncode, parseCompactJws, signCompactJws, verifyJws, verifySignature,
} from './jws.js';

// RFC 9449 Figure 2: a DPoP proof for the token request, signed by the key of Figure 2's header.
const rfcProof = 'eyJ0eXAiOiJkcG9wK2p3dCIsImFsZyI6IkVTMjU2IiwiandrIjp7Imt0eSI6IkVDIiwieCI6Imw4dEZyaHgtMzR0VjNoUklDUkRZOXpDa0RscEJoRjQyVVFVZldWQVdCRnMiLCJ5IjoiOVZFNGpmX09rX282NHpiVFRsY3VOSmFqSG10NnY5VERWclUwQ2R2R1JEQSIsImNydiI6IlAtMjU2In19.eyJqdGkiOiItQndDM0VTYzZhY2MybFRjIiwiaHRtIjoiUE9TVCIsImh0dSI6Imh0dHBzOi8vc2VydmVyLmV4YW1wbGUuY29tL3Rva2VuIiwiaWF0IjoxNTYyMjYyNjE2fQ.2-GxA6T8lP4vfrg8v-FdWP0A0zdrj8igiMLvqRMUvwnQg4PtFLbdLXiOSsX0x7NVY-FNyJK70nfbV37xRZT3Lg';

const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const ed = generateKeyPairSync('ed25519');
const b64 = (value: unknown) => base64urlEncode(JSON.stringify(value));

test('base64url decoding is strict', () => {
  assert.deepEqual(base64urlDecode('QQ'), Buffer.from('A'));
  assert.deepEqual(base64urlDecode('-_8'), Buffer.from([0xfb, 0xff]));
  for (const bad of ['', 'QQ==', 'Q+8', 'Q/8', 'Q Q', 'Q', 'QR', 'QUF']) {
    assert.throws(() => base64urlDecode(bad), JwsError, bad);
  }
});

test('parses and verifies the RFC 9449 example proof', () => {
  const jws = parseCompactJws(rfcProof);
  assert.equal(jws.alg, 'ES256');
  assert.equal(jws.header.typ, 'dpop+jwt');
  assert.equal(jws.payload.htu, 'https://server.example.com/token');
  const key = createPublicKey({ key: jws.header.jwk as never, format: 'jwk' });
  assert.equal(verifyJws(jws, key), true);
  const tampered = parseCompactJws(rfcProof.replace('.eyJqdGkiOiItQndDM0VTYzZhY2MybFRjIiwiaHRtIjoiUE9TVC', '.eyJqdGkiOiItQndDM0VTYzZhY2MybFRjIiwiaHRtIjoiR0VUIC'));
  assert.equal(verifyJws(tampered, key), false);
});

test('signs and verifies ES256 and EdDSA', () => {
  for (const pair of [ec, ed]) {
    const token = signCompactJws({ typ: 'x' }, { hello: 'world' }, pair.privateKey);
    const jws = parseCompactJws(token);
    assert.equal(jws.alg, pair === ec ? 'ES256' : 'EdDSA');
    assert.equal(jws.signature.length, 64);
    assert.equal(verifyJws(jws, pair.publicKey), true);
    const other = pair === ec ? generateKeyPairSync('ec', { namedCurve: 'P-256' }) : generateKeyPairSync('ed25519');
    assert.equal(verifyJws(jws, other.publicKey), false, 'another key of the same kind');
  }
});

test('a signature is refused under a key of the other algorithm', () => {
  const jws = parseCompactJws(signCompactJws({}, { a: 1 }, ec.privateKey));
  assert.equal(verifySignature('EdDSA', ed.publicKey, jws.signingInput, jws.signature), false);
  assert.equal(verifySignature('ES256', ec.privateKey, jws.signingInput, jws.signature), false, 'a private key object is not a verification key');
});

test('a DER-encoded ES256 signature is refused (JWA wants raw R||S)', () => {
  const input = `${b64({ alg: 'ES256' })}.${b64({ a: 1 })}`;
  const der = sign('sha256', Buffer.from(input), ec.privateKey);
  const jws = parseCompactJws(`${input}.${base64urlEncode(der)}`);
  assert.equal(verifyJws(jws, ec.publicKey), false);
});

test('refuses none, HMAC and every algorithm outside ES256/EdDSA', () => {
  const payload = b64({ a: 1 });
  const none = `${b64({ alg: 'none' })}.${payload}.`;
  assert.throws(() => parseCompactJws(none), JwsError);
  assert.throws(() => parseCompactJws(`${b64({ alg: 'none' })}.${payload}.AAAA`), /alg "none" is not accepted/);
  const hsInput = `${b64({ alg: 'HS256' })}.${payload}`;
  const hs = `${hsInput}.${createHmac('sha256', 'secret').update(hsInput).digest('base64url')}`;
  assert.throws(() => parseCompactJws(hs), /alg "HS256" is not accepted/);
  for (const alg of ['RS256', 'ES384', 'PS256', 'es256', undefined]) {
    assert.throws(() => parseCompactJws(`${b64({ alg })}.${payload}.AAAA`), /is not accepted/, String(alg));
  }
});

test('refuses malformed structure', () => {
  const header = b64({ alg: 'ES256' });
  const payload = b64({ a: 1 });
  const cases: Array<[string, unknown]> = [
    ['two parts', `${header}.${payload}`],
    ['four parts', `${header}.${payload}.AAAA.AAAA`],
    ['empty signature', `${header}.${payload}.`],
    ['array payload', `${header}.${b64([1])}.AAAA`],
    ['null header', `${b64(null)}.${payload}.AAAA`],
    ['not JSON', `${header}.${base64urlEncode('{nope')}.AAAA`],
    ['invalid UTF-8', `${header}.${base64urlEncode(Buffer.concat([Buffer.from('{"a":"'), Buffer.from([0xff]), Buffer.from('"}')]))}.AAAA`],
    ['padding', `${header}.${payload}.AAAA==`],
    ['crit', `${b64({ alg: 'ES256', crit: ['b64'], b64: false })}.${payload}.AAAA`],
    ['not a string', 42],
  ];
  for (const [name, token] of cases) assert.throws(() => parseCompactJws(token), JwsError, name);
  const long = `${header}.${base64urlEncode(JSON.stringify({ pad: 'x'.repeat(9000) }))}.AAAA`;
  assert.throws(() => parseCompactJws(long), /longer than 8192/);
  assert.throws(() => parseCompactJws(rfcProof, 100), /longer than 100/);
});

test('signing labels the signature with the key\'s own algorithm only', () => {
  assert.throws(() => signCompactJws({ alg: 'EdDSA' }, {}, ec.privateKey), /does not match/);
  assert.throws(() => signCompactJws({}, {}, ec.publicKey), /private key is required/);
  const p384 = generateKeyPairSync('ec', { namedCurve: 'P-384' });
  assert.throws(() => signCompactJws({}, {}, p384.privateKey), /only P-256 and Ed25519/);
  const token = signCompactJws({ alg: undefined, kid: 'k' }, {}, ed.privateKey);
  assert.deepEqual(parseCompactJws(token).header, { alg: 'EdDSA', kid: 'k' });
});
