/**
 * The harness's HTTP/1.1 keep-alive transport to one origin: the load generator's hot path and the
 * API client's calls.
 *
 * Hand-written over `node:net` and `node:tls` rather than undici, because undici was the load
 * client's bottleneck: on the bench's plain Fastify route (`bench/client-vs-autocannon.ts`, 64
 * connections, 2 shared cores at a load average of 5 to 11, twelve runs interleaved with twelve
 * of the undici version) a closed loop through undici's `Pool.dispatch` cost 14.0–22.1 µs of client
 * CPU per request and this client 9.3–10.7 µs; the load generator on it 10.3–16.3 µs per answered
 * request against 15.5–19.9 on undici, autocannon 11.0–15.0; over https (the API client's case,
 * three pairs of 3 s loops) 17.6–25.0 µs against undici's 28.5–72.6. The socket write is now about
 * two thirds of the client's CPU samples. Requests are serialised to one string (or one buffer with
 * their body) and written in one call; plain-TCP reads land in one reused buffer (`onread`)
 * instead of a Buffer per read pushed through a Readable; a response is parsed in place, its
 * headers kept as text and parsed into an object only when read, since a load operation usually
 * wants the status alone.
 *
 * What it does: up to `connections` keep-alive connections, opened when requests wait, one request
 * at a time on each (no pipelining), the rest queued in order; bodies by Content-Length, chunked
 * (extensions and trailers skipped) or up to the close; `Connection: close` and the server's
 * `Keep-Alive: timeout` honoured (an idle connection is dropped a second before the server would).
 * A request that finds its reused connection closed before any byte of the answer came (the server
 * dropped an idle connection as the request left) is sent once more on a fresh connection when a
 * second copy can do no harm: GET, HEAD, OPTIONS, TRACE, PUT and DELETE, and any other method (the
 * load client's POST) only with an `Idempotency-Key`, with which the server answers a repeat with
 * the first outcome. A plain POST is not sent again: the server may have acted on it before the
 * connection closed.
 * Anything else that breaks a connection fails its request with an `HttpTransportError` naming
 * the origin, and the connection is dropped.
 */
