import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, sign } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, stat, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { contentDigest, ensureSigningKey, loadSigningKey, loadVerifyKey, signatureBase, signRequest, verifyRequest } from './signatures.js';
import type { HeaderValue, VerifyRequestInput, VerifyResult } from './signatures.js';

// RFC 9421 Appendix B.1.4: test-key-ed25519.
const RFC_PRIVATE_PEM = `-----BEGIN PRIVATE KEY-----
MC4CAQAwBQYDK2VwBCIEIJ+DYvh6SEqVTm50DFtMDoQikTmiCqirVv9mWG9qfSnF
-----END PRIVATE KEY-----`;
const RFC_PUBLIC_PEM = `-----BEGIN PUBLIC KEY-----
MCowBQYDK2VwAyEAJrQLj5P/89iXES9+vFgrIy29clF9CC/oPPsw3c5D0bs=
-----END PUBLIC KEY-----`;

// RFC 9421 Appendix B.2: test-request, and B.2.6: its Ed25519 signature (RFC 8792 wrapping undone).
const RFC_URL = 'https://example.com/foo?param=Value&Pet=dog';
const RFC_BODY = '{"hello": "world"}';
const RFC_HEADERS: Record<string, string> = {
  host: 'example.com',
  date: 'Tue, 20 Apr 2021 02:07:55 GMT',
  'content-type': 'application/json',
  'content-digest': 'sha-512=:WZDPaVn/7XgHaAy8pmojAkGWoRx2UFChF41A2svX+TaPm+AbwAgBWnrIiYllu7BNNyealdVLvRwEmTHWXvJwew==:',
  'content-length': '18',
};
const RFC_SIGNATURE_INPUT = 'sig-b26=("date" "@method" "@path" "@authority" "content-type" "content-length");created=1618884473;keyid="test-key-ed25519"';
const RFC_SIGNATURE = 'sig-b26=:wqcAqbmYJ2ji2glfAMaRy4gruYYnx2nEFN2HN6jrnDnQCK1u02Gb04v9EDgwUPiu4A0w6vuQv5lIp5WPpBKRCw==:';
const RFC_BASE = [
  '"date": Tue, 20 Apr 2021 02:07:55 GMT',
  '"@method": POST',
  '"@path": /foo',
  '"@authority": example.com',
  '"content-type": application/json',
  '"content-length": 18',
  '"@signature-params": ("date" "@method" "@path" "@authority" "content-type" "content-length");created=1618884473;keyid="test-key-ed25519"',
].join('\n');
const RFC_NOW = new Date('2021-04-20T02:07:55Z');

const partner = generateKeyPairSync('ed25519');
const stranger = generateKeyPairSync('ed25519');
const KEY_ID = 'partner-2025';
const URL_ = 'https://127.0.0.1:8443/v1/partner/callbacks';
const BODY = JSON.stringify({ orderId: 'ord_1', status: 'shipped' });
const NOW = new Date('2025-06-01T12:00:00Z');
const resolveKey = (keyId: string): KeyObject | undefined => (keyId === KEY_ID ? partner.publicKey : undefined);

function signed(overrides: Partial<Parameters<typeof signRequest>[0]> = {}): Record<string, string> {
  const headers = { 'content-type': 'application/json', ...overrides.headers };
  const added = signRequest({ method: 'POST', url: URL_, headers, body: BODY, keyId: KEY_ID, privateKey: partner.privateKey, now: NOW, ...overrides });
  return lower({ ...headers, ...added });
}

function lower(headers: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v]));
}

function check(headers: Record<string, HeaderValue>, overrides: Partial<VerifyRequestInput> = {}): VerifyResult {
  return verifyRequest({ method: 'POST', url: URL_, headers, body: BODY, resolveKey, now: NOW, ...overrides });
}

function assertRejected(result: VerifyResult, reason: RegExp): void {
  assert.equal(result.ok, false, `expected a rejection matching ${reason}`);
  if (!result.ok) assert.match(result.reason, reason);
}

