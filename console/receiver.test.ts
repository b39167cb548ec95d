import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { gzipSync } from 'node:zlib';
import { Reader, Writer } from 'protobufjs/minimal.js';
import { createLogger } from '@msa-poc/platform/telemetry';
import { createOtlpReceiver } from './receiver.js';
import type { Span } from './span.js';
import { exportSpans, orderTrace, toJson } from './testing.js';

/** Reads google.rpc.Status {code = 1, message = 2}. */
function readStatus(bytes: Uint8Array): { code: number; message: string } {
  const reader = Reader.create(bytes);
  const status = { code: 0, message: '' };
  while (reader.pos < reader.len) {
    const tag = reader.uint32();
    if (tag >>> 3 === 1) status.code = reader.int32();
    else if (tag >>> 3 === 2) status.message = reader.string();
    else reader.skipType(tag & 7);
  }
  return status;
}

/** Reads ExportTraceServiceResponse.partial_success {rejected_spans = 1, error_message = 2}. */
function readPartialSuccess(bytes: Uint8Array): { rejected: number; message: string } | undefined {
  const reader = Reader.create(bytes);
  if (reader.len === 0) return undefined;
  assert.equal(reader.uint32(), (1 << 3) | 2);
  const end = reader.uint32() + reader.pos;
  const partial = { rejected: 0, message: '' };
  while (reader.pos < end) {
    const tag = reader.uint32();
    if (tag >>> 3 === 1) partial.rejected = Number(reader.int64());
    else if (tag >>> 3 === 2) partial.message = reader.string();
    else reader.skipType(tag & 7);
  }
  return partial;
}

