/**
 * Typed clients generated from a contract. A service calls another only through these: the call
 * is typed both ways, what comes back is validated against the callee's contract, and deadlines,
 * retries (idempotent routes only), circuit breaking, trace propagation and metrics are applied
 * the same way on every hop.
 */
import { createRequire } from 'node:module';
import type { Dispatcher, Pool as UndiciPool, errors as UndiciErrors } from 'undici';
import type { ReplyOf, RequestOf, RouteSpec, ServiceContract } from '@msa-poc/contracts';
import { UpstreamError } from './errors.js';
import type { Metrics } from './metrics.js';
import { CircuitBreaker, retry, type RetryPolicy } from './resilience.js';
import { currentContext } from './telemetry.js';
import { SpanKind, attr, context, errorTypeOf, injectContext, markFailed, trace, type Attributes, type Span, type Tracer } from './tracing.js';
import { validate } from './validation.js';

// undici's entry point loads every dispatcher, fetch, WebSocket, EventSource, the HTTP cache and
// the mock agent, and each process pays for it: 59 MB resident against 52 MB for the pool, its
// errors and its request method alone (Node 20, undici 7.30, `process.memoryUsage()` after GC).
// A service only uses the pool, so it loads those three modules; they are undici's own files, not
// its public API, so the platform pins undici's minor version and the client tests exercise them.
const undici = createRequire(import.meta.url);
const Pool = undici('undici/lib/dispatcher/pool.js') as typeof UndiciPool;
const undiciErrors = undici('undici/lib/core/errors.js') as typeof UndiciErrors;
const poolRequest = undici('undici/lib/api/api-request.js') as (this: Dispatcher, options: Dispatcher.RequestOptions) => Promise<Dispatcher.ResponseData>;

export type Client<C extends ServiceContract> = {
  readonly [K in keyof C['routes']]: (request: RequestOf<C['routes'][K]>, options?: CallOptions) => Promise<ReplyOf<C['routes'][K]>>;
};

export interface CallOptions {
  /** Upper bound for this call, retries included; the request's own deadline still applies. */
  readonly timeoutMs?: number;
  /** Extra headers, e.g. a signature computed over the exact body. */
  readonly headers?: Record<string, string>;
  /** Extra attributes of the call's span, e.g. marking a long poll as a messaging receive. */
  readonly spanAttributes?: Attributes;
  /**
   * Abandons the call, its retries included, when the caller no longer wants the answer (a
   * service stopping while a long poll waits): it rejects with the signal's reason at once, and
   * the peer's circuit breaker does not count it.
   */
  readonly signal?: AbortSignal;
}

/** Signs or otherwise decorates an outgoing request once its exact bytes are known. */
export type RequestSigner = (request: { method: string; url: string; headers: Record<string, string>; body: string | undefined }) => Record<string, string>;

/** One request as the callee's server receives it: the same bytes whichever way they travel. */
export interface WireRequest {
  readonly method: string;
  readonly path: string;
  readonly headers: Record<string, string>;
  readonly body: string | undefined;
  /** The time left to answer; the transport gives up after it. */
  readonly timeoutMs: number;
  /** The caller gave up: the transport stops waiting and rejects with the signal's reason. */
  readonly signal?: AbortSignal;
}

export interface WireResponse {
  readonly status: number;
  readonly headers: Readonly<Record<string, string | string[] | number | undefined>>;
  /** The body's text; rejects when the callee breaks off its answer or it exceeds `maxBytes`. */
  text(maxBytes: number): Promise<string>;
}

/**
 * How a call reaches the callee's server: over mutual TLS, or in the same process (co-located
 * components). Everything else a client does — validation, deadlines, retries, breaker, spans,
 * metrics — is the same on either.
 */
export interface Transport {
  /** The span's `msa.transport`: `https` on the network (`http` with the mtls bench switch off), `inproc` within one process. */
  readonly name: 'https' | 'http' | 'inproc';
  /** Rejects with an error named `TimeoutError` when the callee did not answer within `timeoutMs`. */
  send(request: WireRequest): Promise<WireResponse>;
  /** Resolves when the callee's server answers; for readiness checks. */
  ping(): Promise<void>;
  close(): Promise<void>;
}

