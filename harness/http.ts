/**
 * The harness's HTTP/1.1 keep-alive transport to one origin: the load generator's hot path and the
 * API client's calls.
 *
 * It is undici's `Pool` driven through its low-level `dispatch` API with a minimal handler, not
 * undici's `request`: on the bench's plain route (64 connections, 2 cores) a closed loop of
 * `request` calls cost the client 21 to 37 µs of CPU per request against 13 µs through `dispatch`
 * (autocannon: 13.5 µs), the difference being a Readable body stream, an AbortSignal listener and
 * an origin lookup in the Agent for every request. The body is kept as the chunks that arrived and
 * the headers are parsed only when read, since a load operation usually wants the status alone.
 */
import { Pool, util } from 'undici';

export interface HttpRequest {
  readonly method: string;
  /** Path and query, starting with `/`. */
  readonly path: string;
  readonly headers?: Readonly<Record<string, string>>;
  readonly body?: string | Buffer;
  /** Aborts the request; the promise rejects with the signal's reason. */
  readonly signal?: AbortSignal;
  /**
   * Like `signal`, for a canceller that calls back instead (the load generator's `Deadline`): it
   * costs no AbortSignal and no listener, which on the load client's hot path is a measurable share.
   */
  readonly cancelledBy?: Cancellable;
  /** Without a signal: the request fails with a `TimeoutError` when no whole response came in this time. */
  readonly timeoutMs?: number;
}

export interface Cancellable {
  onCancel(cancel: (reason: unknown) => void): void;
}

export type HttpHeaders = Record<string, string | string[] | undefined>;

export class HttpResponse {
  #headers: HttpHeaders | undefined;

  constructor(
    readonly status: number,
    readonly rawHeaders: readonly Buffer[],
    readonly body: Buffer,
  ) {}

  /** Lower-case names; a repeated header is an array. */
  get headers(): HttpHeaders {
    return (this.#headers ??= util.parseHeaders(this.rawHeaders as Buffer[]) as HttpHeaders);
  }

  text(): string {
    return this.body.toString('utf8');
  }
}

export interface HttpTransportOptions {
  /** Most connections kept open to the origin; further requests wait for one. Default 64. */
  readonly connections?: number;
  /** PEM of the CA that issued an https origin's certificate; undefined trusts the system's CAs. */
  readonly ca?: string;
  /** How long an idle connection is kept. Default 30 s. */
  readonly keepAliveTimeoutMs?: number;
}

/** Collects one response; every callback is undici's `Dispatcher.DispatchHandler` contract. */
class Exchange {
  #abort: ((reason?: Error) => void) | undefined;
  #status = 0;
  #rawHeaders: Buffer[] = [];
  #chunks: Buffer[] = [];
  #timer: NodeJS.Timeout | undefined;
  #signal: AbortSignal | undefined;
  #settled = false;
  #cancelReason: unknown;
  readonly #resolve: (response: HttpResponse) => void;
  readonly #reject: (error: unknown) => void;
  #onAbort: (() => void) | undefined;

  constructor(request: HttpRequest, resolve: (response: HttpResponse) => void, reject: (error: unknown) => void) {
    this.#resolve = resolve;
    this.#reject = reject;
    if (request.cancelledBy) request.cancelledBy.onCancel((reason) => this.cancel(reason));
    if (request.signal) {
      const signal = request.signal;
      this.#signal = signal;
      this.#onAbort = () => this.cancel(signal.reason);
      signal.addEventListener('abort', this.#onAbort, { once: true });
    } else if (request.timeoutMs !== undefined) {
      const timeoutMs = request.timeoutMs;
      this.#timer = setTimeout(() => this.cancel(new DOMException(`no response within ${timeoutMs} ms`, 'TimeoutError')), timeoutMs);
    }
  }

  get settled(): boolean {
    return this.#settled;
  }

  /** Fails the request now with `reason`; a request still queued or in flight is dropped (its connection closed). */
  cancel(reason: unknown): void {
    if (this.#settled || this.#cancelReason !== undefined) return;
    const aborted = new DOMException('the request was aborted', 'AbortError');
    this.#cancelReason = reason ?? aborted;
    if (this.#abort) this.#abort(reason instanceof Error ? reason : aborted);
    else this.#finish(undefined, this.#cancelReason);
  }

  onConnect(abort: (reason?: Error) => void): void {
    if (this.#settled) abort(new DOMException('the request was aborted', 'AbortError'));
    else this.#abort = abort;
  }

  onHeaders(status: number, rawHeaders: Buffer[]): boolean {
    this.#status = status;
    this.#rawHeaders = rawHeaders;
    return true;
  }

  onData(chunk: Buffer): boolean {
    this.#chunks.push(chunk);
    return true;
  }

  onComplete(): void {
    const chunks = this.#chunks;
    const body = chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks);
    this.#finish(new HttpResponse(this.#status, this.#rawHeaders, body), undefined);
  }

  onError(error: Error): void {
    // An abort rejects with its own reason, as fetch and undici's request do.
    this.#finish(undefined, this.#cancelReason ?? error);
  }

  #finish(response: HttpResponse | undefined, error: unknown): void {
    if (this.#settled) return;
    this.#settled = true;
    if (this.#timer) clearTimeout(this.#timer);
    if (this.#onAbort) this.#signal?.removeEventListener('abort', this.#onAbort);
    if (response) this.#resolve(response);
    else this.#reject(error);
  }
}

export class HttpTransport {
  readonly #pool: Pool;
  readonly #origin: string;

  /** `origin`: scheme, host and port, e.g. `https://127.0.0.1:8443`. */
  constructor(origin: string, options: HttpTransportOptions = {}) {
    const url = new URL(origin);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new TypeError(`HttpTransport needs an http or https origin, got ${origin}`);
    this.#origin = url.origin;
    this.#pool = new Pool(this.#origin, {
      connections: options.connections ?? 64,
      keepAliveTimeout: options.keepAliveTimeoutMs ?? 30_000,
      ...(options.ca === undefined ? {} : { connect: { ca: options.ca } }),
    });
  }

  get origin(): string {
    return this.#origin;
  }

  /** Sends one request and resolves with the whole response, any status; rejects on a network error, abort or timeout. */
  send(request: HttpRequest): Promise<HttpResponse> {
    return new Promise<HttpResponse>((resolve, reject) => {
      if (request.signal?.aborted) return reject(request.signal.reason);
      const exchange = new Exchange(request, resolve, reject);
      if (exchange.settled) return; // cancelled by `cancelledBy` before it was sent
      this.#pool.dispatch(
        { origin: this.#origin, method: request.method as 'GET', path: request.path, headers: request.headers ?? null, body: request.body ?? null },
        exchange,
      );
    });
  }

  /** Waits for what is in flight, then closes every connection. */
  close(): Promise<void> {
    return this.#pool.close();
  }

  /** Closes every connection now, failing what is in flight. */
  destroy(): Promise<void> {
    return this.#pool.destroy();
  }
}
