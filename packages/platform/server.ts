/**
 * The service server: a contract goes in, a Fastify server comes out that validates every input
 * against it, checks who is calling, serializes every answer by its schema, and speaks RFC 9457
 * for every error — the business handlers see typed values only.
 */
import Fastify, { LogController, type FastifyBaseLogger, type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { TLSSocket } from 'node:tls';
import {
  openapi, problem, problemMediaType, type Callers, type ReplyOf, type RequestOf, type RouteSpec, type ServiceContract, type ServiceName,
} from '@msa-poc/contracts';
import { ProblemError } from './errors.js';
import { serviceOf, spiffeIdOf } from './identity.js';
import type { Metrics } from './metrics.js';
import { statusClass } from './metrics.js';
import { childOf, formatTraceparent, parseTraceparent, requestIdFrom, runWithContext, type Logger, type RequestContext } from './telemetry.js';
import { validate, type FieldError } from './validation.js';

/** Who is calling: a service proven by its certificate, or a client of the public edge. */
export type Caller = { readonly kind: 'service'; readonly service: ServiceName } | { readonly kind: 'public' };

/** The raw request, for the edge only (authentication needs the exact method, URL and headers). */
export interface HttpView {
  readonly method: string;
  readonly url: string;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  readonly rawBody: string | undefined;
}

export type Handler<R extends RouteSpec> = (request: RequestOf<R> & { readonly caller: Caller; readonly http: HttpView }) => Promise<ReplyOf<R>>;
export type Handlers<C extends ServiceContract> = { readonly [K in keyof C['routes']]: Handler<C['routes'][K]> };

export interface ServerOptions<C extends ServiceContract> {
  readonly contract: C;
  readonly handlers: Handlers<NoInfer<C>>;
  readonly tls: { key: string; cert: string; ca: string; minVersion: 'TLSv1.3'; requestCert: boolean; rejectUnauthorized: boolean };
  /** internal: every caller must present a service certificate and be allowed by the route. */
  readonly exposure: 'public' | 'internal' | 'external';
  /** Public origin used to build absolute URLs (`https://127.0.0.1:8443`), for the edge's proof checks. */
  readonly publicOrigin: string;
  readonly log: Logger;
  readonly metrics: Metrics;
  readonly bodyLimit?: number;
  /** Budget for a request that arrives without one. */
  readonly defaultTimeoutMs?: number;
}

class ValidationFailure extends Error {
  readonly errors: FieldError[];
  constructor(where: string, errors: FieldError[]) {
    super(`${where} does not match the contract: ${errors.map((e) => `${e.path} ${e.message}`).join('; ')}`);
    this.errors = errors;
  }
}

declare module 'fastify' {
  interface FastifyRequest {
    pocContext: RequestContext;
    rawBody: string | undefined;
  }
}

const timeoutHeader = 'x-request-timeout-ms';
const callerCache = new WeakMap<object, ServiceName | null>();

/** The calling service, from the SPIFFE id in its client certificate (cached per connection). */
function callingService(request: FastifyRequest): ServiceName | undefined {
  const socket = request.raw.socket as TLSSocket;
  let cached = callerCache.get(socket);
  if (cached === undefined) {
    const spiffe = typeof socket.getPeerCertificate === 'function' ? spiffeIdOf(socket.getPeerCertificate()) : undefined;
    cached = (spiffe && serviceOf(spiffe)) || null;
    callerCache.set(socket, cached);
  }
  return cached ?? undefined;
}

function authorize(request: FastifyRequest, callers: Callers, exposure: ServerOptions<ServiceContract>['exposure']): Caller {
  if (exposure !== 'internal') return { kind: 'public' };
  const service = callingService(request);
  if (!service) throw new ProblemError('forbiddenCaller', 'The client certificate carries no service identity of this trust domain.');
  if (callers === 'public' || !callers.includes(service)) {
    throw new ProblemError('forbiddenCaller', `${service} may not call ${request.method} ${request.routeOptions.url}; the contract allows ${callers === 'public' ? 'the edge only' : callers.join(', ')}.`);
  }
  return { kind: 'service', service };
}

export function sendProblem(request: FastifyRequest, reply: FastifyReply, body: Record<string, unknown> & { status: number }, headers: Record<string, string> = {}): FastifyReply {
  const context = request.pocContext as RequestContext | undefined;
  return reply
    .code(body.status)
    .headers(headers)
    .type(problemMediaType)
    .send({ ...body, instance: request.url.split('?')[0], ...(context ? { requestId: context.requestId, traceId: context.trace.traceId } : {}) });
}

function problemFromError(error: FastifyError & { errors?: FieldError[] }): { body: ReturnType<typeof problem>; headers?: Record<string, string>; serverFault: boolean } {
  // A dependency's failure (502/503/504) is this service working as designed; only its own bugs are faults.
  if (error instanceof ProblemError) return { body: error.problem, headers: { ...error.headers }, serverFault: error.status === 500 };
  if (error instanceof ValidationFailure || error.code === 'FST_ERR_VALIDATION') {
    return { body: problem('validation', error.message, error.errors ? { errors: error.errors } : {}), serverFault: false };
  }
  switch (error.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return { body: problem('payloadTooLarge', 'The request body exceeds the limit for this service; send a smaller body.'), serverFault: false };
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return { body: problem('unsupportedMediaType', 'Send the body as application/json.'), serverFault: false };
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return { body: problem('badRequest', 'The body is empty; send a JSON document.'), serverFault: false };
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return { body: problem('badRequest', 'Content-Length does not match the body.'), serverFault: false };
  }
  if (error instanceof SyntaxError || error.code === 'FST_ERR_CTP_INVALID_JSON_BODY') {
    return { body: problem('badRequest', `The body is not valid JSON: ${error.message}`), serverFault: false };
  }
  const status = error.statusCode ?? 500;
  if (status >= 400 && status < 500) return { body: { ...problem('badRequest', error.message), status }, serverFault: false };
  return { body: problem('internal', 'The service failed to handle the request; it has been logged with its request id.'), serverFault: true };
}

export async function createServer<C extends ServiceContract>(options: ServerOptions<C>): Promise<FastifyInstance> {
  // The pino instance is ours; Fastify's generic logger type is all the server needs to know of it.
  const { contract, handlers, log, metrics, exposure } = options;
  const app: FastifyInstance = Fastify({
    https: options.tls,
    bodyLimit: options.bodyLimit ?? 64 * 1024,
    loggerInstance: log as unknown as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: true, requestIdLogLabel: 'request_id' }),
    // Fastify's request id is ours: a well-formed incoming x-request-id, else a new one.
    genReqId: (raw) => requestIdFrom(typeof raw.headers['x-request-id'] === 'string' ? raw.headers['x-request-id'] : undefined),
    onProtoPoisoning: 'error',
    onConstructorPoisoning: 'error',
    forceCloseConnections: 'idle',
    return503OnClosing: true,
    requestTimeout: 30_000,
    routerOptions: { maxParamLength: 256 },
    // Errors the router meets before any hook runs (a malformed URL, an over-long parameter) still
    // get a problem document and the request and trace ids.
    frameworkErrors: (error, request, reply) => {
      const trace = childOf(undefined);
      reply.header('x-request-id', request.id).header('x-trace-id', trace.traceId);
      const body = error.code === 'FST_ERR_MAX_PARAM_LENGTH'
        ? problem('uriTooLong', 'A path parameter is longer than any this API accepts.')
        : problem('badRequest', `The URL is malformed: ${error.message}`);
      return sendProblem(request, reply, body);
    },
  });

  app.decorateRequest('pocContext', null as unknown as RequestContext);
  app.decorateRequest('rawBody', undefined);

  // JSON as usual (with prototype-poisoning protection), but the raw text is kept: the edge verifies
  // Content-Digest over the exact bytes that were signed.
  const parseJson = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    request.rawBody = body as string;
    parseJson(request, body as string, done);
  });

  // Forms, for the one route that the OAuth specification makes take them (the token endpoint).
  // A repeated field is refused: RFC 6749 §3.2 forbids it, and it is how parameter smuggling starts.
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (request, body, done) => {
    request.rawBody = body as string;
    const entries = [...new URLSearchParams(body as string)];
    const seen = new Set<string>();
    for (const [key] of entries) {
      if (seen.has(key)) {
        done(Object.assign(new Error(`form field "${key}" is repeated`), { statusCode: 400 }), undefined);
        return;
      }
      seen.add(key);
    }
    // fromEntries defines own properties, so a field named __proto__ cannot reach the prototype.
    done(null, Object.fromEntries(entries));
  });

  app.setValidatorCompiler(({ schema, httpPart }) => (data: unknown) => {
    const where = httpPart ?? 'input';
    const result = validate(schema as never, data, { coerce: where !== 'body', where: where === 'body' ? '' : `${where}` });
    return result.ok ? { value: result.value } : { error: new ValidationFailure(where, result.errors) };
  });

  const defaultTimeout = options.defaultTimeoutMs ?? 10_000;
  app.addHook('onRequest', async (request, reply) => {
    const incomingTrace = request.headers.traceparent;
    const budget = Number(request.headers[timeoutHeader]);
    const timeout = Number.isFinite(budget) && budget > 0 ? Math.min(budget, defaultTimeout) : defaultTimeout;
    const context: RequestContext = {
      requestId: request.id,
      trace: childOf(parseTraceparent(typeof incomingTrace === 'string' ? incomingTrace : undefined)),
      deadline: Date.now() + timeout,
    };
    request.pocContext = context;
    reply.header('x-request-id', context.requestId);
    reply.header('x-trace-id', context.trace.traceId);
    reply.header('traceresponse', formatTraceparent(context.trace));
    metrics.serverInFlight.inc();
  });

  app.addHook('onResponse', async (request, reply) => {
    metrics.serverInFlight.dec();
    metrics.serverDuration.observe(
      { http_route: request.routeOptions.url ?? 'unmatched', http_request_method: request.method, http_response_status_class: statusClass(reply.statusCode) },
      reply.elapsedTime / 1000,
    );
  });

  app.setErrorHandler((error: FastifyError & { errors?: FieldError[] }, request, reply) => {
    const { body, headers, serverFault } = problemFromError(error);
    if (serverFault) request.log.error({ err: error, route: request.routeOptions.url }, 'request failed');
    else if (body.status >= 500) request.log.warn({ err: error.message, route: request.routeOptions.url }, 'dependency failure');
    return sendProblem(request, reply, body, headers);
  });

  app.setNotFoundHandler((request, reply) =>
    sendProblem(request, reply, problem('routeNotFound', `${request.method} ${request.url.split('?')[0]} is not a route of ${contract.service}; see /openapi.json.`)),
  );

  const document = openapi(contract);
  app.get('/openapi.json', async () => document);

  for (const [name, spec] of Object.entries(contract.routes) as [string, RouteSpec][]) {
    const handler = (handlers as unknown as Record<string, Handler<RouteSpec>>)[name];
    if (!handler) throw new Error(`${contract.service} has no handler for route "${name}" (${spec.method} ${spec.path})`);
    app.route({
      method: spec.method,
      url: spec.path,
      schema: {
        ...(spec.params ? { params: spec.params } : {}),
        ...(spec.query ? { querystring: spec.query } : {}),
        ...(spec.headers ? { headers: spec.headers } : {}),
        ...(spec.body ? { body: spec.body } : {}),
        response: spec.responses,
      },
      // Each route takes the one body encoding its contract names; the other parser's output is refused here.
      ...(spec.body ? {
        preValidation: async (request: FastifyRequest) => {
          const expected = spec.bodyMediaType ?? 'application/json';
          const type = String(request.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase();
          if (type !== expected) throw new ProblemError('unsupportedMediaType', `Send the body as ${expected}.`);
        },
      } : {}),
      handler: async (request, reply) => {
        const caller = authorize(request, spec.callers, exposure);
        const http: HttpView = { method: request.method, url: `${options.publicOrigin}${request.url}`, headers: request.headers, rawBody: request.rawBody };
        const result = await runWithContext(request.pocContext, () =>
          handler({ params: request.params, query: request.query, headers: request.headers, body: request.body, caller, http } as never),
        );
        if (result.headers) reply.headers(result.headers);
        const body = result.body as Record<string, unknown>;
        // Error bodies are problem documents, except where a standard prescribes its own (OAuth's token errors).
        if (result.status >= 400 && typeof body?.type === 'string' && typeof body.title === 'string') return sendProblem(request, reply, { ...body, status: result.status });
        return reply.code(result.status).send(result.body);
      },
    });
  }
  return app;
}
