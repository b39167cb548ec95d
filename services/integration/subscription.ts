/**
 * Where events come from: the store's feed (embedded profile) or a JetStream durable consumer
 * (production). Either way an event is acknowledged only after its effect is recorded, retried
 * with backoff while the failure is transient, and dead-lettered after the last attempt.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { AnyCloudEvent } from '@msa-poc/contracts';
import type { Broker } from '@msa-poc/platform/broker';
import { deadLetterSubject, orderPlaced, orderStream } from '@msa-poc/contracts';
import { hopAttributes, processEvent, type EventTelemetry, type Verdict } from '@msa-poc/platform/messaging';
import { backoffDelay } from '@msa-poc/platform/resilience';
import { consumerName, deadLetter, fulfilPatiently, type FeedView, type FulfilmentDeps, type RecordProcessed } from './fulfilment.js';

export interface RetrySettings {
  readonly maxAttempts: number;
  readonly baseMs: number;
  readonly capMs: number;
}

export interface Subscription {
  stop(): Promise<void>;
  stats(): { processed: number; retried: number; deadLettered: number; lastError: string | undefined };
  /** Events delivered to this consumer and not yet done with, plus those known to wait on the stream. */
  lag(): number;
}

class Stats {
  processed = 0;
  retried = 0;
  deadLettered = 0;
  lastError: string | undefined;
  snapshot() {
    return { processed: this.processed, retried: this.retried, deadLettered: this.deadLettered, lastError: this.lastError };
  }
}

type AttemptResult = 'processed' | { readonly retry: string } | { readonly deadLetter: string };

const verdictOf = (result: AttemptResult): Verdict =>
  result === 'processed' ? { outcome: 'processed' } : 'retry' in result ? { outcome: 'retry', failure: result.retry } : { outcome: 'dead_letter', failure: result.deadLetter };

/**
 * After a batch smaller than the limit, how long the feed is left to fill before the next read.
 * The long poll answers as soon as one event is there, so at 18 orders/s every read and ack carried
 * one event (263 reads and 263 acks for 272 orders in 15 s at 60 rps of the bench's mix); a pause
 * lets the next read take what arrived meanwhile, at the cost of this much fulfilment latency.
 */
export const feedLingerMs = 50;

/**
 * Embedded profile: long-poll the store's feed, process a batch concurrently, then move the cursor.
 * Each attempt at an event is a CONSUMER span in the trace of the request that placed the order.
 */
