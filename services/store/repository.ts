/**
 * The store's data operations, one function each. Every function takes the Database or, where it
 * composes into a caller's transaction, any Queryable, and speaks the contract's types: money as
 * decimal strings (integer minor units in the database), timestamps as ISO 8601 strings.
 */
import { randomUUID } from 'node:crypto';
import { eur, toMinor } from '@msa-poc/contracts';
import type {
  AnyCloudEvent, DeadLetter as DeadLetterSchema, DeadLetterReplay as DeadLetterReplaySchema, Order, OrderLine, OrderStatus, PricedOrder as PricedOrderSchema, Product, ShippingAddress,
} from '@msa-poc/contracts';
import { appendAudit } from './audit.js';
import { sqlState, statement, violatedConstraint, type Database, type Queryable } from './database.js';

/** An order as the orders service priced it, ready to be persisted. */
export type PricedOrder = (typeof PricedOrderSchema)['static'];
export type DeadLetter = (typeof DeadLetterSchema)['static'];
export type DeadLetterReplay = (typeof DeadLetterReplaySchema)['static'];

/** A cursor that was not produced by listOrders (or was tampered with). */
export class BadCursorError extends Error {
  override readonly name = 'BadCursorError';
  constructor(readonly cursor: string) {
    super('the cursor is not one this service issued');
  }
}

const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

// ---------------------------------------------------------------------------------------------------
// Reading orders

/** Builds one order, lines included, as JSON inside the query: any read of an order is one round trip. */
const orderJson = (o: string) => `json_build_object(
  'id', ${o}.id, 'customerId', ${o}.customer_id, 'status', ${o}.status,
  'totalMinor', ${o}.total_minor, 'shippingAddress', ${o}.shipping_address,
  'createdAt', ${o}.created_at, 'updatedAt', ${o}.updated_at,
  'items', (SELECT json_agg(json_build_object('sku', l.sku, 'name', l.name, 'quantity', l.quantity, 'unitPriceMinor', l.unit_price_minor) ORDER BY l.line_no)
            FROM order_lines l WHERE l.order_id = ${o}.id))`;

interface OrderJson {
  id: string;
  customerId: string;
  status: OrderStatus;
  totalMinor: number;
  shippingAddress: ShippingAddress;
  createdAt: string;
  updatedAt: string;
  items: { sku: string; name: string; quantity: number; unitPriceMinor: number }[] | null;
}

function toOrder(row: OrderJson): Order {
  return {
    id: row.id,
    customerId: row.customerId,
    status: row.status,
    items: (row.items ?? []).map((line) => orderLine(line.sku, line.name, line.quantity, line.unitPriceMinor)),
    total: eur(row.totalMinor),
    shippingAddress: row.shippingAddress,
    createdAt: iso(row.createdAt),
    updatedAt: iso(row.updatedAt),
  };
}

function orderLine(sku: string, name: string, quantity: number, unitPriceMinor: number): OrderLine {
  return { sku, name, quantity, unitPrice: eur(unitPriceMinor), lineTotal: eur(quantity * unitPriceMinor) };
}

/** PostgreSQL timestamps carry microseconds; the API's date-time strings carry milliseconds, in UTC. */
function iso(value: string | Date): string {
  return (value instanceof Date ? value : new Date(value)).toISOString();
}

const getOrderSql = statement('getOrder', `SELECT ${orderJson('o')} AS "order" FROM orders o WHERE o.id = $1`);

export async function getOrder(db: Queryable, id: string): Promise<Order | null> {
  if (!uuidPattern.test(id)) return null;
  const result = await db.query<{ order: OrderJson }>(getOrderSql, [id]);
  const row = result.rows[0];
  return row ? toOrder(row.order) : null;
}

/**
 * A customer's orders, newest first. Keyset pagination on (created_at, id): a page costs the same at
 * any depth and orders placed meanwhile neither shift nor repeat later pages. The cursor carries
 * created_at as PostgreSQL's own text (microseconds), since a JavaScript Date would round it.
 */
const listOrdersSelect = `SELECT ${orderJson('o')} AS "order", to_json(o.created_at) #>> '{}' AS created_key FROM orders o`;
const listOrdersSql = statement('listOrders', `${listOrdersSelect} WHERE o.customer_id = $1 ORDER BY o.created_at DESC, o.id DESC LIMIT $2`);
const listOrdersAfterSql = statement('listOrdersAfterCursor',
  `${listOrdersSelect} WHERE o.customer_id = $1 AND (o.created_at, o.id) < ($2::timestamptz, $3::uuid) ORDER BY o.created_at DESC, o.id DESC LIMIT $4`);

