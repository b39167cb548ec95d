// Runs against a real NATS server with JetStream; nothing here is mocked.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { connect, headers as natsHeaders, nanos } from '@nats-io/transport-node';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import type { AnyCloudEvent } from '@msa-poc/contracts';
import { InMemorySpanExporter } from '@opentelemetry/sdk-trace';
import { connectBroker, deadLetterHeaders } from './broker.js';
import { loadConfig } from './config.js';
import { Metrics } from './metrics.js';
import { SpanKind, createTracing, inSpan } from './tracing.js';
import type { Broker, ConsumeOptions, Delivery, EventHandler } from './broker.js';

const url = process.env.POC_NATS_URL ?? 'nats://127.0.0.1:4222';

// No skipping when the server is absent: the file fails, saying what to start.
const raw = await connect({ servers: url, name: 'broker-test-raw', timeout: 3000 }).catch((error: unknown) => {
  throw new Error(`broker tests need NATS with JetStream at ${url} (nats-server -js), or POC_NATS_URL pointing at one: ${String(error)}`);
});
const jsm = await jetstreamManager(raw);
const broker = await connectBroker({ url, name: 'broker-test', requestTimeoutMs: 2000 });
const streams: string[] = [];

after(async () => {
  await broker.close();
  for (const name of streams) await jsm.streams.delete(name).catch(() => false);
  await raw.close();
});

/** A stream of its own per test, with an events subject and a dead-letter subject. */
async function fixture(prefix: string) {
  const id = `${prefix}_${randomBytes(4).toString('hex')}`;
  const f = { stream: `T_${id}`, subject: `test.${id}.events`, dlq: `test.${id}.dlq`, durable: `c_${id}` };
  streams.push(f.stream);
  await broker.ensureStream({ name: f.stream, subjects: [f.subject, f.dlq], duplicateWindowMs: 60_000 });
  return f;
}

function cloudEvent(data: unknown = { n: 1 }): AnyCloudEvent {
  return {
    specversion: '1.0',
    id: randomUUID(),
    source: '/test/broker',
    type: 'dev.msa-poc.test.v1',
    time: new Date().toISOString(),
    datacontenttype: 'application/json',
    traceparent: `00-${randomBytes(16).toString('hex')}-${randomBytes(8).toString('hex')}-01`,
    data,
  };
}

function options(f: Awaited<ReturnType<typeof fixture>>, handler: EventHandler, extra: Partial<ConsumeOptions> = {}): ConsumeOptions {
  return { stream: f.stream, durable: f.durable, filterSubject: f.subject, maxDeliver: 3, ackWaitMs: 5000, concurrency: 4, deadLetterSubject: f.dlq, handler, ...extra };
}

async function waitFor(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(20);
  }
}

async function lastDeadLetter(f: { stream: string; dlq: string }) {
  const stored = await jsm.streams.getMessage(f.stream, { last_by_subj: f.dlq });
  assert.ok(stored, `expected a message on ${f.dlq}`);
  return stored;
}

async function deadLetterCount(f: { stream: string; dlq: string }): Promise<number> {
  const info = await jsm.streams.info(f.stream, { subjects_filter: f.dlq });
  return info.state.subjects?.[f.dlq] ?? 0;
}

test('a published event is consumed and acknowledged exactly once, with its trace headers', async () => {
  const f = await fixture('once');
  const event = cloudEvent({ orderId: 'o-1' });
  await broker.publish(f.subject, event);
  const seen: { event: AnyCloudEvent; delivery: Delivery }[] = [];
  const c = await broker.consume(options(f, async (e, delivery) => (seen.push({ event: e, delivery }), 'ack')));
  await waitFor('the ack', () => c.stats().acked === 1);
  await sleep(300);
  await c.stop();
  assert.equal(seen.length, 1);
  assert.deepEqual(seen[0]?.event, event);
  assert.equal(seen[0]?.delivery.deliveryCount, 1);
  assert.equal(seen[0]?.delivery.subject, f.subject);
  assert.equal(seen[0]?.delivery.headers['traceparent'], event.traceparent);
  assert.equal(seen[0]?.delivery.headers['ce-type'], event.type);
  assert.equal(seen[0]?.delivery.headers['Nats-Msg-Id'], event.id);
  assert.deepEqual(await broker.consumerInfo(f.stream, f.durable), { pending: 0, ackPending: 0, redelivered: 0 });
  assert.equal(broker.isConnected(), true);
});

