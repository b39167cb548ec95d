/**
 * store — the only owner of the database. Persists orders with their lines, stock and events in
 * one transaction per order, remembers idempotency keys and processed events, and hands events on:
 * through its own feed (embedded profile) or through the outbox relay to JetStream (production).
 */
import { join } from 'node:path';
import { orderStream, storeContract } from '@msa-poc/contracts';
import type { Broker } from '@msa-poc/platform/broker';
import { intSetting } from '@msa-poc/platform/config';
import type { Gauge, Metrics } from '@msa-poc/platform/metrics';
import { defineService, type ReadinessCheck } from '@msa-poc/platform/service';
import { storeApi } from './api.js';
import { openDatabase, type Database } from './database.js';
import { FeedSignal } from './feed.js';
import { migrate } from './migrate.js';
import { OutboxRelay } from './relay.js';
import { feedLag, outboxLag } from './repository.js';

export const storeService = defineService({
  contract: storeContract,
  dependencies: {},
  async setup({ config, env, log, metrics, tracer }) {
    const telemetry = { tracer, metrics };
    const db = config.profile === 'embedded'
      ? await openDatabase({ profile: 'embedded', dataDir: join(config.dataDir, 'store'), telemetry })
      : await openDatabase({ profile: 'production', url: config.databaseUrl as string, poolSize: intSetting(env, 'POC_DB_POOL_SIZE', 10, 1, 200), telemetry });
    await migrate(db);
    void metrics.messagingDuration; // exposed from the start, before the first event
    registerOutboxGauges(metrics, db, config.profile);
    const feed = new FeedSignal();
    const draining = new AbortController();
    const readiness: ReadinessCheck[] = [{ name: 'database', check: () => db.ping() }];

    let broker: Broker | undefined;
    let relay: OutboxRelay | undefined;
    if (config.profile === 'production') {
      // The NATS client is loaded only by the profile that has a broker.
      broker = await (await import('@msa-poc/platform/broker')).connectBroker({ url: config.natsUrl as string, name: 'store', log: (msg, fields) => log.info(fields ?? {}, msg), telemetry });
      await broker.ensureStream(orderStream);
      relay = new OutboxRelay(db, broker, feed, log, { batchSize: 100, idleMs: 250, tracer });
      const connected = broker;
      readiness.push({ name: 'broker', check: async () => { if (!connected.isConnected()) throw new Error(`not connected to NATS at ${config.natsUrl}`); } });
    }

    return {
      // With the outbox bench switch off no event is written (the switches are refused in production, where the relay runs).
      handlers: storeApi(db, feed, draining.signal, { publishedBy: config.benchDisabled.has('outbox') ? 'nobody' : config.profile === 'embedded' ? 'outbox-feed' : 'relay', telemetry }),
      readiness,
      start: async () => relay?.start(),
      drain: () => draining.abort(),
      stop: async () => {
        await relay?.stop();
        await broker?.close();
        await db.close();
      },
    };
  },
});

/**
 * How far events are behind, read from the database when scraped (once for both gauges): in
 * production the rows the relay has not yet published, in the embedded profile the events the
 * feed's slowest consumer has not yet acknowledged. A failed read keeps the last values.
 */
function registerOutboxGauges(metrics: Metrics, db: Database, profile: 'embedded' | 'production'): void {
  const read = profile === 'production' ? outboxLag : feedLag;
  let latest: Promise<{ count: number; oldestAgeSeconds: number } | undefined> | undefined;
  const readOnce = () => {
    latest ??= read(db).catch(() => undefined).finally(() => setTimeout(() => { latest = undefined; }, 100).unref());
    return latest;
  };
  const age: Gauge = metrics.gauge({
    name: 'outbox_lag_seconds', help: 'Age of the oldest event not yet handed on (production: unpublished by the relay; embedded: unacknowledged by the feed\'s slowest consumer)',
    collect: async () => { const lag = await readOnce(); if (lag) age.set(lag.oldestAgeSeconds); },
  });
  const pending: Gauge = metrics.gauge({
    name: 'outbox_pending_events', help: 'Events not yet handed on (production: unpublished by the relay; embedded: unacknowledged by the feed\'s slowest consumer)',
    collect: async () => { const lag = await readOnce(); if (lag) pending.set(lag.count); },
  });
}
