/** The domain's shapes, shared by every contract that carries them. */
import { Type, type Static, type TSchema } from '@sinclair/typebox';

/** Printable text: no control characters (NUL included), bounded length. */
const Text = (maxLength: number, extra: object = {}) => Type.String({ minLength: 1, maxLength, pattern: '^[^\\u0000-\\u001f\\u007f]+$', ...extra });

export const Sku = Type.String({ pattern: '^SKU-[0-9]{4}$', description: 'Product code, e.g. SKU-0001' });
export const OrderId = Type.String({ format: 'uuid' });
export const CustomerId = Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9._:-]+$' });

export const Currency = Type.Literal('EUR');
export const Money = Type.Object(
  { amount: Type.String({ pattern: '^(0|[1-9][0-9]{0,12})\\.[0-9]{2}$', description: 'Decimal amount, two fraction digits' }), currency: Currency },
  { additionalProperties: false },
);
export type Money = Static<typeof Money>;

export const Product = Type.Object(
  { sku: Sku, name: Text(200), price: Money, stock: Type.Integer({ minimum: 0 }) },
  { additionalProperties: false },
);
export type Product = Static<typeof Product>;

export const ProductList = Type.Object({ items: Type.Array(Product) }, { additionalProperties: false });

export const ShippingAddress = Type.Object(
  {
    name: Text(200),
    line1: Text(200),
    city: Text(100),
    postalCode: Type.String({ minLength: 1, maxLength: 16, pattern: '^[A-Za-z0-9 -]+$' }),
    country: Type.String({ pattern: '^[A-Z]{2}$', description: 'ISO 3166-1 alpha-2' }),
  },
  { additionalProperties: false },
);
export type ShippingAddress = Static<typeof ShippingAddress>;

export const maxLinesPerOrder = 50;
export const maxQuantityPerLine = 100;

export const OrderItemInput = Type.Object(
  { sku: Sku, quantity: Type.Integer({ minimum: 1, maximum: maxQuantityPerLine }) },
  { additionalProperties: false },
);

export const PlaceOrderInput = Type.Object(
  { customerId: CustomerId, items: Type.Array(OrderItemInput, { minItems: 1, maxItems: maxLinesPerOrder }), shippingAddress: ShippingAddress },
  { additionalProperties: false },
);
export type PlaceOrderInput = Static<typeof PlaceOrderInput>;

export const OrderStatus = Type.Union([Type.Literal('placed'), Type.Literal('fulfilled'), Type.Literal('cancelled'), Type.Literal('failed')]);
export type OrderStatus = Static<typeof OrderStatus>;

export const OrderLine = Type.Object(
  { sku: Sku, name: Text(200), quantity: Type.Integer({ minimum: 1 }), unitPrice: Money, lineTotal: Money },
  { additionalProperties: false },
);
export type OrderLine = Static<typeof OrderLine>;

export const Order = Type.Object(
  {
    id: OrderId,
    customerId: CustomerId,
    status: OrderStatus,
    items: Type.Array(OrderLine),
    total: Money,
    shippingAddress: ShippingAddress,
    createdAt: Type.String({ format: 'date-time' }),
    updatedAt: Type.String({ format: 'date-time' }),
  },
  { additionalProperties: false },
);
export type Order = Static<typeof Order>;

export const OrderPage = Type.Object(
  { items: Type.Array(Order), nextCursor: Type.Union([Type.String(), Type.Null()]) },
  { additionalProperties: false },
);
export type OrderPage = Static<typeof OrderPage>;

export const IdempotencyKey = Type.String({ minLength: 8, maxLength: 128, pattern: '^[A-Za-z0-9._:-]+$' });

export const ListOrdersQuery = Type.Object(
  {
    customerId: CustomerId,
    cursor: Type.Optional(Type.String({ maxLength: 200, pattern: '^[A-Za-z0-9_-]+$' })),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, default: 20 })),
  },
  { additionalProperties: false },
);

export const OrderParams = Type.Object({ id: OrderId }, { additionalProperties: false });

/** The partner's asynchronous answer about one order, signed by the partner. */
export const FulfilmentCallback = Type.Object(
  {
    orderId: OrderId,
    fulfilmentId: Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9_-]+$' }),
    status: Type.Literal('fulfilled'),
    fulfilledAt: Type.String({ format: 'date-time' }),
  },
  { additionalProperties: false },
);
export type FulfilmentCallback = Static<typeof FulfilmentCallback>;

export const Ack = Type.Object({ ok: Type.Literal(true) }, { additionalProperties: false });

