/** The store API: each route is one repository operation, its outcome mapped to the contract. */
import {
  CloudEvent, events, fromMinor, maxBreakGlassSeconds, orderPlaced, OrderPlacedEvent, problem, spiffeId, toMinor, type AnyCloudEvent, type storeContract,
} from '@msa-poc/contracts';
import type { TSchema } from '@sinclair/typebox';
import type { Caller, Handlers } from '@msa-poc/platform/service';
import { uuidv7 } from '@msa-poc/platform/ids';
import { startPublish, withTraceContext, type EventTelemetry, type Publication } from '@msa-poc/platform/messaging';
import { currentContext, currentTraceId } from '@msa-poc/platform/telemetry';
import { context } from '@msa-poc/platform/tracing';
import { validate } from '@msa-poc/platform/validation';
import type { Database, Queryable } from './database.js';
import type { FeedSignal } from './feed.js';
import { longPoll } from './feed.js';
import * as audit from './audit.js';
import * as clients from './clients.js';
import { untracedOrderPlaced } from './order-event.js';
import * as repository from './repository.js';
import * as support from './support.js';

export interface EventOptions {
  /**
   * outbox-feed: writing the outbox row is the publish, since consumers read the feed (embedded
   * profile). relay: the relay publishes later, continuing from the context the event carries.
   * nobody: the outbox bench switch is off, and a placed order writes no event at all.
   */
  readonly publishedBy: 'outbox-feed' | 'relay' | 'nobody';
  readonly telemetry: EventTelemetry;
  /** Epoch milliseconds: when grants start, expire and are checked (tests move it). */
  readonly clock?: () => number;
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

/** The request and trace this change is part of, and the key the client proved at the edge, for its audit record. */
const auditContext = (keyThumbprint: string | undefined): support.AuditContext => {
  const requestId = currentContext()?.requestId;
  const traceId = currentTraceId();
  return { ...(keyThumbprint ? { keyThumbprint } : {}), ...(requestId ? { requestId } : {}), ...(traceId ? { traceId } : {}) };
};

const noLiveGrant = (grantId: string) => ({ status: 401 as const, body: problem('unauthenticated', `Support grant ${grantId} is not live (pending, rejected, revoked or expired); ask for access again.`) });

export function storeApi(db: Database, feed: FeedSignal, shuttingDown: AbortSignal, eventOptions: EventOptions): Handlers<typeof storeContract> {
  const clock = eventOptions.clock ?? Date.now;
  const now = () => new Date(clock());
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

    getOrder: async ({ headers, params }) => {
      const grantId = headers['support-grant'];
      const read = grantId === undefined
        ? { outcome: 'read' as const, value: await repository.getOrder(db, params.id) }
        : await support.readUnderGrant(db, { id: grantId, now: now() }, (tx) => repository.getOrder(tx, params.id));
      if (read.outcome === 'no-live-grant') return noLiveGrant(grantId as string);
      return read.value ? { status: 200, body: read.value } : { status: 404, body: problem('notFound', `No order ${params.id}.`) };
    },

    listOrders: async ({ headers, query }) => {
      const grantId = headers['support-grant'];
      const list = (tx: Queryable) => repository.listOrders(tx, { customerId: query.customerId, cursor: query.cursor, limit: query.limit ?? 20 });
      try {
        const read = grantId === undefined ? { outcome: 'read' as const, value: await list(db) } : await support.readUnderGrant(db, { id: grantId, now: now() }, list);
        if (read.outcome === 'no-live-grant') return noLiveGrant(grantId as string);
        return { status: 200, body: read.value };
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

    requestSupportAccess: async ({ body }) => {
      const { requester, ...request } = body;
      const result = await support.requestAccess(db, { ...request, requester, now: now() });
      return result.outcome === 'requested'
        ? { status: 201, body: result.grant }
        : { status: 403, body: problem('supportRoleRequired', `Client ${requester} does not have the support role; an operator grants it with \`poc client add ${requester} … --role support\`.`) };
    },

    decideSupportAccess: async ({ params, body }) => {
      const result = await support.decide(db, { id: params.id, by: body.by, decision: body.decision, now: now() });
      switch (result.outcome) {
        case 'decided':
          return { status: 200, body: result.grant };
        case 'not-found':
          return { status: 404, body: problem('notFound', `No access request ${params.id}.`) };
        case 'own-request':
          return { status: 403, body: problem('ownSupportRequest', `Client ${body.by} made access request ${params.id}; another support lead must decide it.`) };
        case 'not-lead':
          return { status: 403, body: problem('supportLeadRequired', `Client ${body.by} does not have the support-lead role; only a support lead may ${body.decision} access requests.`) };
        case 'not-pending':
          return { status: 409, body: problem('supportRequestDecided', `Access request ${params.id} is ${result.grant.status}; only a pending request can be decided.`) };
      }
    },

    revokeSupportAccess: async ({ params, body }) => {
      const result = await support.revoke(db, { id: params.id, by: body.by, now: now() });
      switch (result.outcome) {
        case 'revoked':
          return { status: 200, body: result.grant };
        case 'not-found':
          return { status: 404, body: problem('notFound', `No access request ${params.id}.`) };
        case 'not-allowed':
          return { status: 403, body: problem('supportLeadRequired', `Only the requester of ${params.id} or a support lead may revoke it; ${body.by} is neither.`) };
        case 'already-ended':
          return { status: 409, body: problem('supportRequestDecided', `Access request ${params.id} is ${result.grant.status} already; there is nothing to revoke.`) };
      }
    },

    getSupportGrant: async ({ params }) => {
      const grant = await support.getGrant(db, params.id, now());
      return grant ? { status: 200, body: grant } : { status: 404, body: problem('notFound', `No access request ${params.id}.`) };
    },

    listSupportGrants: async ({ query }) => {
      const items = await support.listGrants(db, { by: query.by, limit: query.limit ?? 100, now: now() });
      return items === 'forbidden'
        ? { status: 403, body: problem('supportRoleRequired', `Client ${query.by} has neither the support nor the support-lead role.`) }
        : { status: 200, body: { items } };
    },

    recordSupportResponse: async ({ body }) => ({ status: 200, body: { auditPosition: await support.recordServedResponse(db, body) } }),

    getSupportGrantLog: async ({ params, query }) => {
      const log = await support.grantLog(db, { id: params.id, by: query.by, after: query.after ?? 0, limit: query.limit ?? 50, now: now() });
      switch (log.outcome) {
        case 'not-found':
          return { status: 404, body: problem('notFound', `No access request ${params.id}.`) };
        case 'not-allowed':
          return { status: 403, body: problem('supportLeadRequired', `Only the requester of ${params.id} or a support lead may read its log; ${query.by} is neither.`) };
        case 'log':
          return { status: 200, body: { grant: log.grant, items: log.items, ...(log.nextAfter === undefined ? {} : { nextAfter: log.nextAfter }) } };
      }
    },

    breakGlass: async ({ body }) => {
      const { requester, keyThumbprint, ...request } = body;
      const result = await support.breakGlass(db, { ...request, requester, now: now(), audit: auditContext(keyThumbprint) });
      switch (result.outcome) {
        case 'opened':
          return { status: 201, body: result.grant };
        case 'not-support':
          return { status: 403, body: problem('supportRoleRequired', `Client ${requester} does not have the support role; an operator grants it with \`poc client add ${requester} … --role support\`.`) };
        case 'too-long':
          return { status: 422, body: problem('breakGlassTooLong', `Break-glass access lasts at most ${maxBreakGlassSeconds} seconds (15 minutes), not ${request.durationSeconds}; ask for ${maxBreakGlassSeconds} or less, and for longer access request it with approval (POST /v1/support/access-requests).`) };
      }
    },

    reviewBreakGlass: async ({ params, body }) => {
      const { by, keyThumbprint, ...review } = body;
      const result = await support.reviewBreakGlass(db, { ...review, id: params.id, by, now: now(), audit: auditContext(keyThumbprint) });
      switch (result.outcome) {
        case 'reviewed':
          return { status: 200, body: result.grant };
        case 'not-found':
          return { status: 404, body: problem('notFound', `No break-glass grant ${params.id}; list grants with GET /v1/support/grants.`) };
        case 'own-grant':
          return { status: 403, body: problem('ownSupportRequest', `Client ${by} opened break-glass grant ${params.id}; another support lead must review it.`) };
        case 'not-lead':
          return { status: 403, body: problem('supportLeadRequired', `Client ${by} does not have the support-lead role; only a support lead may review break-glass access.`) };
        case 'already-reviewed':
          return { status: 409, body: problem('alreadyReviewed', `Break-glass grant ${params.id} was reviewed ${result.grant.reviewOutcome ?? ''} by ${result.grant.reviewedBy ?? 'a support lead'} at ${result.grant.reviewedAt ?? 'an earlier time'}; a review is not changed.`) };
      }
    },

    listAllSupportGrants: async ({ query }) => ({ status: 200, body: { items: await support.listAllGrants(db, { limit: query.limit ?? 100, now: now() }) } }),

    appendAudit: async ({ body }) => ({ status: 200, body: { appended: await audit.appendAudit(db, body.records) } }),

    listAudit: async ({ query }) => ({ status: 200, body: { items: await audit.listAudit(db, { after: query.after, limit: query.limit ?? 50 }) } }),

    readAuditChain: async ({ query }) => ({ status: 200, body: await audit.readAuditChain(db, { after: query.after ?? 0, limit: query.limit ?? 1000 }) }),

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
