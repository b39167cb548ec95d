/**
 * What happens to a placed order: it is handed to the partner exactly once in effect. The partner
 * deduplicates by order id (its idempotency key), and the processed-event record lets a redelivered
 * event skip the call altogether.
 */
import { OrderPlacedEvent, type AnyCloudEvent, type OrderStatus, type ordersContract, type partnerContract, type storeContract } from '@msa-poc/contracts';
import type { Client } from '@msa-poc/platform/service';
import { setTimeout as sleep } from 'node:timers/promises';
import { UpstreamError } from '@msa-poc/platform/errors';
import { backoffDelay } from '@msa-poc/platform/resilience';
import type { Logger } from '@msa-poc/platform/telemetry';
import { validate } from '@msa-poc/platform/validation';

export const consumerName = 'integration';

/**
 * done: nothing more to do; retry: the partner failed for now (this counts towards dead-lettering);
 * wait: one of our own services is unreachable, which says nothing about the event (it never counts);
 * dead: retrying cannot help.
 */
export type Outcome =
  | { readonly kind: 'done'; readonly note?: string }
  | { readonly kind: 'retry'; readonly error: string }
  | { readonly kind: 'wait'; readonly error: string }
  | { readonly kind: 'dead'; readonly error: string; readonly failOrder: boolean };

export interface FulfilmentDeps {
  readonly store: Client<typeof storeContract>;
  readonly orders: Client<typeof ordersContract>;
  readonly partner: Client<typeof partnerContract>;
  readonly log: Logger;
}

/** What the store's feed said of an event when it handed it over. */
export interface FeedView {
  /** Whether this consumer had recorded it processed. */
  readonly processed: boolean;
  /** The status of its order; null when the store holds no such order. */
  readonly orderStatus: OrderStatus | null;
}

/** Records that the event is done with, so that a redelivery skips it. */
export type RecordProcessed = (eventId: string) => Promise<void>;

/**
 * `feed` is what the store's feed said when it handed the event over; given, it replaces asking the
 * store whether the event was processed and what its order's status is (two calls per order). Only a
 * first attempt may pass it, since an attempt that failed may have changed both since the read.
 * `recordProcessed` records the event done (by default a call to the store; the feed's subscription
 * records a batch's events with its ack instead).
 */
export async function fulfil(event: AnyCloudEvent, { store, partner }: FulfilmentDeps, feed?: FeedView, recordProcessed?: RecordProcessed): Promise<Outcome> {
  const checked = validate<OrderPlacedEvent>(OrderPlacedEvent, event);
  if (!checked.ok) return { kind: 'dead', error: `event breaks the order.placed contract: ${checked.errors.map((e) => `${e.path} ${e.message}`).join('; ')}`, failOrder: false };
  const { data } = checked.value;
  try {
    const record = recordProcessed ?? (async (eventId: string) => { await store.recordProcessed({ body: { consumer: consumerName, eventId } }); });
    const seen = feed?.processed ?? (await store.isProcessed({ params: { consumer: consumerName, eventId: event.id } })).body.processed;
    if (seen) return { kind: 'done', note: 'already processed' };
    // The feed's null is not taken for an answer: a missing order is confirmed by the store before the event is dead-lettered.
    const status = feed?.orderStatus ?? (await orderStatusOf(store, data.orderId));
    if (status === undefined) return { kind: 'dead', error: `order ${data.orderId} does not exist`, failOrder: false };
    if (status !== 'placed') {
      await record(event.id);
      return { kind: 'done', note: `order is ${status}; not sent to the partner` };
    }
    const receipt = await partner.submitFulfilment({
      headers: { 'idempotency-key': data.orderId },
      body: { orderId: data.orderId, items: data.items, shippingAddress: data.shippingAddress },
    });
    switch (receipt.status) {
      case 200:
      case 202:
        await record(event.id);
        return { kind: 'done' };
      case 401:
        // The partner refuses our signature: a key or clock problem that no retry fixes.
        return { kind: 'dead', error: `partner refused our signature: ${receipt.body.detail ?? receipt.body.title}`, failOrder: false };
      case 422:
        // The partner will never take this order (it does not ship there): the order has failed.
        return { kind: 'dead', error: `partner cannot fulfil the order: ${receipt.body.detail ?? receipt.body.title}`, failOrder: true };
      case 503:
        return { kind: 'retry', error: `partner unavailable: ${receipt.body.detail ?? receipt.body.title}` };
    }
  } catch (error) {
    if (error instanceof UpstreamError) return { kind: error.peer === 'partner' ? 'retry' : 'wait', error: error.message };
    throw error;
  }
}

/** The order's status, or undefined when the store has no such order. */
async function orderStatusOf(store: FulfilmentDeps['store'], orderId: string): Promise<OrderStatus | undefined> {
  const order = await store.getOrder({ headers: {}, params: { id: orderId } });
  return order.status === 404 ? undefined : (order.body as { status: OrderStatus }).status;
}

/**
 * Runs `fulfil` until the outcome no longer depends on our own services being back, or `budgetMs`
 * runs out (then the outcome is a retry, so that the event is not held forever). `feed`, the
 * feed's word, serves the first call only; later ones ask the store.
 */
export async function fulfilPatiently(event: AnyCloudEvent, deps: FulfilmentDeps, budgetMs: number, stop?: AbortSignal, feed?: FeedView, recordProcessed?: RecordProcessed): Promise<Exclude<Outcome, { kind: 'wait' }>> {
  const until = Date.now() + budgetMs;
  for (let attempt = 1; ; attempt++) {
    const outcome = await fulfil(event, deps, attempt === 1 ? feed : undefined, recordProcessed);
    if (outcome.kind !== 'wait') return outcome;
    const delay = backoffDelay(attempt, 100, 2_000) + 50;
    if (Date.now() + delay > until || stop?.aborted) return { kind: 'retry', error: outcome.error };
    await sleep(delay, undefined, stop ? { signal: stop } : undefined).catch(() => undefined);
  }
}

/** Keeps an event that could not be processed, so that a person can see why and replay it. */
export async function deadLetter(event: AnyCloudEvent, outcome: { error: string; failOrder?: boolean }, attempts: number, { store, orders, log }: FulfilmentDeps): Promise<void> {
  await store.addDeadLetter({ body: { consumer: consumerName, event, error: outcome.error.slice(0, 2000), attempts } });
  log.warn({ eventId: event.id, attempts, error: outcome.error }, 'event dead-lettered');
  // A transient failure leaves the order placed, so that a replay can still fulfil it; a permanent
  // refusal fails the order and returns its stock.
  const orderId = (event.data as { orderId?: string } | undefined)?.orderId;
  if (outcome.failOrder && orderId) await orders.failOrder({ params: { id: orderId }, body: { reason: outcome.error.slice(0, 500), causeId: `dead-letter:${event.id}` } });
}
