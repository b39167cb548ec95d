/** The order.placed event as the store writes it to the outbox, before any trace context is stamped on it. */
import { orderPlaced } from '@msa-poc/contracts';
import type { PricedOrder } from './repository.js';

export function untracedOrderPlaced(order: PricedOrder, eventId: string) {
  return {
    specversion: '1.0' as const,
    id: eventId,
    source: '/store',
    type: orderPlaced.type,
    time: new Date().toISOString(),
    datacontenttype: 'application/json' as const,
    subject: order.id,
    data: {
      orderId: order.id,
      customerId: order.customerId,
      items: order.items.map(({ sku, quantity }) => ({ sku, quantity })),
      total: order.total,
      shippingAddress: order.shippingAddress,
    },
  };
}
