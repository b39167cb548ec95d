/**
 * The event feed of the embedded profile: consumers long-poll for outbox events after their
 * durable cursor. The store is the only writer of the outbox, so an in-process signal is enough
 * to wake waiting readers the moment an order commits.
 */
import { EventEmitter, once } from 'node:events';

export class FeedSignal {
  readonly #emitter = new EventEmitter();

  constructor() {
    this.#emitter.setMaxListeners(0);
  }

  /** Wakes every waiting reader: new events were committed. */
  notify(): void {
    this.#emitter.emit('events');
  }

  /** Resolves on the next notification, or after `ms`, or when `signal` aborts. */
  async wait(ms: number, signal?: AbortSignal): Promise<void> {
    const timeout = AbortSignal.timeout(ms);
    const combined = signal ? AbortSignal.any([timeout, signal]) : timeout;
    try {
      await once(this.#emitter, 'events', { signal: combined });
    } catch {
      // timed out or aborted: the caller reads whatever is there
    }
  }
}

/** Reads until something is there or the wait is over. */
export async function longPoll<T>(read: () => Promise<T[]>, signal: FeedSignal, waitMs: number, stop?: AbortSignal): Promise<T[]> {
  const until = Date.now() + waitMs;
  for (;;) {
    const items = await read();
    const left = until - Date.now();
    if (items.length > 0 || left <= 0 || stop?.aborted) return items;
    await signal.wait(Math.min(left, 1_000), stop);
  }
}
