/**
 * The outbox relay (production profile): publishes committed outbox rows to JetStream and marks
 * them published. A crash between publish and mark re-publishes the row on restart; the broker
 * drops the copy by its message id (the event id), and consumers are idempotent besides.
 */
import { orderPlaced, orderStream } from '@msa-poc/contracts';
import type { Broker } from '@msa-poc/platform/broker';
import type { Logger } from '@msa-poc/platform/telemetry';
import { ROOT_CONTEXT, SpanKind, attr, inSpan, type Tracer } from '@msa-poc/platform/tracing';
import type { Database } from './database.js';
import type { FeedSignal } from './feed.js';
import { claimUnpublished, markPublished } from './repository.js';

export interface RelayOptions {
  readonly batchSize: number;
  /** Idle poll interval; a commit signal wakes the relay sooner. */
  readonly idleMs: number;
  readonly tracer: Tracer;
}

export class OutboxRelay {
  readonly #stop = new AbortController();
  #loop: Promise<void> | undefined;
  published = 0;

  constructor(
    private readonly db: Database,
    private readonly broker: Broker,
    private readonly signal: FeedSignal,
    private readonly log: Logger,
    private readonly options: RelayOptions,
  ) {}

  start(): void {
    this.#loop = this.#run();
  }

  async stop(): Promise<void> {
    this.#stop.abort();
    await this.#loop;
  }

  /**
   * Publishes one batch; returns how many rows it published. A batch with events is a span of its
   * own (an idle poll is not worth a trace); each publish continues the trace its event was created
   * in and links back to the batch.
   */
  async relayOnce(): Promise<number> {
    return this.db.transaction(async (tx) => {
      const claimedAt = Date.now();
      const rows = await claimUnpublished(tx, this.options.batchSize);
      if (rows.length === 0) return 0;
      const attributes = { [attr.messagingSystem]: 'nats', [attr.messagingBatchCount]: rows.length };
      return inSpan(this.options.tracer, 'outbox relay', { kind: SpanKind.INTERNAL, startTime: claimedAt, attributes }, async (batch) => {
        const links = [{ context: batch.spanContext() }];
        // In order, one at a time: JetStream keeps per-subject order only if we publish in order.
        for (const row of rows) await this.broker.publish(row.subject ?? orderPlaced.subject, row.event, { links });
        await markPublished(tx, rows.map((r) => r.position));
        return rows.length;
      }, ROOT_CONTEXT);
    });
  }

  async #run(): Promise<void> {
    let failures = 0;
    while (!this.#stop.signal.aborted) {
      try {
        const count = await this.relayOnce();
        this.published += count;
        failures = 0;
        if (count < this.options.batchSize) await this.signal.wait(this.options.idleMs, this.#stop.signal);
      } catch (error) {
        failures += 1;
        // The stream can vanish under us (deleted by an operator, a broker that lost its store):
        // declare it again rather than retrying into the void.
        if (/no JetStream stream captures/.test((error as Error).message)) await this.broker.ensureStream(orderStream).catch(() => undefined);
        const delay = Math.min(5_000, 100 * 2 ** Math.min(failures, 6));
        this.log.warn({ err: (error as Error).message, retryInMs: delay }, 'outbox relay failed; rows stay unpublished and will be retried');
        await this.signal.wait(delay, this.#stop.signal);
      }
    }
  }
}