export const ClientId = Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9._-]+$' });
export const ScopeName = Type.Union([Type.Literal('orders:read'), Type.Literal('orders:write')]);
/** What a client may do beyond its scopes: ask for support access to a customer, or decide such requests. */
export const RoleName = Type.Union([Type.Literal('support'), Type.Literal('support-lead')]);

/** A public JWK as registered for a client: EC P-256 or OKP Ed25519; private members are refused. */
export const PublicJwk = Type.Object(
  {
    kty: Type.Union([Type.Literal('EC'), Type.Literal('OKP')]),
    crv: Type.Union([Type.Literal('P-256'), Type.Literal('Ed25519')]),
    x: Type.String({ pattern: '^[A-Za-z0-9_-]+$', maxLength: 64 }),
    y: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9_-]+$', maxLength: 64 })),
    kid: Type.Optional(Type.String({ maxLength: 128 })),
    alg: Type.Optional(Type.String({ maxLength: 16 })),
    use: Type.Optional(Type.Literal('sig')),
  },
  { additionalProperties: false },
);

/**
 * The end user behind a call from the gateway: a short-lived compact JWS the gateway signs
 * (platform/caller-assertion.ts). Services that serve a client's data require it.
 */
export const CallerAssertion = Type.String({ minLength: 16, maxLength: 2048, pattern: '^[A-Za-z0-9_-]+\\.[A-Za-z0-9_-]+\\.[A-Za-z0-9_-]+$' });
export const EndUserHeaders = Type.Object({ 'caller-assertion': CallerAssertion });

export const ApiClient = Type.Object(
  {
    id: ClientId,
    jwks: Type.Array(PublicJwk, { minItems: 1, maxItems: 5 }),
    scopes: Type.Array(ScopeName, { minItems: 1, maxItems: 2, uniqueItems: true }),
    /** A customer-scoped client acts for this customer only: it sees and places that customer's orders. */
    customerId: Type.Optional(CustomerId),
    roles: Type.Array(RoleName, { maxItems: 2, uniqueItems: true }),
    createdAt: Type.String({ format: 'date-time' }),
  },
  { additionalProperties: false },
);
export type ApiClient = Static<typeof ApiClient>;

export const ApiClientRegistration = Type.Object(
  {
    jwks: Type.Array(PublicJwk, { minItems: 1, maxItems: 5 }),
    scopes: Type.Array(ScopeName, { minItems: 1, maxItems: 2, uniqueItems: true }),
    customerId: Type.Optional(CustomerId),
    roles: Type.Optional(Type.Array(RoleName, { maxItems: 2, uniqueItems: true })),
  },
  { additionalProperties: false },
);

/** One entry of the audit trail: an authentication decision or a state-changing call. */
export const AuditRecord = Type.Object(
  {
    at: Type.String({ format: 'date-time' }),
    /** The API client (or `anonymous` when none could be identified). */
    actor: Type.String({ minLength: 1, maxLength: 128 }),
    keyThumbprint: Type.Optional(Type.String({ maxLength: 64 })),
    action: Type.String({ minLength: 1, maxLength: 64, pattern: '^[a-z][a-z0-9.:_-]*$' }),
    outcome: Type.Union([Type.Literal('allowed'), Type.Literal('refused'), Type.Literal('succeeded'), Type.Literal('failed')]),
    target: Type.Optional(Type.String({ maxLength: 256 })),
    requestId: Type.Optional(Type.String({ maxLength: 128 })),
    traceId: Type.Optional(Type.String({ maxLength: 32 })),
    detail: Type.Optional(Type.String({ maxLength: 500 })),
  },
  { additionalProperties: false },
);
export type AuditRecord = Static<typeof AuditRecord>;

const nullable = <T extends TSchema>(schema: T) => Type.Union([schema, Type.Null()]);

/**
 * An audit record exactly as stored in the hash chain, for verification: absent fields are null,
 * and no field is constrained beyond its type, so that a tampered value is shown, not refused.
 */
export const ChainedAuditRecord = Type.Object(
  {
    position: Type.Integer({ minimum: 1 }),
    at: Type.String(),
    actor: Type.String(),
    keyThumbprint: nullable(Type.String()),
    action: Type.String(),
    outcome: Type.String(),
    target: nullable(Type.String()),
    requestId: nullable(Type.String()),
    traceId: nullable(Type.String()),
    detail: nullable(Type.String()),
    previousHash: Type.String(),
    hash: Type.String(),
  },
  { additionalProperties: false },
);
export type ChainedAuditRecord = Static<typeof ChainedAuditRecord>;

/** What a support grant may allow: reading the customer's orders (nothing that changes them). */
export const SupportAction = Type.Literal('orders:read');
/** At most an hour: access is just in time, and a longer need is a new request. */
export const maxSupportGrantSeconds = 3600;
export const SupportGrantId = Type.String({ format: 'uuid' });

