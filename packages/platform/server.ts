/**
 * The service server: a contract goes in, a Fastify server comes out that validates every input
 * against it, checks who is calling, serializes every answer by its schema, and speaks RFC 9457
 * for every error — the business handlers see typed values only.
 */
import Fastify, { LogController, type FastifyBaseLogger, type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { TLSSocket } from 'node:tls';
import {
  openapi, problem, problemMediaType, type Callers, type ReplyOf, type RequestOf, type RouteSpec, type ServiceContract, type WorkloadName,
} from '@msa-poc/contracts';
import { ProblemError } from './errors.js';
import { spiffeIdOf, workloadOf } from './identity.js';
import type { Metrics } from './metrics.js';
import { statusClass } from './metrics.js';
import { requestContext, requestIdFrom, runWithContext, type Logger, type RequestContext } from './telemetry.js';
import { ROOT_CONTEXT, SpanKind, attr, errorTypeOf, extractContext, markFailed, traceparentOf, type Context, type Span, type Tracer } from './tracing.js';
import { coerce, validate, type FieldError } from './validation.js';

/**
 * Who is calling: a service proven by its certificate, or a caller of unproven identity (a client
 * of the public edge, or anyone at all on an internal service while the mtls bench switch is off).
 */
export type Caller = { readonly kind: 'service'; readonly service: WorkloadName } | { readonly kind: 'public' };

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
  /**
   * Absent only for an internal service with the mtls bench switch off: it then speaks plain HTTP,
   * no caller proves who it is, and so the contract's allow-list of callers cannot be (and is not) checked.
   */
  readonly tls: { key: string; cert: string; ca: string; minVersion: 'TLSv1.3'; requestCert: boolean; rejectUnauthorized: boolean } | undefined;
  /** internal: every caller must present a service certificate and be allowed by the route (over TLS). */
  readonly exposure: 'public' | 'internal' | 'external';
  /** Public origin used to build absolute URLs (`https://127.0.0.1:8443`), for the edge's proof checks. */
  readonly publicOrigin: string;
  readonly log: Logger;
  readonly metrics: Metrics;
  /** One SERVER span per request, continuing the caller's trace. */
  readonly tracer: Tracer;
  /**
   * False with the validation bench switch: requests are not checked against the contract (path,
   * query and header text is still converted to the schema's types); answers are still written by
   * their schemas.
   */
  readonly validateRequests?: boolean;
  readonly bodyLimit?: number;
  /** Budget for a request that arrives without one. */
  readonly defaultTimeoutMs?: number;
  /** Who a co-located component's in-process request comes from (it has no certificate). */
  readonly localCallers?: LocalCallers;
}

/**
 * A body already serialized as JSON, sent exactly as it is instead of through the route's schema:
 * what a support token is served is the masked body (fields may be missing), byte for byte as the
 * grant's log keeps it.
 */
export class SerializedJson {
  constructor(readonly json: string) {}
}

/** The process's component registry, as far as a server needs it: the caller behind a local request's ticket. */
export interface LocalCallers {
  redeem(ticket: string): WorkloadName | undefined;
}

/** Carries the ticket of an in-process request; it names no one over the network, where every caller is a certificate. */
export const localCallerHeader = 'x-poc-local-caller';

class ValidationFailure extends Error {
  readonly errors: FieldError[];
  constructor(where: string, errors: FieldError[]) {
    super(`${where} does not match the contract: ${errors.map((e) => `${e.path} ${e.message}`).join('; ')}`);
    this.errors = errors;
  }
}

declare module 'fastify' {
  interface FastifyRequest {
    /** Null until the request is tagged (always, once onRequest ran; never for a URL the router refused). */
    pocContext: RequestContext | null;
    /** The OpenTelemetry context the handler runs in: the server span and the request (null until tagged). */
    traceContext: Context | null;
    /** What failed the request, for its server span. */
    failure: unknown;
    /** Set once the server span has ended and the request left the in-flight gauge. */
    finished: boolean;
    rawBody: string | undefined;
  }
  interface FastifyContextConfig {
    /** The contract's name for the route, e.g. `placeOrder`. */
    operation?: string;
  }
}

const timeoutHeader = 'x-request-timeout-ms';
const callerCache = new WeakMap<object, WorkloadName | null>();

