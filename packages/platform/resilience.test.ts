import { test } from 'node:test';
import assert from 'node:assert/strict';
import { backoffDelay, CircuitBreaker, retry } from './resilience.js';

test('backoff grows exponentially to a cap, with full jitter', () => {
  assert.equal(backoffDelay(1, 100, 1_000, () => 0.999), 99);
  assert.equal(backoffDelay(3, 100, 1_000, () => 0.999), 399);
  assert.equal(backoffDelay(10, 100, 1_000, () => 0.999), 999);
  assert.equal(backoffDelay(10, 100, 1_000, () => 0), 0);
});

test('the breaker opens after consecutive failures, lets one probe through after the wait, and closes on success', () => {
  let now = 0;
  const states: string[] = [];
  const breaker = new CircuitBreaker({ failureThreshold: 3, openMs: 1_000, now: () => now, onStateChange: (s) => states.push(s) });
  breaker.failure();
  breaker.failure();
  breaker.success();
  breaker.failure();
  breaker.failure();
  assert.equal(breaker.state, 'closed', 'a success resets the count');
  breaker.failure();
  assert.equal(breaker.state, 'open');
  assert.equal(breaker.tryAcquire(), false);
  now = 1_000;
  assert.equal(breaker.tryAcquire(), true, 'one probe');
  assert.equal(breaker.tryAcquire(), false, 'only one probe at a time');
  breaker.failure();
  assert.equal(breaker.state, 'open', 'a failed probe reopens');
  now = 2_000;
  assert.equal(breaker.tryAcquire(), true);
  breaker.success();
  assert.equal(breaker.state, 'closed');
  assert.deepEqual(states, ['open', 'half-open', 'open', 'half-open', 'closed']);
});

test('retry stops at the attempt limit, on a non-retryable error, and before the deadline', async () => {
  let calls = 0;
  const failing = async () => {
    calls++;
    throw new Error('boom');
  };
  await assert.rejects(retry(failing, { attempts: 3, baseMs: 1, capMs: 2, retryable: () => true, deadline: Date.now() + 5_000 }), /boom/);
  assert.equal(calls, 3);
  calls = 0;
  await assert.rejects(retry(failing, { attempts: 3, baseMs: 1, capMs: 2, retryable: () => false, deadline: Date.now() + 5_000 }), /boom/);
  assert.equal(calls, 1);
  calls = 0;
  await assert.rejects(retry(failing, { attempts: 10, baseMs: 10_000, capMs: 10_000, retryable: () => true, deadline: Date.now() + 50 }), /boom/);
  assert.ok(calls <= 2, `${calls} calls`);
  let n = 0;
  assert.equal(await retry(async () => (++n < 2 ? Promise.reject(new Error('once')) : 'ok'), { attempts: 3, baseMs: 1, capMs: 1, retryable: () => true, deadline: Date.now() + 5_000 }), 'ok');
});
