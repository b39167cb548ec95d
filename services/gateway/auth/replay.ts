/**
 * Single-use checks for DPoP proof `jti`s and client assertion `jti`s. A replay must be refused by
 * every gateway replica, so production uses Redis; the in-process guard serves the embedded profile.
 */

export interface ReplayGuard {
  /** True the first time `key` is seen within `ttlMs`, false on every later call in that time. */
  firstUse(key: string, ttlMs: number): Promise<boolean>;
}

/**
 * Thrown when the in-process guard is full of entries that have not expired yet. Forgetting one of
 * them would reopen a replay window, so the guard fails closed and the caller answers 503.
 */
export class ReplayGuardFullError extends Error {
  override name = 'ReplayGuardFullError';
}

function ttlOf(ttlMs: number): number {
  if (!Number.isFinite(ttlMs) || ttlMs <= 0) throw new RangeError(`ttlMs must be a positive number, got ${ttlMs}`);
  return Math.ceil(ttlMs);
}

export interface MemoryReplayGuardOptions {
  /** Entries held at most; sized for sustained unique proofs × window (500 000 ≈ 4 000/s over 2 min). */
  maxEntries?: number;
  now?: () => number;
}

export class MemoryReplayGuard implements ReplayGuard {
  readonly #expiries = new Map<string, number>();
  readonly #maxEntries: number;
  readonly #now: () => number;

  constructor(options: MemoryReplayGuardOptions = {}) {
    this.#maxEntries = options.maxEntries ?? 500_000;
    this.#now = options.now ?? Date.now;
  }

  get size(): number {
    return this.#expiries.size;
  }

  async firstUse(key: string, ttlMs: number): Promise<boolean> {
    const ttl = ttlOf(ttlMs);
    const now = this.#now();
    const expiry = this.#expiries.get(key);
    if (expiry !== undefined && expiry > now) return false;
    this.#sweepOldest(now, 4);
    if (expiry === undefined && this.#expiries.size >= this.#maxEntries) {
      this.#sweepAll(now);
      if (this.#expiries.size >= this.#maxEntries) throw new ReplayGuardFullError(`replay guard holds ${this.#maxEntries} live entries`);
    }
    // Re-inserting keeps Map order close to expiry order, which is what the cheap sweep relies on.
    this.#expiries.delete(key);
    this.#expiries.set(key, now + ttl);
    return true;
  }

  /** Drops expired entries from the old end; callers use near-uniform TTLs, so that end expires first. */
  #sweepOldest(now: number, budget: number): void {
    for (const [key, expiry] of this.#expiries) {
      if (expiry > now || budget-- <= 0) return;
      this.#expiries.delete(key);
    }
  }

  #sweepAll(now: number): void {
    for (const [key, expiry] of this.#expiries) if (expiry <= now) this.#expiries.delete(key);
  }
}

/** The part of a node-redis v5 client these stores use; a `createClient()` result fits it. */
export interface RedisStringCommands {
  set(key: string, value: string, options: { condition: 'NX'; expiration: { type: 'PX'; value: number } }): Promise<unknown>;
  set(key: string, value: string, options: { expiration: { type: 'PX'; value: number } }): Promise<unknown>;
  get(key: string): Promise<unknown>;
}

export interface RedisReplayGuardOptions {
  /** Namespaces the keys, so several deployments can share one Redis. */
  prefix?: string;
}

/**
 * One round trip per check: `SET key 1 NX PX ttl` both tests and records, atomically, so two
 * replicas racing on the same proof cannot both see a first use.
 */
export class RedisReplayGuard implements ReplayGuard {
  readonly #redis: RedisStringCommands;
  readonly #prefix: string;

  constructor(redis: RedisStringCommands, options: RedisReplayGuardOptions = {}) {
    this.#redis = redis;
    this.#prefix = options.prefix ?? 'poc:replay:';
  }

  async firstUse(key: string, ttlMs: number): Promise<boolean> {
    const reply = await this.#redis.set(this.#prefix + key, '1', { condition: 'NX', expiration: { type: 'PX', value: ttlOf(ttlMs) } });
    return reply === 'OK';
  }
}
