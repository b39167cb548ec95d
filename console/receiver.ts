/**
 * The OTLP/HTTP trace receiver: `POST /v1/traces` in protobuf or JSON, gzip or not, answered as the
 * OTLP specification says. Spans that no trace could hold are refused one by one and reported as a
 * partial success; a body that cannot be read at all is a 400 whose google.rpc.Status message says
 * why, in the encoding of the request. A plain node server: one route, and an error format that is
 * OTLP's, not the problem documents of the console's API.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { gunzip } from 'node:zlib';
import { promisify } from 'node:util';
import type { Logger } from '@msa-poc/platform/telemetry';
import { decodeJsonRequest, encodeJsonResponse, encodeJsonStatus } from './otlp-json.js';
import { decodeProtobufRequest, encodeProtobufResponse, encodeProtobufStatus } from './otlp-protobuf.js';
import { acceptSpans, OtlpDecodeError, type Span } from './span.js';

const gunzipAsync = promisify(gunzip);

export const tracesPath = '/v1/traces';

export interface ReceiverOptions {
  /** Largest body accepted, as sent and once decompressed. */
  readonly maxBodyBytes: number;
  readonly onSpans: (spans: Span[]) => void;
  readonly log: Logger;
}

type Encoding = 'protobuf' | 'json';

/** google.rpc.Code values used in error answers. */
const rpcCode = { invalidArgument: 3, notFound: 5, unimplemented: 12, internal: 13 } as const;

class Refusal extends Error {
  constructor(readonly status: number, readonly code: number, message: string, readonly headers: Record<string, string> = {}) {
    super(message);
  }
}

function mediaType(request: IncomingMessage): string {
  return String(request.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
}

function encodingOf(request: IncomingMessage): Encoding | undefined {
  const type = mediaType(request);
  return type === 'application/x-protobuf' ? 'protobuf' : type === 'application/json' ? 'json' : undefined;
}

function send(response: ServerResponse, status: number, encoding: Encoding, body: Uint8Array | string, headers: Record<string, string> = {}): void {
  response.writeHead(status, { 'content-type': encoding === 'protobuf' ? 'application/x-protobuf' : 'application/json', ...headers });
  response.end(body);
}

async function readBody(request: IncomingMessage, maxBytes: number): Promise<Buffer> {
  const declared = Number(request.headers['content-length']);
  const tooLarge = () => new Refusal(413, rpcCode.invalidArgument, `the body is larger than ${maxBytes} bytes; export smaller batches (OTEL_BSP_MAX_EXPORT_BATCH_SIZE)`, { connection: 'close' });
  if (Number.isFinite(declared) && declared > maxBytes) throw tooLarge();
  const chunks: Buffer[] = [];
  let received = 0;
  for await (const chunk of request as AsyncIterable<Buffer>) {
    received += chunk.length;
    if (received > maxBytes) throw tooLarge();
    chunks.push(chunk);
  }
  return Buffer.concat(chunks, received);
}

async function decompress(request: IncomingMessage, body: Buffer, maxBytes: number): Promise<Buffer> {
  const contentEncoding = String(request.headers['content-encoding'] ?? 'identity').trim().toLowerCase();
  if (contentEncoding === 'identity' || contentEncoding === '') return body;
  if (contentEncoding !== 'gzip') throw new Refusal(415, rpcCode.invalidArgument, `Content-Encoding ${contentEncoding} is not supported; send gzip or no encoding`);
  try {
    // Bounded: a small gzip body must not unfold into gigabytes.
    return await gunzipAsync(body, { maxOutputLength: maxBytes });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') {
      throw new Refusal(413, rpcCode.invalidArgument, `the body is larger than ${maxBytes} bytes once decompressed; export smaller batches`, { connection: 'close' });
    }
    throw new Refusal(400, rpcCode.invalidArgument, `the body is not valid gzip (Content-Encoding: gzip): ${(error as Error).message}`);
  }
}

export function createOtlpReceiver(options: ReceiverOptions): Server {
  const handle = async (request: IncomingMessage, response: ServerResponse): Promise<void> => {
    // Errors are answered in the request's own encoding; JSON when it named none we know.
    const encoding = encodingOf(request) ?? 'json';
    try {
      const path = (request.url ?? '/').split('?')[0];
      if (path !== tracesPath) throw new Refusal(404, rpcCode.notFound, `the console receives traces at POST ${tracesPath}; it does not collect metrics or logs`);
      if (request.method !== 'POST') throw new Refusal(405, rpcCode.unimplemented, `send traces with POST ${tracesPath}`, { allow: 'POST' });
      if (!encodingOf(request)) throw new Refusal(415, rpcCode.invalidArgument, `Content-Type must be application/x-protobuf or application/json, not "${mediaType(request) || 'absent'}"`);
      const body = await decompress(request, await readBody(request, options.maxBodyBytes), options.maxBodyBytes);
      const resources = encoding === 'protobuf' ? decodeProtobufRequest(body) : decodeJsonRequest(body);
      const accepted = acceptSpans(resources);
      if (accepted.spans.length > 0) options.onSpans(accepted.spans);
      const message = accepted.rejected > 0 ? `${accepted.rejected} span${accepted.rejected === 1 ? '' : 's'} rejected; the first: ${accepted.firstRejection}` : undefined;
      if (message) options.log.warn({ rejected: accepted.rejected }, message);
      send(response, 200, encoding, encoding === 'protobuf' ? encodeProtobufResponse(accepted.rejected, message) : encodeJsonResponse(accepted.rejected, message));
    } catch (error) {
      const refusal = error instanceof Refusal ? error
        : error instanceof OtlpDecodeError ? new Refusal(400, rpcCode.invalidArgument, error.message)
        : undefined;
      if (!refusal) options.log.error({ err: error }, 'OTLP request failed');
      const { status, code, message, headers } = refusal ?? new Refusal(500, rpcCode.internal, 'the console failed to take these spans; it has logged why');
      send(response, status, encoding, encoding === 'protobuf' ? encodeProtobufStatus(code, message) : encodeJsonStatus(code, message), headers);
    }
  };
  return createServer({ requestTimeout: 30_000, headersTimeout: 10_000, keepAliveTimeout: 5_000 }, (request, response) => {
    void handle(request, response);
  });
}