describe('OTLP/HTTP receiver', () => {
  const received: Span[] = [];
  const maxBodyBytes = 64 * 1024;
  const server = createOtlpReceiver({ maxBodyBytes, onSpans: (spans) => received.push(...spans), log: createLogger('console', 'silent') });
  let origin: string;
  before(async () => {
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => new Promise<void>((resolve) => server.close(() => resolve())));

  const post = (body: Uint8Array | string, headers: Record<string, string>, path = '/v1/traces') => fetch(`${origin}${path}`, { method: 'POST', headers, body });

  it('takes protobuf, plain or gzipped, and answers an empty ExportTraceServiceResponse in protobuf', async () => {
    const trace = orderTrace();
    received.length = 0;
    for (const gzip of [false, true]) {
      const response = await exportSpans(origin, trace.spans, { format: 'protobuf', gzip });
      assert.equal(response.status, 200);
      assert.equal(response.headers.get('content-type'), 'application/x-protobuf');
      assert.equal((await response.arrayBuffer()).byteLength, 0);
    }
    assert.equal(received.length, 2 * trace.spans.length);
  });

  it('takes JSON, plain or gzipped, and answers in JSON', async () => {
    const trace = orderTrace();
    received.length = 0;
    for (const gzip of [false, true]) {
      const response = await exportSpans(origin, trace.spans, { format: 'json', gzip });
      assert.equal(response.status, 200);
      assert.equal(response.headers.get('content-type'), 'application/json');
      assert.deepEqual(await response.json(), {});
    }
    assert.equal(received.length, 2 * trace.spans.length);
  });

  it('reports refused spans as a partial success, keeping the rest', async () => {
    const spans = JSON.parse(new TextDecoder().decode(toJson(orderTrace().spans))) as { resourceSpans: { scopeSpans: { spans: { spanId: string }[] }[] }[] };
    spans.resourceSpans[0]!.scopeSpans[0]!.spans[0]!.spanId = 'abc';
    received.length = 0;
    const response = await post(JSON.stringify(spans), { 'content-type': 'application/json; charset=utf-8' });
    assert.equal(response.status, 200);
    const body = (await response.json()) as { partialSuccess: { rejectedSpans: string; errorMessage: string } };
    assert.equal(body.partialSuccess.rejectedSpans, '1');
    assert.match(body.partialSuccess.errorMessage, /^1 span rejected; the first: resourceSpans\[0\]\.scopeSpans\[0\]\.spans\[0\]: spanId must be 8 bytes/);
    assert.equal(received.length, orderTrace().spans.length - 1);

    // In protobuf: one resource, one scope, one span whose trace id is all zeros.
    const writer = Writer.create();
    writer.uint32((1 << 3) | 2).fork().uint32((2 << 3) | 2).fork().uint32((2 << 3) | 2).fork();
    writer.uint32((1 << 3) | 2).bytes(Buffer.alloc(16)).uint32((2 << 3) | 2).bytes(Buffer.alloc(8, 1)).uint32((5 << 3) | 2).string('x');
    writer.ldelim().ldelim().ldelim();
    const protobufAnswer = await post(Buffer.from(writer.finish()), { 'content-type': 'application/x-protobuf' });
    assert.equal(protobufAnswer.status, 200);
    const partial = readPartialSuccess(new Uint8Array(await protobufAnswer.arrayBuffer()));
    assert.equal(partial?.rejected, 1);
    assert.match(partial?.message ?? '', /traceId is all zeros/);
  });

  it('answers an unreadable body with 400 and a google.rpc.Status saying why, in the request\'s encoding', async () => {
    const broken = await post(Buffer.from([0x0a, 0xff, 0x01]), { 'content-type': 'application/x-protobuf' });
    assert.equal(broken.status, 400);
    assert.equal(broken.headers.get('content-type'), 'application/x-protobuf');
    const status = readStatus(new Uint8Array(await broken.arrayBuffer()));
    assert.equal(status.code, 3);
    assert.match(status.message, /not an OTLP ExportTraceServiceRequest/);

    const json = await post('{"resourceSpans": 5}', { 'content-type': 'application/json' });
    assert.equal(json.status, 400);
    assert.deepEqual(await json.json(), { code: 3, message: 'resourceSpans must be an array, found number' });

    const notGzip = await post('plain', { 'content-type': 'application/json', 'content-encoding': 'gzip' });
    assert.equal(notGzip.status, 400);
    assert.match(((await notGzip.json()) as { message: string }).message, /not valid gzip/);
  });

  it('refuses a body over the limit, as sent or once decompressed, with 413', async () => {
    const large = await post(Buffer.alloc(maxBodyBytes + 1, 1), { 'content-type': 'application/x-protobuf' });
    assert.equal(large.status, 413);
    assert.match(readStatus(new Uint8Array(await large.arrayBuffer())).message, /larger than 65536 bytes/);
    // A few hundred bytes of gzip that would unfold into a megabyte.
    const bomb = gzipSync(Buffer.alloc(1024 * 1024, 0x20));
    assert.ok(bomb.length < 2048);
    const unfolded = await post(bomb, { 'content-type': 'application/json', 'content-encoding': 'gzip' });
    assert.equal(unfolded.status, 413);
    assert.match(((await unfolded.json()) as { message: string }).message, /once decompressed/);
  });

  it('says what it takes instead of another path, method, media type or encoding', async () => {
    const metrics = await post('{}', { 'content-type': 'application/json' }, '/v1/metrics');
    assert.equal(metrics.status, 404);
    assert.match(((await metrics.json()) as { message: string }).message, /receives traces at POST \/v1\/traces; it does not collect metrics or logs/);
    const get = await fetch(`${origin}/v1/traces`);
    assert.equal(get.status, 405);
    assert.equal(get.headers.get('allow'), 'POST');
    const text = await post('spans', { 'content-type': 'text/plain' });
    assert.equal(text.status, 415);
    assert.match(((await text.json()) as { message: string }).message, /must be application\/x-protobuf or application\/json, not "text\/plain"/);
    const brotli = await post('{}', { 'content-type': 'application/json', 'content-encoding': 'br' });
    assert.equal(brotli.status, 415);
    assert.match(((await brotli.json()) as { message: string }).message, /Content-Encoding br is not supported; send gzip or no encoding/);
  });
});
