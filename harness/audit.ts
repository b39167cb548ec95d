/**
 * The integrity audit, in the manner of Jepsen: every order the client was told was placed must
 * be in the database, and every one that was not cancelled must have reached the partner exactly
 * once in effect. For a system this run started, the store is read directly (over mTLS, as the
 * orders service would) and the partner's ledger through its admin port; for a --target system,
 * orders are read back through the public API and the ledger is out of reach.
 */
import type { Order } from '@msa-poc/contracts';
import type { Placement } from './scenario.js';

/** One order as the system has it now: null when it does not exist, undefined when the read failed. */
export type OrderReader = (id: string) => Promise<Order | null | undefined>;

export interface Integrity {
  readonly acknowledged: number;
  readonly indeterminate: number;
  readonly failed: number;
  readonly persisted: number;
  readonly lost: number;
  /** Acknowledged orders whose last read failed: neither proven persisted nor proven lost. */
  readonly unverified: number;
  /** Acknowledged and not cancelled: these must reach the partner. */
  readonly deliverable: number;
  readonly delivered: number;
  readonly undelivered: number;
  /** Null when the partner's ledger could not be read: duplicates are then not measured. */
  readonly duplicates: number | null;
  readonly lostOrderIds: readonly string[];
  readonly undeliveredOrderIds: readonly string[];
}

interface LedgerEntry {
  readonly orderId: string;
  readonly accepts?: number;
  readonly callbackDeliveredAt: string | null;
}

export async function readLedger(partnerAdmin: string): Promise<LedgerEntry[]> {
  const response = await fetch(`${partnerAdmin}/ledger`);
  const body = (await response.json()) as { entries: LedgerEntry[] };
  return body.entries;
}

/**
 * Waits (bounded) until every acknowledged order has left `placed` and the partner has no callback
 * pending, then counts. Orders still `placed` at the end were not delivered.
 */
export async function audit(placements: readonly Placement[], readOrder: OrderReader, partnerAdmin: string | undefined, options: { settleMs: number; onProgress?: (message: string) => void }): Promise<Integrity> {
  const ledgerNow = async () => (partnerAdmin ? readLedger(partnerAdmin) : []);
  const acknowledged = placements.filter((p) => p.outcome === 'acknowledged');
  const ids = [...new Set(acknowledged.map((p) => p.orderId as string))];
  const deadline = Date.now() + options.settleMs;
  let orders = new Map<string, Order | null | undefined>();
  for (;;) {
    const previous = orders;
    orders = new Map();
    for (const id of ids) {
      const order = await readOrder(id).catch(() => undefined);
      orders.set(id, order === undefined ? previous.get(id) : order);
    }
    const pending = [...orders.values()].filter((o) => o?.status === 'placed').length;
    const ledger = await ledgerNow();
    const callbacks = ledger.filter((e) => !e.callbackDeliveredAt).length;
    if ((pending === 0 && callbacks === 0) || Date.now() > deadline) break;
    options.onProgress?.(`waiting for ${pending} order(s) to be fulfilled and ${callbacks} callback(s) to land`);
    await new Promise((r) => setTimeout(r, 1_000));
  }
  const ledger = await ledgerNow();
  const shipped = new Map<string, number>();
  for (const entry of ledger) shipped.set(entry.orderId, (shipped.get(entry.orderId) ?? 0) + (entry.accepts ?? 1));
  const lostOrderIds = ids.filter((id) => orders.get(id) === null);
  const deliverable = ids.filter((id) => {
    const order = orders.get(id);
    return order && order.status !== 'cancelled' && order.status !== 'failed';
  });
  // Without the ledger, the order's own state is the only evidence of delivery.
  const undeliveredOrderIds = deliverable.filter((id) => (partnerAdmin !== undefined && !shipped.has(id)) || orders.get(id)?.status !== 'fulfilled');
  return {
    acknowledged: ids.length,
    indeterminate: placements.filter((p) => p.outcome === 'indeterminate').length,
    failed: placements.filter((p) => p.outcome === 'failed').length,
    persisted: ids.filter((id) => orders.get(id)).length,
    lost: lostOrderIds.length,
    unverified: ids.filter((id) => orders.get(id) === undefined).length,
    deliverable: deliverable.length,
    delivered: deliverable.length - undeliveredOrderIds.length,
    undelivered: undeliveredOrderIds.length,
    duplicates: partnerAdmin === undefined ? null : [...shipped.values()].filter((n) => n > 1).reduce((sum, n) => sum + n - 1, 0),
    lostOrderIds,
    undeliveredOrderIds,
  };
}
