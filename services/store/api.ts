/** The store API: each route is one repository operation, its outcome mapped to the contract. */
import {
  CloudEvent, events, fromMinor, orderPlaced, OrderPlacedEvent, problem, spiffeId, toMinor, type AnyCloudEvent, type storeContract,
} from '@msa-poc/contracts';
import type { TSchema } from '@sinclair/typebox';
import type { Caller, Handlers } from '@msa-poc/platform/service';
import { uuidv7 } from '@msa-poc/platform/ids';
import { startPublish, withTraceContext, type EventTelemetry, type Publication } from '@msa-poc/platform/messaging';
import { currentContext, currentTraceId } from '@msa-poc/platform/telemetry';
import { context } from '@msa-poc/platform/tracing';
import { validate } from '@msa-poc/platform/validation';
import type { Database } from './database.js';
import type { FeedSignal } from './feed.js';
import { longPoll } from './feed.js';
import * as audit from './audit.js';
import * as clients from './clients.js';
import { untracedOrderPlaced } from './order-event.js';
import * as repository from './repository.js';

export interface EventOptions {
  /**
   * outbox-feed: writing the outbox row is the publish, since consumers read the feed (embedded
   * profile). relay: the relay publishes later, continuing from the context the event carries.
   * nobody: the outbox bench switch is off, and a placed order writes no event at all.
   */
  readonly publishedBy: 'outbox-feed' | 'relay' | 'nobody';
  readonly telemetry: EventTelemetry;
}

/** Every event this store publishes, by CloudEvents type: its subject and the schema it is checked against. */
const publishedEvents: ReadonlyMap<string, { subject: string; schema: TSchema }> = new Map(
  Object.values(events).map((spec) => [spec.type, { subject: spec.subject, schema: CloudEvent(spec.type, spec.data) }]),
);

/**
 * The dead-lettered event as it goes out again. It gets a new id: the outbox and the broker's
 * duplicate window deduplicate by id, and would drop the original one. Consumers stay safe, since
 * fulfilment deduplicates by order. It keeps its time (when the fact happened) and `stamp` gives it
 * the trace of the replay request, so that what the replay causes shows up under that request.
 */
function republish(original: AnyCloudEvent, stamp: (event: AnyCloudEvent, subject: string) => AnyCloudEvent): { event: AnyCloudEvent; subject: string } | { refused: string } {
  const published = publishedEvents.get(original.type);
  if (!published) return { refused: `no event contract has the type ${original.type}; this store publishes ${[...publishedEvents.keys()].join(', ')}` };
  const { tracestate: _state, traceparent: _belongsToTheOriginalTrace, ...rest } = original;
  const event = stamp({ ...rest, id: uuidv7() }, published.subject);
  const checked = validate(published.schema, event);
  if (!checked.ok) {
    return { refused: `the event breaks its contract (${checked.errors.map((e) => `${e.path} ${e.message}`).join('; ')}), so its consumer would refuse it again` };
  }
  return { event, subject: published.subject };
}

/**
 * Ends a publish span with the transaction that writes the event: published when the write
 * committed an event, discarded when it wrote none (a replayed request), failed when it threw.
 * `publication` may be a getter: a replay knows whether it publishes only inside its transaction.
 */
async function settled<R>(publication: Publication | undefined | (() => Publication | undefined), write: Promise<R>, wroteEvent: (result: R) => boolean): Promise<R> {
  const current = () => (typeof publication === 'function' ? publication() : publication);
  let result: R;
  try {
    result = await write;
  } catch (error) {
    current()?.end(error);
    throw error;
  }
  if (wroteEvent(result)) current()?.end();
  else current()?.discard();
  return result;
}

const workloadOf = (caller: Caller): string => (caller.kind === 'service' ? caller.service : 'public');

