/** The store: the only owner of the database. Persistence, idempotency, outbox and event feed. */
import { Type, type Static } from '@sinclair/typebox';
import { route, contract } from './route.js';
import { Problem } from './problems.js';
import { AnyCloudEvent } from './events.js';
import {
  ApiClient, ApiClientRegistration, AuditRecord, BreakGlassRequest, BreakGlassReview, ChainedAuditRecord, ClientId, CustomerId, IdempotencyKey, ListOrdersQuery, Money, Order, OrderId, OrderPage, OrderParams, OrderStatus, ProductList, ShippingAddress, Sku, SupportAccessRequest, SupportGrant, SupportGrantId, SupportGrantList, SupportGrantLog, SupportGrantLogQuery,
} from './schemas.js';

export const PricedOrder = Type.Object(
  {
    id: OrderId,
    customerId: CustomerId,
    items: Type.Array(Type.Object({ sku: Sku, quantity: Type.Integer({ minimum: 1 }), unitPrice: Money }, { additionalProperties: false }), { minItems: 1, maxItems: 50 }),
    total: Money,
    shippingAddress: ShippingAddress,
  },
  { additionalProperties: false },
);

const Consumer = Type.String({ pattern: '^[a-z][a-z0-9-]{0,40}$' });

const DeadLetterId = Type.String({ format: 'uuid' });

export const DeadLetter = Type.Object(
  {
    id: DeadLetterId,
    consumer: Consumer,
    event: AnyCloudEvent,
    error: Type.String({ maxLength: 2000 }),
    attempts: Type.Integer({ minimum: 1 }),
    createdAt: Type.String({ format: 'date-time' }),
  },
  { additionalProperties: false },
);
export type DeadLetter = Static<typeof DeadLetter>;

/** A dead letter's replay: its event went out again, under a new id, at the request of `replayedBy`. */
export const DeadLetterReplay = Type.Object(
  {
    deadLetterId: DeadLetterId,
    /** The id of the event that was dead-lettered. */
    eventId: Type.String({ format: 'uuid' }),
    /** The id under which the event was published again. */
    replayEventId: Type.String({ format: 'uuid' }),
    replayedAt: Type.String({ format: 'date-time' }),
    /** The workload whose certificate asked for the replay. */
    replayedBy: Type.String({ minLength: 1, maxLength: 64 }),
  },
  { additionalProperties: false },
);
export type DeadLetterReplay = Static<typeof DeadLetterReplay>;

/** The key (RFC 7638 thumbprint) the client proved possession of at the edge, for the audit record. */
const KeyThumbprint = Type.String({ maxLength: 64 });

/** A read on behalf of a support grant: the store checks the grant and confines the read to its customer. */
const SupportGrantHeaders = Type.Object({ 'support-grant': Type.Optional(SupportGrantId) });

