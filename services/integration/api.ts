/** The integration API: the partner's callbacks, already authenticated by their signature at the edge. */
import type { integrationContract, ordersContract } from '@msa-poc/contracts';
import type { Client, Handlers } from '@msa-poc/platform/service';

export function integrationApi(orders: Client<typeof ordersContract>): Handlers<typeof integrationContract> {
  return {
    partnerCallback: async ({ body }) => {
      const reply = await orders.fulfilOrder({ params: { id: body.orderId }, body: { fulfilmentId: body.fulfilmentId } });
      return reply.status === 200 ? { status: 200, body: { ok: true } } : reply;
    },
  };
}