test('the same event id published twice is stored and delivered once', async () => {
  const f = await fixture('dup');
  const event = cloudEvent();
  await broker.publish(f.subject, event);
  await broker.publish(f.subject, event);
  assert.equal((await jsm.streams.info(f.stream)).state.messages, 1);
  // ensureStream on an existing stream updates it in place, keeping its messages and file storage.
  await broker.ensureStream({ name: f.stream, subjects: [f.subject, f.dlq], duplicateWindowMs: 60_000, maxAgeMs: 3_600_000 });
  const updated = await jsm.streams.info(f.stream);
  assert.deepEqual([updated.config.max_age, updated.config.storage, updated.state.messages], [nanos(3_600_000), 'file', 1]);
  const ids: string[] = [];
  const c = await broker.consume(options(f, async (e) => (ids.push(e.id), 'ack')));
  await waitFor('the ack', () => c.stats().acked === 1);
  await sleep(300);
  await c.stop();
  assert.deepEqual(ids, [event.id]);
});

test('publish fails clearly when no stream takes the subject or no PubAck comes', async () => {
  await assert.rejects(broker.publish(`test.nostream.${randomUUID()}`, cloudEvent()), /no JetStream stream captures/);
  // A plain subscriber makes the request land somewhere that never answers.
  const subject = `test.blackhole.${randomBytes(4).toString('hex')}`;
  const sub = raw.subscribe(subject, { callback: () => {} });
  await raw.flush();
  try {
    await assert.rejects(broker.publish(subject, cloudEvent()), /no PubAck within 2000 ms/);
  } finally {
    sub.unsubscribe();
  }
  await assert.rejects(broker.publish(subject, { ...cloudEvent(), id: 'not-a-uuid' }), /malformed CloudEvent/);
});

test('a first connection failure names the URL and how to fix it', async () => {
  await assert.rejects(connectBroker({ url: 'nats://127.0.0.1:1', name: 'nowhere' }), (error: Error) => {
    assert.match(error.message, /nats:\/\/127\.0\.0\.1:1/);
    assert.match(error.message, /JetStream/);
    assert.match(error.message, /POC_NATS_URL/);
    return true;
  });
});

test('a retry verdict redelivers the event with deliveryCount 2', async () => {
  const f = await fixture('retry');
  const event = cloudEvent();
  await broker.publish(f.subject, event);
  const counts: number[] = [];
  let lagDuringRedelivery: unknown;
  const c = await broker.consume(
    options(f, async (_e, d) => {
      counts.push(d.deliveryCount);
      if (d.deliveryCount === 1) return { retryAfterMs: 50, error: 'partner busy' };
      lagDuringRedelivery = await broker.consumerInfo(f.stream, f.durable);
      return 'ack';
    }),
  );
  await waitFor('the ack after a retry', () => c.stats().acked === 1);
  await c.stop();
  assert.deepEqual(counts, [1, 2]);
  assert.deepEqual(lagDuringRedelivery, { pending: 0, ackPending: 1, redelivered: 1 });
  assert.equal(c.stats().retried, 1);
  assert.equal(c.stats().deadLettered, 0);
  assert.equal(await deadLetterCount(f), 0);
});

