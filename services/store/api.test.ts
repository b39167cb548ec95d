import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import type { AnyCloudEvent } from '@msa-poc/contracts';
import type { Caller, HttpView } from '@msa-poc/platform/service';
import { requestContext, runWithContext } from '@msa-poc/platform/telemetry';
import { ROOT_CONTEXT, trace } from '@msa-poc/platform/tracing';
import { storeApi } from './api.js';
import type { Database } from './database.js';
import { FeedSignal } from './feed.js';
import { listAudit } from './audit.js';
import { migrate } from './migrate.js';
import { addDeadLetter, readEvents } from './repository.js';
import { pgliteBackend } from './test-databases.js';

const caller: Caller = { kind: 'service', service: 'integration' };
const http: HttpView = { method: 'POST', url: 'https://127.0.0.1/dead-letters', headers: {}, rawBody: undefined };
// The replay request as the server would run it: inside its (here non-recording) server span.
const context = requestContext(ROOT_CONTEXT, {
  requestId: 'replay-request-1', deadline: Date.now() + 60_000,
  span: trace.wrapSpanContext({ traceId: 'b'.repeat(32), spanId: 'c'.repeat(16), traceFlags: 1 }),
});

const placedEvent = (overrides: Partial<AnyCloudEvent> = {}): AnyCloudEvent => ({
  specversion: '1.0', id: randomUUID(), source: '/store', type: 'dev.msa-poc.order.placed.v1', time: '2025-01-02T03:04:05.000Z',
  datacontenttype: 'application/json', subject: randomUUID(),
  traceparent: `00-${'d'.repeat(32)}-${'e'.repeat(16)}-01`, tracestate: 'vendor=original',
  data: {
    orderId: randomUUID(), customerId: 'customer-1', items: [{ sku: 'SKU-0001', quantity: 1 }], total: { amount: '92.56', currency: 'EUR' },
    shippingAddress: { name: 'Ada Lovelace', line1: '12 Analytical Row', city: 'London', postalCode: 'NW1 2AB', country: 'GB' },
  },
  ...overrides,
});

describe('store API: replaying a dead letter', () => {
  let db: Database;
  let dispose: () => Promise<void>;
  let api: ReturnType<typeof storeApi>;
  let notified = 0;

  before(async () => {
    ({ db, dispose } = await pgliteBackend.fresh());
    await migrate(db);
    const feed = new FeedSignal();
    const notify = feed.notify.bind(feed);
    feed.notify = () => {
      notified += 1;
      notify();
    };
    api = storeApi(db, feed, new AbortController().signal, { publishedBy: 'relay', telemetry: { tracer: trace.getTracer('store-test') } });
  });
  after(async () => dispose());

  const deadLetter = async (event: AnyCloudEvent) => (await addDeadLetter(db, { consumer: 'integration', event, error: 'partner answered 503', attempts: 5 })).deadLetter;
  const replay = (id: string) => runWithContext(context, () => api.replayDeadLetter({ params: { id }, caller, http }));

  it('publishes the event under a new id, in the trace of the replay request, and wakes the feed', async () => {
    const original = placedEvent();
    const letter = await deadLetter(original);
    const before = notified;
    const reply = await replay(letter.id);
    assert.equal(reply.status, 200);
    const body = reply.body as { replayEventId: string; replayedBy: string; eventId: string };
    assert.equal(body.eventId, original.id);
    assert.equal(body.replayedBy, 'integration');
    assert.equal(notified, before + 1);

    const published = (await readEvents(db, { consumer: 'api-test', limit: 100 })).map((e) => e.event).find((e) => e.id === body.replayEventId);
    const { tracestate: _dropped, ...withoutState } = original;
    assert.deepEqual(published, { ...withoutState, id: body.replayEventId, traceparent: `00-${'b'.repeat(32)}-${'c'.repeat(16)}-01` });
    const audit = (await listAudit(db, { limit: 1 }))[0];
    assert.deepEqual([audit?.actor, audit?.requestId, audit?.traceId], ['spiffe://msa-poc.local/integration', 'replay-request-1', 'b'.repeat(32)]);
  });

  it('answers a second replay with 409 and says when, by whom and as which event the first went out', async () => {
    const letter = await deadLetter(placedEvent());
    const first = await replay(letter.id);
    const second = await replay(letter.id);
    assert.equal(second.status, 409);
    const problem = second.body as { type: string; detail: string };
    assert.equal(problem.type, 'https://msa-poc.local/problems/already-replayed');
    assert.match(problem.detail, new RegExp(`was replayed at .* by integration, as event ${(first.body as { replayEventId: string }).replayEventId}; it is not published twice`));
  });

  it('refuses with 422 an event that breaks its contract or has no contract, saying why', async () => {
    const valid = placedEvent();
    const broken = await deadLetter({ ...valid, data: { ...(valid.data as object), orderId: 'not-a-uuid' } });
    const refused = await replay(broken.id);
    assert.equal(refused.status, 422);
    assert.match((refused.body as { detail: string }).detail, /cannot be replayed: the event breaks its contract \(\/data\/orderId Expected string to match 'uuid' format\), so its consumer would refuse it again/);

    const unknown = await deadLetter(placedEvent({ type: 'dev.msa-poc.order.teleported.v1' }));
    const unknownReply = await replay(unknown.id);
    assert.equal(unknownReply.status, 422);
    assert.match((unknownReply.body as { detail: string }).detail, /no event contract has the type dev\.msa-poc\.order\.teleported\.v1; this store publishes dev\.msa-poc\.order\.placed\.v1/);
  });

  it('answers 404 for a dead letter that does not exist', async () => {
    const reply = await replay(randomUUID());
    assert.equal(reply.status, 404);
    assert.match((reply.body as { detail: string }).detail, /No dead letter .*; list them with GET \/dead-letters\./);
  });
});