/** Signs an arbitrary Signature-Input with the partner key, to build requests our signer would never make. */
function forge(signatureInputMember: string, headers: Record<string, string>, options: { method?: string; url?: string; key?: KeyObject; label?: string } = {}): Record<string, string> {
  const label = options.label ?? 'sig1';
  const signatureInput = `${label}=${signatureInputMember}`;
  const base = signatureBase({ method: options.method ?? 'POST', url: options.url ?? URL_, headers, signatureInput, label });
  assert.ok(base.ok, base.ok ? '' : base.reason);
  const signature = sign(null, Buffer.from(base.base), options.key ?? partner.privateKey).toString('base64');
  return { ...headers, 'signature-input': signatureInput, signature: `${label}=:${signature}:` };
}

const created = Math.floor(NOW.getTime() / 1000);
const bodyHeaders = { 'content-type': 'application/json', 'content-digest': contentDigest(BODY) };

describe('contentDigest', () => {
  test('matches the sha-256 of the RFC test body, for strings and bytes alike', () => {
    assert.equal(contentDigest(RFC_BODY), 'sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:');
    assert.equal(contentDigest(new TextEncoder().encode(RFC_BODY)), contentDigest(RFC_BODY));
    assert.equal(contentDigest(''), 'sha-256=:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=:');
  });

  test('hashes only the bytes a Uint8Array views, not its whole buffer', () => {
    const backing = Buffer.from(`xx${RFC_BODY}yy`);
    assert.equal(contentDigest(backing.subarray(2, 2 + RFC_BODY.length)), contentDigest(RFC_BODY));
  });
});

describe('RFC 9421 Appendix B.2.6 (Ed25519)', () => {
  test('the test key pair is consistent and the test data is the RFC test-request', () => {
    const derived = createPublicKey(createPrivateKey(RFC_PRIVATE_PEM)).export({ type: 'spki', format: 'pem' });
    assert.equal(String(derived).trim(), RFC_PUBLIC_PEM);
    const sha512 = createHash('sha512').update(RFC_BODY).digest('base64');
    assert.equal(RFC_HEADERS['content-digest'], `sha-512=:${sha512}:`);
  });

  test('the signature base is reproduced byte for byte', () => {
    const result = signatureBase({ method: 'POST', url: RFC_URL, headers: RFC_HEADERS, signatureInput: RFC_SIGNATURE_INPUT, label: 'sig-b26' });
    assert.deepEqual(result, { ok: true, base: RFC_BASE });
  });

  test('signing that base with the RFC key yields the RFC signature (Ed25519 is deterministic)', () => {
    const signature = sign(null, Buffer.from(RFC_BASE), createPrivateKey(RFC_PRIVATE_PEM)).toString('base64');
    assert.equal(`sig-b26=:${signature}:`, RFC_SIGNATURE);
  });

  const rfcRequest = (headers: Record<string, string> = {}): VerifyRequestInput => ({
    method: 'POST',
    url: RFC_URL,
    headers: { ...RFC_HEADERS, 'signature-input': RFC_SIGNATURE_INPUT, signature: RFC_SIGNATURE, ...headers },
    body: RFC_BODY,
    resolveKey: (keyId) => (keyId === 'test-key-ed25519' ? createPublicKey(RFC_PUBLIC_PEM) : undefined),
    now: RFC_NOW,
    requiredComponents: ['@method', '@path', '@authority', 'content-type'],
  });

  test('the RFC signature verifies, its sha-512 Content-Digest included', () => {
    assert.deepEqual(verifyRequest(rfcRequest()), { ok: true, keyId: 'test-key-ed25519', label: 'sig-b26' });
  });

  test('the RFC signature fails once a covered header changes', () => {
    assertRejected(verifyRequest(rfcRequest({ date: 'Tue, 20 Apr 2021 02:07:56 GMT' })), /does not match the signed components/);
  });
});

