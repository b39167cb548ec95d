/**
 * The bare store: the real store's database module, migrations and repository statements on the
 * embedded profile (PGlite), behind plain HTTP. It writes the same order.placed event to the
 * outbox in the same statement; it neither validates the event nor traces nor measures anything.
 */
import { orderPlaced } from '@msa-poc/contracts';
import { uuidv7 } from '@msa-poc/platform/ids';
import { openDatabase } from '@msa-poc/store/database';
import { migrate } from '@msa-poc/store/migrate';
import { untracedOrderPlaced } from '@msa-poc/store/order-event';
import { getOrder, listProducts, placeOrder, type PricedOrder } from '@msa-poc/store/repository';
import { json, portFrom, serve } from './http.js';

const dataDir = process.env.BENCH_BARE_DATA_DIR;
if (!dataDir) throw new Error('BENCH_BARE_DATA_DIR must name the directory for the bare store\'s database');
const db = await openDatabase({ profile: 'embedded', dataDir });
await migrate(db);

const placedStatus = { created: 201, replayed: 200, 'key-reused': 422, 'out-of-stock': 409, 'unknown-sku': 422 } as const;

serve('store', portFrom('BENCH_BARE_STORE_PORT'), async ({ method, path, headers, body }) => {
  if (method === 'GET' && path === '/products') return json(200, { items: await listProducts(db) });
  if (method === 'GET' && path.startsWith('/orders/')) {
    const order = await getOrder(db, decodeURIComponent(path.slice('/orders/'.length)));
    return order ? json(200, order) : json(404, { error: 'no such order' });
  }
  if (method === 'POST' && path === '/orders') {
    const { order, requestHash } = body as { order: PricedOrder; requestHash: string };
    const event = untracedOrderPlaced(order, uuidv7());
    const result = await placeOrder(db, {
      key: String(headers['idempotency-key']), requestHash, order,
      event: { id: event.id, type: event.type, subject: orderPlaced.subject, payload: event },
    });
    return json(placedStatus[result.outcome], 'order' in result ? result.order : result);
  }
  return undefined;
});