export function storeApi(db: Database, feed: FeedSignal, shuttingDown: AbortSignal, eventOptions: EventOptions): Handlers<typeof storeContract> {
  const hop = { system: 'outbox-feed', destination: orderPlaced.subject } as const;

  /** The order.placed event of a new order, stamped with its trace, and its publish span when writing it is the publish. */
  const orderPlacedEvent = (order: repository.PricedOrder): { event: NonNullable<repository.PlaceOrderInput['event']>; publication: Publication | undefined } => {
    const eventId = uuidv7();
    const publication = eventOptions.publishedBy === 'outbox-feed' ? startPublish(eventOptions.telemetry, hop, eventId) : undefined;
    const untraced = untracedOrderPlaced(order, eventId);
    // The event carries the trace it belongs to: its publish, or this request for the relay to continue.
    const event = publication ? publication.stamp(untraced) : withTraceContext(untraced, context.active());
    // Events are validated against their contract when published, not only when consumed.
    const checked = validate(OrderPlacedEvent, event);
    if (!checked.ok) {
      publication?.discard();
      throw new Error(`order.placed event breaks its contract: ${JSON.stringify(checked.errors)}`);
    }
    return { event: { id: event.id, type: event.type, subject: orderPlaced.subject, payload: event }, publication };
  };

  return {
    listProducts: async () => ({ status: 200, body: { items: await repository.listProducts(db) } }),

    placeOrder: async ({ headers, body }) => {
      const { order } = body;
      const lines = order.items.reduce((sum, line) => sum + toMinor(line.unitPrice.amount) * line.quantity, 0);
      if (lines !== toMinor(order.total.amount)) {
        return { status: 422, body: problem('orderRule', `The total ${order.total.amount} is not the sum of the lines (${fromMinor(lines)}).`) };
      }
      const placed = eventOptions.publishedBy === 'nobody' ? undefined : orderPlacedEvent(order);
      const result = await settled(placed?.publication, repository.placeOrder(db, {
        key: headers['idempotency-key'], requestHash: body.requestHash, order, event: placed?.event,
      }), (r) => r.outcome === 'created');
      switch (result.outcome) {
        case 'created':
          if (placed) feed.notify();
          return { status: 201, body: result.order };
        case 'replayed':
          return { status: 200, body: result.order };
        case 'key-reused':
          return { status: 422, body: problem('idempotencyKeyReused', 'This Idempotency-Key was already used with a different body; use a new key for a new order.') };
        case 'out-of-stock':
          return { status: 409, body: problem('outOfStock', `Not enough stock for ${result.skus.join(', ')}.`) };
        case 'unknown-sku':
          return { status: 422, body: problem('unknownSku', `No product ${result.skus.join(', ')}.`) };
      }
    },

    getOrder: async ({ params }) => {
      const order = await repository.getOrder(db, params.id);
      return order ? { status: 200, body: order } : { status: 404, body: problem('notFound', `No order ${params.id}.`) };
    },

    listOrders: async ({ query }) => {
      try {
        return { status: 200, body: await repository.listOrders(db, { customerId: query.customerId, cursor: query.cursor, limit: query.limit ?? 20 }) };
      } catch (error) {
        if (error instanceof repository.BadCursorError) return { status: 400, body: problem('badRequest', 'The cursor is not one this API issued; start again without a cursor.') };
        throw error;
      }
    },

    transitionOrder: async ({ params, body }) => {
      const result = await repository.transitionOrder(db, { id: params.id, ...body });
      switch (result.outcome) {
        case 'applied':
        case 'already-applied':
          return { status: 200, body: result.order };
        case 'not-found':
          return { status: 404, body: problem('notFound', `No order ${params.id}.`) };
        case 'conflict':
          return { status: 409, body: problem('invalidTransition', `Order ${params.id} is ${result.order.status}; only an order that is ${body.from.join(' or ')} can become ${body.to}.`) };
      }
    },

    readEvents: async ({ query }) => {
      const limit = query.limit ?? 100;
      const events = await longPoll(() => repository.readEvents(db, { consumer: query.consumer, limit }), feed, query.waitMs ?? 0, shuttingDown);
      return { status: 200, body: { events } };
    },

    ackEvents: async ({ body }) => ({ status: 200, body: await repository.ackEvents(db, body) }),

    recordProcessed: async ({ body }) => ({ status: 200, body: await repository.recordProcessed(db, body) }),

    isProcessed: async ({ params }) => ({ status: 200, body: { processed: await repository.isProcessed(db, params) } }),

    addDeadLetter: async ({ body }) => {
      const { created, deadLetter } = await repository.addDeadLetter(db, body);
      return { status: created ? 201 : 200, body: deadLetter };
    },

    registerClient: async ({ params, body }) => {
      const { created, client } = await clients.registerClient(db, { id: params.id, ...body });
      return { status: created ? 201 : 200, body: client };
    },

    getClient: async ({ params }) => {
      const client = await clients.getClient(db, params.id);
      return client ? { status: 200, body: client } : { status: 404, body: problem('notFound', `No API client ${params.id}.`) };
    },

    listClients: async () => ({ status: 200, body: { items: await clients.listClients(db) } }),

    removeClient: async ({ params }) => ({ status: 200, body: { removed: await clients.removeClient(db, params.id) } }),

    appendAudit: async ({ body }) => ({ status: 200, body: { appended: await audit.appendAudit(db, body.records) } }),

    listAudit: async ({ query }) => ({ status: 200, body: { items: await audit.listAudit(db, { after: query.after, limit: query.limit ?? 50 }) } }),

    listDeadLetters: async ({ query }) => ({ status: 200, body: { items: await repository.listDeadLetters(db, query.limit ?? 100) } }),

    listDeadLetterReplays: async ({ query }) => ({ status: 200, body: { items: await repository.listDeadLetterReplays(db, query.limit ?? 100) } }),

    replayDeadLetter: async ({ params, caller }) => {
      // Published the way a new order's event is: by the outbox write itself (embedded), or by the relay later.
      let publication: Publication | undefined;
      const stamp = (event: AnyCloudEvent, subject: string): AnyCloudEvent => {
        publication = eventOptions.publishedBy === 'outbox-feed' ? startPublish(eventOptions.telemetry, { system: 'outbox-feed', destination: subject }, event.id) : undefined;
        return publication ? publication.stamp(event) : withTraceContext(event, context.active());
      };
      const result = await settled(() => publication, repository.replayDeadLetter(db, {
        id: params.id,
        by: workloadOf(caller),
        republish: (original) => republish(original, stamp),
        audit: { actor: caller.kind === 'service' ? spiffeId(caller.service) : 'public', requestId: currentContext()?.requestId, traceId: currentTraceId() },
      }), (r) => r.outcome === 'replayed');
      switch (result.outcome) {
        case 'replayed':
          feed.notify();
          return { status: 200, body: result.replay };
        case 'not-found':
          return { status: 404, body: problem('notFound', `No dead letter ${params.id}; list them with GET /dead-letters.`) };
        case 'already-replayed': {
          const { replayedAt, replayedBy, replayEventId } = result.replay;
          return { status: 409, body: problem('alreadyReplayed', `Dead letter ${params.id} was replayed at ${replayedAt} by ${replayedBy}, as event ${replayEventId}; it is not published twice. If that replay failed too, it is a new dead letter: replay that one.`) };
        }
        case 'refused':
          return { status: 422, body: problem('unreplayable', `Dead letter ${params.id} cannot be replayed: ${result.reason}.`) };
      }
    },
  };
}
