import assert from 'node:assert/strict';
import { test } from 'node:test';
import { OAuthError, safeDescription } from './oauth-error.js';

test('invalid_client is 401, every other code 400 (RFC 6749 §5.2)', () => {
  assert.equal(new OAuthError('invalid_client', 'x').status, 401);
  for (const code of ['invalid_grant', 'invalid_request', 'invalid_scope', 'unsupported_grant_type', 'invalid_dpop_proof', 'use_dpop_nonce'] as const) {
    assert.equal(new OAuthError(code, 'x').status, 400, code);
  }
});

test('body and headers', () => {
  const error = new OAuthError('use_dpop_nonce', 'nonce required', 'n0nce');
  assert.deepEqual(error.body(), { error: 'use_dpop_nonce', error_description: 'nonce required' });
  assert.deepEqual(error.headers(), { 'cache-control': 'no-store', 'dpop-nonce': 'n0nce' });
  assert.deepEqual(new OAuthError('invalid_scope', 'x').headers(), { 'cache-control': 'no-store' });
  assert.ok(error instanceof Error);
});

test('descriptions hold only the characters RFC 6749 allows', () => {
  assert.equal(safeDescription('bad "quote" \\ and\nnewline é'), 'bad ?quote? ? and?newline ?');
  assert.equal(new OAuthError('invalid_request', 'a"b').description, 'a?b');
});