import { connect as connectTcp, isIP, type Socket } from 'node:net';
import { connect as connectTls } from 'node:tls';

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
  readonly #headerLines: string;

  /** `headerLines`: the header section after the status line, CRLF between lines, already validated. */
  constructor(
    readonly status: number,
    headerLines: string,
    readonly body: Buffer,
  ) {
    this.#headerLines = headerLines;
  }

  /** Lower-case names; a repeated header is an array. */
  get headers(): HttpHeaders {
    return (this.#headers ??= parseHeaderLines(this.#headerLines));
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
  /** How long an idle connection is kept (less if the server says it keeps it less). Default 30 s. */
  readonly keepAliveTimeoutMs?: number;
  /** How long opening a connection (and its TLS handshake) may take. Default 10 s. */
  readonly connectTimeoutMs?: number;
  /** Largest status line and headers (and chunked trailers) accepted. Default 16 KiB, as Node's server. */
  readonly maxHeaderBytes?: number;
  /** Largest response body accepted. Default 64 MiB. */
  readonly maxBodyBytes?: number;
}

/** A request that failed for a reason of the connection or of the response; `code` says which. */
export class HttpTransportError extends Error {
  override readonly name = 'HttpTransportError';

  constructor(
    message: string,
    /** A system code (`ECONNREFUSED`, `ECONNRESET`, `ETIMEDOUT`…) or one of `HTTP_MALFORMED_RESPONSE`, `HTTP_RESPONSE_TOO_LARGE`, `HTTP_TRANSPORT_CLOSED`. */
    readonly code: string,
    readonly origin: string,
    cause?: unknown,
  ) {
    super(message, cause === undefined ? undefined : { cause });
  }
}

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const INVALID_HEADER_VALUE = /[^\t\x20-\x7e\x80-\xff]/;
const INVALID_PATH = /[^\x21-\x7e]/;
/** Header lines as RFC 9112 has them: a token, a colon, then visible characters, spaces and tabs. */
const HEADER_LINES = /^(?:[!#$%&'*+\-.^_`|~0-9A-Za-z]+:[\t\x20-\x7e\x80-\xff]*(?:\r\n(?!$)|$))*$/;
/** A `Connection` header value that holds the `close` option. */
const CONNECTION_CLOSE = /(?:^|,)[ \t]*close[ \t]*(?:,|$)/i;
const REPEATABLE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE']);
const END_OF_HEAD = Buffer.from('\r\n\r\n', 'latin1');
/** Plain-TCP reads land here and are parsed before the next read: one buffer for every connection. */
const readBuffer = Buffer.allocUnsafe(64 * 1024);

const isDigit = (code: number): boolean => code >= 48 && code <= 57;

function parseHeaderLines(lines: string): HttpHeaders {
  const headers: HttpHeaders = Object.create(null) as HttpHeaders;
  let position = 0;
  while (position < lines.length) {
    let end = lines.indexOf('\r\n', position);
    if (end < 0) end = lines.length;
    const colon = lines.indexOf(':', position);
    const name = lines.slice(position, colon).toLowerCase();
    const value = lines.slice(colon + 1, end).trim();
    const existing = headers[name];
    if (existing === undefined) headers[name] = value;
    else if (Array.isArray(existing)) existing.push(value);
    else headers[name] = [existing, value];
    position = end + 2;
  }
  return headers;
}

/** One request from `send` to its settling. */
class Exchange {
  settled = false;
  /** Waiting in the pool's queue (cleared when taken or cancelled there). */
  queued = false;
  retried = false;
  connection: Connection | undefined;
  #timer: NodeJS.Timeout | undefined;
  #signal: AbortSignal | undefined;
  #onAbort: (() => void) | undefined;

  constructor(
    readonly pool: Pool,
    readonly payload: string | Buffer,
    /** No body in the answer whatever its headers say (HEAD). */
    readonly head: boolean,
    /** Sending it twice does no harm (see the module comment). */
    readonly repeatable: boolean,
    /** The caller asked for `Connection: close`. */
    readonly closeAfter: boolean,
    readonly resolve: (response: HttpResponse) => void,
    readonly reject: (error: unknown) => void,
    request: HttpRequest,
  ) {
    if (request.cancelledBy) request.cancelledBy.onCancel((reason) => this.cancel(reason));
    if (this.settled) return;
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

  /** Fails the request now with `reason`: a queued one is never sent, one in flight loses its connection. */
  cancel(reason: unknown): void {
    if (this.settled) return;
    const connection = this.connection;
    this.fail(reason ?? new DOMException('the request was aborted', 'AbortError'));
    this.pool.forget(this);
    connection?.abandon(this);
  }

  succeed(response: HttpResponse): void {
    if (this.#settle()) this.resolve(response);
  }

  fail(error: unknown): void {
    if (this.#settle()) this.reject(error);
  }

  #settle(): boolean {
    if (this.settled) return false;
    this.settled = true;
    this.connection = undefined;
    if (this.#timer) clearTimeout(this.#timer);
    if (this.#onAbort) this.#signal?.removeEventListener('abort', this.#onAbort);
    return true;
  }
}

// What the parser expects next.
const AWAITING = 0; // no request on the connection
const HEAD = 1; // status line and headers
const FIXED_BODY = 2; // `remaining` bytes of a Content-Length body
const CHUNK_SIZE = 3; // hex digits of a chunk's size, then an extension, up to CR
const CHUNK_DATA = 4; // `remaining` bytes of a chunk
const CHUNK_DATA_CR = 5; // the CR after a chunk's data
const TRAILER = 6; // a trailer line (or the empty line ending the message), up to CR
const LF = 7; // the LF after a CR, then `afterLf`
const BODY_TO_CLOSE = 8; // everything up to the end of the connection

class Connection {
  readonly socket: Socket;
  exchange: Exchange | undefined;
  /** Responses completed on this connection: a request on a reused connection may meet one the server dropped. */
  served = 0;
  idleSince = 0;
  /** How long it may sit idle; shortened by the server's `Keep-Alive: timeout`. */
  idleLimitMs: number;
  connecting = true;
  /** The server ended it: not to be given a request, whatever the pool still lists. */
  ended = false;
  /** Opened for whichever request waits longest, not for a retry. */
  readonly forQueue: boolean;
  #reserved: Exchange | undefined;
  #error: Error | undefined;
  // The response being parsed.
  #phase = AWAITING;
  #afterLf = AWAITING;
  #partialHead: Buffer | undefined;
  #status = 0;
  #headerLines = '';
  #keepAlive = true;
  #remaining = 0;
  #chunks: Buffer[] = [];
  #bodyBytes = 0;
  #received = 0;
  #sizeDigits = 0;
  #inExtension = false;
  #lineBytes = 0;
  #trailerBytes = 0;

  constructor(readonly pool: Pool, reserved: Exchange | undefined) {
    this.idleLimitMs = pool.keepAliveTimeoutMs;
    this.#reserved = reserved;
    this.forQueue = reserved === undefined;
    if (reserved) reserved.connection = this;
    const timeout = pool.connectTimeoutMs;
    if (pool.secure) {
      this.socket = connectTls({ host: pool.host, port: pool.port, ...(pool.servername ? { servername: pool.servername } : {}), ...(pool.ca === undefined ? {} : { ca: pool.ca }), ALPNProtocols: ['http/1.1'], timeout });
      this.socket.once('secureConnect', () => this.#connected());
      this.socket.on('data', (chunk: Buffer) => this.receive(chunk, 0, chunk.length));
    } else {
      this.socket = connectTcp({ host: pool.host, port: pool.port, noDelay: true, timeout, onread: { buffer: readBuffer, callback: (bytes) => {
        this.receive(readBuffer, 0, bytes);
        return true; // keep reading
      } } });
      this.socket.once('connect', () => this.#connected());
    }
    this.socket.once('timeout', () => {
      if (this.connecting) this.socket.destroy(Object.assign(new Error(`no connection within ${timeout} ms`), { code: 'ETIMEDOUT' }));
    });
    this.socket.on('error', (error) => void (this.#error ??= error));
    this.socket.once('end', () => (this.ended = true));
    this.socket.once('close', () => this.#closed());
  }

  #connected(): void {
    this.connecting = false;
    this.socket.setTimeout(0);
    if (this.pool.secure) this.socket.setNoDelay(true);
    this.socket.setKeepAlive(true, 60_000);
    const reserved = this.#reserved;
    this.#reserved = undefined;
    this.pool.connected(this, reserved);
  }

  /** Sends `exchange` and parses its answer. */
  start(exchange: Exchange): void {
    this.exchange = exchange;
    exchange.connection = this;
    this.#phase = HEAD;
    this.#received = 0;
    this.#keepAlive = !exchange.closeAfter;
    this.socket.ref();
    if (typeof exchange.payload === 'string') this.socket.write(exchange.payload, 'latin1');
    else this.socket.write(exchange.payload);
  }

  /** Idle in the pool: it does not keep the process alive. */
  park(now: number): void {
    this.idleSince = now;
    this.#phase = AWAITING;
    this.socket.unref();
  }

  /** Its exchange was cancelled: the answer, if it comes, has nobody to go to. */
  abandon(exchange: Exchange): void {
    if (this.exchange === exchange || this.#reserved === exchange) {
      this.exchange = undefined;
      this.#reserved = undefined;
      this.socket.destroy();
    }
  }

  /** A request is on it, or it is being opened for one. */
  get busy(): boolean {
    return this.exchange !== undefined || this.#reserved !== undefined;
  }

  destroy(error?: Error): void {
    this.socket.destroy(error);
  }

  /** Bytes `start` to `end` of `buffer`, which may be reused once this returns: whatever is kept is copied. */
  receive(buffer: Buffer, start: number, end: number): void {
    if (!this.exchange) {
      // An idle connection has nothing to say, an abandoned one's answer is dropped with it.
      this.socket.destroy();
      return;
    }
    this.#received += end - start;
    const pool = this.pool;
    while (start < end) {
      switch (this.#phase) {
        case HEAD: {
          if (this.#partialHead) {
            const before = this.#partialHead.length;
            buffer = Buffer.concat([this.#partialHead, buffer.subarray(start, end)]);
            this.#partialHead = undefined;
            end = buffer.length;
            start = 0;
            const found = buffer.indexOf(END_OF_HEAD, Math.max(0, before - 3));
            if (!this.#head(buffer, start, found, end)) return;
          } else if (!this.#head(buffer, start, buffer.indexOf(END_OF_HEAD, start), end)) return;
          start = this.#headEnd;
          if ((this.#phase as number) === AWAITING) return this.#complete(start < end);
          break;
        }
        case FIXED_BODY: {
          start = this.#takeRemaining(buffer, start, end);
          if (this.#remaining === 0) return this.#complete(start < end);
          break;
        }
        case BODY_TO_CLOSE: {
          if (this.#bodyBytes + end - start > pool.maxBodyBytes) return this.#tooLarge(`a body larger than ${pool.maxBodyBytes} bytes`);
          this.#keep(buffer, start, end);
          start = end;
          break;
        }
        case CHUNK_DATA: {
          start = this.#takeRemaining(buffer, start, end);
          if (this.#remaining === 0) this.#phase = CHUNK_DATA_CR;
          break;
        }
        case CHUNK_SIZE: {
          const byte = buffer[start++]!;
          if (++this.#lineBytes > pool.maxHeaderBytes) return this.#tooLarge(`a chunk size line longer than ${pool.maxHeaderBytes} bytes`);
          if (byte === 13) {
            if (this.#sizeDigits === 0) return this.#malformed('a chunk size with no digits');
            this.#expectLf(this.#remaining === 0 ? TRAILER : CHUNK_DATA);
            this.#lineBytes = 0;
          } else if (this.#inExtension) {
            if (byte === 10) return this.#malformed('a bare LF in a chunk extension');
          } else if (byte === 59 || byte === 32 || byte === 9) {
            if (this.#sizeDigits === 0) return this.#malformed('a chunk size with no digits');
            this.#inExtension = true;
          } else {
            const digit = byte >= 48 && byte <= 57 ? byte - 48 : byte >= 97 && byte <= 102 ? byte - 87 : byte >= 65 && byte <= 70 ? byte - 55 : -1;
            if (digit < 0) return this.#malformed(`an invalid character (code ${byte}) in a chunk size`);
            this.#remaining = this.#remaining * 16 + digit;
            this.#sizeDigits++;
            if (this.#bodyBytes + this.#remaining > pool.maxBodyBytes) return this.#tooLarge(`a body larger than ${pool.maxBodyBytes} bytes`);
          }
          break;
        }
        case CHUNK_DATA_CR: {
          if (buffer[start++] !== 13) return this.#malformed('chunk data longer than its size');
          this.#expectLf(CHUNK_SIZE);
          break;
        }
        case TRAILER: {
          const byte = buffer[start++]!;
          if (++this.#trailerBytes > pool.maxHeaderBytes) return this.#tooLarge(`trailers larger than ${pool.maxHeaderBytes} bytes`);
          if (byte === 13) {
            this.#expectLf(this.#lineBytes === 0 ? AWAITING : TRAILER);
            this.#lineBytes = 0;
          } else if (byte === 10) return this.#malformed('a bare LF in the trailers');
          else this.#lineBytes++;
          break;
        }
        case LF: {
          if (buffer[start++] !== 10) return this.#malformed('a CR not followed by LF');
          this.#phase = this.#afterLf;
          if (this.#phase === CHUNK_SIZE) this.#startChunk();
          else if (this.#phase === AWAITING) return this.#complete(start < end);
          break;
        }
        default:
          // The answer is complete, yet bytes follow it with no request asking.
          this.socket.destroy();
          return;
      }
    }
  }

  #headEnd = 0;

  /** Parses the status line and headers if all of them are in; false when it stopped (incomplete, or failed). */
  #head(buffer: Buffer, start: number, found: number, end: number): boolean {
    const pool = this.pool;
    if (found < 0 || found + 4 > end) {
      if (end - start > pool.maxHeaderBytes) return this.#tooLarge(`headers larger than ${pool.maxHeaderBytes} bytes`), false;
      if (end - start >= 7 && buffer.toString('latin1', start, start + 7) !== 'HTTP/1.') return this.#malformed('it does not start with HTTP/1.'), false;
      this.#partialHead = Buffer.from(buffer.subarray(start, end));
      return false;
    }
    if (found - start > pool.maxHeaderBytes) return this.#tooLarge(`headers larger than ${pool.maxHeaderBytes} bytes`), false;
    const text = buffer.toString('latin1', start, found);
    this.#headEnd = found + 4;
    let lineEnd = text.indexOf('\r\n');
    if (lineEnd < 0) lineEnd = text.length;
    // HTTP/1.x NNN[ reason], NNN from 100
    const wellFormed = text.startsWith('HTTP/1.') && (text.charCodeAt(7) === 49 || text.charCodeAt(7) === 48) && text.charCodeAt(8) === 32 && lineEnd >= 12
      && text.charCodeAt(9) >= 49 && text.charCodeAt(9) <= 57 && isDigit(text.charCodeAt(10)) && isDigit(text.charCodeAt(11)) && (lineEnd === 12 || text.charCodeAt(12) === 32);
    if (!wellFormed) return this.#malformed(`the status line ${JSON.stringify(text.slice(0, Math.min(lineEnd, 80)))}`), false;
    const status = (text.charCodeAt(9) - 48) * 100 + (text.charCodeAt(10) - 48) * 10 + (text.charCodeAt(11) - 48);
    const lines = lineEnd + 2 < text.length ? text.slice(lineEnd + 2) : '';
    if (!HEADER_LINES.test(lines)) return this.#malformed('a header line that is not "name: value"'), false;
    let length = -1;
    let chunked = false;
    let transferEncoding = false;
    let keepAlive = text.charCodeAt(7) === 49 ? this.#keepAlive : false;
    let position = 0;
    while (position < lines.length) {
      let end = lines.indexOf('\r\n', position);
      if (end < 0) end = lines.length;
      const colon = lines.indexOf(':', position);
      const nameLength = colon - position;
      // Only the headers that frame the message are read here; the others when `headers` is.
      if (nameLength === 14 || nameLength === 17 || nameLength === 10) {
        const name = lines.slice(position, colon).toLowerCase();
        if (name === 'content-length') {
          const value = lines.slice(colon + 1, end).trim();
          if (!/^\d{1,15}$/.test(value) || (length >= 0 && Number(value) !== length)) return this.#malformed(`the Content-Length ${JSON.stringify(value)}`), false;
          length = Number(value);
        } else if (name === 'transfer-encoding') {
          transferEncoding = true;
          chunked = /(?:^|,)[ \t]*chunked[ \t]*$/i.test(lines.slice(colon + 1, end));
        } else if (name === 'connection') {
          const value = lines.slice(colon + 1, end).toLowerCase();
          if (CONNECTION_CLOSE.test(value)) keepAlive = false;
          else if (/(?:^|,)[ \t]*keep-alive[ \t]*(?:,|$)/.test(value) && this.#keepAlive) keepAlive = true;
        } else if (name === 'keep-alive') {
          const timeout = /timeout[ \t]*=[ \t]*(\d+)/i.exec(lines.slice(colon + 1, end));
          if (timeout) {
            const seconds = Number(timeout[1]);
            this.idleLimitMs = Math.min(pool.keepAliveTimeoutMs, Math.max(seconds * 1000 - 1000, seconds * 500));
          }
        }
      }
      position = end + 2;
    }
    if (status < 200) {
      if (status === 101) return this.#malformed('101 Switching Protocols, which no request asked for'), false;
      return true; // an interim answer (100 Continue, 103 Early Hints): the final one follows
    }
    this.#status = status;
    this.#headerLines = lines;
    this.#keepAlive = keepAlive;
    this.#chunks = [];
    this.#bodyBytes = 0;
    if (this.exchange!.head || status === 204 || status === 304) this.#phase = AWAITING;
    else if (transferEncoding) {
      if (length >= 0) return this.#malformed('both Transfer-Encoding and Content-Length'), false;
      if (chunked) this.#startChunk();
      else this.#toClose();
    } else if (length > pool.maxBodyBytes) return this.#tooLarge(`a body of ${length} bytes, more than ${pool.maxBodyBytes}`), false;
    else if (length > 0) {
      this.#phase = FIXED_BODY;
      this.#remaining = length;
    } else if (length === 0) this.#phase = AWAITING;
    else this.#toClose();
    return true;
  }

  #toClose(): void {
    this.#phase = BODY_TO_CLOSE;
    this.#keepAlive = false;
  }

  #startChunk(): void {
    this.#phase = CHUNK_SIZE;
    this.#remaining = 0;
    this.#sizeDigits = 0;
    this.#inExtension = false;
    this.#lineBytes = 0;
    this.#trailerBytes = 0;
  }

  #expectLf(then: number): void {
    this.#afterLf = then;
    this.#phase = LF;
  }

  /** Keeps what of the `remaining` bytes of a body or chunk is in `buffer` from `start`; returns where they end. */
  #takeRemaining(buffer: Buffer, start: number, end: number): number {
    const take = Math.min(this.#remaining, end - start);
    this.#keep(buffer, start, start + take);
    this.#remaining -= take;
    return start + take;
  }

  #keep(buffer: Buffer, start: number, end: number): void {
    if (start === end) return;
    const copy = Buffer.allocUnsafe(end - start);
    buffer.copy(copy, 0, start, end);
    this.#chunks.push(copy);
    this.#bodyBytes += end - start;
  }

  /** The answer is whole; `trailing`: bytes followed it, which no request asked for. */
  #complete(trailing = false): void {
    const exchange = this.exchange!;
    const chunks = this.#chunks;
    const body = chunks.length === 1 ? chunks[0]! : chunks.length === 0 ? Buffer.alloc(0) : Buffer.concat(chunks);
    this.exchange = undefined;
    this.#phase = AWAITING;
    this.served++;
    exchange.succeed(new HttpResponse(this.#status, this.#headerLines, body));
    if (this.#keepAlive && !trailing) this.pool.released(this);
    else this.socket.destroy();
  }

  #malformed(detail: string): void {
    this.#fail(new HttpTransportError(`${this.pool.origin} sent a malformed response (${detail}); the connection was closed`, 'HTTP_MALFORMED_RESPONSE', this.pool.origin));
  }

  #tooLarge(what: string): void {
    const pool = this.pool;
    this.#fail(new HttpTransportError(`${pool.origin} sent a response with ${what} (the limit is the transport's maxHeaderBytes or maxBodyBytes option); the connection was closed`, 'HTTP_RESPONSE_TOO_LARGE', pool.origin));
  }

  #fail(error: HttpTransportError): void {
    const exchange = this.exchange;
    this.exchange = undefined;
    this.socket.destroy();
    exchange?.fail(error);
  }

  #closed(): void {
    const wasConnecting = this.connecting;
    this.connecting = false;
    this.ended = true;
    const pool = this.pool;
    pool.lost(this, wasConnecting);
    const error = this.#error;
    const code = (error as { code?: string } | undefined)?.code ?? 'ECONNRESET';
    if (this.exchange && this.#phase === BODY_TO_CLOSE && !error) this.#complete();
    const exchange = this.exchange ?? this.#reserved;
    this.exchange = undefined;
    this.#reserved = undefined;
    if (wasConnecting) {
      const failure = new HttpTransportError(`could not connect to ${pool.origin}: ${error?.message ?? 'the connection closed during the handshake'}`, code, pool.origin, error);
      if (exchange) exchange.fail(failure);
      else if (this.forQueue && !pool.closing) pool.failNext(failure);
    } else if (exchange && !exchange.settled) {
      if (this.#received === 0 && this.served > 0 && exchange.repeatable && !exchange.retried && !pool.closing) {
        exchange.retried = true;
        pool.retry(exchange);
      } else {
        const how = error ? `: ${error.message}` : '';
        const when = this.#received === 0 ? 'before any of the response came' : `after ${this.#received} bytes of the response, before its end`;
        exchange.fail(new HttpTransportError(`the connection to ${pool.origin} closed ${when}${how}`, code, pool.origin, error));
      }
    }
    pool.grow();
  }
}

/** The connections to one origin and the requests waiting for one. */
class Pool {
  readonly host: string;
  readonly port: number;
  readonly secure: boolean;
  readonly servername: string | undefined;
  readonly hostLine: string;
  readonly ca: string | undefined;
  readonly maxConnections: number;
  readonly keepAliveTimeoutMs: number;
  readonly connectTimeoutMs: number;
  readonly maxHeaderBytes: number;
  readonly maxBodyBytes: number;
  closing = false;
  readonly #all = new Set<Connection>();
  readonly #idle: Connection[] = [];
  /** Connections being opened for the queue (not for a retry). */
  #opening = 0;
  #queue: (Exchange | undefined)[] = [];
  #queueHead = 0;
  #waiting = 0;
  #sweeper: NodeJS.Timeout | undefined;
  #whenEmpty: (() => void) | undefined;

  constructor(readonly origin: string, url: URL, options: HttpTransportOptions) {
    this.secure = url.protocol === 'https:';
    this.host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
    this.port = Number(url.port) || (this.secure ? 443 : 80);
    this.servername = isIP(this.host) === 0 ? this.host : undefined;
    this.hostLine = `host: ${url.host}\r\n`;
    this.ca = options.ca;
    this.maxConnections = options.connections ?? 64;
    this.keepAliveTimeoutMs = options.keepAliveTimeoutMs ?? 30_000;
    this.connectTimeoutMs = options.connectTimeoutMs ?? 10_000;
    this.maxHeaderBytes = options.maxHeaderBytes ?? 16 * 1024;
    this.maxBodyBytes = options.maxBodyBytes ?? 64 * 1024 * 1024;
    if (!(this.maxConnections >= 1)) throw new RangeError(`HttpTransport needs at least one connection, got ${options.connections}`);
  }

  dispatch(exchange: Exchange): void {
    if (this.closing) return exchange.fail(this.#closedError('before it was sent'));
    const idle = this.#takeIdle();
    if (idle) return idle.start(exchange);
    exchange.queued = true;
    this.#queue.push(exchange);
    this.#waiting++;
    this.grow();
  }

  /** Opens connections for the requests waiting, up to the limit. */
  grow(): void {
    if (this.closing) return;
    let wanted = Math.min(this.#waiting - this.#opening, this.maxConnections - this.#all.size);
    while (wanted-- > 0) {
      this.#opening++;
      this.#all.add(new Connection(this, undefined));
    }
  }

  /** A request whose reused connection turned out closed: once more, on a connection of its own. */
  retry(exchange: Exchange): void {
    this.#all.add(new Connection(this, exchange));
  }

  connected(connection: Connection, reserved: Exchange | undefined): void {
    if (reserved) return connection.start(reserved);
    this.#opening--;
    this.released(connection);
  }

  /** The connection is free: the next request waiting takes it, or it waits. */
  released(connection: Connection): void {
    if (this.closing) return connection.destroy();
    const next = this.#dequeue();
    if (next) return connection.start(next);
    connection.park(Date.now());
    this.#idle.push(connection);
    this.#sweeper ??= setInterval(() => this.#sweep(), Math.min(1_000, this.keepAliveTimeoutMs)).unref();
  }

  lost(connection: Connection, wasConnecting: boolean): void {
    if (!this.#all.delete(connection)) return;
    if (wasConnecting && connection.forQueue) this.#opening--;
    const index = this.#idle.indexOf(connection);
    if (index >= 0) this.#idle.splice(index, 1);
    if (this.#all.size === 0 && this.#whenEmpty) this.#whenEmpty();
  }

  /** A connection opened for the queue failed: the request that waited longest fails with it. */
  failNext(error: Error): void {
    this.#dequeue()?.fail(error);
  }

  forget(exchange: Exchange): void {
    if (!exchange.queued) return;
    exchange.queued = false;
    this.#waiting--;
  }

  /** Sends no more; waits for the requests in flight, then closes every connection. */
  close(): Promise<void> {
    this.#shut('before it was sent');
    for (const connection of this.#all) if (!connection.busy) connection.destroy();
    return this.#drained();
  }

  destroy(): Promise<void> {
    this.#shut('before it was sent');
    const error = this.#closedError('while it was in flight');
    for (const connection of this.#all) {
      connection.exchange?.fail(error);
      connection.destroy(error);
    }
    return this.#drained();
  }

  #shut(when: string): void {
    this.closing = true;
    if (this.#sweeper) clearInterval(this.#sweeper);
    const error = this.#closedError(when);
    for (let next = this.#dequeue(); next; next = this.#dequeue()) next.fail(error);
  }

  #drained(): Promise<void> {
    if (this.#all.size === 0) return Promise.resolve();
    return new Promise((resolve) => (this.#whenEmpty = resolve));
  }

  #closedError(when: string): HttpTransportError {
    return new HttpTransportError(`the transport to ${this.origin} was closed ${when}; a closed transport sends nothing more`, 'HTTP_TRANSPORT_CLOSED', this.origin);
  }

  #takeIdle(): Connection | undefined {
    if (this.#idle.length === 0) return undefined;
    const now = Date.now();
    for (let connection = this.#idle.pop(); connection; connection = this.#idle.pop()) {
      if (now - connection.idleSince < connection.idleLimitMs && !connection.ended) return connection;
      connection.destroy();
    }
    return undefined;
  }

  #dequeue(): Exchange | undefined {
    const queue = this.#queue;
    while (this.#queueHead < queue.length) {
      const exchange = queue[this.#queueHead]!;
      queue[this.#queueHead++] = undefined;
      if (exchange.queued) {
        exchange.queued = false;
        this.#waiting--;
        if (this.#queueHead === queue.length) this.#resetQueue();
        else if (this.#queueHead > 1024 && this.#queueHead * 2 > queue.length) this.#compactQueue();
        return exchange;
      }
    }
    this.#resetQueue();
    return undefined;
  }

  #resetQueue(): void {
    this.#queue.length = 0;
    this.#queueHead = 0;
  }

  #compactQueue(): void {
    this.#queue = this.#queue.slice(this.#queueHead);
    this.#queueHead = 0;
  }

  #sweep(): void {
    const now = Date.now();
    for (const connection of [...this.#idle]) if (now - connection.idleSince >= connection.idleLimitMs) connection.destroy();
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
    this.#pool = new Pool(this.#origin, url, options);
  }

  get origin(): string {
    return this.#origin;
  }

  /** Sends one request and resolves with the whole response, any status; rejects on a network error, abort or timeout. */
  send(request: HttpRequest): Promise<HttpResponse> {
    return new Promise<HttpResponse>((resolve, reject) => {
      if (request.signal?.aborted) return reject(request.signal.reason);
      const { method, path } = request;
      if (!TOKEN.test(method)) throw new TypeError(`${JSON.stringify(method)} is not an HTTP method`);
      if (path.charCodeAt(0) !== 47 || INVALID_PATH.test(path)) throw new TypeError(`the path ${JSON.stringify(path)} must start with / and hold only visible ASCII characters (percent-encode the others)`);
      const body = request.body;
      const bodyLength = body === undefined ? -1 : typeof body === 'string' ? Buffer.byteLength(body) : body.length;
      let hostLine = this.#pool.hostLine;
      let fields = '';
      let repeatable = REPEATABLE_METHODS.has(method);
      let closeAfter = false;
      const headers = request.headers;
      if (headers) {
        for (const name in headers) {
          const value = headers[name]!;
          if (!TOKEN.test(name)) throw new TypeError(`${JSON.stringify(name)} is not a header name`);
          if (INVALID_HEADER_VALUE.test(value)) throw new TypeError(`the value of the header ${name} holds a character HTTP/1.1 does not allow (a line break or control character)`);
          const length = name.length;
          if (length === 4 || length === 10 || length === 14 || length === 15 || length === 17) {
            const lower = name.toLowerCase();
            if (lower === 'host') hostLine = '';
            else if (lower === 'connection') closeAfter ||= CONNECTION_CLOSE.test(value);
            else if (lower === 'idempotency-key') repeatable = true;
            else if (lower === 'transfer-encoding') throw new TypeError('HttpTransport sends bodies with a Content-Length; leave Transfer-Encoding out');
            else if (lower === 'content-length') {
              if (value.trim() !== String(Math.max(0, bodyLength))) throw new TypeError(`the Content-Length ${value} does not match the body's ${Math.max(0, bodyLength)} bytes; leave it out and the transport sets it`);
              continue;
            }
          }
          fields += name + ': ' + value + '\r\n';
        }
      }
      if (bodyLength >= 0) fields += 'content-length: ' + bodyLength + '\r\n';
      else if (method === 'POST' || method === 'PUT' || method === 'PATCH') fields += 'content-length: 0\r\n';
      const head = method + ' ' + path + ' HTTP/1.1\r\n' + hostLine + fields + '\r\n';
      let payload: string | Buffer = head;
      if (body !== undefined && bodyLength > 0) {
        payload = Buffer.allocUnsafe(head.length + bodyLength);
        payload.write(head, 0, 'latin1');
        if (typeof body === 'string') payload.write(body, head.length, 'utf8');
        else body.copy(payload, head.length);
      }
      const exchange = new Exchange(this.#pool, payload, method === 'HEAD', repeatable, closeAfter, resolve, reject, request);
      if (exchange.settled) return; // cancelled by `cancelledBy` before it was sent
      this.#pool.dispatch(exchange);
    });
  }

  /** Sends nothing more (waiting requests fail), lets the requests in flight finish, then closes every connection. */
  close(): Promise<void> {
    return this.#pool.close();
  }

  /** Closes every connection now, failing what is waiting or in flight. */
  destroy(): Promise<void> {
    return this.#pool.destroy();
  }
}
