/**
 * The audit trail as the edge writes it: every authentication decision and every state-changing
 * call, with who (client and key thumbprint), what, when, the outcome, and the request and trace
 * ids. Records are batched to the store's append-only table off the request path; the queue is
 * bounded, and what it had to drop is counted and logged rather than silently lost.
 */
import type { AuditRecord, storeContract } from '@msa-poc/contracts';
import type { Counter } from '@msa-poc/platform/metrics';
import type { Client } from '@msa-poc/platform/service';
import { currentContext, currentTraceId, type Logger } from '@msa-poc/platform/telemetry';

export type AuditEntry = Omit<AuditRecord, 'at' | 'requestId' | 'traceId'>;

export class AuditTrail {
  #queue: AuditRecord[] = [];
  #timer: NodeJS.Timeout | undefined;
  #flushing: Promise<void> | undefined;

  constructor(
    private readonly store: Client<typeof storeContract>,
    private readonly log: Logger,
    private readonly dropped: Counter<string>,
    private readonly options: { maxQueue: number; batch: number; flushMs: number } = { maxQueue: 50_000, batch: 500, flushMs: 250 },
  ) {}

  record(entry: AuditEntry): void {
    const context = currentContext();
    const traceId = currentTraceId();
    if (this.#queue.length >= this.options.maxQueue) {
      this.#queue.shift();
      this.dropped.inc();
    }
    this.#queue.push({
      ...entry,
      at: new Date().toISOString(),
      ...(entry.detail ? { detail: entry.detail.slice(0, 500) } : {}),
      ...(context ? { requestId: context.requestId } : {}),
      ...(traceId ? { traceId } : {}),
    });
  }

  start(): void {
    this.#timer = setInterval(() => void this.flush(), this.options.flushMs);
    this.#timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.#timer);
    await this.flush();
  }

  /** Sends what is queued; on failure the records go back to the front of the queue for the next try. */
  flush(): Promise<void> {
    if (this.#flushing) return this.#flushing;
    // Cleared in a later microtask, so that a flush that finds nothing to do cannot leave itself behind as "in progress".
    const flushing = this.#drain().finally(() => {
      if (this.#flushing === flushing) this.#flushing = undefined;
    });
    this.#flushing = flushing;
    return flushing;
  }

  async #drain(): Promise<void> {
    while (this.#queue.length > 0) {
      const batch = this.#queue.splice(0, this.options.batch);
      try {
        await this.store.appendAudit({ body: { records: batch } });
      } catch (error) {
        this.#queue.unshift(...batch);
        this.log.warn({ err: (error as Error).message, queued: this.#queue.length }, 'audit records not yet stored; will retry');
        return;
      }
    }
  }
}