export async function listOrders(db: Queryable, query: { customerId: string; cursor?: string | undefined; limit: number }): Promise<{ items: Order[]; nextCursor: string | null }> {
  if (!Number.isInteger(query.limit) || query.limit < 1 || query.limit > 500) throw new RangeError(`limit ${query.limit} is not a whole number from 1 to 500`);
  const after = query.cursor === undefined ? undefined : decodeCursor(query.cursor);
  // One more row than asked tells whether another page exists.
  const result = after
    ? await db.query<{ order: OrderJson; created_key: string }>(listOrdersAfterSql, [query.customerId, after.createdAt, after.id, query.limit + 1])
    : await db.query<{ order: OrderJson; created_key: string }>(listOrdersSql, [query.customerId, query.limit + 1]);
  const page = result.rows.slice(0, query.limit);
  const last = page[page.length - 1];
  const nextCursor = result.rows.length > query.limit && last ? encodeCursor(last.created_key, last.order.id) : null;
  return { items: page.map((row) => toOrder(row.order)), nextCursor };
}

function encodeCursor(createdAt: string, id: string): string {
  return Buffer.from(JSON.stringify([createdAt, id]), 'utf8').toString('base64url');
}

const timestampPattern = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.\d{1,6})?(?:Z|[+-](?:0\d|1[0-5]):[0-5]\d(?::[0-5]\d)?)$/;

/** Everything checked here, so that a forged cursor is a 400 and never a database cast error. */
function decodeCursor(cursor: string): { createdAt: string; id: string } {
  if (!/^[A-Za-z0-9_-]{1,400}$/.test(cursor)) throw new BadCursorError(cursor);
  const bytes = Buffer.from(cursor, 'base64url');
  // Node's decoder skips what it cannot read; a canonical re-encoding proves nothing was skipped.
  if (bytes.toString('base64url') !== cursor) throw new BadCursorError(cursor);
  let value: unknown;
  try {
    value = JSON.parse(bytes.toString('utf8'));
  } catch {
    throw new BadCursorError(cursor);
  }
  if (!Array.isArray(value) || value.length !== 2) throw new BadCursorError(cursor);
  const [createdAt, id] = value as unknown[];
  if (typeof createdAt !== 'string' || typeof id !== 'string' || !uuidPattern.test(id)) throw new BadCursorError(cursor);
  const parts = timestampPattern.exec(createdAt);
  if (!parts) throw new BadCursorError(cursor);
  const [year, month, day, hour, minute, second] = parts.slice(1, 7).map(Number) as [number, number, number, number, number, number];
  const date = new Date(Date.UTC(year, month - 1, day, hour, minute, second));
  const exists = date.getUTCFullYear() === year && date.getUTCMonth() === month - 1 && date.getUTCDate() === day
    && date.getUTCHours() === hour && date.getUTCMinutes() === minute && date.getUTCSeconds() === second;
  if (!exists) throw new BadCursorError(cursor);
  return { createdAt, id };
}

// ---------------------------------------------------------------------------------------------------
// Catalog

const listProductsSql = statement('listProducts', 'SELECT sku, name, price_minor, stock FROM products ORDER BY sku');

export async function listProducts(db: Queryable): Promise<Product[]> {
  const result = await db.query<{ sku: string; name: string; price_minor: number | string; stock: number }>(listProductsSql);
  return result.rows.map((row) => ({ sku: row.sku, name: row.name, price: eur(Number(row.price_minor)), stock: row.stock }));
}

// ---------------------------------------------------------------------------------------------------
// Placing an order

export interface PlaceOrderInput {
  /** The client's Idempotency-Key. */
  key: string;
  /** A digest of the request body: the same key with another body is refused. */
  requestHash: string;
  order: PricedOrder;
  /**
   * The order.placed event, written to the outbox in the same transaction. Absent only with the
   * outbox bench switch off: the order is placed and nothing will ever fulfil it.
   */
  event: { id: string; type: string; subject: string; payload: AnyCloudEvent } | undefined;
}

export type PlaceOrderResult =
  | { outcome: 'created'; order: Order }
  | { outcome: 'replayed'; order: Order }
  | { outcome: 'key-reused' }
  | { outcome: 'out-of-stock'; skus: string[] }
  | { outcome: 'unknown-sku'; skus: string[] };

/**
 * The whole write, one statement. Data-modifying CTEs share one snapshot and one implicit
 * transaction, so sent on its own (autocommit) this is one round trip and one commit, with no
 * BEGIN/COMMIT exchanges around it. The obvious version (BEGIN, key, one UPDATE per product, order,
 * lines, outbox, COMMIT) costs 6 round trips plus one per product, each holding the row locks longer.
 *
 * - `claimed` takes the idempotency key; every write below depends on it, so a taken key writes nothing.
 *   A concurrent request with the same key waits here until the first commits, then takes nothing.
 * - `claimed` also depends on no SKU being `missing`, so an unknown SKU writes nothing either.
 * - `locked` locks the products in SKU order before `decremented` touches them: an UPDATE alone visits
 *   rows in whatever order its plan picks, so two orders for the same products could deadlock.
 * - `decremented` subtracts the demand; the CHECK (stock >= 0) constraint aborts the entire statement,
 *   and so the whole order, when any product would go negative.
 * - `prior` reads the key as it was before this statement: a plain retry of a finished request is
 *   answered by this same round trip.
 * Foreign keys between the new rows are checked at the end of the statement, once all of them exist.
 */
