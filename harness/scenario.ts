/**
 * The default traffic mix: what a shop's clients do. Browse the catalog, read and list orders,
 * place orders (each with its own idempotency key), cancel a few. Every placement is recorded for
 * the integrity audit: acknowledged, failed, or indeterminate (no answer in time).
 */
import type { Order, PlaceOrderInput } from '@msa-poc/contracts';
import type { ApiClient } from './api-client.js';
import type { Operation } from './load.js';

export interface Placement {
  readonly key: string;
  readonly body: PlaceOrderInput;
  outcome: 'acknowledged' | 'failed' | 'indeterminate';
  orderId?: string;
  status?: number;
}

export interface Mix {
  readonly browse: number;
  readonly read: number;
  readonly list: number;
  readonly place: number;
  readonly cancel: number;
}

export const defaultMix: Mix = { browse: 0.3, read: 0.25, list: 0.1, place: 0.3, cancel: 0.05 };

/** Which parts of the system each operation depends on: the basis for judging a fault's spread. */
export const dependsOn: Record<keyof Mix, readonly string[]> = {
  browse: ['gateway', 'orders'], // the catalog is cached by orders
  read: ['gateway', 'orders', 'store'],
  list: ['gateway', 'orders', 'store'],
  place: ['gateway', 'orders', 'store'],
  cancel: ['gateway', 'orders', 'store'],
};

/** A small deterministic generator (mulberry32), so a run can be repeated from its seed. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const address = { name: 'Load Test', line1: '1 Benchmark Road', city: 'Ghent', postalCode: '9000', country: 'BE' };

export class DefaultScenario {
  readonly placements: Placement[] = [];
  readonly #placed: string[] = [];
  readonly #random: () => number;
  readonly #runId: string;

  constructor(private readonly api: ApiClient, seed: number, private readonly mix: Mix = defaultMix) {
    this.#random = seededRandom(seed);
    this.#runId = `${seed.toString(36)}-${Date.now().toString(36)}`;
  }

  next = (sequence: number): Operation => {
    const roll = this.#random();
    let edge = 0;
    for (const name of Object.keys(this.mix) as (keyof Mix)[]) {
      edge += this.mix[name];
      if (roll < edge) return this.#operation(name, sequence);
    }
    return this.#operation('browse', sequence);
  };

  #customer(): string {
    return `load-${Math.floor(this.#random() * 200)}`;
  }

  #someOrder(): string | undefined {
    if (this.#placed.length === 0) return undefined;
    return this.#placed[Math.floor(this.#random() * this.#placed.length)];
  }

  #operation(name: keyof Mix, sequence: number): Operation {
    const api = this.api;
    switch (name) {
      case 'place': {
        const placement: Placement = {
          key: `prove-${this.#runId}-${sequence}`,
          body: { customerId: this.#customer(), items: [{ sku: `SKU-${String(1 + Math.floor(this.#random() * 50)).padStart(4, '0')}`, quantity: 1 + Math.floor(this.#random() * 3) }], shippingAddress: address },
          outcome: 'indeterminate',
        };
        this.placements.push(placement);
        return {
          name,
          run: async (signal) => {
            const reply = await api.call<Order>('POST', '/v1/orders', { body: placement.body, headers: { 'idempotency-key': placement.key }, signal });
            placement.status = reply.status;
            if (reply.status === 200 || reply.status === 201) {
              placement.outcome = 'acknowledged';
              placement.orderId = reply.body.id;
              this.#placed.push(reply.body.id);
            } else placement.outcome = 'failed';
            return reply;
          },
        };
      }
      case 'read': {
        const id = this.#someOrder();
        if (!id) return this.#operation('browse', sequence);
        return { name, run: (signal) => api.call('GET', `/v1/orders/${id}`, { signal }) };
      }
      case 'list':
        return { name, run: (signal) => api.call('GET', `/v1/orders?customerId=${this.#customer()}&limit=10`, { signal }) };
      case 'cancel': {
        const id = this.#someOrder();
        if (!id) return this.#operation('browse', sequence);
        return { name, run: (signal) => api.call('POST', `/v1/orders/${id}/cancel`, { signal }) };
      }
      case 'browse':
        return { name, run: (signal) => api.call('GET', '/v1/products', { signal }) };
    }
  }
}
