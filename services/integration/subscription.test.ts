/** The embedded profile's feed subscription, against a stand-in store whose long poll waits for events that do not come. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadConfig } from '@msa-poc/platform/config';
import { createLogger } from '@msa-poc/platform/telemetry';
import { createTracing } from '@msa-poc/platform/tracing';
import type { FulfilmentDeps } from './fulfilment.js';
import { subscribeToFeed } from './subscription.js';

test('stopping abandons the long poll that is waiting: the service stops at once, not when the poll ends', async () => {
  const polls: AbortSignal[] = [];
  const store = {
    // As the store's feed: hold the request up to waitMs when there is nothing to deliver.
    readEvents: (request: { query: { waitMs: number } }, options: { signal?: AbortSignal }) => new Promise((resolve, reject) => {
      const signal = options.signal as AbortSignal;
      polls.push(signal);
      const timer = setTimeout(() => resolve({ status: 200, body: { events: [] } }), request.query.waitMs);
      signal.addEventListener('abort', () => {
        clearTimeout(timer);
        reject(signal.reason);
      }, { once: true });
    }),
  };
  const deps = { store, orders: {}, partner: {}, log: createLogger('integration', 'silent') } as unknown as FulfilmentDeps;
  const subscription = subscribeToFeed(deps, { maxAttempts: 3, baseMs: 10, capMs: 100 }, 16, { tracer: createTracing({ service: 'integration', settings: loadConfig({ OTEL_TRACES_EXPORTER: 'none' }).tracing }).tracer });
  await new Promise((resolve) => setTimeout(resolve, 50));
  assert.equal(polls.length, 1, 'one long poll waiting');
  const started = Date.now();
  await subscription.stop();
  assert.ok(Date.now() - started < 1_000, `stopped after ${Date.now() - started} ms; the poll would have held it 5 s`);
  assert.equal(polls[0]?.aborted, true);
  assert.equal(polls.length, 1, 'no poll after the stop');
  assert.equal(subscription.stats().lastError, undefined, 'a stop is not an error of the feed');
});
