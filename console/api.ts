/**
 * The console's HTTP side on loopback: the page, and the JSON API it polls (documented in
 * console/README.md). Parameters are checked against TypeBox schemas; every error is an RFC 9457
 * problem document, like everywhere else in the system.
 */
import Fastify, { LogController, type FastifyBaseLogger, type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { problem, problemMediaType, serviceNames, type Problem } from '@msa-poc/contracts';
import { ProblemError } from '@msa-poc/platform/errors';
import type { Logger } from '@msa-poc/platform/telemetry';
import { validate } from '@msa-poc/platform/validation';
import type { DeadLetterSource } from './dead-letters.js';
import type { PageAssets } from './page.js';
import type { SupportGrantSource } from './support-grants.js';
import type { SpanStore } from './span-store.js';
import type { TrafficWindow } from './traffic.js';

export const WindowQuery = Type.Object(
  { windowSeconds: Type.Optional(Type.Integer({ minimum: 10, maximum: 900, default: 60, description: 'The sliding window, in seconds.' })) },
  { additionalProperties: false },
);

const TraceId = Type.String({ pattern: '^[0-9a-fA-F]{32}$', description: 'A W3C trace id: 32 hex digits.' });

export const TracesQuery = Type.Object(
  {
    traceId: Type.Optional(TraceId),
    requestId: Type.Optional(Type.String({ maxLength: 128, description: 'The x-request-id of a request in the trace (msa.request_id).' })),
    route: Type.Optional(Type.String({ maxLength: 200, description: 'Part of an http.route, any case: "/orders".' })),
    status: Type.Optional(Type.String({ pattern: '^(?:[1-5][0-9]{2}|[1-5]xx|error|ok)$', description: 'An HTTP status (409), a class (5xx), error or ok.' })),
    service: Type.Optional(Type.String({ maxLength: 100, description: 'A service that took part in the trace.' })),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 200, default: 50 })),
  },
  { additionalProperties: false },
);

export const TraceParams = Type.Object({ traceId: TraceId }, { additionalProperties: false });

export const DeadLettersQuery = Type.Object({ limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500, default: 100 })) }, { additionalProperties: false });

export const DeadLetterParams = Type.Object({ id: Type.String({ format: 'uuid', description: 'The dead letter id.' }) }, { additionalProperties: false });

export const SupportGrantsQuery = Type.Object({ limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500, default: 100 })) }, { additionalProperties: false });

export const SupportGrantParams = Type.Object({ id: Type.String({ format: 'uuid', description: 'The grant id.' }) }, { additionalProperties: false });

/** How far back the RED charts reach. */
const seriesMs = 5 * 60_000;

/**
 * Checks query or path parameters. An empty query parameter counts as absent: a search form sends
 * its empty fields, and "no filter" is what a person means by them.
 */
function parse<S extends TSchema>(schema: S, value: unknown, where: 'query' | 'path'): Static<S> {
  const present = where === 'query' ? Object.fromEntries(Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== '')) : value;
  const checked = validate<Static<S>>(schema, present, { coerce: true, where: where === 'query' ? 'query' : 'params' });
  if (checked.ok) return checked.value;
  // TypeBox says what failed; the parameter's own description says what would be right.
  const properties = (schema as { properties?: Record<string, { description?: string }> }).properties ?? {};
  const explained = checked.errors.map((e) => {
    const hint = properties[e.path.split('/').pop() ?? '']?.description;
    return `${e.path} ${e.message}${hint ? ` (${hint})` : ''}`;
  });
  const detail = `The ${where === 'query' ? 'query' : 'path'} does not match the console API: ${explained.join('; ')}. The parameters are listed in console/README.md.`;
  throw new ProblemError('validation', detail, { extra: { errors: checked.errors } });
}

export interface ApiOptions {
  readonly spans: SpanStore;
  readonly traffic: TrafficWindow;
  readonly deadLetters: DeadLetterSource;
  readonly supportGrants: SupportGrantSource;
  readonly page: PageAssets;
  readonly log: Logger;
  /** The port the page is served on, once known: requests must name this console as their host. */
  readonly port: () => number;
}

function sendProblem(request: FastifyRequest, reply: FastifyReply, body: Problem): FastifyReply {
  return reply.code(body.status).type(problemMediaType).send({ ...body, instance: request.url.split('?')[0] });
}

const loopbackNames = ['127.0.0.1', 'localhost', '[::1]'];

/**
 * Loopback is not a wall against the browser on the same machine: a page from anywhere could post
 * to 127.0.0.1, or reach it under a rebound DNS name. So every request must name this console as
 * its host, and a request that changes something must come from the console's own page (or from
 * a tool that sends no Origin at all, such as curl).
 */