/**
 * The calling service, from the SPIFFE id in its client certificate (cached per connection); for a
 * request dispatched in-process (no TLS socket), from the ticket its host issued to the caller.
 */
function callingService(request: FastifyRequest, local: LocalCallers | undefined): WorkloadName | undefined {
  const socket = request.raw.socket as TLSSocket;
  if (typeof socket.getPeerCertificate !== 'function') {
    const ticket = request.headers[localCallerHeader];
    return local && typeof ticket === 'string' ? local.redeem(ticket) : undefined;
  }
  let cached = callerCache.get(socket);
  if (cached === undefined) {
    const spiffe = spiffeIdOf(socket.getPeerCertificate());
    cached = (spiffe && workloadOf(spiffe)) || null;
    callerCache.set(socket, cached);
  }
  return cached ?? undefined;
}

/**
 * Who may call: an internal route admits only the services its contract lists. `identified` is false
 * when the server runs without TLS (the mtls bench switch): callers then prove nothing, and only an
 * in-process caller, which carries its host's ticket, is still checked.
 */
function authorize(request: FastifyRequest, callers: Callers, exposure: ServerOptions<ServiceContract>['exposure'], local: LocalCallers | undefined, identified: boolean): Caller {
  if (exposure !== 'internal') return { kind: 'public' };
  const service = callingService(request, local);
  if (!service && !identified) return { kind: 'public' };
  if (!service) throw new ProblemError('forbiddenCaller', 'The caller carries no service identity of this trust domain (no client certificate, or an in-process call its host did not issue).');
  if (callers === 'public' || !callers.includes(service)) {
    throw new ProblemError('forbiddenCaller', `${service} may not call ${request.method} ${request.routeOptions.url}; the contract allows ${callers === 'public' ? 'the edge only' : callers.join(', ')}.`);
  }
  return { kind: 'service', service };
}

