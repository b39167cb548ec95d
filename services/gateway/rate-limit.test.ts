import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createClient } from 'redis';
import { MemoryRateLimiter, parsePolicy, policies, rateHeaders, RedisRateLimiter } from './rate-limit.js';

test('a bucket allows its burst at once, then the sustained rate, and says when to come back', async () => {
  let now = 0;
  const limiter = new MemoryRateLimiter(() => now);
  const policy = { ratePerSecond: 2, burst: 3 };
  const decisions = [];
  for (let i = 0; i < 4; i++) decisions.push(await limiter.take('c', policy));
  assert.deepEqual(decisions.map((d) => d.allowed), [true, true, true, false]);
  assert.equal(decisions[3]?.retryAfterSeconds, 1);
  assert.equal((await limiter.take('other', policy)).allowed, true, 'each client has its own bucket');
  now = 500;
  assert.equal((await limiter.take('c', policy)).allowed, true, 'one token back after half a second at 2/s');
  assert.equal((await limiter.take('c', policy)).allowed, false);
  const refused = await limiter.take('c', policy);
  assert.deepEqual(rateHeaders(refused), { 'ratelimit-policy': '"client";q=3;w=2', ratelimit: '"client";r=0;t=2', 'retry-after': '1' });
});

test('policies come from configuration, with named clients and clear errors', () => {
  const policyOf = policies({ POC_RATE_LIMIT: '10:20', POC_RATE_LIMIT_CLIENTS: 'prove-load=5000:10000, slow=0.5:1' });
  assert.deepEqual(policyOf('anyone'), { ratePerSecond: 10, burst: 20 });
  assert.deepEqual(policyOf('prove-load'), { ratePerSecond: 5000, burst: 10_000 });
  assert.deepEqual(policyOf('slow'), { ratePerSecond: 0.5, burst: 1 });
  assert.throws(() => parsePolicy('fast', 'POC_RATE_LIMIT'), /POC_RATE_LIMIT: "fast" is not RATE:BURST/);
  assert.throws(() => policies({ POC_RATE_LIMIT_CLIENTS: 'x' }), /"x" is not CLIENT=RATE:BURST/);
});

test('in Redis, two gateway replicas draw from one bucket', async () => {
  const url = process.env.POC_REDIS_URL ?? 'redis://127.0.0.1:6379';
  const redis = createClient({ url });
  await redis.connect().catch((error: Error) => {
    throw new Error(`Redis at ${url} is needed for this test (${error.message}); start it as .ci/run does`);
  });
  try {
    const client = `replicas-${Date.now()}`;
    const policy = { ratePerSecond: 1, burst: 4 };
    const a = new RedisRateLimiter(redis);
    const b = new RedisRateLimiter(redis);
    const results = [];
    for (let i = 0; i < 3; i++) {
      results.push((await a.take(client, policy)).allowed);
      results.push((await b.take(client, policy)).allowed);
    }
    assert.deepEqual(results, [true, true, true, true, false, false]);
    const refused = await b.take(client, policy);
    assert.equal(refused.remaining, 0);
    assert.ok(refused.retryAfterSeconds >= 1);
  } finally {
    await redis.quit();
  }
});
