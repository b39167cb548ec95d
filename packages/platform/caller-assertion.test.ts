import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { describe, test } from 'node:test';
import { CallerAssertionSigner, CallerAssertionVerifier, assertionLifetimeSeconds, assertionReuseMs } from './caller-assertion.js';
import { ProblemError } from './errors.js';
import { base64urlEncode, signCompactJws } from './jws.js';

const gatewayKey = generateKeyPairSync('ed25519');
const signer = new CallerAssertionSigner(gatewayKey.privateKey, 'gateway');
const verifier = new CallerAssertionVerifier(gatewayKey.publicKey, 'gateway', 'orders');
const user = { clientId: 'shop-web', keyThumbprint: '0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I', scopes: ['orders:read', 'orders:write'], customerId: 'cust-42' };
const now = Date.UTC(2026, 10, 25, 12);

const refusedWith = (pattern: RegExp) => (error: unknown) => error instanceof ProblemError && error.problem.status === 401 && pattern.test(error.problem.detail ?? '');

describe('caller assertion: the gateway tells a service who asked', () => {
  test('a fresh assertion from the gateway yields the end user, customer included', () => {
    assert.deepEqual(verifier.verify(signer.sign(user, 'orders', now), now), user);
    const { customerId: _, ...unscoped } = user;
    assert.deepEqual(verifier.verify(signer.sign(unscoped, 'orders', now), now), unscoped);
  });

  test('missing, foreign-signed, other-audience, expired and future assertions are refused with 401', () => {
    assert.throws(() => verifier.verify(undefined, now), refusedWith(/no caller assertion/));
    const stranger = new CallerAssertionSigner(generateKeyPairSync('ed25519').privateKey, 'gateway');
    assert.throws(() => verifier.verify(stranger.sign(user, 'orders', now), now), refusedWith(/does not verify/));
    assert.throws(() => verifier.verify(signer.sign(user, 'store', now), now), refusedWith(/not spiffe:\/\/msa-poc.local\/orders/));
    const later = now + (assertionLifetimeSeconds + 6) * 1000;
    assert.throws(() => verifier.verify(signer.sign(user, 'orders', now), later), refusedWith(/expired/));
    assert.throws(() => verifier.verify(signer.sign(user, 'orders', now + 60_000), now), refusedWith(/future/));
  });

  test('an assertion signed by the right key but claiming another issuer, living too long or with another typ is refused', () => {
    const iat = Math.floor(now / 1000);
    const claims = { iss: 'spiffe://msa-poc.local/gateway', aud: 'spiffe://msa-poc.local/orders', sub: 'shop-web', jkt: 'x', scope: 'orders:read', iat, exp: iat + 30 };
    const forge = (header: Record<string, unknown>, payload: Record<string, unknown>) => signCompactJws(header, payload, gatewayKey.privateKey);
    assert.throws(() => verifier.verify(forge({ typ: 'caller+jwt' }, { ...claims, iss: 'spiffe://msa-poc.local/integration' }), now), refusedWith(/issued by/));
    assert.throws(() => verifier.verify(forge({ typ: 'caller+jwt' }, { ...claims, exp: iat + 3600 }), now), refusedWith(/longer than/));
    assert.throws(() => verifier.verify(forge({ typ: 'JWT' }, claims), now), refusedWith(/typ must be/));
    assert.throws(() => verifier.verify(forge({ typ: 'caller+jwt' }, { ...claims, customer_id: 42 }), now), refusedWith(/malformed customer_id/));
    const unsigned = `${base64urlEncode(JSON.stringify({ alg: 'none', typ: 'caller+jwt' }))}.${base64urlEncode(JSON.stringify(claims))}.`;
    assert.throws(() => verifier.verify(unsigned, now), refusedWith(/refused/));
  });

  test('the gateway signs once per user and audience for a while: the same assertion, then a fresh one', () => {
    const first = signer.sign(user, 'orders', now);
    assert.equal(signer.sign(user, 'orders', now + assertionReuseMs - 1_001), first, 'reused within the window');
    assert.notEqual(signer.sign(user, 'store', now), first, 'another audience gets its own');
    assert.notEqual(signer.sign({ ...user, scopes: ['orders:read'] }, 'orders', now), first, 'other scopes get their own');
    assert.notEqual(signer.sign({ ...user, keyThumbprint: 'another-key' }, 'orders', now), first, 'another client key gets its own');
    const renewed = signer.sign(user, 'orders', now + assertionReuseMs);
    assert.notEqual(renewed, first, 'renewed once the window is over');
    // A reused assertion still has most of its life: at the window's end, 20 of its 30 s are left.
    assert.deepEqual(verifier.verify(first, now + assertionReuseMs + 19_000), user);
    const fresh = new CallerAssertionSigner(gatewayKey.privateKey, 'gateway');
    assert.notEqual(fresh.sign(user, 'orders', now - 5_000), first, 'a clock that went back gets a new one, not one from its future');
  });

  test('a verified assertion is remembered, but its expiry still counts, and a tampered copy is checked afresh', () => {
    const local = new CallerAssertionVerifier(gatewayKey.publicKey, 'gateway', 'orders');
    const assertion = new CallerAssertionSigner(gatewayKey.privateKey, 'gateway').sign(user, 'orders', now);
    assert.deepEqual(local.verify(assertion, now), user);
    assert.deepEqual(local.verify(assertion, now + 1_000), user, 'a repeat is answered from memory');
    const [header, payload, signature] = assertion.split('.') as [string, string, string];
    const otherSignature = `${signature.startsWith('A') ? 'B' : 'A'}${signature.slice(1)}`;
    assert.throws(() => local.verify(`${header}.${payload}.${otherSignature}`, now), refusedWith(/does not verify/));
    const escalated = base64urlEncode(JSON.stringify({ ...JSON.parse(Buffer.from(payload, 'base64url').toString()), scope: 'orders:read orders:write admin' }));
    assert.throws(() => local.verify(`${header}.${escalated}.${signature}`, now), refusedWith(/does not verify/));
    assert.throws(() => local.verify(assertion, now + (assertionLifetimeSeconds + 6) * 1000), refusedWith(/expired/));
    assert.throws(() => local.verify(assertion, now + (assertionLifetimeSeconds + 6) * 1000), refusedWith(/expired/), 'and stays refused');
  });

  test('after the gateway key changes, a verifier of the new key refuses what the old key signed, remembered or not', () => {
    const oldAssertion = signer.sign(user, 'orders', now);
    assert.deepEqual(verifier.verify(oldAssertion, now), user);
    const rotated = generateKeyPairSync('ed25519');
    const rotatedVerifier = new CallerAssertionVerifier(rotated.publicKey, 'gateway', 'orders');
    assert.throws(() => rotatedVerifier.verify(oldAssertion, now), refusedWith(/does not verify/));
    const rotatedSigner = new CallerAssertionSigner(rotated.privateKey, 'gateway');
    assert.deepEqual(rotatedVerifier.verify(rotatedSigner.sign(user, 'orders', now), now), user);
    assert.throws(() => verifier.verify(rotatedSigner.sign(user, 'orders', now), now), refusedWith(/does not verify/));
  });

  test('the memory is bounded: past its size the oldest assertions are verified again, and still verify', () => {
    const local = new CallerAssertionVerifier(gatewayKey.publicKey, 'gateway', 'orders');
    const many = Array.from({ length: 1_100 }, (_, i) => signer.sign({ ...user, clientId: `client-${i}` }, 'orders', now));
    for (const assertion of many) local.verify(assertion, now);
    assert.equal(local.verify(many[0], now).clientId, 'client-0');
    assert.equal(local.verify(many[1_099], now).clientId, 'client-1099');
  });
});
