import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { describe, test } from 'node:test';
import { CallerAssertionSigner, CallerAssertionVerifier, assertionLifetimeSeconds } from './caller-assertion.js';
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
    assert.deepEqual(verifier.verify(signer.sign(user, 'orders', 'req-12345678', now), now), user);
    const { customerId: _, ...unscoped } = user;
    assert.deepEqual(verifier.verify(signer.sign(unscoped, 'orders', 'req-12345678', now), now), unscoped);
  });

  test('missing, foreign-signed, other-audience, expired and future assertions are refused with 401', () => {
    assert.throws(() => verifier.verify(undefined, now), refusedWith(/no caller assertion/));
    const stranger = new CallerAssertionSigner(generateKeyPairSync('ed25519').privateKey, 'gateway');
    assert.throws(() => verifier.verify(stranger.sign(user, 'orders', 'req-12345678', now), now), refusedWith(/does not verify/));
    assert.throws(() => verifier.verify(signer.sign(user, 'store', 'req-12345678', now), now), refusedWith(/not spiffe:\/\/msa-poc.local\/orders/));
    const later = now + (assertionLifetimeSeconds + 6) * 1000;
    assert.throws(() => verifier.verify(signer.sign(user, 'orders', 'req-12345678', now), later), refusedWith(/expired/));
    assert.throws(() => verifier.verify(signer.sign(user, 'orders', 'req-12345678', now + 60_000), now), refusedWith(/future/));
  });

  test('an assertion signed by the right key but claiming another issuer, living too long or with another typ is refused', () => {
    const iat = Math.floor(now / 1000);
    const claims = { iss: 'spiffe://msa-poc.local/gateway', aud: 'spiffe://msa-poc.local/orders', sub: 'shop-web', jkt: 'x', scope: 'orders:read', iat, exp: iat + 30, txn: 'r' };
    const forge = (header: Record<string, unknown>, payload: Record<string, unknown>) => signCompactJws(header, payload, gatewayKey.privateKey);
    assert.throws(() => verifier.verify(forge({ typ: 'caller+jwt' }, { ...claims, iss: 'spiffe://msa-poc.local/integration' }), now), refusedWith(/issued by/));
    assert.throws(() => verifier.verify(forge({ typ: 'caller+jwt' }, { ...claims, exp: iat + 3600 }), now), refusedWith(/longer than/));
    assert.throws(() => verifier.verify(forge({ typ: 'JWT' }, claims), now), refusedWith(/typ must be/));
    assert.throws(() => verifier.verify(forge({ typ: 'caller+jwt' }, { ...claims, customer_id: 42 }), now), refusedWith(/malformed customer_id/));
    const unsigned = `${base64urlEncode(JSON.stringify({ alg: 'none', typ: 'caller+jwt' }))}.${base64urlEncode(JSON.stringify(claims))}.`;
    assert.throws(() => verifier.verify(unsigned, now), refusedWith(/refused/));
  });
});