const placeOrderStatement = (withEvent: boolean) => statement(withEvent ? 'placeOrder' : 'placeOrderWithoutEvent', `
WITH input AS (
  SELECT * FROM jsonb_to_recordset($7::jsonb) AS i(line_no int, sku text, quantity int, unit_price_minor bigint)
), demand AS (
  SELECT sku, sum(quantity)::int AS quantity FROM input GROUP BY sku
), missing AS (
  SELECT d.sku FROM demand d WHERE NOT EXISTS (SELECT 1 FROM products p WHERE p.sku = d.sku)
), prior AS (
  SELECT k.request_hash, k.order_id FROM idempotency_keys k WHERE k.key = $1
), claimed AS (
  INSERT INTO idempotency_keys (key, request_hash, order_id)
  SELECT $1, $2, $3::uuid WHERE NOT EXISTS (SELECT 1 FROM missing)
  ON CONFLICT (key) DO NOTHING
  RETURNING order_id
), locked AS (
  SELECT p.sku FROM products p
  WHERE p.sku IN (SELECT sku FROM demand) AND EXISTS (SELECT 1 FROM claimed)
  ORDER BY p.sku
  FOR NO KEY UPDATE
), decremented AS (
  UPDATE products p SET stock = p.stock - d.quantity
  FROM demand d JOIN locked l ON l.sku = d.sku
  WHERE p.sku = d.sku
  RETURNING p.sku, p.name
), placed AS (
  INSERT INTO orders (id, customer_id, status, total_minor, currency, shipping_address)
  SELECT order_id, $4, 'placed', $5::bigint, 'EUR', $6::jsonb FROM claimed
  RETURNING id, created_at, updated_at
), lines AS (
  INSERT INTO order_lines (order_id, line_no, sku, name, quantity, unit_price_minor)
  SELECT placed.id, i.line_no, i.sku, d.name, i.quantity, i.unit_price_minor
  FROM placed CROSS JOIN input i JOIN decremented d ON d.sku = i.sku
  RETURNING sku, name
)${withEvent ? `, published AS (
  INSERT INTO outbox (event_id, type, subject, payload)
  SELECT $8::uuid, $9, $10, $11::jsonb FROM placed
  RETURNING position
)` : ''}
SELECT
  placed.created_at,
  placed.updated_at,
  (SELECT jsonb_object_agg(sku, name) FROM lines) AS names,
  (SELECT count(*) FROM lines)::int AS line_count,
  ${withEvent ? '(SELECT count(*) FROM published)::int' : '0'} AS event_count,
  (SELECT json_agg(sku ORDER BY sku) FROM missing) AS missing,
  prior.request_hash AS prior_hash,
  (SELECT ${orderJson('o')} FROM orders o WHERE o.id = prior.order_id) AS prior_order
FROM (VALUES (1)) AS one
LEFT JOIN placed ON true
LEFT JOIN prior ON true`);
const placeOrderSql = placeOrderStatement(true);
const placeOrderWithoutEventSql = placeOrderStatement(false);

interface PlaceOrderRow {
  created_at: Date | string | null;
  updated_at: Date | string | null;
  names: Record<string, string> | null;
  line_count: number;
  event_count: number;
  missing: string[] | null;
  prior_hash: string | null;
  prior_order: OrderJson | null;
}

const storedKeySql = statement('readIdempotencyKey', `SELECT k.request_hash, ${orderJson('o')} AS "order" FROM idempotency_keys k JOIN orders o ON o.id = k.order_id WHERE k.key = $1`);

const shortSkusSql = statement('findShortSkus', `
SELECT d.sku FROM jsonb_to_recordset($1::jsonb) AS d(sku text, quantity int)
JOIN products p ON p.sku = d.sku
WHERE p.stock < d.quantity
ORDER BY d.sku`);

/** Enough for the rare races below (stock returned between two statements, a deadlock); never a loop. */
const maxPlaceAttempts = 3;

/**
 * Round trips, when called with the Database (autocommit):
 *   created: 1 · replayed or key-reused after the first request committed: 1 · replayed or key-reused
 *   while the first request was still in flight: 2 (the key's row is committed after this statement's
 *   snapshot, so a second statement reads it) · unknown SKU: 1 · out of stock: 2 (the failed statement
 *   cannot say which product was short; one read names them).
 * Inside a caller's transaction it works the same, but a refused order (out of stock) aborts that transaction.
 */