test('after maxDeliver failed attempts the event goes to the dead-letter subject and is termed', async () => {
  const f = await fixture('maxdel');
  const event = cloudEvent();
  const terminated = raw.subscribe(`$JS.EVENT.ADVISORY.CONSUMER.MSG_TERMINATED.${f.stream}.${f.durable}`, { max: 1 });
  await raw.flush();
  await broker.publish(f.subject, event);
  const counts: number[] = [];
  const c = await broker.consume(
    options(
      f,
      async (_e, d) => {
        counts.push(d.deliveryCount);
        // A throw counts as a retry, delayed by backoffMs; the last attempt fails with a verdict.
        if (d.deliveryCount === 1) throw new Error('boom');
        return { retryAfterMs: 30, error: 'partner down\r\nfor good' };
      },
      { maxDeliver: 2, backoffMs: [30] },
    ),
  );
  await waitFor('the dead letter', () => c.stats().deadLettered === 1);
  const advisory = await Promise.race([(async () => { for await (const m of terminated) return m.json<{ stream_seq: number }>(); })(), sleep(3000).then(() => undefined)]);
  assert.ok(advisory, 'expected a MSG_TERMINATED advisory for the original message');
  assert.equal(advisory.stream_seq, 1);
  await sleep(300);
  await c.stop();
  assert.deepEqual(counts, [1, 2]);
  assert.deepEqual({ retried: c.stats().retried, acked: c.stats().acked }, { retried: 1, acked: 0 });
  const dead = await lastDeadLetter(f);
  assert.deepEqual(dead.json(), event);
  assert.equal(dead.header.get(deadLetterHeaders.error), 'partner down for good');
  assert.equal(dead.header.get(deadLetterHeaders.attempts), '2');
  assert.equal(dead.header.get(deadLetterHeaders.subject), f.subject);
  assert.equal(dead.header.get('traceparent'), event.traceparent);
  assert.equal(await deadLetterCount(f), 1);
  assert.deepEqual(await broker.consumerInfo(f.stream, f.durable), { pending: 0, ackPending: 0, redelivered: 0 });
});

test('a deadLetter verdict dead-letters at once', async () => {
  const f = await fixture('dlnow');
  const event = cloudEvent();
  await broker.publish(f.subject, event);
  let calls = 0;
  const c = await broker.consume(options(f, async () => (calls++, { deadLetter: 'unknown sku' })));
  await waitFor('the dead letter', () => c.stats().deadLettered === 1);
  await sleep(300);
  await c.stop();
  assert.equal(calls, 1);
  const dead = await lastDeadLetter(f);
  assert.equal(dead.header.get(deadLetterHeaders.error), 'unknown sku');
  assert.equal(dead.header.get(deadLetterHeaders.attempts), '1');
  assert.equal(dead.json<AnyCloudEvent>().id, event.id);
});

test('malformed messages are dead-lettered without reaching the handler, and the loop goes on', async () => {
  const f = await fixture('malformed');
  const js = jetstream(raw);
  const h = natsHeaders();
  h.set('traceparent', '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01');
  await js.publish(f.subject, 'not json {', { headers: h });
  await js.publish(f.subject, JSON.stringify({ hello: 'world' }));
  const good = cloudEvent();
  await broker.publish(f.subject, good);
  const handled: string[] = [];
  const c = await broker.consume(options(f, async (e) => (handled.push(e.id), 'ack'), { concurrency: 1 }));
  await waitFor('the good event', () => c.stats().acked === 1);
  await c.stop();
  assert.deepEqual(handled, [good.id]);
  assert.equal(c.stats().deadLettered, 2);
  assert.equal(await deadLetterCount(f), 2);
  const first = await jsm.streams.getMessage(f.stream, { seq: 4 });
  const second = await jsm.streams.getMessage(f.stream, { seq: 5 });
  assert.equal(first?.string(), 'not json {');
  assert.match(first?.header.get(deadLetterHeaders.error) ?? '', /not valid JSON/);
  assert.equal(first?.header.get('traceparent'), h.get('traceparent'));
  assert.match(second?.header.get(deadLetterHeaders.error) ?? '', /not a CloudEvent/);
  assert.deepEqual(await broker.consumerInfo(f.stream, f.durable), { pending: 0, ackPending: 0, redelivered: 0 });
});

