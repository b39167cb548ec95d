import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';
import { createClient } from 'redis';
import { MemoryReplayGuard, RedisReplayGuard, ReplayGuardFullError } from './replay.js';

describe('MemoryReplayGuard', () => {
  test('a key is first used once within its TTL, and again after it', async () => {
    let now = 1_000;
    const guard = new MemoryReplayGuard({ now: () => now });
    assert.equal(await guard.firstUse('a', 100), true);
    assert.equal(await guard.firstUse('a', 100), false);
    assert.equal(await guard.firstUse('b', 100), true, 'keys are independent');
    now += 99;
    assert.equal(await guard.firstUse('a', 100), false);
    now += 1;
    assert.equal(await guard.firstUse('a', 100), true);
  });

  test('expired entries make room; live ones make it fail closed', async () => {
    let now = 0;
    const guard = new MemoryReplayGuard({ maxEntries: 3, now: () => now });
    for (const key of ['a', 'b', 'c']) assert.equal(await guard.firstUse(key, 1_000), true);
    await assert.rejects(guard.firstUse('d', 1_000), ReplayGuardFullError);
    assert.equal(await guard.firstUse('a', 1_000), false, 'a refused key still counts as seen');
    now = 1_000;
    assert.equal(await guard.firstUse('d', 1_000), true);
    assert.ok(guard.size <= 3);
  });

  test('refuses a TTL that is not positive', async () => {
    const guard = new MemoryReplayGuard();
    await assert.rejects(guard.firstUse('a', 0), RangeError);
    await assert.rejects(guard.firstUse('a', Number.NaN), RangeError);
  });
});

describe('RedisReplayGuard (real Redis, two replicas)', () => {
  const url = process.env.POC_REDIS_URL ?? 'redis://127.0.0.1:6379';
  const prefix = `test:replay:${randomBytes(6).toString('hex')}:`;
  const replicaA = createClient({ url, socket: { reconnectStrategy: false, connectTimeout: 2_000 } });
  const replicaB = createClient({ url, socket: { reconnectStrategy: false, connectTimeout: 2_000 } });
  const guardA = new RedisReplayGuard(replicaA, { prefix });
  const guardB = new RedisReplayGuard(replicaB, { prefix });

  before(async () => {
    await Promise.all([replicaA.connect(), replicaB.connect()]);
  });
  after(async () => {
    const keys = await replicaA.keys(`${prefix}*`);
    if (keys.length > 0) await replicaA.del(keys);
    await Promise.all([replicaA.close(), replicaB.close()]);
  });

  test('the second replica sees the first replica\'s use', async () => {
    assert.equal(await guardA.firstUse('proof-1', 60_000), true);
    assert.equal(await guardB.firstUse('proof-1', 60_000), false);
    assert.equal(await guardA.firstUse('proof-1', 60_000), false);
    assert.equal(await guardB.firstUse('proof-2', 60_000), true);
  });

  test('the key carries the TTL, in milliseconds', async () => {
    await guardA.firstUse('ttl', 30_000);
    const ttl = await replicaA.pTTL(`${prefix}ttl`);
    assert.ok(ttl > 29_000 && ttl <= 30_000, `PTTL ${ttl}`);
  });

  test('a key can be used again once its TTL has passed', async () => {
    assert.equal(await guardA.firstUse('short', 50), true);
    assert.equal(await guardB.firstUse('short', 50), false);
    await sleep(120);
    assert.equal(await guardB.firstUse('short', 50), true);
  });

  test('of many concurrent uses across replicas, exactly one wins', async () => {
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => (i % 2 === 0 ? guardA : guardB).firstUse('race', 60_000)));
    assert.equal(results.filter(Boolean).length, 1);
  });
});
