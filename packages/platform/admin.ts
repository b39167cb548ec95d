/**
 * The admin port, on loopback: liveness, readiness and metrics, apart from the service port so
 * that probes and scrapes never queue behind business traffic or need a certificate.
 */
import Fastify, { type FastifyInstance } from 'fastify';
import type { Metrics } from './metrics.js';

/** A readiness check throws (or rejects) with a message that says what is not reachable. */
export interface ReadinessCheck {
  readonly name: string;
  readonly check: () => Promise<void>;
}

export interface AdminOptions {
  readonly service: string;
  readonly metrics: Metrics;
  readonly checks: () => readonly ReadinessCheck[];
  /** False while starting and once shutdown begins. */
  readonly accepting: () => boolean;
}

async function runCheck(check: ReadinessCheck, timeoutMs: number): Promise<{ name: string; ok: boolean; error?: string }> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      check.check(),
      new Promise((_, reject) => { timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs); }),
    ]);
    return { name: check.name, ok: true };
  } catch (error) {
    return { name: check.name, ok: false, error: (error as Error).message };
  } finally {
    clearTimeout(timer);
  }
}

export function createAdminServer(options: AdminOptions): FastifyInstance {
  const app = Fastify({ logger: false, forceCloseConnections: true });
  app.get('/healthz', async () => ({ status: 'ok', service: options.service }));
  app.get('/readyz', async (_request, reply) => {
    if (!options.accepting()) return reply.code(503).send({ status: 'unready', service: options.service, checks: [{ name: 'lifecycle', ok: false, error: 'starting or shutting down' }] });
    const checks = await Promise.all(options.checks().map((c) => runCheck(c, 2_000)));
    const ready = checks.every((c) => c.ok);
    return reply.code(ready ? 200 : 503).send({ status: ready ? 'ready' : 'unready', service: options.service, checks });
  });
  app.get('/metrics', async (_request, reply) => reply.type(options.metrics.registry.contentType).send(await options.metrics.registry.metrics()));
  return app;
}