export async function placeOrder(db: Queryable, input: PlaceOrderInput): Promise<PlaceOrderResult> {
  const { order } = input;
  const lines = order.items.map((item, index) => ({ line_no: index + 1, sku: item.sku, quantity: item.quantity, unit_price_minor: toMinor(item.unitPrice.amount) }));
  const totalMinor = toMinor(order.total.amount);
  const sum = lines.reduce((acc, line) => acc + line.quantity * line.unit_price_minor, 0);
  if (sum !== totalMinor) throw new RangeError(`order ${order.id}: total ${order.total.amount} is not the sum of its lines (${eur(sum).amount})`);
  const demand = new Map<string, number>();
  for (const line of lines) demand.set(line.sku, (demand.get(line.sku) ?? 0) + line.quantity);

  const { event } = input;
  const params = [
    input.key, input.requestHash, order.id, order.customerId, totalMinor, JSON.stringify(order.shippingAddress), JSON.stringify(lines),
    ...(event ? [event.id, event.type, event.subject, JSON.stringify(event.payload)] : []),
  ];
  const sql = event ? placeOrderSql : placeOrderWithoutEventSql;

  for (let attempt = 1; ; attempt++) {
    let row: PlaceOrderRow | undefined;
    try {
      row = (await db.query<PlaceOrderRow>(sql, params)).rows[0];
    } catch (error) {
      if (sqlState(error) === '23514' && violatedConstraint(error) === 'products_stock_non_negative') {
        const short = await db.query<{ sku: string }>(shortSkusSql, [JSON.stringify([...demand].map(([sku, quantity]) => ({ sku, quantity })))]);
        const skus = short.rows.map((r) => r.sku);
        if (skus.length > 0) return { outcome: 'out-of-stock', skus };
        // Stock came back (a cancellation) between the two statements: the order may fit now.
        if (attempt < maxPlaceAttempts) continue;
        return { outcome: 'out-of-stock', skus: [...demand.keys()].sort() };
      }
      if (sqlState(error) === '40P01' && attempt < maxPlaceAttempts) continue;
      throw error;
    }
    if (!row) throw new Error('placing an order returned no row');

    if (row.created_at !== null && row.updated_at !== null) {
      const names = row.names ?? {};
      if (row.line_count !== lines.length || row.event_count !== (event ? 1 : 0)) {
        throw new Error(`order ${order.id} was written with ${row.line_count} of ${lines.length} lines and ${row.event_count} events`);
      }
      return {
        outcome: 'created',
        order: {
          id: order.id,
          customerId: order.customerId,
          status: 'placed',
          items: lines.map((line) => orderLine(line.sku, names[line.sku] ?? line.sku, line.quantity, line.unit_price_minor)),
          total: eur(totalMinor),
          shippingAddress: order.shippingAddress,
          createdAt: iso(row.created_at),
          updatedAt: iso(row.updated_at),
        },
      };
    }
    if (row.prior_hash !== null && row.prior_order !== null) return replay(input.requestHash, row.prior_hash, row.prior_order);
    if (row.missing && row.missing.length > 0) return { outcome: 'unknown-sku', skus: row.missing };

    // The key was taken by a request that committed after this statement's snapshot: read it now.
    const stored = (await db.query<{ request_hash: string; order: OrderJson }>(storedKeySql, [input.key])).rows[0];
    if (stored) return replay(input.requestHash, stored.request_hash, stored.order);
    if (attempt >= maxPlaceAttempts) throw new Error(`idempotency key ${input.key} is taken but cannot be read`);
  }
}

function replay(requestHash: string, storedHash: string, stored: OrderJson): PlaceOrderResult {
  return storedHash === requestHash ? { outcome: 'replayed', order: toOrder(stored) } : { outcome: 'key-reused' };
}

// ---------------------------------------------------------------------------------------------------
// Order state transitions

export type TransitionResult =
  | { outcome: 'applied' | 'already-applied'; order: Order }
  | { outcome: 'not-found' }
  | { outcome: 'conflict'; order: Order };

const lockOrderSql = statement('lockOrder', 'SELECT 1 FROM orders WHERE id = $1 FOR NO KEY UPDATE');
const findCauseSql = statement('findCause', 'SELECT 1 FROM order_causes WHERE order_id = $1 AND cause_id = $2');
const updateStatusSql = statement('updateOrderStatus', 'UPDATE orders SET status = $2, updated_at = now() WHERE id = $1 AND status = ANY($3::text[])');
// Same SKU order of locking as placeOrder, for the same reason. `order_ids` is the order to restock,
// or nothing: the one-statement transition below restocks only the order it moved.
const restockCtes = (orderIds: string) => `returned AS (
  SELECT sku, sum(quantity)::int AS quantity FROM order_lines WHERE order_id IN (${orderIds}) GROUP BY sku
), locked_stock AS (
  SELECT p.sku FROM products p JOIN returned r ON r.sku = p.sku ORDER BY p.sku FOR NO KEY UPDATE OF p
)`;
const restockUpdate = `UPDATE products p SET stock = p.stock + r.quantity
FROM returned r JOIN locked_stock l ON l.sku = r.sku
WHERE p.sku = r.sku`;
const restockSql = statement('restock', `WITH ${restockCtes('$1')}
${restockUpdate}`);
const recordCauseSql = statement('recordCause', 'INSERT INTO order_causes (order_id, cause_id) VALUES ($1, $2)');

