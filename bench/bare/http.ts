/**
 * What the three bare processes share: a plain node:http server on a port from the environment
 * (keep-alive, JSON in and out, no schema, no auth, no telemetry), keep-alive undici pools to the
 * next hop, and the IPC message that says the process is listening.
 */
import { createServer, type IncomingHttpHeaders } from 'node:http';
import { Pool } from 'undici';

export interface BareRequest {
  readonly method: string;
  readonly path: string;
  readonly headers: IncomingHttpHeaders;
  /** The parsed JSON body, when there was one. */
  readonly body: unknown;
}

export interface BareReply {
  readonly status: number;
  /** JSON to send, or already serialised text passed on from the next hop. */
  readonly body: unknown;
  readonly raw?: boolean;
}

export type BareHandler = (request: BareRequest) => Promise<BareReply | undefined>;

export const json = (status: number, body: unknown): BareReply => ({ status, body });

/** The port named by `variable`, which the chain's starter always sets. */
export function portFrom(variable: string): number {
  const port = Number(process.env[variable]);
  if (!Number.isInteger(port) || port <= 0) throw new Error(`${variable} must name the port to listen on (it is "${process.env[variable] ?? ''}")`);
  return port;
}

/** Serves `handler` on 127.0.0.1:`port`; an unmatched route is 404, a throw is 500. Tells the parent once listening. */
export function serve(name: string, port: number, handler: BareHandler): void {
  const server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    let reply: BareReply | undefined;
    try {
      const text = Buffer.concat(chunks).toString('utf8');
      reply = req.url === '/healthz' ? json(200, { ok: true }) : await handler({ method: req.method ?? 'GET', path: req.url ?? '/', headers: req.headers, body: text ? JSON.parse(text) : undefined });
    } catch (error) {
      reply = json(500, { error: (error as Error).message });
    }
    reply ??= json(404, { error: `no route ${req.method} ${req.url}` });
    res.writeHead(reply.status, { 'content-type': 'application/json' });
    res.end(reply.raw ? (reply.body as string) : JSON.stringify(reply.body));
  });
  server.keepAliveTimeout = 65_000;
  server.listen(port, '127.0.0.1', () => process.send?.({ ready: name }));
  const stop = () => server.close(() => process.exit(0));
  process.once('SIGTERM', stop);
  process.once('disconnect', stop);
}

/** Keep-alive connections to the next hop, as many as the platform's client opens. */
export const upstream = (origin: string): Pool => new Pool(origin, { connections: 32, keepAliveTimeout: 30_000 });

/** Sends a request on to the next hop and hands its answer back unparsed. */
export async function forward(pool: Pool, method: 'GET' | 'POST', path: string, body?: unknown, headers: Record<string, string> = {}): Promise<BareReply> {
  const response = await pool.request({
    method, path,
    headers: body === undefined ? headers : { ...headers, 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: response.statusCode, body: await response.body.text(), raw: true };
}

/** Parses a reply from the next hop when this hop needs its content. */
export async function fetchJson<T>(pool: Pool, path: string): Promise<T> {
  const response = await pool.request({ method: 'GET', path });
  if (response.statusCode !== 200) throw new Error(`GET ${path} answered ${response.statusCode}`);
  return (await response.body.json()) as T;
}