export function sendProblem(request: FastifyRequest, reply: FastifyReply, body: Record<string, unknown> & { status: number }, headers: Record<string, string> = {}): FastifyReply {
  const context = request.pocContext;
  return reply
    .code(body.status)
    .headers(headers)
    .type(problemMediaType)
    .send({ ...body, instance: request.url.split('?')[0], ...(context ? { requestId: context.requestId, traceId: context.span.spanContext().traceId } : {}) });
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
  const { contract, handlers, log, metrics, exposure, tracer } = options;
  const app: FastifyInstance = Fastify({
    ...(options.tls ? { https: options.tls } : {}),
    bodyLimit: options.bodyLimit ?? 64 * 1024,
    loggerInstance: log as unknown as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: true, requestIdLogLabel: 'request_id' }),
    // No child logger per request: the logger's mixin already adds the request, trace and span ids
    // of the active context, and a pino child per request is an allocation on every request.
    childLoggerFactory: (logger) => logger,
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
      const tagged = tagRequest(request, undefined, undefined);
      reply.header('x-request-id', tagged.requestId).header('x-trace-id', tagged.span.spanContext().traceId);
      const body = error.code === 'FST_ERR_MAX_PARAM_LENGTH'
        ? problem('uriTooLong', 'A path parameter is longer than any this API accepts.')
        : problem('badRequest', `The URL is malformed: ${error.message}`);
      sendProblem(request, reply, body);
      // No hook runs for a URL the router refused: the request ends here.
      finish(request, body.status);
      return reply;
    },
  });

  app.decorateRequest('pocContext', null);
  app.decorateRequest('traceContext', null);
  app.decorateRequest('failure', undefined);
  app.decorateRequest('finished', false);
  app.decorateRequest('rawBody', undefined);

  const defaultTimeout = options.defaultTimeoutMs ?? 10_000;

  /** Opens the request's SERVER span (continuing the caller's traceparent) and its context. */
  function tagRequest(request: FastifyRequest, route: string | undefined, operation: string | undefined): RequestContext {
    const headers = request.headers;
    const budget = Number(headers[timeoutHeader]);
    const timeout = Number.isFinite(budget) && budget > 0 ? Math.min(budget, defaultTimeout) : defaultTimeout;
    const parent = extractContext(headers);
    const span: Span = tracer.startSpan(route === undefined ? request.method : `${request.method} ${route}`, { kind: SpanKind.SERVER }, parent);
    if (span.isRecording()) {
      span.setAttribute(attr.httpMethod, request.method);
      span.setAttribute(attr.requestId, request.id);
      if (route !== undefined) span.setAttribute(attr.httpRoute, route);
      if (operation !== undefined) span.setAttribute(attr.operation, operation);
    }
    const context: RequestContext = { requestId: request.id, deadline: Date.now() + timeout, span };
    request.pocContext = context;
    request.traceContext = requestContext(parent, context);
    return context;
  }

  /** Ends the request's span with its status (a 5xx is an error; a 4xx is the caller's) and records it, once. */
  function finish(request: FastifyRequest, status: number): void {
    const context = request.pocContext;
    if (!context || request.finished) return;
    request.finished = true;
    const span = context.span;
    if (span.isRecording()) {
      span.setAttribute(attr.httpStatus, status);
      if (status >= 500) markFailed(span, request.failure ?? `answered ${status}`, request.failure === undefined ? String(status) : errorTypeOf(request.failure));
    }
    span.end();
  }

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
    if (options.validateRequests === false) return { value: where === 'body' ? data : coerce(schema as never, data) };
    const result = validate(schema as never, data, { coerce: where !== 'body', where: where === 'body' ? '' : `${where}` });
    return result.ok ? { value: result.value } : { error: new ValidationFailure(where, result.errors) };
  });

  app.addHook('onRequest', async (request, reply) => {
    const context = tagRequest(request, request.routeOptions.url, request.routeOptions.config.operation);
    const spanContext = context.span.spanContext();
    reply.header('x-request-id', context.requestId);
    reply.header('x-trace-id', spanContext.traceId);
    reply.header('traceresponse', traceparentOf(spanContext));
    metrics.serverInFlight.inc();
  });

  app.addHook('onResponse', async (request, reply) => {
    if (request.finished) return;
    finish(request, reply.statusCode);
    metrics.serverInFlight.dec();
    metrics.serverDuration.observe(
      { http_route: request.routeOptions.url ?? 'unmatched', http_request_method: request.method, http_response_status_class: statusClass(reply.statusCode) },
      reply.elapsedTime / 1000,
    );
  });

  // A caller that hangs up gets no response, so onResponse never runs: the request ends here.
  app.addHook('onRequestAbort', async (request) => {
    if (request.finished) return;
    request.failure ??= Object.assign(new Error('the caller closed the connection before the answer'), { code: 'aborted' });
    finish(request, 499);
    metrics.serverInFlight.dec();
  });

  app.setErrorHandler((error: FastifyError & { errors?: FieldError[] }, request, reply) => {
    const { body, headers, serverFault } = problemFromError(error);
    if (body.status >= 500) {
      request.failure = error;
      // Logged in the request's context, so that the line carries its request, trace and span ids.
      const write = () => {
        if (serverFault) log.error({ err: error, route: request.routeOptions.url }, 'request failed');
        else log.warn({ err: error.message, route: request.routeOptions.url }, 'dependency failure');
      };
      if (request.traceContext) runWithContext(request.traceContext, write);
      else write();
    }
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
      config: { operation: name },
      ...(spec.bodyLimit ? { bodyLimit: spec.bodyLimit } : {}),
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
        const caller = authorize(request, spec.callers, exposure, options.localCallers, options.tls !== undefined);
        if (caller.kind === 'service') request.pocContext?.span.setAttribute(attr.caller, caller.service);
        const http: HttpView = { method: request.method, url: `${options.publicOrigin}${request.url}`, headers: request.headers, rawBody: request.rawBody };
        const result = await runWithContext(request.traceContext ?? ROOT_CONTEXT, () =>
          handler({ params: request.params, query: request.query, headers: request.headers, body: request.body, caller, http } as never),
        );
        if (result.headers) reply.headers(result.headers);
        if ((result.body as unknown) instanceof SerializedJson) {
          return reply.code(result.status).type(result.status >= 400 ? problemMediaType : 'application/json').send((result.body as unknown as SerializedJson).json);
        }
        const body = result.body as Record<string, unknown>;
        // Error bodies are problem documents, except where a standard prescribes its own (OAuth's token errors).
        if (result.status >= 400 && typeof body?.type === 'string' && typeof body.title === 'string') return sendProblem(request, reply, { ...body, status: result.status });
        return reply.code(result.status).send(result.body);
      },
    });
  }
  return app;
}
