import './formats.js';

export * from './route.js';
export * from './topology.js';
export * from './problems.js';
export * from './schemas.js';
export * from './money.js';
export * from './events.js';
export * from './masking.js';
export { storeContract, PricedOrder, DeadLetter, DeadLetterReplay } from './store.js';
export { ordersContract } from './orders.js';
export { integrationContract } from './integration.js';
export { partnerContract, FulfilmentRequest, FulfilmentReceipt } from './partner.js';
export { apiContract } from './api.js';
export { relayContract, RelayQuery, RelayReply, type RelayContract } from './synthetic.js';
export { openapi } from './openapi.js';
export { snapshotOf, unannouncedBreaks, type Snapshot } from './compatibility.js';

import { storeContract } from './store.js';
import { ordersContract } from './orders.js';
import { integrationContract } from './integration.js';
import { partnerContract } from './partner.js';
import { apiContract } from './api.js';

/** Every service's contract, by service name. */
export const contracts = {
  gateway: apiContract,
  orders: ordersContract,
  store: storeContract,
  integration: integrationContract,
  partner: partnerContract,
} as const;
