/** Integration: the bridge to the fulfilment partner, in both directions. */
import { route, contract } from './route.js';
import { Problem } from './problems.js';
import { Ack, FulfilmentCallback } from './schemas.js';

export const integrationContract = contract({
  service: 'integration',
  version: '1.0.0',
  routes: {
    partnerCallback: route({
      method: 'POST', path: '/partner/callbacks',
      summary: "The partner's fulfilment callback, its signature already verified at the edge.",
      body: FulfilmentCallback,
      responses: { 200: Ack, 404: Problem, 409: Problem }, callers: ['gateway'], idempotent: true,
    }),
  },
});
