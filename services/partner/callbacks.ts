/**
 * Calls our gateway back once an order has shipped, signed with the partner's own key. Keeps
 * trying with backoff until the callback is taken, as a real provider's webhook delivery does.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { apiContract } from '@msa-poc/contracts';
import type { Client } from '@msa-poc/platform/service';
import { backoffDelay } from '@msa-poc/platform/resilience';
import { runDetached, type Logger } from '@msa-poc/platform/telemetry';
import type { Ledger, LedgerEntry } from './ledger.js';

export class CallbackDispatcher {
  readonly #stopping = new AbortController();
  readonly #pending = new Set<Promise<void>>();

  constructor(
    private readonly gateway: Client<typeof apiContract>,
    private readonly ledger: Ledger,
    private readonly log: Logger,
    /** A provider keeps retrying a webhook for a long time; after this age the callback is given up. */
    private readonly maxAgeMs = 3_600_000,
  ) {}

  schedule(entry: LedgerEntry, delayMs: number): void {
    // Delivery outlives the request that accepted the order: it must not inherit that request's deadline.
    const task = runDetached(() => this.#deliver(entry, delayMs)).finally(() => this.#pending.delete(task));
    this.#pending.add(task);
  }

  /** Re-schedules callbacks that a previous run accepted but never delivered. */
  resume(): number {
    const undelivered = this.ledger.entries().filter((e) => !e.callbackDeliveredAt);
    for (const entry of undelivered) this.schedule(entry, 0);
    return undelivered.length;
  }

  async stop(): Promise<void> {
    this.#stopping.abort();
    await Promise.allSettled([...this.#pending]);
  }

  async #deliver(entry: LedgerEntry, delayMs: number): Promise<void> {
    const signal = this.#stopping.signal;
    try {
      await sleep(delayMs, undefined, { signal });
      const giveUpAt = Date.now() + this.maxAgeMs;
      let attempt = 0;
      while (Date.now() < giveUpAt && !signal.aborted) {
        attempt += 1;
        try {
          const reply = await this.gateway.partnerCallback({
            body: { orderId: entry.orderId, fulfilmentId: entry.fulfilmentId, status: 'fulfilled', fulfilledAt: new Date().toISOString() },
          });
          // 409: the order was cancelled meanwhile; 404 cannot happen for an order we were sent. Either way, stop.
          this.ledger.callback(entry.orderId, new Date().toISOString(), attempt);
          if (reply.status !== 200) this.log.warn({ orderId: entry.orderId, status: reply.status }, 'callback refused');
          return;
        } catch (error) {
          this.log.warn({ orderId: entry.orderId, attempt, err: (error as Error).message }, 'callback failed; retrying');
          await sleep(backoffDelay(attempt, 200, 5_000) + 50, undefined, { signal });
        }
      }
      this.ledger.callback(entry.orderId, null, attempt);
      this.log.error({ orderId: entry.orderId, attempts: attempt }, 'callback given up');
    } catch {
      // stopped: the ledger still shows the callback undelivered, and resume() picks it up next start
    }
  }
}