describe('signRequest', () => {
  test('covers method, target URI, digest and content type with the agreed parameters', () => {
    const headers = signed({ nonce: 'n-123' });
    assert.equal(headers['content-digest'], contentDigest(BODY));
    assert.equal(
      headers['signature-input'],
      `sig1=("@method" "@target-uri" "content-digest" "content-type");created=${created};expires=${created + 300};keyid="${KEY_ID}";alg="ed25519";nonce="n-123";tag="msa-poc"`,
    );
    assert.match(headers['signature'] ?? '', /^sig1=:[A-Za-z0-9+/]{86}==:$/);
  });

  test('without a body it covers only method and target URI, and adds no digest', () => {
    const added = signRequest({ method: 'GET', url: URL_, headers: {}, keyId: KEY_ID, privateKey: partner.privateKey, now: NOW, tag: 'callbacks', expiresInSeconds: 60 });
    assert.equal(added['content-digest'], undefined);
    assert.match(added['signature-input'] ?? '', /^sig1=\("@method" "@target-uri"\);created=\d+;expires=\d+;keyid="partner-2025";alg="ed25519";nonce="[A-Za-z0-9_-]{22}";tag="callbacks"$/);
    assert.match(added['signature-input'] ?? '', new RegExp(`expires=${created + 60};`));
  });

  test('draws a fresh random nonce for every request', () => {
    const nonceOf = (h: Record<string, string>) => /nonce="([^"]+)"/.exec(h['signature-input'] ?? '')?.[1];
    assert.notEqual(nonceOf(signed()), nonceOf(signed()));
  });

  test('refuses what it cannot sign correctly', () => {
    const base = { method: 'POST', url: URL_, headers: { 'content-type': 'application/json' }, body: BODY, keyId: KEY_ID, privateKey: partner.privateKey };
    assert.throws(() => signRequest({ ...base, headers: {} }), /content-type/);
    assert.throws(() => signRequest({ ...base, privateKey: partner.publicKey }), /Ed25519 private key/);
    assert.throws(() => signRequest({ ...base, privateKey: generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey }), /Ed25519 private key/);
    assert.throws(() => signRequest({ ...base, keyId: 'clé' }), /cannot sign/);
    assert.throws(() => signRequest({ ...base, url: '/relative' }), /absolute URL/);
    assert.throws(() => signRequest({ ...base, method: 'POST /x' }), /method/);
    assert.throws(() => signRequest({ ...base, expiresInSeconds: 0 }), /expiresInSeconds/);
  });
});

describe('verifyRequest: round trips', () => {
  test('a signed request with a body verifies', () => {
    assert.deepEqual(check(signed()), { ok: true, keyId: KEY_ID, label: 'sig1' });
  });

  test('a signed request without a body verifies', () => {
    const headers = signRequest({ method: 'GET', url: URL_, headers: {}, keyId: KEY_ID, privateKey: partner.privateKey, now: NOW });
    assert.deepEqual(check(headers, { method: 'GET', body: undefined }), { ok: true, keyId: KEY_ID, label: 'sig1' });
    assert.deepEqual(check(headers, { method: 'GET', body: new Uint8Array() }), { ok: true, keyId: KEY_ID, label: 'sig1' });
  });

  test('byte bodies, mixed-case header names at signing, node-style header values at verification', () => {
    const bytes = new TextEncoder().encode(BODY);
    const added = signRequest({ method: 'POST', url: URL_, headers: { 'Content-Type': 'application/json' }, body: bytes, keyId: KEY_ID, privateKey: partner.privateKey, now: NOW });
    const headers: Record<string, HeaderValue> = { ...added, 'content-type': ['  application/json\t'], 'x-absent': undefined };
    assert.deepEqual(check(headers, { body: bytes }), { ok: true, keyId: KEY_ID, label: 'sig1' });
  });

  test('signer and verifier agree on URIs that differ only in spelling', () => {
    const headers = signed({ url: 'HTTPS://Partner.Example:443/cb?x=1' });
    assert.equal(check(headers, { url: 'https://partner.example/cb?x=1' }).ok, true);
  });

  test('a created time within the allowed clock skew is accepted', () => {
    assert.equal(check(signed({ now: new Date(NOW.getTime() + 45_000) })).ok, true);
  });

  test('the right signature is found among several labels', () => {
    const good = signed();
    const other = forge('("@method");created=1;keyid="nobody"', {}, { label: 'proxy' });
    const first: Record<string, HeaderValue> = { ...good, 'signature-input': [other['signature-input']!, good['signature-input']!], signature: `${other['signature']}, ${good['signature']}` };
    assert.deepEqual(check(first), { ok: true, keyId: KEY_ID, label: 'sig1' });
    const last = { ...good, 'signature-input': `${good['signature-input']}, ${other['signature-input']}`, signature: `${good['signature']}, ${other['signature']}` };
    assert.deepEqual(check(last), { ok: true, keyId: KEY_ID, label: 'sig1' });
  });

  test('when every label fails, the reason names each of them', () => {
    const headers = signed();
    const other = forge('("@method");created=1;keyid="nobody"', {}, { label: 'proxy' });
    const both = { ...headers, 'signature-input': `${other['signature-input']}, ${headers['signature-input']}`, signature: `${other['signature']}, ${headers['signature']}` };
    assertRejected(check(both, { method: 'PUT' }), /^proxy: .+; sig1: .+does not match/);
  });

  test('derived components follow RFC 9421 §2.2', () => {
    const result = signatureBase({
      method: 'GET',
      url: 'https://User@WWW.Example.com:443/path/%7Euser?param=value&x#frag',
      headers: { 'x-multi': ['a ', ' b'], 'x-empty': '' },
      signatureInput: 's=("@method" "@target-uri" "@authority" "@scheme" "@request-target" "@path" "@query" "x-multi" "x-empty");created=1',
      label: 's',
    });
    assert.deepEqual(result, {
      ok: true,
      base: [
        '"@method": GET',
        '"@target-uri": https://www.example.com/path/%7Euser?param=value&x',
        '"@authority": www.example.com',
        '"@scheme": https',
        '"@request-target": /path/%7Euser?param=value&x',
        '"@path": /path/%7Euser',
        '"@query": ?param=value&x',
        '"x-multi": a, b',
        '"x-empty": ',
        '"@signature-params": ("@method" "@target-uri" "@authority" "@scheme" "@request-target" "@path" "@query" "x-multi" "x-empty");created=1',
      ].join('\n'),
    });
    const noQuery = signatureBase({ method: 'GET', url: 'http://a.example', headers: {}, signatureInput: 's=("@query" "@path");created=1', label: 's' });
    assert.deepEqual(noQuery, { ok: true, base: '"@query": ?\n"@path": /\n"@signature-params": ("@query" "@path");created=1' });
  });

  test('@signature-params is the canonical serialization, whatever the spacing received', () => {
    const result = signatureBase({ method: 'GET', url: URL_, headers: {}, signatureInput: 's=(  "@method"   "@path" );created=1;x=1.50;y=?0;z=tok/en;b=:AQI=:', label: 's' });
    assert.deepEqual(result, { ok: true, base: '"@method": GET\n"@path": /v1/partner/callbacks\n"@signature-params": ("@method" "@path");created=1;x=1.5;y=?0;z=tok/en;b=:AQI=:' });
  });
});

