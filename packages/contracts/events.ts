/** Events: CloudEvents 1.0 (structured JSON mode), carrying the W3C trace context of their cause. */
import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { event } from './route.js';
import { CustomerId, Money, OrderId, ShippingAddress, Sku } from './schemas.js';

export const orderPlaced = event({
  type: 'dev.msa-poc.order.placed.v1',
  version: '1.0.0',
  summary: 'An order was accepted and persisted; it awaits fulfilment by the partner.',
  subject: 'orders.placed',
  data: Type.Object(
    {
      orderId: OrderId,
      customerId: CustomerId,
      items: Type.Array(Type.Object({ sku: Sku, quantity: Type.Integer({ minimum: 1 }) }, { additionalProperties: false }), { minItems: 1 }),
      total: Money,
      shippingAddress: ShippingAddress,
    },
    { additionalProperties: false },
  ),
});

export const events = { orderPlaced } as const;

/** The JetStream stream that carries order events in the production profile. */
export const orderStream = { name: 'ORDERS', subjects: ['orders.>'] } as const;

/**
 * Where a consumer files an event it gave up on (`dlq.<consumer>`), kept for two weeks: the store
 * lists and replays dead letters, this stream keeps the original message as the broker held it.
 */
export const deadLetterStream = { name: 'DEAD_LETTERS', subjects: ['dlq.>'], maxAgeMs: 14 * 24 * 3600 * 1000 } as const;
export const deadLetterSubject = (consumer: string): string => `dlq.${consumer}`;

export const CloudEvent = <D extends TSchema>(type: string, data: D) =>
  Type.Object(
    {
      specversion: Type.Literal('1.0'),
      id: Type.String({ format: 'uuid' }),
      source: Type.String({ minLength: 1 }),
      type: Type.Literal(type),
      time: Type.String({ format: 'date-time' }),
      datacontenttype: Type.Literal('application/json'),
      subject: Type.Optional(Type.String()),
      traceparent: Type.Optional(Type.String({ pattern: '^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$' })),
      tracestate: Type.Optional(Type.String({ maxLength: 512 })),
      data,
    },
    { additionalProperties: false },
  );

export const OrderPlacedEvent = CloudEvent(orderPlaced.type, orderPlaced.data);
export type OrderPlacedEvent = Static<typeof OrderPlacedEvent>;

/** Any event as it travels, before its type is known. */
export const AnyCloudEvent = Type.Object(
  {
    specversion: Type.Literal('1.0'),
    id: Type.String({ format: 'uuid' }),
    source: Type.String(),
    type: Type.String(),
    time: Type.String({ format: 'date-time' }),
    datacontenttype: Type.Literal('application/json'),
    subject: Type.Optional(Type.String()),
    traceparent: Type.Optional(Type.String()),
    tracestate: Type.Optional(Type.String()),
    data: Type.Unknown(),
  },
  { additionalProperties: false },
);
export type AnyCloudEvent = Static<typeof AnyCloudEvent>;
