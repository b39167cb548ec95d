import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';
import { createClient } from 'redis';
import { MemoryNonceStore, RedisNonceStore } from './nonces.js';

const shape = /^[A-Za-z0-9_-]{43}$/;

describe('MemoryNonceStore', () => {
  test('hands out one nonce per rotation period, each valid until its TTL', async () => {
    let now = 0;
    const store = new MemoryNonceStore({ ttlMs: 1_000, rotateMs: 400, now: () => now });
    const first = await store.issue();
    assert.match(first, shape);
    assert.equal(await store.issue(), first);
    assert.equal(await store.isValid(first), true);
    now = 400;
    const second = await store.issue();
    assert.notEqual(second, first);
    assert.equal(await store.isValid(first), true, 'the previous nonce is still within its TTL');
    now = 1_000;
    assert.equal(await store.isValid(first), false, 'expired');
    assert.equal(await store.isValid(second), true);
  });

  test('unknown and malformed nonces are not valid', async () => {
    const store = new MemoryNonceStore();
    await store.issue();
    assert.equal(await store.isValid(randomBytes(32).toString('base64url')), false);
    assert.equal(await store.isValid('short'), false);
    assert.equal(await store.isValid(42 as unknown as string), false);
  });

  test('nonces are random, not derived: two stores never agree', async () => {
    const a = new MemoryNonceStore();
    const b = new MemoryNonceStore();
    const nonce = await a.issue();
    assert.notEqual(await b.issue(), nonce);
    assert.equal(await b.isValid(nonce), false);
  });

  test('concurrent issues at rotation share one nonce', async () => {
    const store = new MemoryNonceStore();
    const nonces = await Promise.all([store.issue(), store.issue(), store.issue()]);
    assert.equal(new Set(nonces).size, 1);
  });

  test('refuses a rotation period not shorter than the TTL', () => {
    assert.throws(() => new MemoryNonceStore({ ttlMs: 1_000, rotateMs: 1_000 }), RangeError);
  });
});

describe('RedisNonceStore (real Redis, two replicas)', () => {
  const url = process.env.POC_REDIS_URL ?? 'redis://127.0.0.1:6379';
  const prefix = `test:nonce:${randomBytes(6).toString('hex')}:`;
  const replicaA = createClient({ url, socket: { reconnectStrategy: false, connectTimeout: 2_000 } });
  const replicaB = createClient({ url, socket: { reconnectStrategy: false, connectTimeout: 2_000 } });

  before(async () => {
    await Promise.all([replicaA.connect(), replicaB.connect()]);
  });
  after(async () => {
    const keys = await replicaA.keys(`${prefix}*`);
    if (keys.length > 0) await replicaA.del(keys);
    await Promise.all([replicaA.close(), replicaB.close()]);
  });

  test('a nonce issued by one replica is valid at the other', async () => {
    const a = new RedisNonceStore(replicaA, { prefix });
    const b = new RedisNonceStore(replicaB, { prefix });
    const nonce = await a.issue();
    assert.match(nonce, shape);
    assert.equal(await b.isValid(nonce), true);
    assert.equal(await b.isValid(randomBytes(32).toString('base64url')), false);
    const ttl = await replicaA.pTTL(`${prefix}${nonce}`);
    assert.ok(ttl > 290_000 && ttl <= 300_000, `PTTL ${ttl}`);
  });

  test('an expired nonce is refused everywhere, even where it was seen valid', async () => {
    const a = new RedisNonceStore(replicaA, { prefix, ttlMs: 150, rotateMs: 50 });
    const b = new RedisNonceStore(replicaB, { prefix, ttlMs: 150, rotateMs: 50 });
    const nonce = await a.issue();
    assert.equal(await b.isValid(nonce), true);
    await sleep(250);
    assert.equal(await b.isValid(nonce), false, 'replica B cached it, and still honours its expiry');
    assert.equal(await new RedisNonceStore(replicaB, { prefix }).isValid(nonce), false, 'gone from Redis');
    assert.equal(await a.isValid(nonce), false);
  });
});