test('a durable consumer resumes where it stopped: no loss, no repeat', async () => {
  const f = await fixture('resume');
  const firstBatch = Array.from({ length: 5 }, () => cloudEvent());
  const secondBatch = Array.from({ length: 5 }, () => cloudEvent());
  for (const e of firstBatch) await broker.publish(f.subject, e);
  const seen1: string[] = [];
  const c1 = await broker.consume(options(f, async (e) => (seen1.push(e.id), 'ack')));
  await waitFor('the first batch', () => c1.stats().acked === 5);
  await c1.stop();
  for (const e of secondBatch) await broker.publish(f.subject, e);
  assert.deepEqual(await broker.consumerInfo(f.stream, f.durable), { pending: 5, ackPending: 0, redelivered: 0 });
  const seen2: string[] = [];
  // A changed setting updates the existing durable rather than replacing it (which would replay everything).
  const c2 = await broker.consume(options(f, async (e) => (seen2.push(e.id), 'ack'), { ackWaitMs: 7000 }));
  assert.equal((await jsm.consumers.info(f.stream, f.durable)).config.ack_wait, nanos(7000));
  await waitFor('the second batch', () => c2.stats().acked === 5);
  await sleep(300);
  await c2.stop();
  assert.deepEqual(seen1.sort(), firstBatch.map((e) => e.id).sort());
  assert.deepEqual(seen2.sort(), secondBatch.map((e) => e.id).sort());
  assert.deepEqual(await broker.consumerInfo(f.stream, f.durable), { pending: 0, ackPending: 0, redelivered: 0 });
});

test('no more than `concurrency` handlers run at once', async () => {
  const f = await fixture('conc');
  for (let i = 0; i < 12; i++) await broker.publish(f.subject, cloudEvent({ i }));
  let running = 0;
  let peak = 0;
  let peakInFlight = 0;
  const c = await broker.consume(
    options(
      f,
      async () => {
        running++;
        peak = Math.max(peak, running);
        await sleep(60);
        running--;
        return 'ack';
      },
      { concurrency: 3 },
    ),
  );
  await waitFor('all twelve', () => {
    peakInFlight = Math.max(peakInFlight, c.stats().inFlight);
    return c.stats().acked === 12;
  });
  await c.stop();
  // Equal, not just at most: the bound must also be reached, or concurrency would be ignored.
  assert.equal(peak, 3);
  assert.ok(peakInFlight <= 3, `inFlight reached ${peakInFlight}`);
  assert.equal(c.stats().delivered, 12);
});

test('stop() waits for an in-flight handler and fetches nothing more', async () => {
  const f = await fixture('stop');
  await broker.publish(f.subject, cloudEvent());
  let started!: () => void;
  const startedP = new Promise<void>((resolve) => (started = resolve));
  let finished = false;
  let calls = 0;
  const c = await broker.consume(
    options(f, async () => {
      calls++;
      started();
      await sleep(400);
      finished = true;
      return 'ack';
    }),
  );
  await startedP;
  const t0 = Date.now();
  await c.stop();
  assert.equal(finished, true, 'stop() returned before the handler finished');
  assert.ok(Date.now() - t0 >= 300, 'stop() did not wait');
  assert.equal(c.stats().acked, 1);
  assert.equal(c.stats().inFlight, 0);
  await broker.publish(f.subject, cloudEvent());
  await sleep(300);
  assert.equal(calls, 1);
  assert.deepEqual(await broker.consumerInfo(f.stream, f.durable), { pending: 1, ackPending: 0, redelivered: 0 });
});

