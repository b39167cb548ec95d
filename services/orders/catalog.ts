/**
 * The catalog as orders sees it: read from the store and kept for a short time, because every
 * order is priced against it and prices change rarely. Stock is not taken from here: the store
 * checks it inside the order's transaction.
 */
import type { Product } from '@msa-poc/contracts';

export class Catalog {
  #products: ReadonlyMap<string, Product> | undefined;
  #list: Product[] = [];
  #fetchedAt = 0;
  #inFlight: Promise<void> | undefined;

  constructor(
    private readonly load: () => Promise<Product[]>,
    private readonly ttlMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  async products(): Promise<ReadonlyMap<string, Product>> {
    await this.#refreshIfStale();
    return this.#products as ReadonlyMap<string, Product>;
  }

  async list(): Promise<Product[]> {
    await this.#refreshIfStale();
    return this.#list;
  }

  /** Drops the cached copy; the next read fetches afresh. */
  invalidate(): void {
    this.#fetchedAt = 0;
  }

  async #refreshIfStale(): Promise<void> {
    if (this.#products && this.now() - this.#fetchedAt < this.ttlMs) return;
    // Concurrent readers share one fetch instead of stampeding the store.
    const refresh = (this.#inFlight ??= this.load()
      .then((items) => {
        this.#list = items;
        this.#products = new Map(items.map((p) => [p.sku, p]));
        this.#fetchedAt = this.now();
      })
      .finally(() => {
        this.#inFlight = undefined;
      }));
    try {
      await refresh;
    } catch (error) {
      // Stale if error: prices and names change rarely, so a known catalog beats an outage while the
      // store is unreachable. Stock is never taken from here, so nothing is oversold.
      if (!this.#products) throw error;
      this.staleServed += 1;
    }
  }

  /** Reads answered from an expired copy because the store could not be reached. */
  staleServed = 0;
}
