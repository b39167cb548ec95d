/** The orders API: one typed handler per route. Contract types in, contract types out. */
import { problem, type ordersContract, type storeContract, type OrderStatus } from '@msa-poc/contracts';
import type { Client, Handlers } from '@msa-poc/platform/service';
import { uuidv7 } from '@msa-poc/platform/ids';
import type { Catalog } from './catalog.js';
import { priceOrder, requestHash, returnsStock, statesLeadingTo } from './order.js';

export function ordersApi(store: Client<typeof storeContract>, catalog: Catalog): Handlers<typeof ordersContract> {
  const transition = async (id: string, to: OrderStatus, causeId: string) => {
    const reply = await store.transitionOrder({ params: { id }, body: { from: statesLeadingTo(to), to, restock: returnsStock(to), causeId } });
    return reply;
  };

  return {
    listProducts: async () => ({ status: 200, body: { items: await catalog.list() } }),

    placeOrder: async ({ headers, body }) => {
      const pricing = priceOrder(body, await catalog.products());
      if (!pricing.ok) return { status: 422, body: problem(pricing.rule === 'unknown-sku' ? 'unknownSku' : 'orderRule', pricing.detail) };
      // The trace context travels in the call's headers; the store stamps the event with its own publish.
      return store.placeOrder({
        headers: { 'idempotency-key': headers['idempotency-key'] },
        body: {
          order: { id: uuidv7(), customerId: body.customerId, items: pricing.items, total: pricing.total, shippingAddress: body.shippingAddress },
          requestHash: requestHash(body),
        },
      });
    },

    getOrder: ({ params }) => store.getOrder({ params }),

    listOrders: ({ query }) => store.listOrders({ query }),

    // A repeated cancel is the same cause: it answers 200 with the cancelled order and returns stock once.
    cancelOrder: ({ params }) => transition(params.id, 'cancelled', 'cancel'),

    fulfilOrder: ({ params, body }) => transition(params.id, 'fulfilled', `fulfilment:${body.fulfilmentId}`),

    failOrder: ({ params, body }) => transition(params.id, 'failed', body.causeId),
  };
}