describe('verifyRequest: rejections', () => {
  test('a tampered body', () => {
    assertRejected(check(signed(), { body: BODY.replace('shipped', 'lost') }), /^content-digest does not match the body$/);
    assertRejected(check(signed(), { body: undefined }), /content-digest does not match the body/);
  });

  test('a tampered body with a recomputed digest', () => {
    const tampered = BODY.replace('shipped', 'lost');
    assertRejected(check({ ...signed(), 'content-digest': contentDigest(tampered) }, { body: tampered }), /does not match the signed components/);
  });

  test('a tampered method', () => {
    assertRejected(check(signed(), { method: 'PUT' }), /does not match the signed components/);
  });

  test('a tampered URL: path, query, host, port or scheme', () => {
    for (const url of [
      'https://127.0.0.1:8443/v1/partner/callbacks2',
      'https://127.0.0.1:8443/v1/partner/callbacks?x=1',
      'https://127.0.0.2:8443/v1/partner/callbacks',
      'https://127.0.0.1:8444/v1/partner/callbacks',
      'http://127.0.0.1:8443/v1/partner/callbacks',
    ]) {
      assertRejected(check(signed(), { url }), /does not match the signed components/);
    }
  });

  test('a tampered covered header', () => {
    assertRejected(check({ ...signed(), 'content-type': 'text/plain' }), /does not match the signed components/);
  });

  test('an expired signature', () => {
    const headers = signed({ expiresInSeconds: 30 });
    assert.equal(check(headers, { now: new Date(NOW.getTime() + 30_000) }).ok, true);
    assertRejected(check(headers, { now: new Date(NOW.getTime() + 31_000) }), /expired/);
  });

  test('a signature older than maxAge, whatever its expiry', () => {
    const headers = signed({ expiresInSeconds: 3600 });
    assert.equal(check(headers, { now: new Date(NOW.getTime() + 60_000), maxAgeSeconds: 60 }).ok, true);
    assertRejected(check(headers, { now: new Date(NOW.getTime() + 61_000), maxAgeSeconds: 60 }), /too old/);
  });

  test('a signature created in the future', () => {
    assertRejected(check(signed({ now: new Date(NOW.getTime() + 61_000) })), /in the future/);
  });

  test('a signature missing a required component', () => {
    const noUri = forge(`("@method" "content-digest");created=${created};keyid="${KEY_ID}"`, bodyHeaders);
    assertRejected(check(noUri), /does not cover the required component "@target-uri"/);
    const noDigest = forge(`("@method" "@target-uri");created=${created};keyid="${KEY_ID}"`, bodyHeaders);
    assertRejected(check(noDigest), /does not cover the required component "content-digest"/);
    assertRejected(check(signed(), { requiredComponents: ['@method', 'x-request-id'] }), /"x-request-id"/);
  });

  test('a body on a request signed without one', () => {
    const headers = signRequest({ method: 'POST', url: URL_, headers: {}, keyId: KEY_ID, privateKey: partner.privateKey, now: NOW });
    assertRejected(check(headers), /does not cover the required component "content-digest"/);
  });

  test('the wrong key', () => {
    assertRejected(check(signed({ privateKey: stranger.privateKey })), /does not match the signed components/);
    assertRejected(check(signed(), { resolveKey: () => stranger.publicKey }), /does not match the signed components/);
  });

  test('a key that is not Ed25519', () => {
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    assertRejected(check(signed(), { resolveKey: () => ec.publicKey }), /not an Ed25519 key/);
  });

  test('an unknown keyid', () => {
    assertRejected(check(signed({ keyId: 'who-knows' })), /^unknown keyid "who-knows"$/);
  });

  test('an algorithm other than ed25519', () => {
    const headers = forge(`("@method" "@target-uri" "content-digest");created=${created};keyid="${KEY_ID}";alg="rsa-pss-sha512"`, bodyHeaders);
    assertRejected(check(headers), /alg "rsa-pss-sha512" is not accepted/);
  });

  test('missing or mistyped signature parameters', () => {
    const components = '("@method" "@target-uri" "content-digest")';
    assertRejected(check(forge(`${components};keyid="${KEY_ID}"`, bodyHeaders)), /no created parameter/);
    assertRejected(check(forge(`${components};created=${created}`, bodyHeaders)), /no keyid parameter/);
    assertRejected(check(forge(`${components};created="${created}";keyid="${KEY_ID}"`, bodyHeaders)), /created parameter must be an integer/);
    assertRejected(check(forge(`${components};created=${created};keyid=${KEY_ID.replace('-', '_')}`, bodyHeaders)), /keyid parameter must be a string/);
    assertRejected(check(forge(`${components};created=${created};keyid="${KEY_ID}";alg=ed25519`, bodyHeaders)), /alg parameter must be a string/);
  });

  test('a replayed nonce', () => {
    const seen = new Map<string, number>();
    const seenNonce = (nonce: string, ttlMs: number) => {
      if (seen.has(nonce)) return true;
      seen.set(nonce, ttlMs);
      return false;
    };
    const headers = signed({ nonce: 'once-only' });
    const later = new Date(NOW.getTime() + 100_000);
    assert.equal(check(headers, { seenNonce, now: later }).ok, true);
    const ttl = seen.get('once-only') ?? 0;
    assert.ok(ttl >= 200_000 && ttl <= 202_000, `nonce kept for ${ttl} ms; the signature stays acceptable for 200 s more`);
    assertRejected(check(headers, { seenNonce, now: later }), /replay/);
  });

  test('a forged request cannot burn a nonce, and replay protection needs a nonce', () => {
    const seen = new Set<string>();
    const seenNonce = (nonce: string) => seen.has(nonce) || (seen.add(nonce), false);
    assertRejected(check(signed({ nonce: 'n1', privateKey: stranger.privateKey }), { seenNonce }), /does not match/);
    assert.equal(check(signed({ nonce: 'n1' }), { seenNonce }).ok, true);
    const noNonce = forge(`("@method" "@target-uri" "content-digest");created=${created};keyid="${KEY_ID}"`, bodyHeaders);
    assert.equal(check(noNonce).ok, true);
    assertRejected(check(noNonce, { seenNonce }), /no nonce/);
  });

  test('missing headers', () => {
    const { signature: _signature, ...noSignature } = signed();
    const { 'signature-input': _input, ...noInput } = signed();
    assertRejected(check(noSignature), /no Signature header/);
    assertRejected(check(noInput), /no Signature-Input header/);
    assertRejected(check({ ...signed(), 'signature-input': '' }), /names no signature/);
    assertRejected(check({ ...signed(), signature: [] }), /no Signature header/);
  });

  test('duplicated labels', () => {
    const headers = signed();
    assertRejected(check({ ...headers, 'signature-input': [headers['signature-input']!, headers['signature-input']!] }), /Signature-Input header is malformed: the label "sig1" appears more than once/);
    assertRejected(check({ ...headers, signature: `${headers['signature']}, ${headers['signature']}` }), /Signature header is malformed: the label "sig1" appears more than once/);
  });

  test('malformed Signature-Input values of many kinds', () => {
    const headers = signed();
    const cases: Array<[string, RegExp]> = [
      ['sig1=(', /Signature-Input header is malformed: an inner list is not closed/],
      ['sig1=("@method" "@target-uri"', /not closed/],
      ['sig1=("@method);created=1', /a string is not closed/],
      ['sig1=("@method")created=1', /expected ","/],
      ['sig1=("@method"),', /trailing comma/],
      ['SIG1=("@method")', /lower-case key/],
      ['sig1=(@method)', /unexpected "@"/],
      ['sig1=("@method""@path")', /expected a space or "\)"/],
      ['sig1=("@method");created=12345678901234567', /too many digits/],
      ['sig1=("@méthod")', /non-ASCII/],
      ['sig1=("@method");created=1.2345', /fraction digits/],
      ['sig1=("@method");created=1;created=2', /parameter "created" appears more than once/],
      ['sig1=("a\\x")', /invalid escape/],
      ['sig1=?2', /boolean/],
      ['sig1=', /value is missing/],
      ['sig1=:AAAA:', /not an inner list/],
      ['sig1', /not an inner list/],
    ];
    for (const [value, reason] of cases) assertRejected(check({ ...headers, 'signature-input': value }), reason);
  });

  test('malformed Signature values of many kinds', () => {
    const headers = signed();
    const cases: Array<[string, RegExp]> = [
      ['sig1=:not base64!:', /Signature header is malformed: a byte sequence is not valid base64/],
      ['sig1=:AAAA', /byte sequence is not closed/],
      ['sig1="AAAA"', /not a byte sequence/],
      ['sig1=(:AAAA:)', /not a byte sequence/],
      ['sig1=:AAECAwQFBgcICQ==:', /10 bytes; an Ed25519 signature is 64/],
      ['sig2=:AAAA:', /no value for label "sig1"/],
    ];
    for (const [value, reason] of cases) assertRejected(check({ ...headers, signature: value }), reason);
  });

  test('malformed covered components', () => {
    const params = `;created=${created};keyid="${KEY_ID}"`;
    const cases: Array<[string, RegExp]> = [
      [`(method)${params}`, /must be quoted strings/],
      [`("@method" "@method")${params}`, /covered more than once/],
      [`("@signature-params")${params}`, /cannot be a covered component/],
      [`("@status")${params}`, /belongs to responses/],
      [`("@query-param";name="x")${params}`, /not supported/],
      [`("@unknown")${params}`, /"@unknown" is not supported/],
      [`("Content-Type")${params}`, /lower case/],
      [`("content-type";sf)${params}`, /component parameters/],
      [`("x-missing")${params}`, /covered header "x-missing" is absent/],
    ];
    for (const [member, reason] of cases) {
      assertRejected(check({ ...bodyHeaders, 'signature-input': `sig1=${member}`, signature: `sig1=:${Buffer.alloc(64).toString('base64')}:` }), reason);
    }
  });

  test('header values that would forge lines of the signature base', () => {
    const headers = forge(`("@method" "@target-uri" "content-digest" "x-note");created=${created};keyid="${KEY_ID}"`, { ...bodyHeaders, 'x-note': 'fine' });
    assertRejected(check({ ...headers, 'x-note': 'fine\n"@method": GET' }), /line break/);
    assertRejected(check({ ...headers, 'x-note': 'fïne' }), /non-ASCII/);
    assert.equal(check({ ...headers, 'x-note': 'fine\r\n  ' }).ok, true, 'obsolete line folding is whitespace');
  });

  test('options that would switch the time checks off are refused', () => {
    assert.throws(() => check(signed(), { now: new Date(Number.NaN) }), /invalid date/);
    assert.throws(() => check(signed(), { maxAgeSeconds: Number.NaN }), /maxAgeSeconds/);
    assert.throws(() => check(signed(), { maxAgeSeconds: -1 }), /maxAgeSeconds/);
  });

  test('a bad method or URL at verification', () => {
    assertRejected(check(signed(), { method: 'PO ST' }), /not a valid HTTP method/);
    assertRejected(check(signed(), { url: '/v1/partner/callbacks' }), /not an absolute URL/);
    assertRejected(check(signed(), { url: 'ftp://127.0.0.1/x' }), /not an http or https URL/);
  });

  test('Content-Digest values that are wrong or unusable', () => {
    const headers = signed();
    const sha512 = `sha-512=:${createHash('sha512').update(BODY).digest('base64')}:`;
    // Every supported digest matches, so only the signature (which covers the old header value) objects.
    assertRejected(check({ ...headers, 'content-digest': `${headers['content-digest']}, ${sha512}, md5=:AAAA:` }), /does not match the signed components/);
    assertRejected(check({ ...headers, 'content-digest': `${headers['content-digest']}, sha-512=:AAAA:` }), /content-digest does not match the body/);
    assertRejected(check({ ...headers, 'content-digest': 'md5=:AAAA:' }), /no sha-256 or sha-512 digest/);
    assertRejected(check({ ...headers, 'content-digest': 'sha-256=abc' }), /Content-Digest "sha-256" is not a byte sequence/);
    assertRejected(check({ ...headers, 'content-digest': 'sha-256=:abc' }), /Content-Digest header is malformed/);
  });

  test('too many signatures', () => {
    const headers = signed();
    const many = Array.from({ length: 9 }, (_, i) => `s${i}=("@method");created=1`).join(', ');
    assertRejected(check({ ...headers, 'signature-input': many }), /at most 8/);
  });

  test('random corruption of the signature headers never throws, and verifies only when the meaning is unchanged', () => {
    const headers = signed();
    const baseOf = (signatureInput: string) => signatureBase({ method: 'POST', url: URL_, headers, signatureInput, label: 'sig1' });
    const bytesOf = (signature: string) => Buffer.from(/:([^:]*):/.exec(signature)?.[1] ?? '', 'base64');
    const originalBase = baseOf(headers['signature-input']!);
    const alphabet = '()";=:,? \t*-.0123456789aAzZ@\\/+\x00\x7f\u00e9';
    let seed = 42;
    const random = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    for (let round = 0; round < 3000; round++) {
      const name = round % 2 === 0 ? 'signature-input' : 'signature';
      const original = headers[name]!;
      let value = original;
      for (let edits = 1 + random(3); edits > 0; edits--) {
        const at = random(value.length + 1);
        const op = random(3);
        const c = alphabet[random(alphabet.length)]!;
        value = op === 0 ? value.slice(0, at) + c + value.slice(at) : op === 1 ? value.slice(0, at) + value.slice(at + 1) : value.slice(0, at) + c + value.slice(at + 1);
      }
      const result = check({ ...headers, [name]: value });
      assert.equal(typeof result.ok, 'boolean');
      if (result.ok) {
        // Edits such as extra spacing, a leading zero or dropped base64 padding keep the same structured value.
        if (name === 'signature-input') assert.deepEqual(baseOf(value), originalBase, `verified after corruption: ${JSON.stringify(value)}`);
        else assert.ok(bytesOf(value).equals(bytesOf(original)), `verified after corruption: ${JSON.stringify(value)}`);
      } else {
        assert.ok(result.reason.length > 0);
      }
    }
  });
});

