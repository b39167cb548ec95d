/**
 * The partner's ledger: every order it accepted, once, with the state of its callback. Appended to
 * a JSON-lines file so that a restarted partner still knows what it shipped; the proving run's
 * integrity audit reads it to count deliveries and duplicates.
 */
import { appendFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname } from 'node:path';

export interface LedgerEntry {
  readonly orderId: string;
  readonly fulfilmentId: string;
  readonly acceptedAt: string;
  /** Requests for this order, the first included: more than one means a retry reached us. */
  requests: number;
  /** Times the order was accepted as new: anything above one is a duplicate shipment. */
  accepts: number;
  callbackDeliveredAt: string | null;
  callbackAttempts: number;
}

type Record_ = { op: 'accept'; entry: LedgerEntry } | { op: 'request'; orderId: string } | { op: 'callback'; orderId: string; deliveredAt: string | null; attempts: number };

export class Ledger {
  readonly #entries = new Map<string, LedgerEntry>();

  constructor(private readonly file: string) {
    if (existsSync(file)) {
      for (const line of readFileSync(file, 'utf8').split('\n')) {
        if (!line) continue;
        try {
          this.#apply(JSON.parse(line) as Record_);
        } catch {
          // a torn last line from a crash mid-write: the request was not acknowledged, so it is retried
        }
      }
    } else {
      mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
    }
  }

  get(orderId: string): LedgerEntry | undefined {
    return this.#entries.get(orderId);
  }

  entries(): LedgerEntry[] {
    return [...this.#entries.values()];
  }

  accept(entry: LedgerEntry): void {
    this.#write({ op: 'accept', entry });
  }

  repeated(orderId: string): void {
    this.#write({ op: 'request', orderId });
  }

  callback(orderId: string, deliveredAt: string | null, attempts: number): void {
    this.#write({ op: 'callback', orderId, deliveredAt, attempts });
  }

  // Written before the answer is sent: an accepted order is on disk before we say so.
  #write(record: Record_): void {
    appendFileSync(this.file, `${JSON.stringify(record)}\n`);
    this.#apply(record);
  }

  #apply(record: Record_): void {
    if (record.op === 'accept') {
      const known = this.#entries.get(record.entry.orderId);
      if (known) known.accepts += 1;
      else this.#entries.set(record.entry.orderId, { ...record.entry, accepts: 1 });
      return;
    }
    const entry = this.#entries.get(record.orderId);
    if (!entry) return;
    if (record.op === 'request') entry.requests += 1;
    else {
      entry.callbackDeliveredAt = record.deliveredAt;
      entry.callbackAttempts = record.attempts;
    }
  }
}