/**
 * The common case of a transition in one statement: the order exists, this cause is new and the status
 * is one of `from`. It locks the order, moves it, restocks if asked and records the cause, and returns
 * the order as it now is (built from the UPDATE's RETURNING: the statement's snapshot still holds the
 * old row). Anything else returns no row and `transitionOrder` decides it step by step. The steps cost
 * 7 round trips (BEGIN, lock, cause, update, cause, read, COMMIT); the bench's profile showed the
 * fulfilment callback's transition as the largest share of the store's statements per order.
 *
 * On PostgreSQL, a transition of the same order committed while this statement waited for the row
 * lock is not in its snapshot: the UPDATE rechecks the status on the newest row (and finds it moved,
 * so no row), and a repeated cause that still matched hits the order_causes primary key. Both fall
 * back to the step-by-step path, which reads the committed state.
 */
const transitionStatement = (restock: boolean) => statement(restock ? 'transitionOrderRestock' : 'transitionOrder', `
WITH target AS (
  SELECT o.id FROM orders o
  WHERE o.id = $1 AND NOT EXISTS (SELECT 1 FROM order_causes c WHERE c.order_id = $1 AND c.cause_id = $4)
  FOR NO KEY UPDATE
), moved AS (
  UPDATE orders o SET status = $2, updated_at = now()
  FROM target t WHERE o.id = t.id AND o.status = ANY($3::text[])
  RETURNING o.id, o.customer_id, o.status, o.total_minor, o.shipping_address, o.created_at, o.updated_at
), caused AS (
  INSERT INTO order_causes (order_id, cause_id) SELECT id, $4 FROM moved
  RETURNING order_id
)${restock ? `, ${restockCtes('SELECT id FROM moved')}, restocked AS (
  ${restockUpdate}
  RETURNING 1
)` : ''}
SELECT json_build_object(
  'id', m.id, 'customerId', m.customer_id, 'status', m.status, 'totalMinor', m.total_minor, 'shippingAddress', m.shipping_address,
  'createdAt', m.created_at, 'updatedAt', m.updated_at,
  'items', (SELECT json_agg(json_build_object('sku', l.sku, 'name', l.name, 'quantity', l.quantity, 'unitPriceMinor', l.unit_price_minor) ORDER BY l.line_no)
            FROM order_lines l WHERE l.order_id = m.id)) AS "order",
  (SELECT count(*) FROM caused)::int AS causes
FROM moved m`);
const transitionSql = transitionStatement(false);
const transitionRestockSql = transitionStatement(true);

/** Runs `fn` in a transaction of its own, or in the caller's when given a transaction already. */
function inTransaction<T>(db: Database | Queryable, fn: (tx: Queryable) => Promise<T>): Promise<T> {
  return 'transaction' in db ? db.transaction(fn) : fn(db);
}

/**
 * Moves an order to `to` if its status is one of `from`, at most once per cause. The order's row lock
 * serializes every transition of that order, so the cause check and the update cannot interleave with
 * another transition (a cause recorded by a transaction we waited for is visible to the next statement).
 *
 * Round trips, given the Database: applied: 1 · already applied, a conflict, not found, or a race
 * lost on PostgreSQL: 1 + 7 (the one statement, then the steps). Inside a caller's transaction, where
 * a failed statement would abort that transaction, only the steps run.
 */
export async function transitionOrder(
  db: Database | Queryable,
  change: { id: string; from: OrderStatus[]; to: OrderStatus; restock: boolean; causeId: string },
): Promise<TransitionResult> {
  if (!uuidPattern.test(change.id)) return { outcome: 'not-found' };
  if ('transaction' in db) {
    try {
      const row = (await db.query<{ order: OrderJson; causes: number }>(change.restock ? transitionRestockSql : transitionSql, [change.id, change.to, change.from, change.causeId])).rows[0];
      if (row) {
        if (row.causes !== 1) throw new Error(`order ${change.id} moved to ${change.to} without recording its cause ${change.causeId}`);
        return { outcome: 'applied', order: toOrder(row.order) };
      }
    } catch (error) {
      // A concurrent transition with the same cause committed first: the steps below report it.
      if (sqlState(error) !== '23505') throw error;
    }
  }
  return inTransaction(db, async (tx) => {
    const current = await tx.query(lockOrderSql, [change.id]);
    if (current.rowCount === 0) return { outcome: 'not-found' };
    const cause = await tx.query(findCauseSql, [change.id, change.causeId]);
    if (cause.rowCount > 0) return { outcome: 'already-applied', order: await mustGetOrder(tx, change.id) };
    const updated = await tx.query(updateStatusSql, [change.id, change.to, change.from]);
    if (updated.rowCount === 0) return { outcome: 'conflict', order: await mustGetOrder(tx, change.id) };
    if (change.restock) await tx.query(restockSql, [change.id]);
    await tx.query(recordCauseSql, [change.id, change.causeId]);
    return { outcome: 'applied', order: await mustGetOrder(tx, change.id) };
  });
}