export const SupportAccessRequest = Type.Object(
  {
    customerId: CustomerId,
    ticketId: Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9._:#-]+$' }),
    reason: Type.String({ minLength: 1, maxLength: 500 }),
    actions: Type.Array(SupportAction, { minItems: 1, maxItems: 1, uniqueItems: true }),
    durationSeconds: Type.Integer({ minimum: 60, maximum: maxSupportGrantSeconds }),
  },
  { additionalProperties: false },
);
export type SupportAccessRequest = Static<typeof SupportAccessRequest>;

/** Break-glass: access at once, for an incident, without approval, and short. */
export const maxBreakGlassSeconds = 900;

export const BreakGlassRequest = Type.Object(
  {
    customerId: CustomerId,
    incidentId: Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9._:#-]+$' }),
    reason: Type.String({ minLength: 1, maxLength: 500 }),
    durationSeconds: Type.Integer({ minimum: 60 }),
  },
  { additionalProperties: false },
);
export type BreakGlassRequest = Static<typeof BreakGlassRequest>;

/** A lead's verdict on a break-glass grant after the fact: was opening it justified? */
export const BreakGlassReviewOutcome = Type.Union([Type.Literal('justified'), Type.Literal('unjustified')]);
export const BreakGlassReview = Type.Object(
  { outcome: BreakGlassReviewOutcome, note: Type.String({ minLength: 1, maxLength: 1000 }) },
  { additionalProperties: false },
);
export type BreakGlassReview = Static<typeof BreakGlassReview>;

/**
 * An access request and the grant it becomes. `expired` is an approved grant past `expiresAt`;
 * only an `approved` grant before `expiresAt` gives access.
 */
export const SupportGrant = Type.Object(
  {
    id: SupportGrantId,
    requester: ClientId,
    customerId: CustomerId,
    ticketId: Type.String({ maxLength: 64 }),
    reason: Type.String({ maxLength: 500 }),
    actions: Type.Array(SupportAction),
    durationSeconds: Type.Integer({ minimum: 1, maximum: maxSupportGrantSeconds }),
    status: Type.Union([Type.Literal('pending'), Type.Literal('approved'), Type.Literal('rejected'), Type.Literal('revoked'), Type.Literal('expired')]),
    requestedAt: Type.String({ format: 'date-time' }),
    decidedBy: Type.Optional(ClientId),
    decidedAt: Type.Optional(Type.String({ format: 'date-time' })),
    expiresAt: Type.Optional(Type.String({ format: 'date-time' })),
    revokedBy: Type.Optional(ClientId),
    revokedAt: Type.Optional(Type.String({ format: 'date-time' })),
    /** Granted at once without approval (`ticketId` is then the incident), and reviewed by a lead afterwards. */
    breakGlass: Type.Boolean(),
    /** A break-glass grant only: `unreviewed` until a support lead other than the requester reviews it. */
    reviewStatus: Type.Optional(Type.Union([Type.Literal('unreviewed'), Type.Literal('reviewed')])),
    reviewOutcome: Type.Optional(BreakGlassReviewOutcome),
    reviewNote: Type.Optional(Type.String({ maxLength: 1000 })),
    reviewedBy: Type.Optional(ClientId),
    reviewedAt: Type.Optional(Type.String({ format: 'date-time' })),
  },
  { additionalProperties: false },
);
export type SupportGrant = Static<typeof SupportGrant>;
export const SupportGrantList = Type.Object({ items: Type.Array(SupportGrant) }, { additionalProperties: false });

/** One response served under a support grant, exactly as served (masked), with its audit record's position. */
export const ServedSupportResponse = Type.Object(
  {
    auditPosition: Type.Integer({ minimum: 1 }),
    servedAt: Type.String({ format: 'date-time' }),
    route: Type.String({ maxLength: 256 }),
    status: Type.Integer({ minimum: 100, maximum: 599 }),
    /** The body as served, masked. */
    body: Type.Unknown(),
  },
  { additionalProperties: false },
);
export type ServedSupportResponse = Static<typeof ServedSupportResponse>;
export const SupportGrantLog = Type.Object(
  {
    grant: SupportGrant,
    items: Type.Array(ServedSupportResponse),
    /** The `after` of the next page; absent on the last. */
    nextAfter: Type.Optional(Type.Integer({ minimum: 1 })),
  },
  { additionalProperties: false },
);
/** A page of a grant's log: the responses after an audit position. */
export const SupportGrantLogQuery = Type.Object(
  { after: Type.Optional(Type.Integer({ minimum: 0 })), limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 200, default: 50 })) },
  { additionalProperties: false },
);
export type SupportGrantLog = Static<typeof SupportGrantLog>;