/** Calls over mutual TLS through a pool of kept-alive connections. */
/** Over the network: https, or plain http on an internal hop with the mtls bench switch off. */
export function networkTransport(origin: string, connect: UndiciPool.Options['connect'], connections = 32): Transport {
  const pool = new Pool(origin, { connect, connections, keepAliveTimeout: 30_000, keepAliveMaxTimeout: 60_000, pipelining: 1 });
  return {
    name: new URL(origin).protocol === 'http:' ? 'http' : 'https',
    async send({ method, path, headers, body, timeoutMs, signal }) {
      const deadline = AbortSignal.timeout(timeoutMs);
      const response = await poolRequest.call(pool, {
        method: method as Dispatcher.HttpMethod, path, headers, body, headersTimeout: timeoutMs, bodyTimeout: timeoutMs, signal: signal ? AbortSignal.any([deadline, signal]) : deadline,
      });
      return {
        status: response.statusCode,
        headers: response.headers,
        text: async (maxBytes) => {
          const length = Number(response.headers['content-length'] ?? 0);
          if (length > maxBytes) {
            response.body.destroy();
            throw new Error(`response of ${length} bytes exceeds the ${maxBytes}-byte limit`);
          }
          return response.body.text();
        },
      };
    },
    async ping() {
      const response = await poolRequest.call(pool, { method: 'GET', path: '/openapi.json', headersTimeout: 2_000, bodyTimeout: 2_000 });
      await response.body.dump();
      if (response.statusCode !== 200) throw new Error(`answered ${response.statusCode}`);
    },
    close: () => pool.close(),
  };
}

export interface ClientOptions {
  /** e.g. `https://127.0.0.1:8102`: where the callee's server is, also for request signatures. */
  readonly origin: string;
  /** Name of the callee, for metrics, spans and error messages. */
  readonly peer: string;
  /** TLS settings of the default transport (mutual TLS to `origin`). */
  readonly connect?: UndiciPool.Options['connect'];
  /** Another way to reach the callee, e.g. in-process when it is co-located. */
  readonly transport?: Transport;
  readonly metrics?: Metrics;
  /** One CLIENT span per call, and one more per retry; without it, calls only pass the active trace context on. */
  readonly tracer?: Tracer;
  readonly connections?: number;
  readonly timeoutMs?: number;
  readonly retry?: RetryPolicy;
  readonly breaker?: { failureThreshold: number; openMs: number };
  readonly signer?: RequestSigner;
  /** False with the validation bench switch: answers are parsed, not checked against the callee's contract. */
  readonly validateResponses?: boolean;
  /** Largest response body accepted, in bytes. */
  readonly maxResponseBytes?: number;
}

export interface ClientHandle<C extends ServiceContract> {
  readonly client: Client<C>;
  /** The circuit breaker of one operation of the peer. */
  breaker(operation: keyof C['routes'] & string): CircuitBreaker;
  /** Resolves when the peer's server answers a request; for readiness checks. */
  ping(): Promise<void>;
  close(): Promise<void>;
}

const defaultRetry: RetryPolicy = { attempts: 3, baseMs: 25, capMs: 400 };

function buildPath(spec: RouteSpec, params: Record<string, unknown> | undefined, query: Record<string, unknown> | undefined): string {
  let path = spec.path.replace(/:([A-Za-z]+)/g, (_, name: string) => {
    const value = params?.[name];
    if (value === undefined) throw new TypeError(`missing path parameter "${name}" for ${spec.method} ${spec.path}`);
    return encodeURIComponent(String(value));
  });
  if (query) {
    const search = new URLSearchParams();
    for (const [key, value] of Object.entries(query)) if (value !== undefined && value !== null) search.append(key, String(value));
    const text = search.toString();
    if (text) path += `?${text}`;
  }
  return path;
}

const retryableStatuses = new Set([502, 503, 504]);

