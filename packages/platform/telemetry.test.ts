/** What a service's log lines carry, and what they never carry, as pino writes them. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { InMemorySpanExporter } from '@opentelemetry/sdk-trace';
import { loadConfig } from './config.js';
import { createLogger, currentContext, requestContext, runDetached, runWithContext } from './telemetry.js';
import { ROOT_CONTEXT, createTracing, inSpan } from './tracing.js';

function capture(): { stream: Writable; text: () => string; lines: () => Record<string, unknown>[] } {
  let text = '';
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      text += chunk.toString('utf8');
      done();
    },
  });
  return { stream, text: () => text, lines: () => text.split('\n').filter(Boolean).map((line) => JSON.parse(line) as Record<string, unknown>) };
}

test('credentials, proofs, private keys and shipping addresses never reach a log line, wherever they sit', () => {
  const out = capture();
  const log = createLogger('gateway', 'info', out.stream);
  const address = { name: 'Ada Lovelace', line1: '12 St James Square', city: 'London', postalCode: 'SW1Y 4JH', country: 'GB' };
  const secrets = ['DPoP eyJ-access-token', 'eyJ-dpop-proof', 'eyJ-client-assertion', 'private-scalar-d', '-----BEGIN PRIVATE KEY-----', 'sig1=:c2lnbmF0dXJl:', 'session=abc'];
  log.info({ req: { headers: { authorization: secrets[0], dpop: secrets[1], cookie: secrets[6], signature: secrets[5] } } }, 'request');
  log.info({ headers: { authorization: secrets[0], dpop: secrets[1] } }, 'outbound');
  log.warn({ upstream: { headers: { authorization: secrets[0], dpop: secrets[1] } } }, 'nested headers');
  log.info({ authorization: secrets[0], dpop: secrets[1] }, 'bare headers');
  log.info({ client_assertion: secrets[2], form: { client_assertion: secrets[2], grant_type: 'client_credentials' } }, 'token request');
  log.info({ jwk: { kty: 'EC', crv: 'P-256', x: 'public-x', y: 'public-y', d: secrets[3] } }, 'a key');
  log.info({ client: { jwks: { d: secrets[3] } }, d: secrets[3] }, 'keys nested and bare');
  log.info({ privateKey: secrets[4], signer: { privateKey: secrets[4] } }, 'pem');
  log.info({ shippingAddress: address }, 'top-level address');
  log.info({ order: { id: 'o-1', shippingAddress: address } }, 'an order');
  log.info({ body: { order: { shippingAddress: address } } }, 'a request body');
  log.warn({ event: { data: { orderId: 'o-1', shippingAddress: address } } }, 'an event');
  log.error({ deadLetter: { event: { data: { shippingAddress: address } } } }, 'a dead letter');

  const text = out.text();
  for (const secret of secrets) assert.doesNotMatch(text, new RegExp(secret.replace(/[.*+?^${}()|[\]\\-]/g, '\\$&')), `${secret} is redacted`);
  for (const personal of Object.values(address)) assert.doesNotMatch(text, new RegExp(personal), `${personal} is redacted`);
  const lines = out.lines();
  assert.equal(lines.length, 13);
  assert.ok(lines.every((line) => line.service === 'gateway' && typeof line.time === 'string' && typeof line.level === 'string'), 'every line names its service');
  const key = lines.find((line) => line.msg === 'a key') as { jwk: Record<string, string> };
  assert.deepEqual(key.jwk, { kty: 'EC', crv: 'P-256', x: 'public-x', y: 'public-y', d: '[redacted]' }, 'the public parts stay');
  const order = lines.find((line) => line.msg === 'an order') as { order: Record<string, string> };
  assert.deepEqual(order.order, { id: 'o-1', shippingAddress: '[redacted]' });
});

test('inside a request a line names the request and the active span; detached work keeps the trace, not the request', async () => {
  const out = capture();
  const log = createLogger('orders', 'info', out.stream);
  const exporter = new InMemorySpanExporter();
  const { tracer, flush } = createTracing({ service: 'orders', settings: loadConfig({}).tracing, exporter });
  const server = tracer.startSpan('GET /orders/:id');
  const request = { requestId: 'req-logs-0001', deadline: Date.now() + 1_000, span: server };
  let inner = '';
  await runWithContext(requestContext(ROOT_CONTEXT, request), async () => {
    log.info('in the handler');
    await inSpan(tracer, 'getOrder', {}, async (span) => {
      inner = span.spanContext().spanId;
      log.info('in a database call');
    });
    await runDetached(async () => {
      assert.equal(currentContext(), undefined, 'no request, so no request deadline');
      log.info('later, detached');
    });
  });
  log.info('outside');
  server.end();
  await flush();
  const [handler, database, detached, outside] = out.lines();
  const { traceId, spanId } = server.spanContext();
  assert.deepEqual([handler?.request_id, handler?.trace_id, handler?.span_id], ['req-logs-0001', traceId, spanId]);
  assert.deepEqual([database?.request_id, database?.trace_id, database?.span_id], ['req-logs-0001', traceId, inner], 'the span id is the active span’s');
  assert.deepEqual([detached?.request_id, detached?.trace_id, detached?.span_id], [undefined, traceId, spanId]);
  assert.deepEqual([outside?.request_id, outside?.trace_id, outside?.span_id], [undefined, undefined, undefined]);
});
