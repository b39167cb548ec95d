/**
 * store — the only owner of the database. Persists orders with their lines, stock and events in
 * one transaction per order, remembers idempotency keys and processed events, and hands events on:
 * through its own feed (embedded profile) or through the outbox relay to JetStream (production).
 */
import { join } from 'node:path';
import { orderStream, storeContract } from '@msa-poc/contracts';
import { connectBroker, type Broker } from '@msa-poc/platform/broker';
import { intSetting } from '@msa-poc/platform/config';
import { defineService, type ReadinessCheck } from '@msa-poc/platform/service';
import { storeApi } from './api.js';
import { openDatabase } from './database.js';
import { FeedSignal } from './feed.js';
import { migrate } from './migrate.js';
import { OutboxRelay } from './relay.js';

export const storeService = defineService({
  contract: storeContract,
  dependencies: {},
  async setup({ config, env, log }) {
    const db = config.profile === 'embedded'
      ? await openDatabase({ profile: 'embedded', dataDir: join(config.dataDir, 'store') })
      : await openDatabase({ profile: 'production', url: config.databaseUrl as string, poolSize: intSetting(env, 'POC_DB_POOL_SIZE', 10, 1, 200) });
    await migrate(db);
    const feed = new FeedSignal();
    const draining = new AbortController();
    const readiness: ReadinessCheck[] = [{ name: 'database', check: () => db.ping() }];

    let broker: Broker | undefined;
    let relay: OutboxRelay | undefined;
    if (config.profile === 'production') {
      broker = await connectBroker({ url: config.natsUrl as string, name: 'store', log: (msg, fields) => log.info(fields ?? {}, msg) });
      await broker.ensureStream(orderStream);
      relay = new OutboxRelay(db, broker, feed, log, { batchSize: 100, idleMs: 250 });
      const connected = broker;
      readiness.push({ name: 'broker', check: async () => { if (!connected.isConnected()) throw new Error(`not connected to NATS at ${config.natsUrl}`); } });
    }

    return {
      handlers: storeApi(db, feed, draining.signal),
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