export function subscribeToFeed(deps: FulfilmentDeps, retry: RetrySettings, batchSize: number, telemetry: EventTelemetry, lingerMs = feedLingerMs): Subscription {
  const stopping = new AbortController();
  const stats = new Stats();
  const hop = { system: 'outbox-feed', destination: orderPlaced.subject } as const;
  // The feed's calls are this transport's receive and settle, as JetStream's pull and ack are that one's;
  // marked so, a reader (the console) can tell a long poll that waits by design from a slow call.
  const receiving = hopAttributes(hop, 'receive');
  const settling = hopAttributes(hop, 'settle');
  let unfinished = 0;

  const attemptOnce = async (event: AnyCloudEvent, attempt: number, whenRead: FeedView, record: RecordProcessed): Promise<AttemptResult> => {
    // The feed's batch waits for the store anyway: a long patience costs nothing here. What the feed
    // said of the event when it was read holds for the first attempt only.
    const outcome = await fulfilPatiently(event, deps, 60_000, stopping.signal, attempt === 1 ? whenRead : undefined, record);
    if (outcome.kind === 'done') return 'processed';
    stats.lastError = outcome.error;
    if (outcome.kind === 'dead' || attempt >= retry.maxAttempts) {
      await deadLetter(event, outcome, attempt, deps);
      telemetry.metrics?.deadLetters.inc({ consumer: consumerName });
      return { deadLetter: outcome.error };
    }
    return { retry: outcome.error };
  };

  async function processWithRetries(event: AnyCloudEvent, whenRead: FeedView, record: RecordProcessed): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      const result = await processEvent(telemetry, hop, { event, consumer: consumerName, attempt }, () => attemptOnce(event, attempt, whenRead, record), verdictOf);
      if (result === 'processed') {
        stats.processed += 1;
        return;
      }
      if ('deadLetter' in result) {
        stats.deadLettered += 1;
        return;
      }
      stats.retried += 1;
      // An abort here leaves the batch unacknowledged: it is redelivered after restart.
      await sleep(backoffDelay(attempt, retry.baseMs, retry.capMs), undefined, { signal: stopping.signal });
    }
  }

  const loop = (async () => {
    let failures = 0;
    while (!stopping.signal.aborted) {
      try {
        // Abandoned on stop: a long poll would otherwise hold the shutdown for up to its 5 s.
        const reply = await deps.store.readEvents({ query: { consumer: consumerName, limit: batchSize, waitMs: 5_000 } }, { timeoutMs: 8_000, spanAttributes: receiving, signal: stopping.signal });
        const batch = reply.body.events;
        if (batch.length === 0) continue;
        unfinished = batch.length;
        // The batch's processed events are recorded by its ack, in the same statement as the cursor
        // moves, instead of one call each. Until the ack, a restart redelivers them, and the partner,
        // which deduplicates by order id, is asked again: as when a restart fell between the partner's
        // answer and a record made at once.
        const processed: string[] = [];
        const record: RecordProcessed = async (eventId) => { processed.push(eventId); };
        await Promise.all(batch.map((item) => processWithRetries(item.event, item, record).finally(() => { unfinished -= 1; })));
        await deps.store.ackEvents({ body: { consumer: consumerName, position: (batch.at(-1) as { position: number }).position, processed } }, { spanAttributes: settling });
        failures = 0;
        if (batch.length < batchSize && lingerMs > 0) await sleep(lingerMs, undefined, { signal: stopping.signal }).catch(() => undefined);
      } catch (error) {
        if (stopping.signal.aborted) break;
        failures += 1;
        stats.lastError = (error as Error).message;
        const delay = backoffDelay(Math.min(failures, 8), 100, 5_000) + 50;
        deps.log.warn({ err: (error as Error).message, retryInMs: delay }, 'event feed unavailable; retrying');
        await sleep(delay, undefined, { signal: stopping.signal }).catch(() => undefined);
      }
    }
  })();

  return {
    async stop() {
      stopping.abort();
      await loop;
    },
    stats: () => stats.snapshot(),
    // What waits in the store after the batch shows as the store's outbox_pending_events.
    lag: () => unfinished,
  };
}

/** Production profile: a durable JetStream pull consumer with explicit acks. */
export async function subscribeToBroker(deps: FulfilmentDeps, broker: Broker, retry: RetrySettings, concurrency: number): Promise<Subscription> {
  const stats = new Stats();
  const consumer = await broker.consume({
    stream: orderStream.name,
    durable: consumerName,
    filterSubject: 'orders.placed',
    maxDeliver: retry.maxAttempts,
    ackWaitMs: 30_000,
    concurrency,
    deadLetterSubject: deadLetterSubject(consumerName),
    handler: async (event, delivery) => {
      // Stay within the ack wait (30 s), so that an outage of our own services does not use up deliveries.
      const outcome = await fulfilPatiently(event, deps, 20_000);
      if (outcome.kind === 'done') {
        stats.processed += 1;
        return 'ack';
      }
      stats.lastError = outcome.error;
      if (outcome.kind === 'dead' || delivery.deliveryCount >= retry.maxAttempts) {
        await deadLetter(event, outcome, delivery.deliveryCount, deps);
        stats.deadLettered += 1;
        return { deadLetter: outcome.error };
      }
      stats.retried += 1;
      return { retryAfterMs: backoffDelay(delivery.deliveryCount, retry.baseMs, retry.capMs), error: outcome.error };
    },
  });
  return {
    stop: () => consumer.stop(),
    stats: () => stats.snapshot(),
    lag: () => {
      const { inFlight, pending } = consumer.stats();
      return inFlight + pending;
    },
  };
}
