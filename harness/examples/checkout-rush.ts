/**
 * An example scenario for `poc prove --scenario harness/examples/checkout-rush.ts`: a sale where
 * most visitors look at the catalog, a third buy a basket of several products after a short
 * think time, and some check their order right away.
 */
import { defineScenario } from '@msa-poc/harness/scenario';

export default defineScenario({
  name: 'checkout rush',
  operations: {
    look: {
      weight: 5,
      dependsOn: ['gateway', 'orders'],
      run: (ctx) => ctx.api.call('GET', '/v1/products', { signal: ctx.signal }),
    },
    buy: {
      weight: 3,
      run: async (ctx) => {
        await ctx.sleep(5 + ctx.random() * 20); // a moment to decide
        const basket = Array.from({ length: 1 + Math.floor(ctx.random() * 4) }, () => ({ sku: ctx.sku(), quantity: 1 }));
        return ctx.placeOrder({ items: basket });
      },
    },
    track: {
      weight: 2,
      run: (ctx) => {
        const id = ctx.knownOrder();
        return id ? ctx.api.call('GET', `/v1/orders/${id}`, { signal: ctx.signal }) : ctx.api.call('GET', '/v1/products', { signal: ctx.signal });
      },
    },
  },
});
