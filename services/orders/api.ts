/** The orders API: one typed handler per route. Contract types in, contract types out. */
import { problem, type ordersContract, type storeContract, type OrderStatus } from '@msa-poc/contracts';
import type { CallerVerifier, EndUser } from '@msa-poc/platform/caller-assertion';
import type { Client, Handlers } from '@msa-poc/platform/service';
import { uuidv7 } from '@msa-poc/platform/ids';
import type { Catalog } from './catalog.js';
import { priceOrder, requestHash, returnsStock, statesLeadingTo } from './order.js';

const notFound = (what: string) => ({ status: 404 as const, body: problem('notFound', `${what} does not exist.`) });

/**
 * A customer-scoped client acts for one customer: another customer's orders do not exist for it
 * (404, not 403, so that it learns nothing about them), and it cannot order on their behalf.
 */
const actsFor = (user: EndUser, customerId: string): boolean => user.customerId === undefined || user.customerId === customerId;

/** A support engineer's read goes to the store with its grant, which the store checks and confines the read to. */
const readAs = (user: EndUser): { 'support-grant'?: string } => (user.supportGrantId ? { 'support-grant': user.supportGrantId } : {});

export function ordersApi(store: Client<typeof storeContract>, catalog: Catalog, callers: CallerVerifier): Handlers<typeof ordersContract> {
  const transition = async (id: string, to: OrderStatus, causeId: string) => {
    const reply = await store.transitionOrder({ params: { id }, body: { from: statesLeadingTo(to), to, restock: returnsStock(to), causeId } });
    return reply;
  };
  const endUser = (headers: { 'caller-assertion': string }): EndUser => callers.verify(headers['caller-assertion']);

  return {
    listProducts: async ({ headers }) => {
      endUser(headers);
      return { status: 200, body: { items: await catalog.list() } };
    },

    placeOrder: async ({ headers, body }) => {
      const user = endUser(headers);
      if (!actsFor(user, body.customerId)) return { status: 403, body: problem('actsForAnotherCustomer', `Client ${user.clientId} acts for customer ${user.customerId} only; it cannot place orders for ${body.customerId}.`) };
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

    getOrder: async ({ headers, params }) => {
      const user = endUser(headers);
      const reply = await store.getOrder({ headers: readAs(user), params });
      return reply.status === 200 && !actsFor(user, reply.body.customerId) ? notFound(`Order ${params.id}`) : reply;
    },

    listOrders: async ({ headers, query }) => {
      const user = endUser(headers);
      if (!actsFor(user, query.customerId)) return notFound(`Customer ${query.customerId}`);
      return store.listOrders({ headers: readAs(user), query });
    },

    // A repeated cancel is the same cause: it answers 200 with the cancelled order and returns stock once.
    cancelOrder: async ({ headers, params }) => {
      const user = endUser(headers);
      if (user.customerId !== undefined) {
        const order = await store.getOrder({ headers: readAs(user), params });
        if (order.status !== 200 || !actsFor(user, order.body.customerId)) return notFound(`Order ${params.id}`);
      }
      return transition(params.id, 'cancelled', 'cancel');
    },

    fulfilOrder: ({ params, body }) => transition(params.id, 'fulfilled', `fulfilment:${body.fulfilmentId}`),

    failOrder: ({ params, body }) => transition(params.id, 'failed', body.causeId),
  };
}