async function mustGetOrder(db: Queryable, id: string): Promise<Order> {
  const order = await getOrder(db, id);
  if (!order) throw new Error(`order ${id} vanished inside its own transaction`);
  return order;
}

// ---------------------------------------------------------------------------------------------------
// Event feed (embedded profile)
//
// Positions come from a sequence, and on PostgreSQL transactions can commit out of position order:
// a reader could see 11 before 10 commits and move its cursor past 10. PGlite runs one transaction
// at a time, so there positions become visible strictly in order and a cursor is exact. The
// production profile does not use this feed: its relay marks each row published instead.

export interface FeedEvent {
  position: number;
  event: AnyCloudEvent;
  /** Whether the consumer had recorded the event processed when it was read (a redelivery after a crash). */
  processed: boolean;
  /** The status of the order the event is about when it was read; null when it names no order held here. */
  orderStatus: OrderStatus | null;
}

// The processed flag saves the consumer a lookup per event: one probe of processed_events' primary key per row here.
// The order's status is one primary-key probe per row; an orderId that is not a UUID names no order (and must not fail the read).
const readEventsSql = statement('readEvents', `SELECT o.position, o.payload,
  EXISTS (SELECT 1 FROM processed_events p WHERE p.consumer = $1 AND p.event_id = o.event_id) AS processed,
  (SELECT ord.status FROM orders ord WHERE ord.id = CASE WHEN o.payload #>> '{data,orderId}' ~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
    THEN (o.payload #>> '{data,orderId}')::uuid END) AS order_status
FROM outbox o
WHERE o.position > coalesce((SELECT c.position FROM consumer_cursors c WHERE c.consumer = $1), 0)
ORDER BY o.position LIMIT $2`);

export async function readEvents(db: Queryable, query: { consumer: string; limit: number }): Promise<FeedEvent[]> {
  const result = await db.query<{ position: number | string; payload: AnyCloudEvent; processed: boolean; order_status: OrderStatus | null }>(readEventsSql, [query.consumer, query.limit]);
  return result.rows.map((row) => ({ position: Number(row.position), event: row.payload, processed: row.processed, orderStatus: row.order_status }));
}

/**
 * Moves a consumer's cursor forward to `position`: never back (a late or repeated ack changes
 * nothing), and never past the newest event (a wrong ack cannot make the consumer skip future events).
 * The events `processed` lists are recorded processed by the same statement: both happen or neither.
 */
const ackEventsSql = statement('ackEvents', `WITH recorded AS (
  INSERT INTO processed_events (consumer, event_id) SELECT $1, id::uuid FROM unnest($3::text[]) AS id
  ON CONFLICT (consumer, event_id) DO NOTHING
)
INSERT INTO consumer_cursors (consumer, position)
VALUES ($1, LEAST($2::bigint, (SELECT coalesce(max(position), 0) FROM outbox)))
ON CONFLICT (consumer) DO UPDATE
  SET position = GREATEST(consumer_cursors.position, EXCLUDED.position), updated_at = now()
RETURNING position`);

export async function ackEvents(db: Queryable, ack: { consumer: string; position: number; processed?: readonly string[] }): Promise<{ position: number }> {
  const result = await db.query<{ position: number | string }>(ackEventsSql, [ack.consumer, ack.position, ack.processed ?? []]);
  return { position: Number(result.rows[0]?.position ?? 0) };
}

const latestPositionSql = statement('latestPosition', 'SELECT coalesce(max(position), 0) AS position FROM outbox');

export async function latestPosition(db: Queryable): Promise<number> {
  const result = await db.query<{ position: number | string }>(latestPositionSql);
  return Number(result.rows[0]?.position ?? 0);
}

// ---------------------------------------------------------------------------------------------------
// Outbox relay (production profile)

export interface OutboxEntry {
  position: number;
  eventId: string;
  type: string;
  subject: string | null;
  event: AnyCloudEvent;
}

/**
 * The oldest unpublished events, locked for the caller's transaction. SKIP LOCKED lets several relays
 * run side by side, each taking rows no other relay holds. Call inside `db.transaction`, publish,
 * then markPublished in that same transaction.
 */
const claimUnpublishedSql = statement('claimUnpublished', `SELECT position, event_id, type, subject, payload FROM outbox
WHERE published_at IS NULL
ORDER BY position LIMIT $1
FOR UPDATE SKIP LOCKED`);

export async function claimUnpublished(tx: Queryable, limit: number): Promise<OutboxEntry[]> {
  const result = await tx.query<{ position: number | string; event_id: string; type: string; subject: string | null; payload: AnyCloudEvent }>(claimUnpublishedSql, [limit]);
  return result.rows.map((row) => ({ position: Number(row.position), eventId: row.event_id, type: row.type, subject: row.subject, event: row.payload }));
}

