/**
 * Server-provided DPoP nonces (RFC 9449 §8, §9). A nonce is 256 random bits kept as state with an
 * expiry, never an HMAC or a value derived from a secret the replicas share: there is no such
 * secret anywhere in this system. Replicas share nonces through Redis.
 *
 * Each store hands out one current nonce and rotates it every `rotateMs`, so the number of live
 * nonces stays at about ttl/rotate per replica however many `use_dpop_nonce` answers it sends.
 */
import { randomBytes } from 'node:crypto';
import { LruCache } from './lru-cache.js';
import type { RedisStringCommands } from './replay.js';

export interface NonceStore {
  /** A nonce to send in a `DPoP-Nonce` header. */
  issue(): Promise<string>;
  isValid(nonce: string): Promise<boolean>;
}

export interface NonceStoreOptions {
  /** How long a nonce stays valid after it is created (default 5 min). */
  ttlMs?: number;
  /** How long one nonce is handed out before a fresh one replaces it (default 1 min). */
  rotateMs?: number;
  now?: () => number;
}

/** 32 random bytes in base64url: 43 characters, the only shape `isValid` will look up. */
const noncePattern = /^[A-Za-z0-9_-]{43}$/;

function newNonce(): string {
  return randomBytes(32).toString('base64url');
}

abstract class RotatingNonceStore implements NonceStore {
  protected readonly ttlMs: number;
  protected readonly now: () => number;
  readonly #rotateMs: number;
  #current: { value: string; createdAt: number } | undefined;
  #pending: Promise<string> | undefined;

  constructor(options: NonceStoreOptions) {
    this.ttlMs = options.ttlMs ?? 300_000;
    this.#rotateMs = options.rotateMs ?? 60_000;
    this.now = options.now ?? Date.now;
    if (!(this.ttlMs > 0) || !(this.#rotateMs > 0) || this.#rotateMs >= this.ttlMs) {
      throw new RangeError('nonce ttlMs and rotateMs must be positive, with rotateMs < ttlMs');
    }
  }

  async issue(): Promise<string> {
    const now = this.now();
    if (this.#current !== undefined && now - this.#current.createdAt < this.#rotateMs) return this.#current.value;
    // Concurrent callers at rotation time share one new nonce instead of each storing their own.
    this.#pending ??= (async () => {
      const value = newNonce();
      await this.store(value, now + this.ttlMs);
      this.#current = { value, createdAt: now };
      return value;
    })().finally(() => { this.#pending = undefined; });
    return this.#pending;
  }

  async isValid(nonce: string): Promise<boolean> {
    if (typeof nonce !== 'string' || !noncePattern.test(nonce)) return false;
    const expiresAt = await this.lookup(nonce);
    return expiresAt !== undefined && expiresAt > this.now();
  }

  protected abstract store(nonce: string, expiresAt: number): Promise<void>;
  protected abstract lookup(nonce: string): Promise<number | undefined>;
}

export class MemoryNonceStore extends RotatingNonceStore {
  readonly #expiries = new Map<string, number>();

  constructor(options: NonceStoreOptions = {}) {
    super(options);
  }

  protected async store(nonce: string, expiresAt: number): Promise<void> {
    const now = this.now();
    for (const [key, expiry] of this.#expiries) if (expiry <= now) this.#expiries.delete(key);
    this.#expiries.set(nonce, expiresAt);
  }

  protected async lookup(nonce: string): Promise<number | undefined> {
    return this.#expiries.get(nonce);
  }
}

export interface RedisNonceStoreOptions extends NonceStoreOptions {
  prefix?: string;
}

/**
 * Nonces in Redis under a TTL, the value being the expiry time. Valid nonces are also remembered
 * locally until that time (nonces are never revoked early), so a replica asks Redis about a given
 * nonce once rather than on every request; unknown nonces are never cached, because another
 * replica may have stored one a moment ago.
 */
export class RedisNonceStore extends RotatingNonceStore {
  readonly #redis: RedisStringCommands;
  readonly #prefix: string;
  readonly #known = new LruCache<string, number>(1024);

  constructor(redis: RedisStringCommands, options: RedisNonceStoreOptions = {}) {
    super(options);
    this.#redis = redis;
    this.#prefix = options.prefix ?? 'poc:dpop-nonce:';
  }

  protected async store(nonce: string, expiresAt: number): Promise<void> {
    await this.#redis.set(this.#prefix + nonce, String(expiresAt), { expiration: { type: 'PX', value: this.ttlMs } });
    this.#known.set(nonce, expiresAt);
  }

  protected async lookup(nonce: string): Promise<number | undefined> {
    const known = this.#known.get(nonce);
    if (known !== undefined) return known;
    const stored = await this.#redis.get(this.#prefix + nonce);
    const expiresAt = typeof stored === 'string' ? Number(stored) : NaN;
    if (!Number.isFinite(expiresAt)) return undefined;
    this.#known.set(nonce, expiresAt);
    return expiresAt;
  }
}