test('publishing and processing are traced: the consumer continues the publish the event carries and links to it, once per delivery', async () => {
  const exporter = new InMemorySpanExporter();
  const tracing = createTracing({ service: 'store', settings: loadConfig({ OTEL_BSP_SCHEDULE_DELAY: '5' }).tracing, exporter });
  const metrics = new Metrics('integration');
  const traced = await connectBroker({ url, name: 'broker-test-traced', requestTimeoutMs: 2000, telemetry: { tracer: tracing.tracer, metrics } });
  try {
    const f = await fixture('traced');
    const event = cloudEvent({ orderId: 'o-traced' });
    // The event was written inside a request; the relay publishes it later, linked to its batch.
    const batch = tracing.tracer.startSpan('outbox relay');
    await traced.publish(f.subject, event, { links: [{ context: batch.spanContext() }] });
    batch.end();
    const seen: AnyCloudEvent[] = [];
    const c = await traced.consume(options(f, async (e, delivery) => {
      seen.push(e);
      return delivery.deliveryCount === 1 ? { retryAfterMs: 10, error: 'partner unavailable' } : 'ack';
    }, { backoffMs: [10] }));
    await waitFor('the second delivery to be acked', () => c.stats().acked === 1);
    await c.stop();
    await tracing.flush();
    const spans = exporter.getFinishedSpans();
    const producer = spans.find((s) => s.kind === SpanKind.PRODUCER);
    assert.ok(producer, 'a publish span');
    assert.equal(producer.name, `publish ${f.subject}`);
    assert.equal(producer.attributes['messaging.system'], 'nats');
    assert.equal(producer.attributes['messaging.message.id'], event.id);
    assert.equal(producer.spanContext().traceId, event.traceparent?.split('-')[1], 'the publish continues the trace the event was created in');
    assert.equal(producer.parentSpanContext?.spanId, event.traceparent?.split('-')[2]);
    assert.deepEqual(producer.links.map((l) => l.context.spanId), [batch.spanContext().spanId]);
    assert.equal(seen[0]?.traceparent, `00-${producer.spanContext().traceId}-${producer.spanContext().spanId}-01`, 'the event goes out carrying its publish');
    const consumers = spans.filter((s) => s.kind === SpanKind.CONSUMER);
    assert.equal(consumers.length, 2, 'one span per delivery');
    for (const consumer of consumers) {
      assert.equal(consumer.name, `process ${f.subject}`);
      assert.equal(consumer.parentSpanContext?.spanId, producer.spanContext().spanId);
      assert.deepEqual(consumer.links.map((l) => l.context.spanId), [producer.spanContext().spanId]);
      assert.equal(consumer.attributes['messaging.consumer.group.name'], f.durable);
    }
    assert.match(await metrics.registry.metrics(), /messaging_client_operation_duration_seconds_count\{[^}]*messaging_operation_name="process"[^}]*outcome="retry"\} 1/);
  } finally {
    await traced.close();
  }
});

test('a publish from inside traced work, for an event without a traceparent, is a child of the active span', async () => {
  const exporter = new InMemorySpanExporter();
  const tracing = createTracing({ service: 'store', settings: loadConfig({ OTEL_BSP_SCHEDULE_DELAY: '5' }).tracing, exporter });
  const traced = await connectBroker({ url, name: 'broker-test-traced-active', requestTimeoutMs: 2000, telemetry: { tracer: tracing.tracer } });
  try {
    const f = await fixture('active');
    const { traceparent: _none, ...untraced } = cloudEvent();
    const parent = await inSpan(tracing.tracer, 'work', {}, async (span) => {
      await traced.publish(f.subject, untraced);
      return span.spanContext();
    });
    await tracing.flush();
    const producer = exporter.getFinishedSpans().find((s) => s.kind === SpanKind.PRODUCER);
    assert.equal(producer?.parentSpanContext?.spanId, parent.spanId);
  } finally {
    await traced.close();
  }
});
