/**
 * gateway — the edge. Terminates client TLS, authenticates every request (DPoP-bound tokens;
 * signed partner callbacks), tags it with a request id and trace, and routes it inward over
 * mutual TLS. The only service reachable from outside.
 */
import { createClient as createRedisClient } from 'redis';
import { apiContract, integrationContract, ordersContract, relayContract, storeContract, syntheticEntry, syntheticTopology } from '@msa-poc/contracts';
import { intSetting } from '@msa-poc/platform/config';
import { ReplayCache } from '@msa-poc/platform/replay';
import { defineService, type ReadinessCheck } from '@msa-poc/platform/service';
import { CallerAssertionSigner } from '@msa-poc/platform/caller-assertion';
import { loadSigningKey, loadVerifyKey } from '@msa-poc/platform/signatures';
import { loadOrCreateSigningKey } from './auth/access-token.js';
import { MemoryNonceStore, RedisNonceStore, type NonceStore } from './auth/nonces.js';
import { MemoryReplayGuard, RedisReplayGuard, type ReplayGuard } from './auth/replay.js';
import { clientAdmin } from './admin.js';
import { AuditTrail } from './audit.js';
import { gatewayApi } from './api.js';
import { StoreClientDirectory } from './clients.js';
import { SupportGrants } from './support-grants.js';
import { EdgeAuth } from './edge-auth.js';
import { GrantSalts, withSupportMasking } from './support-masking.js';
import { MemoryRateLimiter, policies, policyName, RedisRateLimiter, type RateLimiter } from './rate-limit.js';

export const gatewayService = defineService({
  contract: apiContract,
  // The synthetic services' entry exists only in a synthetic topology (poc up --topology synthetic:N).
  dependencies: { orders: ordersContract, integration: integrationContract, store: storeContract, relay: syntheticTopology() ? relayContract(syntheticEntry) : undefined },
  async setup({ clients, config, env, log, metrics }) {
    const rejections = metrics.counter({ name: 'rate_limit_rejections_total', help: 'Requests refused with 429, by rate-limit policy (RATE:BURST as configured)', labelNames: ['policy'] as const });
    const origin = config.endpoints.gateway.url;
    const signer = await loadOrCreateSigningKey(config.keysDir, 'gateway-token-signing.key');
    const readiness: ReadinessCheck[] = [];
    let limiter: RateLimiter;
    let replay: ReplayGuard;
    let nonces: NonceStore;
    let closeRedis = async (): Promise<void> => undefined;
    if (config.profile === 'production') {
      // Replicas share single-use proofs and nonces through Redis: a proof replayed at another replica is refused there too.
      const url = config.redisUrl ?? 'redis://127.0.0.1:6379';
      const redis = createRedisClient({ url, socket: { reconnectStrategy: (retries) => Math.min(100 * 2 ** retries, 2_000) } });
      redis.on('error', (error: Error) => log.warn({ err: error.message }, 'redis connection error'));
      await redis.connect().catch((error: Error) => {
        throw new Error(`cannot reach Redis at ${url} (${error.message}); start it or set POC_REDIS_URL`);
      });
      replay = new RedisReplayGuard(redis);
      limiter = new RedisRateLimiter(redis);
      nonces = new RedisNonceStore(redis);
      readiness.push({ name: 'redis', check: async () => void (await redis.ping()) });
      closeRedis = async () => void (await redis.quit().catch(() => undefined));
    } else {
      replay = new MemoryReplayGuard();
      limiter = new MemoryRateLimiter();
      nonces = new MemoryNonceStore();
    }
    const audit = new AuditTrail(clients.store, log, metrics.counter({ name: 'gateway_audit_records_dropped_total', help: 'Audit records dropped because the queue to the store was full' }));
    const directory = new StoreClientDirectory(clients.store, intSetting(env, 'POC_CLIENT_CACHE_MS', 10_000, 0, 600_000));
    const grants = new SupportGrants(clients.store, intSetting(env, 'POC_SUPPORT_GRANT_CACHE_MS', 2_000, 0, 30_000));
    const auth = new EdgeAuth({
      origin, signer, clients: directory, replay, nonces,
      requireNonce: env.POC_DPOP_REQUIRE_NONCE === 'true',
      tokenLifetimeSeconds: intSetting(env, 'POC_TOKEN_LIFETIME_S', 300, 30, 600),
      limiter,
      policyOf: policies(env),
      onRateLimited: (policy) => rejections.inc({ policy: policyName(policy) }),
      audit,
      assertions: new CallerAssertionSigner(loadSigningKey(config.keysDir, 'gateway'), 'gateway'),
      grants,
      authenticate: !config.benchDisabled.has('auth'),
    });
    const partnerCallbackNonces = new ReplayCache(500_000);
    return {
      // Whatever a support token is served passes through the contract's masking policy and the audit, in one place.
      handlers: withSupportMasking(apiContract, gatewayApi({
        orders: clients.orders,
        integration: clients.integration,
        relay: clients.relay,
        store: clients.store,
        grants,
        auth,
        jwks: () => signer.jwks() as unknown as { keys: Record<string, string>[] },
        partnerKey: loadVerifyKey(config.keysDir, 'partner'),
        seenNonce: (nonce, ttlMs) => !partnerCallbackNonces.firstUse(nonce, ttlMs),
        audit,
      }), { session: () => auth.supportSession(), audit, log, salts: new GrantSalts() }),
      readiness,
      admin: (app) => clientAdmin(app, clients.store, directory, audit),
      start: async () => audit.start(),
      stop: async () => {
        await audit.stop();
        await closeRedis();
      },
    };
  },
});