describe('signing key files', () => {
  const dirs: string[] = [];
  const tempDir = async () => {
    const dir = await mkdtemp(join(tmpdir(), 'msa-poc-sig-'));
    dirs.push(dir);
    return dir;
  };
  after(async () => {
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  });

  test('creates a private PKCS#8 and a public SPKI key that belong together, with tight permissions', async () => {
    const dir = join(await tempDir(), 'keys');
    await ensureSigningKey(dir, 'partner');
    const privatePem = await readFile(join(dir, 'partner.sign.key'), 'utf8');
    const publicPem = await readFile(join(dir, 'partner.sign.pub'), 'utf8');
    assert.match(privatePem, /^-----BEGIN PRIVATE KEY-----\n/);
    assert.match(publicPem, /^-----BEGIN PUBLIC KEY-----\n/);
    const headers = signRequest({ method: 'GET', url: URL_, headers: {}, keyId: 'p', privateKey: loadSigningKey(dir, 'partner'), now: NOW });
    assert.equal(check(headers, { method: 'GET', body: undefined, resolveKey: () => loadVerifyKey(dir, 'partner') }).ok, true);
    if (process.platform !== 'win32') {
      assert.equal((await stat(dir)).mode & 0o777, 0o700);
      assert.equal((await stat(join(dir, 'partner.sign.key'))).mode & 0o777, 0o600);
    }
    assert.deepEqual((await readdir(dir)).sort(), ['partner.sign.key', 'partner.sign.pub'], 'no temporary files are left behind');
  });

  test('keeps an existing key, and re-derives a missing or mismatching public key from it', async () => {
    const dir = await tempDir();
    await ensureSigningKey(dir, 'integration');
    const privatePem = await readFile(join(dir, 'integration.sign.key'), 'utf8');
    const publicPem = await readFile(join(dir, 'integration.sign.pub'), 'utf8');
    await ensureSigningKey(dir, 'integration');
    assert.equal(await readFile(join(dir, 'integration.sign.key'), 'utf8'), privatePem);
    await unlink(join(dir, 'integration.sign.pub'));
    await ensureSigningKey(dir, 'integration');
    assert.equal(await readFile(join(dir, 'integration.sign.pub'), 'utf8'), publicPem);
    await writeFile(join(dir, 'integration.sign.pub'), String(stranger.publicKey.export({ type: 'spki', format: 'pem' })));
    await ensureSigningKey(dir, 'integration');
    assert.equal(await readFile(join(dir, 'integration.sign.pub'), 'utf8'), publicPem);
    assert.equal(await readFile(join(dir, 'integration.sign.key'), 'utf8'), privatePem);
  });

  test('concurrent callers end with one consistent key pair', async () => {
    const dir = await tempDir();
    await Promise.all(Array.from({ length: 6 }, () => ensureSigningKey(dir, 'partner')));
    const derived = createPublicKey(loadSigningKey(dir, 'partner')).export({ type: 'spki', format: 'der' });
    assert.ok(derived.equals(loadVerifyKey(dir, 'partner').export({ type: 'spki', format: 'der' })));
    assert.deepEqual((await readdir(dir)).sort(), ['partner.sign.key', 'partner.sign.pub']);
  });

  test('a corrupt private key is reported, never overwritten', async () => {
    const dir = await tempDir();
    await writeFile(join(dir, 'partner.sign.key'), 'not a key');
    await assert.rejects(ensureSigningKey(dir, 'partner'), /partner\.sign\.key is not a PEM private key/);
    assert.equal(await readFile(join(dir, 'partner.sign.key'), 'utf8'), 'not a key');
    await writeFile(join(dir, 'partner.sign.key'), String(generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' })));
    assert.throws(() => loadSigningKey(dir, 'partner'), /not an Ed25519 key/);
  });

  test('missing files name their path and say how to create them', async () => {
    const dir = await tempDir();
    assert.throws(() => loadSigningKey(dir, 'partner'), (error: Error) => error.message.includes(join(dir, 'partner.sign.key')) && error.message.includes('npx poc up'));
    assert.throws(() => loadVerifyKey(dir, 'partner'), (error: Error) => error.message.includes(join(dir, 'partner.sign.pub')) && error.message.includes('npx poc up'));
  });

  test('key names cannot escape the directory', async () => {
    const dir = await tempDir();
    await assert.rejects(ensureSigningKey(dir, '../elsewhere'), /not a valid key name/);
    assert.throws(() => loadSigningKey(dir, 'a/b'), /not a valid key name/);
  });
});
