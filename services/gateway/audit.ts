/**
 * The audit trail as the edge writes it: every authentication decision and every state-changing
 * call, with who (client and key thumbprint), what, when, the outcome, and the request and trace
 * ids. Records are batched to the store's hash-chained, append-only table off the request path; the
 * queue is bounded, and what it had to drop is counted and logged rather than silently lost.
 *
 * A decision that lets a state change happen is written durably instead (`recordDurably`): the
 * caller waits until the store holds the record and, if it cannot be stored, does not act — the
 * trail fails closed. Such a record is never retried later, since the action it allowed was not taken.
 */
import type { AuditRecord, storeContract } from '@msa-poc/contracts';
import type { Counter } from '@msa-poc/platform/metrics';
import type { Client } from '@msa-poc/platform/service';
import { currentContext, currentTraceId, type Logger } from '@msa-poc/platform/telemetry';

export type AuditEntry = Omit<AuditRecord, 'at' | 'requestId' | 'traceId'>;

/** The audit record of an action could not be stored, so the action must not be taken. */
export class AuditUnavailableError extends Error {
  constructor(cause: unknown) {
    super(`the audit trail could not store the record: ${(cause as Error).message ?? String(cause)}`, { cause });
    this.name = 'AuditUnavailableError';
  }
}

interface Queued {
  readonly record: AuditRecord;
  /** Present for a durable record: settles its writer's wait. */
  readonly settle?: (error?: AuditUnavailableError) => void;
}

export class AuditTrail {
  #queue: Queued[] = [];
  #timer: NodeJS.Timeout | undefined;
  #flushing: Promise<void> | undefined;

  constructor(
    private readonly store: Client<typeof storeContract>,
    private readonly log: Logger,
    private readonly dropped: Counter<string>,
    private readonly options: { maxQueue: number; batch: number; flushMs: number } = { maxQueue: 50_000, batch: 500, flushMs: 250 },
  ) {}

  /** Queues a record; it is stored with the next batch, and retried while the store is unreachable. */
  record(entry: AuditEntry): void {
    if (this.#queue.length >= this.options.maxQueue) {
      const oldest = this.#queue.findIndex((queued) => !queued.settle);
      if (oldest >= 0) {
        this.#queue.splice(oldest, 1);
        this.dropped.inc();
      }
    }
    this.#queue.push({ record: this.#stamp(entry) });
  }

  /**
   * Stores a record now (with whatever is queued before it, in order) and resolves once the store
   * holds it; rejects with AuditUnavailableError when it cannot be stored, and then it never will be.
   */
  recordDurably(entry: AuditEntry): Promise<void> {
    const stored = new Promise<void>((resolve, reject) => {
      this.#queue.push({ record: this.#stamp(entry), settle: (error) => (error ? reject(error) : resolve()) });
    });
    void this.flush();
    return stored;
  }

  /**
   * Stores the record of a response served under a support grant together with the body as served,
   * and resolves to the record's position; rejects with AuditUnavailableError when it cannot, and
   * then the response must not be served.
   */
  async recordServed(entry: AuditEntry, served: { grantId: string; route: string; status: number; body: string }): Promise<number> {
    try {
      const reply = await this.store.recordSupportResponse({ body: { record: this.#stamp(entry), ...served } });
      return reply.body.auditPosition;
    } catch (error) {
      throw new AuditUnavailableError(error);
    }
  }

  #stamp(entry: AuditEntry): AuditRecord {
    const context = currentContext();
    const traceId = currentTraceId();
    return {
      ...entry,
      at: new Date().toISOString(),
      ...(entry.detail ? { detail: entry.detail.slice(0, 500) } : {}),
      ...(context ? { requestId: context.requestId } : {}),
      ...(traceId ? { traceId } : {}),
    };
  }

  start(): void {
    this.#timer = setInterval(() => void this.flush(), this.options.flushMs);
    this.#timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.#timer);
    await this.flush();
  }

  /**
   * Sends what is queued. On failure the queued records go back to the front of the queue for the
   * next try, and every durable record waiting is refused at once.
   */
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
        await this.store.appendAudit({ body: { records: batch.map((queued) => queued.record) } });
      } catch (error) {
        this.#queue.unshift(...batch);
        const refused = new AuditUnavailableError(error);
        for (const queued of this.#queue) queued.settle?.(refused);
        this.#queue = this.#queue.filter((queued) => !queued.settle);
        this.log.warn({ err: (error as Error).message, queued: this.#queue.length }, 'audit records not yet stored; will retry');
        return;
      }
      for (const queued of batch) queued.settle?.();
    }
  }
}
