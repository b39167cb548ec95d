/**
 * A bounded in-process memory of single-use values (nonces, token ids) with expiry. Suits one
 * process; replicas that must agree share a Redis-backed guard instead.
 */
export class ReplayCache {
  readonly #expiries = new Map<string, number>();

  constructor(private readonly capacity: number, private readonly now: () => number = Date.now) {}

  /**
   * True the first time `value` is seen within `ttlMs`; false for a replay. When full of values
   * that are all still live, it fails closed (false): forgetting one would let its replay through.
   */
  firstUse(value: string, ttlMs: number): boolean {
    const now = this.now();
    const expiry = this.#expiries.get(value);
    if (expiry !== undefined && expiry > now) return false;
    if (this.#expiries.size >= this.capacity) {
      for (const [v, e] of this.#expiries) if (e <= now) this.#expiries.delete(v);
      if (this.#expiries.size >= this.capacity) return false;
    }
    this.#expiries.set(value, now + ttlMs);
    return true;
  }

  get size(): number {
    return this.#expiries.size;
  }
}