export const storeContract = contract({
  service: 'store',
  version: '5.0.0',
  routes: {
    listProducts: route({
      method: 'GET', path: '/products', summary: 'The whole catalog with current stock.',
      responses: { 200: ProductList }, callers: ['orders'], idempotent: true,
    }),
    placeOrder: route({
      method: 'POST', path: '/orders',
      summary: 'Persist a priced order, its lines, the stock decrement and its order.placed event in one transaction, once per idempotency key.',
      headers: Type.Object({ 'idempotency-key': IdempotencyKey }),
      body: Type.Object(
        { order: PricedOrder, requestHash: Type.String({ pattern: '^[A-Za-z0-9_-]{43}$' }), traceparent: Type.Optional(Type.String()) },
        { additionalProperties: false },
      ),
      responses: { 201: Order, 200: Order, 409: Problem, 422: Problem },
      // Idempotent by its key: a retry with the same key and body returns the same order.
      callers: ['orders'], idempotent: true,
    }),
    getOrder: route({
      method: 'GET', path: '/orders/:id', summary: 'One order with its lines; with a support grant, read as that grant\'s customer under row-level security.',
      headers: SupportGrantHeaders, params: OrderParams, responses: { 200: Order, 401: Problem, 404: Problem }, callers: ['orders', 'integration'], idempotent: true,
    }),
    listOrders: route({
      method: 'GET', path: '/orders', summary: "A customer's orders, newest first, by cursor; with a support grant, read as that grant's customer under row-level security.",
      headers: SupportGrantHeaders, query: ListOrdersQuery, responses: { 200: OrderPage, 400: Problem, 401: Problem }, callers: ['orders'], idempotent: true,
    }),
    transitionOrder: route({
      method: 'POST', path: '/orders/:id/transitions',
      summary: 'Move an order to a new status if it is in one of the given states; restock on request; record the cause once.',
      params: OrderParams,
      body: Type.Object(
        {
          from: Type.Array(OrderStatus, { minItems: 1, maxItems: 4 }),
          to: OrderStatus,
          restock: Type.Boolean(),
          /** Identifies the cause (a callback, an event) so that a repeated cause changes nothing. */
          causeId: Type.String({ minLength: 1, maxLength: 128 }),
        },
        { additionalProperties: false },
      ),
      responses: { 200: Order, 404: Problem, 409: Problem }, callers: ['orders'], idempotent: true,
    }),
    readEvents: route({
      method: 'GET', path: '/events',
      summary: 'The event feed (embedded profile): events after the consumer\'s acknowledged cursor, long-polling up to waitMs, each with whether the consumer has recorded it processed and the status of the order it is about (null when it names no order the store holds), both as they were when read.',
      query: Type.Object(
        { consumer: Consumer, limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500, default: 100 })), waitMs: Type.Optional(Type.Integer({ minimum: 0, maximum: 30000, default: 0 })) },
        { additionalProperties: false },
      ),
      responses: { 200: Type.Object({ events: Type.Array(Type.Object({ position: Type.Integer(), event: AnyCloudEvent, processed: Type.Boolean(), orderStatus: Type.Union([OrderStatus, Type.Null()]) }, { additionalProperties: false })) }, { additionalProperties: false }) },
      callers: ['integration'], idempotent: true,
    }),
    ackEvents: route({
      method: 'POST', path: '/events/ack', summary: 'Advance a consumer\'s durable cursor past every event up to a position, recording the events it lists as processed by the consumer in the same statement.',
      body: Type.Object({ consumer: Consumer, position: Type.Integer({ minimum: 0 }), processed: Type.Optional(Type.Array(Type.String({ format: 'uuid' }), { maxItems: 500 })) }, { additionalProperties: false }),
      responses: { 200: Type.Object({ position: Type.Integer() }, { additionalProperties: false }) }, callers: ['integration'], idempotent: true,
    }),
    recordProcessed: route({
      method: 'POST', path: '/processed-events',
      summary: 'Record that a consumer completed an event; answers whether it had been recorded before.',
      body: Type.Object({ consumer: Consumer, eventId: Type.String({ format: 'uuid' }) }, { additionalProperties: false }),
      responses: { 200: Type.Object({ firstTime: Type.Boolean() }, { additionalProperties: false }) }, callers: ['integration'], idempotent: true,
    }),
    isProcessed: route({
      method: 'GET', path: '/processed-events/:consumer/:eventId', summary: 'Whether a consumer already completed an event.',
      params: Type.Object({ consumer: Consumer, eventId: Type.String({ format: 'uuid' }) }, { additionalProperties: false }),
      responses: { 200: Type.Object({ processed: Type.Boolean() }, { additionalProperties: false }) }, callers: ['integration'], idempotent: true,
    }),
    addDeadLetter: route({
      method: 'POST', path: '/dead-letters', summary: 'Keep an event that could not be processed, with the error that stopped it.',
      body: Type.Object({ consumer: Consumer, event: AnyCloudEvent, error: Type.String({ maxLength: 2000 }), attempts: Type.Integer({ minimum: 1 }) }, { additionalProperties: false }),
      responses: { 200: DeadLetter, 201: DeadLetter }, callers: ['integration'], idempotent: true,
    }),
    registerClient: route({
      method: 'PUT', path: '/clients/:id', summary: 'Register (or replace) an API client by its public keys and scopes. No secret exists.',
      params: Type.Object({ id: ClientId }, { additionalProperties: false }), body: ApiClientRegistration,
      responses: { 200: ApiClient, 201: ApiClient }, callers: ['gateway'], idempotent: true,
    }),
    getClient: route({
      method: 'GET', path: '/clients/:id', summary: 'One registered API client.',
      params: Type.Object({ id: ClientId }, { additionalProperties: false }), responses: { 200: ApiClient, 404: Problem }, callers: ['gateway'], idempotent: true,
    }),
    listClients: route({
      method: 'GET', path: '/clients', summary: 'Every registered API client.',
      responses: { 200: Type.Object({ items: Type.Array(ApiClient) }, { additionalProperties: false }) }, callers: ['gateway'], idempotent: true,
    }),
    removeClient: route({
      method: 'DELETE', path: '/clients/:id', summary: 'Remove an API client: its keys can no longer obtain tokens.',
      params: Type.Object({ id: ClientId }, { additionalProperties: false }), responses: { 200: Type.Object({ removed: Type.Boolean() }, { additionalProperties: false }) }, callers: ['gateway'], idempotent: true,
    }),
    requestSupportAccess: route({
      method: 'POST', path: '/support/access-requests', summary: 'Record a support engineer\'s request for access to one customer; refused unless the requester has the support role.',
      body: Type.Composite([Type.Object({ requester: ClientId }), SupportAccessRequest], { additionalProperties: false }),
      responses: { 201: SupportGrant, 403: Problem }, callers: ['gateway'], idempotent: false,
    }),
    decideSupportAccess: route({
      method: 'POST', path: '/support/access-requests/:id/decision',
      summary: 'Approve or reject a pending request: only a support lead who is not the requester may; approval starts the grant\'s clock.',
      params: Type.Object({ id: SupportGrantId }, { additionalProperties: false }),
      body: Type.Object({ by: ClientId, decision: Type.Union([Type.Literal('approve'), Type.Literal('reject')]) }, { additionalProperties: false }),
      responses: { 200: SupportGrant, 403: Problem, 404: Problem, 409: Problem }, callers: ['gateway'], idempotent: false,
    }),
    revokeSupportAccess: route({
      method: 'POST', path: '/support/access-requests/:id/revoke', summary: 'End a pending or live grant now: its requester or a support lead may.',
      params: Type.Object({ id: SupportGrantId }, { additionalProperties: false }),
      body: Type.Object({ by: ClientId }, { additionalProperties: false }),
      responses: { 200: SupportGrant, 403: Problem, 404: Problem, 409: Problem }, callers: ['gateway'], idempotent: true,
    }),
    getSupportGrant: route({
      method: 'GET', path: '/support/access-requests/:id', summary: 'One access request or grant, with its status now.',
      params: Type.Object({ id: SupportGrantId }, { additionalProperties: false }), responses: { 200: SupportGrant, 404: Problem }, callers: ['gateway', 'console'], idempotent: true,
    }),
    listSupportGrants: route({
      method: 'GET', path: '/support/access-requests', summary: 'Access requests and grants, newest first, as `by` may see them: a lead every one, an engineer their own.',
      query: Type.Object({ by: ClientId, limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500, default: 100 })) }, { additionalProperties: false }),
      responses: { 200: SupportGrantList, 403: Problem }, callers: ['gateway'], idempotent: true,
    }),
    recordSupportResponse: route({
      method: 'POST', path: '/support/responses',
      summary: 'Append the audit record of a response served under a support grant and keep the served (masked) body beside it, in one transaction: both or neither.',
      body: Type.Object({
        record: AuditRecord, grantId: SupportGrantId, route: Type.String({ minLength: 1, maxLength: 256 }), status: Type.Integer({ minimum: 100, maximum: 599 }),
        /** The body exactly as served, as JSON text. */
        body: Type.String({ maxLength: 4 * 1024 * 1024 }),
      }, { additionalProperties: false }),
      // A page of 100 orders of 50 lines is some hundreds of KiB; JSON text in JSON grows by its escapes.
      bodyLimit: 10 * 1024 * 1024,
      responses: { 200: Type.Object({ auditPosition: Type.Integer({ minimum: 1 }) }, { additionalProperties: false }) }, callers: ['gateway'], idempotent: false,
    }),
    getSupportGrantLog: route({
      method: 'GET', path: '/support/access-requests/:id/log', summary: 'The responses served under a grant, oldest first, as `by` may see them: its requester or a support lead.',
      params: Type.Object({ id: SupportGrantId }, { additionalProperties: false }),
      query: Type.Composite([Type.Object({ by: ClientId }), SupportGrantLogQuery], { additionalProperties: false }),
      responses: { 200: SupportGrantLog, 403: Problem, 404: Problem }, callers: ['gateway'], idempotent: true,
    }),
    breakGlass: route({
      method: 'POST', path: '/support/break-glass',
      summary: 'Open a break-glass grant at once, without approval, for at most 900 seconds; refused unless the requester has the support role. The grant and its audit record are written in one transaction.',
      body: Type.Composite([Type.Object({ requester: ClientId, keyThumbprint: Type.Optional(KeyThumbprint) }), BreakGlassRequest], { additionalProperties: false }),
      responses: { 201: SupportGrant, 403: Problem, 422: Problem }, callers: ['gateway'], idempotent: false,
    }),
    reviewBreakGlass: route({
      method: 'POST', path: '/support/break-glass/:id/review',
      summary: 'Review a break-glass grant once: only a support lead who is not the requester may; the review and its audit record are written in one transaction.',
      params: Type.Object({ id: SupportGrantId }, { additionalProperties: false }),
      body: Type.Composite([Type.Object({ by: ClientId, keyThumbprint: Type.Optional(KeyThumbprint) }), BreakGlassReview], { additionalProperties: false }),
      responses: { 200: SupportGrant, 403: Problem, 404: Problem, 409: Problem }, callers: ['gateway'], idempotent: false,
    }),
    listAllSupportGrants: route({
      method: 'GET', path: '/support/grants', summary: 'Every access request and grant, newest first, for the console (read-only).',
      query: Type.Object({ limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500, default: 100 })) }, { additionalProperties: false }),
      responses: { 200: SupportGrantList }, callers: ['console'], idempotent: true,
    }),
    appendAudit: route({
      method: 'POST', path: '/audit', summary: 'Append audit records (append-only: they can never be changed or removed).',
      body: Type.Object({ records: Type.Array(AuditRecord, { minItems: 1, maxItems: 500 }) }, { additionalProperties: false }),
      responses: { 200: Type.Object({ appended: Type.Integer() }, { additionalProperties: false }) }, callers: ['gateway'], idempotent: false,
    }),
    listAudit: route({
      method: 'GET', path: '/audit', summary: 'The latest audit records, oldest first; `after` continues from a position.',
      query: Type.Object({ after: Type.Optional(Type.Integer({ minimum: 0 })), limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 50 })) }, { additionalProperties: false }),
      responses: { 200: Type.Object({ items: Type.Array(Type.Composite([Type.Object({ position: Type.Integer() }), AuditRecord], { additionalProperties: false })) }, { additionalProperties: false }) },
      callers: ['gateway'], idempotent: true,
    }),
    readAuditChain: route({
      method: 'GET', path: '/audit/chain', summary: "The audit records as stored in the hash chain (absent fields null), oldest first after a position, with the chain's head, all read from one snapshot.",
      query: Type.Object({ after: Type.Optional(Type.Integer({ minimum: 0, default: 0 })), limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 5000, default: 1000 })) }, { additionalProperties: false }),
      responses: { 200: Type.Object({ items: Type.Array(ChainedAuditRecord), head: Type.Object({ position: Type.Integer({ minimum: 0 }), hash: Type.String() }, { additionalProperties: false }) }, { additionalProperties: false }) },
      callers: ['gateway', 'console'], idempotent: true,
    }),
    listDeadLetters: route({
      method: 'GET', path: '/dead-letters', summary: 'The dead letters, newest first.',
      query: Type.Object({ limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500, default: 100 })) }, { additionalProperties: false }),
      responses: { 200: Type.Object({ items: Type.Array(DeadLetter) }, { additionalProperties: false }) }, callers: ['integration', 'console'], idempotent: true,
    }),
    listDeadLetterReplays: route({
      method: 'GET', path: '/dead-letters/replays', summary: 'The replays of dead letters, latest first.',
      query: Type.Object({ limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500, default: 100 })) }, { additionalProperties: false }),
      responses: { 200: Type.Object({ items: Type.Array(DeadLetterReplay) }, { additionalProperties: false }) }, callers: ['console'], idempotent: true,
    }),
    replayDeadLetter: route({
      method: 'POST', path: '/dead-letters/:id/replay',
      summary: "Publish a dead letter's event again through the outbox, once: the same transaction marks the dead letter replayed and audits who asked.",
      params: Type.Object({ id: DeadLetterId }, { additionalProperties: false }),
      responses: { 200: DeadLetterReplay, 404: Problem, 409: Problem, 422: Problem },
      // A repeat answers 409 instead of the first result, so typed clients must not retry it on their own.
      callers: ['console'], idempotent: false,
    }),
  },
});