const markPublishedSql = statement('markPublished', 'UPDATE outbox SET published_at = now() WHERE position = ANY($1::bigint[]) AND published_at IS NULL');

export async function markPublished(tx: Queryable, positions: number[]): Promise<number> {
  if (positions.length === 0) return 0;
  const result = await tx.query(markPublishedSql, [positions]);
  return result.rowCount;
}

/** How far the relay is behind: unpublished events and the age of the oldest, in seconds (0 when none). */
const outboxLagSql = statement('outboxLag', `SELECT count(*)::int AS count, extract(epoch FROM clock_timestamp() - min(created_at))::float8 AS age
FROM outbox WHERE published_at IS NULL`);

export async function outboxLag(db: Queryable): Promise<{ count: number; oldestAgeSeconds: number }> {
  const result = await db.query<{ count: number; age: number | null }>(outboxLagSql);
  const row = result.rows[0];
  return { count: row?.count ?? 0, oldestAgeSeconds: Math.max(0, row?.age ?? 0) };
}

const feedLagSql = statement('feedLag', `SELECT count(*)::int AS count, extract(epoch FROM clock_timestamp() - min(created_at))::float8 AS age
FROM outbox WHERE position > coalesce((SELECT min(position) FROM consumer_cursors), 0)`);

/** How far the feed's slowest consumer is behind (embedded profile): events after its cursor and the age of the oldest. */
export async function feedLag(db: Queryable): Promise<{ count: number; oldestAgeSeconds: number }> {
  const result = await db.query<{ count: number; age: number | null }>(feedLagSql);
  const row = result.rows[0];
  return { count: row?.count ?? 0, oldestAgeSeconds: Math.max(0, row?.age ?? 0) };
}

// ---------------------------------------------------------------------------------------------------
// Consumers' bookkeeping: processed events and dead letters

const recordProcessedSql = statement('recordProcessed', 'INSERT INTO processed_events (consumer, event_id) VALUES ($1, $2) ON CONFLICT (consumer, event_id) DO NOTHING');
const isProcessedSql = statement('isProcessed', 'SELECT 1 FROM processed_events WHERE consumer = $1 AND event_id = $2');

export async function recordProcessed(db: Queryable, entry: { consumer: string; eventId: string }): Promise<{ firstTime: boolean }> {
  const result = await db.query(recordProcessedSql, [entry.consumer, entry.eventId]);
  return { firstTime: result.rowCount === 1 };
}

export async function isProcessed(db: Queryable, entry: { consumer: string; eventId: string }): Promise<boolean> {
  const result = await db.query(isProcessedSql, [entry.consumer, entry.eventId]);
  return result.rowCount > 0;
}

interface DeadLetterRow {
  id: string;
  consumer: string;
  event: AnyCloudEvent;
  error: string;
  attempts: number;
  created_at: Date | string;
}

const deadLetterColumns = 'id, consumer, event, error, attempts, created_at';
const addDeadLetterSql = statement('addDeadLetter', `INSERT INTO dead_letters (id, consumer, event_id, event, error, attempts)
VALUES ($1, $2, $3, $4::jsonb, $5, $6)
ON CONFLICT (consumer, event_id) DO NOTHING
RETURNING ${deadLetterColumns}`);
const findDeadLetterSql = statement('findDeadLetter', `SELECT ${deadLetterColumns} FROM dead_letters WHERE consumer = $1 AND event_id = $2`);
const listDeadLettersSql = statement('listDeadLetters', `SELECT ${deadLetterColumns} FROM dead_letters ORDER BY created_at DESC, id DESC LIMIT $1`);

function toDeadLetter(row: DeadLetterRow): DeadLetter {
  return { id: row.id, consumer: row.consumer, event: row.event, error: row.error, attempts: row.attempts, createdAt: iso(row.created_at) };
}

/** Keeps an event a consumer gave up on. Once per (consumer, event): a repeat returns the first record. */
export async function addDeadLetter(
  db: Queryable,
  entry: { consumer: string; event: AnyCloudEvent; error: string; attempts: number },
): Promise<{ created: boolean; deadLetter: DeadLetter }> {
  const inserted = await db.query<DeadLetterRow>(
    addDeadLetterSql,
    // The contract bounds the error text; a longer one is cut rather than refused, so the event is kept.
    [randomUUID(), entry.consumer, entry.event.id, JSON.stringify(entry.event), entry.error.slice(0, 2000), entry.attempts],
  );
  const created = inserted.rows[0];
  if (created) return { created: true, deadLetter: toDeadLetter(created) };
  const existing = await db.query<DeadLetterRow>(findDeadLetterSql, [entry.consumer, entry.event.id]);
  const row = existing.rows[0];
  if (!row) throw new Error(`dead letter for ${entry.consumer}/${entry.event.id} conflicted but cannot be read`);
  return { created: false, deadLetter: toDeadLetter(row) };
}