export function createClient<C extends ServiceContract>(contract: C, options: ClientOptions): ClientHandle<C> {
  const transport = options.transport ?? networkTransport(options.origin, options.connect, options.connections);
  const peer = options.peer;
  const metrics = options.metrics;
  const tracer = options.tracer ?? trace.getTracer('msa-poc');
  // One breaker per operation, not per peer: when orders cannot reach the store, its order routes
  // fail, but its cached catalog still answers, and a per-peer breaker would cut that off too.
  const breakers = new Map<string, CircuitBreaker>();
  const breakerFor = (operation: string): CircuitBreaker => {
    let breaker = breakers.get(operation);
    if (!breaker) {
      breaker = new CircuitBreaker({
        failureThreshold: options.breaker?.failureThreshold ?? 5,
        openMs: options.breaker?.openMs ?? 2_000,
        onStateChange: (state) => metrics?.breakerState.set({ peer_service: peer, operation }, state === 'closed' ? 0 : state === 'half-open' ? 1 : 2),
      });
      metrics?.breakerState.set({ peer_service: peer, operation }, 0);
      breakers.set(operation, breaker);
    }
    return breaker;
  };
  const maxBytes = options.maxResponseBytes ?? 4 * 1024 * 1024;

  /** One request on the wire; what it sent and got is written on `span`. */
  async function attempt(name: string, spec: RouteSpec, path: string, headers: Record<string, string>, body: string | undefined, deadline: number, span: Span, signal: AbortSignal | undefined): Promise<{ status: number; body: unknown; headers: Record<string, string> }> {
    signal?.throwIfAborted();
    const breaker = breakerFor(name);
    if (!breaker.tryAcquire()) {
      throw new UpstreamError('unavailable', peer, `${peer} is failing on ${name}; its circuit is open for another ${breaker.retryAfterMs()} ms.`, { retryable: false, headers: { 'retry-after': String(Math.ceil(breaker.retryAfterMs() / 1000)) } });
    }
    const remaining = deadline - Date.now();
    if (remaining <= 0) {
      breaker.success(); // not the peer's fault: release a half-open probe
      throw new UpstreamError('deadlineExceeded', peer, `no time left to call ${peer} (${name}).`, { retryable: false });
    }
    let response: WireResponse;
    try {
      // Signed per attempt: a signature carries a single-use nonce, so a retry needs a fresh one.
      const sent = { ...headers, 'x-request-timeout-ms': String(remaining) };
      const signed = options.signer ? { ...sent, ...options.signer({ method: spec.method, url: `${options.origin}${path}`, headers: sent, body }) } : sent;
      if (body !== undefined && span.isRecording()) span.setAttribute(attr.httpRequestBodySize, Buffer.byteLength(body));
      response = await transport.send({ method: spec.method, path, headers: signed, body, timeoutMs: remaining, ...(signal ? { signal } : {}) });
    } catch (error) {
      if (signal?.aborted) {
        breaker.success(); // the caller left, not the peer's fault: release a half-open probe
        throw signal.reason;
      }
      breaker.failure();
      const timedOut = error instanceof undiciErrors.HeadersTimeoutError || error instanceof undiciErrors.BodyTimeoutError || (error as Error).name === 'TimeoutError' || (error as Error).name === 'AbortError';
      if (timedOut) throw new UpstreamError('deadlineExceeded', peer, `${peer} did not answer ${name} within ${remaining} ms.`, { retryable: true, cause: error });
      throw new UpstreamError('unavailable', peer, `cannot reach ${peer} for ${name}: ${(error as Error).message}`, { retryable: true, cause: error });
    }
    let text: string;
    try {
      text = await response.text(maxBytes);
    } catch (error) {
      breaker.failure();
      throw new UpstreamError('unavailable', peer, `${peer} broke off its answer to ${name}: ${(error as Error).message}`, { retryable: true, cause: error });
    }
    const status = response.status;
    if (span.isRecording()) {
      span.setAttribute(attr.httpStatus, status);
      span.setAttribute(attr.httpResponseBodySize, Buffer.byteLength(text));
    }
    if (status >= 500) breaker.failure();
    else breaker.success();
    const schema = spec.responses[status];
    if (!schema) {
      const retryable = retryableStatuses.has(status);
      throw new UpstreamError(retryable ? 'unavailable' : 'upstreamContract', peer, `${peer} answered ${name} with ${status}, which its contract does not list${text ? `: ${text.slice(0, 200)}` : ''}.`, { retryable });
    }
    let parsed: unknown;
    try {
      parsed = text === '' ? undefined : JSON.parse(text);
    } catch {
      throw new UpstreamError('upstreamContract', peer, `${peer} answered ${name} with a body that is not JSON.`, { retryable: false });
    }
    const checked = options.validateResponses === false ? { ok: true as const, value: parsed } : validate(schema, parsed);
    if (!checked.ok) {
      throw new UpstreamError('upstreamContract', peer, `${peer} answered ${name} (${status}) outside its contract: ${checked.errors.map((e) => `${e.path} ${e.message}`).join('; ')}`, { retryable: false });
    }
    const replyHeaders: Record<string, string> = {};
    for (const key of ['retry-after', 'location']) {
      const value = response.headers[key];
      if (typeof value === 'string') replyHeaders[key] = value;
    }
    return { status, body: checked.value, headers: replyHeaders };
  }

  const client: Record<string, unknown> = {};
  for (const [name, spec] of Object.entries(contract.routes) as [string, RouteSpec][]) {
    const spanName = `${spec.method} ${spec.path}`;
    // The same for every call of the route: built once (the SDK copies it into each span).
    const routeAttributes: Attributes = {
      [attr.peerService]: peer,
      [attr.operation]: name,
      [attr.httpMethod]: spec.method,
      [attr.httpRoute]: spec.path,
      [attr.transport]: transport.name,
    };
    const retryPolicy = spec.idempotent ? options.retry ?? defaultRetry : { attempts: 1, baseMs: 0, capMs: 0 };
    client[name] = async (request: { params?: Record<string, unknown>; query?: Record<string, unknown>; headers?: Record<string, string>; body?: unknown }, callOptions: CallOptions = {}) => {
      const parent = context.active();
      const requestContext = currentContext();
      const timeout = callOptions.timeoutMs ?? options.timeoutMs ?? 5_000;
      const deadline = Math.min(Date.now() + timeout, requestContext?.deadline ?? Infinity);
      const path = buildPath(spec, request.params, request.query);
      const body = request.body === undefined ? undefined : JSON.stringify(request.body);
      const attributes = callOptions.spanAttributes ? { ...routeAttributes, ...callOptions.spanAttributes } : routeAttributes;
      const span = tracer.startSpan(spanName, { kind: SpanKind.CLIENT, attributes }, parent);
      const callContext = trace.setSpan(parent, span);
      const headers: Record<string, string> = {
        ...(request.headers ?? {}),
        ...(callOptions.headers ?? {}),
        ...(requestContext ? { 'x-request-id': requestContext.requestId } : {}),
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      };
      injectContext(callContext, headers);
      // The first attempt is the call span itself; each retry is a child span of its own, so that the
      // callee's server span hangs under the attempt that reached it and client spans count requests on the wire.
      const resend = async (n: number) => {
        const attemptSpan = tracer.startSpan(spanName, { kind: SpanKind.CLIENT, attributes }, callContext);
        attemptSpan.setAttribute(attr.httpResendCount, n - 1);
        const attemptHeaders = { ...headers };
        injectContext(trace.setSpan(callContext, attemptSpan), attemptHeaders);
        try {
          const result = await attempt(name, spec, path, attemptHeaders, body, deadline, attemptSpan, callOptions.signal);
          if (result.status >= 500) markFailed(attemptSpan, `${peer} answered ${result.status}`, String(result.status));
          return result;
        } catch (error) {
          markFailed(attemptSpan, error);
          throw error;
        } finally {
          attemptSpan.end();
        }
      };
      const started = performance.now();
      let outcome = 'error';
      let retries = 0;
      try {
        const result = await retry((n) => (n === 1 ? attempt(name, spec, path, headers, body, deadline, span, callOptions.signal) : resend(n)), {
          ...retryPolicy,
          deadline,
          ...(callOptions.signal ? { signal: callOptions.signal } : {}),
          retryable: (error) => error instanceof UpstreamError && error.retryable,
          onRetry: (n, error, delayMs) => {
            retries += 1;
            metrics?.retries.inc({ peer_service: peer, operation: name });
            // The failed attempt stays visible on the call span (the first attempt has no span of its own).
            if (span.isRecording()) span.addEvent('retry', { [attr.errorType]: errorTypeOf(error), 'msa.attempt': n, 'msa.retry.delay_ms': delayMs });
          },
        });
        outcome = String(result.status);
        if (retries > 0) span.setAttribute(attr.httpStatus, result.status);
        if (result.status >= 500) markFailed(span, `${peer} answered ${result.status}`, String(result.status));
        return result;
      } catch (error) {
        if (error instanceof UpstreamError) outcome = error.problem.status === 504 ? 'timeout' : 'unavailable';
        markFailed(span, error);
        throw error;
      } finally {
        span.end();
        metrics?.clientDuration.observe({ peer_service: peer, operation: name, outcome }, (performance.now() - started) / 1000);
      }
    };
  }
  const ping = async (): Promise<void> => {
    try {
      await transport.ping();
    } catch (error) {
      throw new Error(`${peer}: ${(error as Error).message}`);
    }
  };
  return { client: client as Client<C>, breaker: breakerFor, ping, close: () => transport.close() };
}