function checkOrigin(request: FastifyRequest, port: number): void {
  const hosts = loopbackNames.map((name) => `${name}:${port}`);
  const host = String(request.headers.host ?? '');
  if (!hosts.includes(host)) {
    throw new ProblemError('foreignOrigin', `This console answers requests addressed to ${hosts[0]}, not to "${host}". Open http://${hosts[0]}/.`);
  }
  if (request.method === 'GET' || request.method === 'HEAD') return;
  const origin = request.headers.origin;
  if (origin !== undefined && !hosts.some((h) => origin === `http://${h}`)) {
    throw new ProblemError('foreignOrigin', `A page from ${origin} may not change anything in this console; use the console's own page at http://${hosts[0]}/.`);
  }
  const site = request.headers['sec-fetch-site'];
  if (site !== undefined && site !== 'same-origin' && site !== 'none') {
    throw new ProblemError('foreignOrigin', `A ${String(site)} request may not change anything in this console; use the console's own page at http://${hosts[0]}/.`);
  }
}

export function createApi(options: ApiOptions): FastifyInstance {
  const { spans, traffic, deadLetters, supportGrants, page, log } = options;
  const app: FastifyInstance = Fastify({
    loggerInstance: log as unknown as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: 16 * 1024,
    forceCloseConnections: true,
    routerOptions: { maxParamLength: 200 },
    frameworkErrors: (error, request, reply) => sendProblem(request, reply, problem('badRequest', `The URL is malformed: ${error.message}`)),
  });

  app.addHook('onRequest', async (request) => checkOrigin(request, options.port()));

  app.setErrorHandler((error: FastifyError, request, reply) => {
    if (error instanceof ProblemError) {
      if (error.status >= 500) request.log.warn({ err: error.message, url: request.url }, 'dependency failure');
      return sendProblem(request, reply, error.problem);
    }
    const status = error.statusCode ?? 500;
    if (status >= 400 && status < 500) return sendProblem(request, reply, { ...problem('badRequest', error.message), status });
    request.log.error({ err: error, url: request.url }, 'console request failed');
    return sendProblem(request, reply, problem('internal', 'The console failed to answer; it has logged why.'));
  });

  app.setNotFoundHandler((request, reply) =>
    sendProblem(request, reply, problem('routeNotFound', `${request.method} ${request.url.split('?')[0]} is not part of the console; its API is listed in console/README.md.`)),
  );

  for (const [path, asset] of page.assets) {
    app.get(path, async (_request, reply) => {
      reply.header('cache-control', 'no-cache').header('x-content-type-options', 'nosniff').type(asset.contentType);
      if (path === '/') reply.header('content-security-policy', page.contentSecurityPolicy).header('referrer-policy', 'no-referrer');
      return reply.send(asset.body);
    });
  }

  app.get('/healthz', async () => ({ status: 'ok', spans: spans.stats() }));

  app.get('/api/services', async (request) => {
    const { windowSeconds = 60 } = parse(WindowQuery, request.query, 'query');
    const now = Date.now();
    return {
      windowSeconds,
      bucketSeconds: traffic.options.bucketMs / 1000,
      generatedAtUnixMs: now,
      services: traffic.services({ windowMs: windowSeconds * 1000, seriesMs: Math.min(seriesMs, traffic.options.retainMs), names: serviceNames }, now),
      spans: spans.stats(now),
    };
  });

  app.get('/api/edges', async (request) => {
    const { windowSeconds = 60 } = parse(WindowQuery, request.query, 'query');
    const now = Date.now();
    return { windowSeconds, generatedAtUnixMs: now, edges: traffic.edges({ windowMs: windowSeconds * 1000 }, now) };
  });

  app.get('/api/traces', async (request) => {
    const query = parse(TracesQuery, request.query, 'query');
    return { items: spans.search({ ...query, limit: query.limit ?? 50 }) };
  });

  app.get('/api/traces/:traceId', async (request) => {
    const { traceId } = parse(TraceParams, request.params, 'path');
    const detail = spans.trace(traceId);
    if (detail) return detail;
    const { limits } = spans.stats();
    throw new ProblemError('notFound', `The console holds no trace ${traceId}. It keeps the latest ${limits.maxSpans} spans for ${limits.maxAgeMs / 60_000} minutes; the trace may be older, or its spans not yet exported (services send them in batches every few seconds).`);
  });

  app.get('/api/dead-letters', async (request) => {
    const { limit = 100 } = parse(DeadLettersQuery, request.query, 'query');
    return { items: await deadLetters.list(limit) };
  });

  app.post('/api/dead-letters/:id/replay', async (request, reply) => {
    const { id } = parse(DeadLetterParams, request.params, 'path');
    const answer = await deadLetters.replay(id);
    if (answer.status === 200) return answer.body;
    // The store's problem, as the store put it: it knows why.
    return sendProblem(request, reply, answer.body);
  });

  app.get('/api/support/grants', async (request) => {
    const { limit = 100 } = parse(SupportGrantsQuery, request.query, 'query');
    return { generatedAtUnixMs: Date.now(), items: await supportGrants.list(limit) };
  });

  app.get('/api/support/grants/:id', async (request) => {
    const { id } = parse(SupportGrantParams, request.params, 'path');
    return supportGrants.detail(id);
  });

  return app;
}
