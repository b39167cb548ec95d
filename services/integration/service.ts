/**
 * integration — the bridge to the fulfilment partner. Consumes order.placed events, sends each
 * order to the partner with a signed request (RFC 9421, Ed25519), retries with backoff,
 * dead-letters what cannot be delivered, and turns the partner's callbacks into fulfilled orders.
 */
import { deadLetterStream, integrationContract, orderStream, ordersContract, partnerContract, storeContract } from '@msa-poc/contracts';
import type { Broker } from '@msa-poc/platform/broker';
import { intSetting } from '@msa-poc/platform/config';
import type { Gauge } from '@msa-poc/platform/metrics';
import { defineService } from '@msa-poc/platform/service';
import { requestSigner } from '@msa-poc/platform/signatures';
import { integrationApi } from './api.js';
import { subscribeToBroker, subscribeToFeed, type Subscription } from './subscription.js';

export const integrationService = defineService({
  contract: integrationContract,
  dependencies: { store: storeContract, orders: ordersContract, partner: partnerContract },
  clientOptions: ({ config }) => ({
    partner: {
      timeoutMs: 5_000,
      // Each attempt is signed afresh; retries stay with the subscription, which backs off longer.
      retry: { attempts: 1, baseMs: 0, capMs: 0 },
      signer: requestSigner(config.keysDir, 'integration'),
    },
  }),
  async setup({ clients, config, env, log, metrics, tracer }) {
    // A partner outage of a minute or so must not dead-letter orders: twelve attempts backing off to
    // 30 s (full jitter) wait about 75 s in all on average. Eight to 4 s waited about 8 s, and a 5 s
    // outage in the proving run could use them all up.
    const retry = {
      maxAttempts: intSetting(env, 'POC_INTEGRATION_MAX_ATTEMPTS', 12, 1, 100),
      baseMs: intSetting(env, 'POC_INTEGRATION_RETRY_BASE_MS', 250, 1, 60_000),
      capMs: intSetting(env, 'POC_INTEGRATION_RETRY_CAP_MS', 30_000, 1, 600_000),
    };
    const concurrency = intSetting(env, 'POC_INTEGRATION_CONCURRENCY', 32, 1, 1_000);
    const deps = { store: clients.store, orders: clients.orders, partner: clients.partner, log };
    let broker: Broker | undefined;
    let subscription: Subscription | undefined;
    const telemetry = { tracer, metrics };
    // Exposed from the start, before the first event.
    void metrics.messagingDuration;
    void metrics.deadLetters;
    const lag: Gauge = metrics.gauge({
      name: 'messaging_consumer_lag_events', help: 'Events delivered to this consumer and not yet processed, plus those the broker reports still pending for it',
      collect: () => lag.set(subscription?.lag() ?? 0),
    });
    return {
      handlers: integrationApi(clients.orders),
      readiness: [
        ...(config.profile === 'production'
          ? [{ name: 'broker', check: async () => { if (!broker?.isConnected()) throw new Error(`not connected to NATS at ${config.natsUrl}`); } }]
          : []),
      ],
      start: async () => {
        if (config.profile === 'production') {
          // The NATS client is loaded only by the profile that has a broker.
          broker = await (await import('@msa-poc/platform/broker')).connectBroker({ url: config.natsUrl as string, name: 'integration', log: (msg, fields) => log.info(fields ?? {}, msg), telemetry });
          await broker.ensureStream(orderStream);
          await broker.ensureStream(deadLetterStream);
          subscription = await subscribeToBroker(deps, broker, retry, concurrency);
        } else {
          subscription = subscribeToFeed(deps, retry, concurrency, telemetry);
        }
      },
      stop: async () => {
        await subscription?.stop();
        await broker?.close();
      },
    };
  },
});