export async function listDeadLetters(db: Queryable, limit: number): Promise<DeadLetter[]> {
  const result = await db.query<DeadLetterRow>(listDeadLettersSql, [limit]);
  return result.rows.map(toDeadLetter);
}

// ---------------------------------------------------------------------------------------------------
// Replaying dead letters

export interface ReplayRequest {
  readonly id: string;
  /** The workload that asked, recorded on the dead letter. */
  readonly by: string;
  /** Builds the event to publish from the one that was dead-lettered, or says why it must not go out again. */
  readonly republish: (original: AnyCloudEvent) => { event: AnyCloudEvent; subject: string } | { refused: string };
  /** Who asked, for the audit record written in the same transaction. */
  readonly audit: { actor: string; requestId?: string | undefined; traceId?: string | undefined };
}

export type ReplayResult =
  | { outcome: 'replayed'; replay: DeadLetterReplay }
  | { outcome: 'not-found' }
  | { outcome: 'already-replayed'; replay: DeadLetterReplay }
  | { outcome: 'refused'; reason: string };

interface ReplayRow {
  id: string;
  event_id: string;
  replay_event_id: string;
  replayed_at: Date | string;
  replayed_by: string;
}

const toReplay = (row: ReplayRow): DeadLetterReplay => ({
  deadLetterId: row.id, eventId: row.event_id, replayEventId: row.replay_event_id, replayedAt: iso(row.replayed_at), replayedBy: row.replayed_by,
});

/**
 * Publishes a dead letter's event again through the outbox, at most once. One transaction locks the
 * dead letter, marks it replayed, writes the new event to the outbox and audits the request, so the
 * event goes out if and only if the mark and the audit record exist. A concurrent replay of the same
 * dead letter waits for the row lock, then finds it replayed. A refusal is audited too.
 */
export async function replayDeadLetter(db: Database, request: ReplayRequest): Promise<ReplayResult> {
  if (!uuidPattern.test(request.id)) return { outcome: 'not-found' };
  return db.transaction(async (tx) => {
    const found = await tx.query<{ event: AnyCloudEvent; replayed_at: Date | string | null; replayed_by: string | null; replay_event_id: string | null }>(
      'SELECT event, replayed_at, replayed_by, replay_event_id FROM dead_letters WHERE id = $1 FOR UPDATE',
      [request.id],
    );
    const row = found.rows[0];
    if (!row) return { outcome: 'not-found' };
    const audit = (outcome: 'succeeded' | 'refused', detail: string) => appendAudit(tx, [{
      at: new Date().toISOString(), actor: request.audit.actor, action: 'dead-letter.replay', outcome, target: `dead-letter:${request.id}`,
      ...(request.audit.requestId ? { requestId: request.audit.requestId } : {}),
      ...(request.audit.traceId ? { traceId: request.audit.traceId } : {}),
      detail: detail.slice(0, 500),
    }]);

    if (row.replayed_at !== null && row.replayed_by !== null && row.replay_event_id !== null) {
      const replay = toReplay({ id: request.id, event_id: row.event.id, replay_event_id: row.replay_event_id, replayed_at: row.replayed_at, replayed_by: row.replayed_by });
      await audit('refused', `event ${replay.eventId} was already published again as ${replay.replayEventId} at ${replay.replayedAt} by ${replay.replayedBy}`);
      return { outcome: 'already-replayed', replay };
    }
    const next = request.republish(row.event);
    if ('refused' in next) {
      await audit('refused', `event ${row.event.id}: ${next.refused}`);
      return { outcome: 'refused', reason: next.refused };
    }
    const marked = await tx.query<{ replayed_at: Date | string }>(
      'UPDATE dead_letters SET replayed_at = now(), replayed_by = $2, replay_event_id = $3 WHERE id = $1 RETURNING replayed_at',
      [request.id, request.by, next.event.id],
    );
    await tx.query('INSERT INTO outbox (event_id, type, subject, payload) VALUES ($1, $2, $3, $4::jsonb)', [next.event.id, next.event.type, next.subject, JSON.stringify(next.event)]);
    await audit('succeeded', `event ${row.event.id} (${row.event.type}) published again as ${next.event.id}`);
    const replayedAt = marked.rows[0]?.replayed_at;
    if (replayedAt === undefined) throw new Error(`dead letter ${request.id} vanished inside its own transaction`);
    return { outcome: 'replayed', replay: toReplay({ id: request.id, event_id: row.event.id, replay_event_id: next.event.id, replayed_at: replayedAt, replayed_by: request.by }) };
  });
}

export async function listDeadLetterReplays(db: Queryable, limit: number): Promise<DeadLetterReplay[]> {
  const result = await db.query<ReplayRow>(
    `SELECT id, event->>'id' AS event_id, replay_event_id, replayed_at, replayed_by FROM dead_letters
     WHERE replayed_at IS NOT NULL ORDER BY replayed_at DESC, id DESC LIMIT $1`,
    [limit],
  );
  return result.rows.map(toReplay);
}
