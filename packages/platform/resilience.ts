/** Timeouts, retries and circuit breaking: how a service stays up when a dependency does not. */
import { setTimeout as sleep } from 'node:timers/promises';

/** Full-jitter exponential backoff (AWS's analysis: it spreads retry storms best). */
export function backoffDelay(attempt: number, baseMs: number, capMs: number, random: () => number = Math.random): number {
  const ceiling = Math.min(capMs, baseMs * 2 ** Math.max(0, attempt - 1));
  return Math.floor(random() * ceiling);
}

export type BreakerState = 'closed' | 'open' | 'half-open';

export interface BreakerOptions {
  /** Consecutive failures that open the circuit. */
  readonly failureThreshold: number;
  /** How long an open circuit refuses calls before letting one probe through. */
  readonly openMs: number;
  readonly now?: () => number;
  readonly onStateChange?: (state: BreakerState) => void;
}

/**
 * Fails fast while a dependency is down, so that callers do not queue behind timeouts and the
 * failure does not spread as exhausted sockets and event-loop lag.
 */
export class CircuitBreaker {
  #state: BreakerState = 'closed';
  #failures = 0;
  #openedAt = 0;
  #probeInFlight = false;
  readonly #options: BreakerOptions;
  readonly #now: () => number;

  constructor(options: BreakerOptions) {
    this.#options = options;
    this.#now = options.now ?? Date.now;
  }

  get state(): BreakerState {
    if (this.#state === 'open' && this.#now() - this.#openedAt >= this.#options.openMs) this.#set('half-open');
    return this.#state;
  }

  /** Whether a call may go out now. In half-open, exactly one probe at a time. */
  tryAcquire(): boolean {
    const state = this.state;
    if (state === 'closed') return true;
    if (state === 'open' || this.#probeInFlight) return false;
    this.#probeInFlight = true;
    return true;
  }

  /** How long until an open circuit lets a probe through. */
  retryAfterMs(): number {
    return Math.max(0, this.#options.openMs - (this.#now() - this.#openedAt));
  }

  success(): void {
    this.#failures = 0;
    this.#probeInFlight = false;
    if (this.#state !== 'closed') this.#set('closed');
  }

  failure(): void {
    this.#probeInFlight = false;
    this.#failures += 1;
    if (this.#state === 'half-open' || (this.#state === 'closed' && this.#failures >= this.#options.failureThreshold)) {
      this.#openedAt = this.#now();
      this.#set('open');
    }
  }

  #set(state: BreakerState): void {
    this.#state = state;
    this.#options.onStateChange?.(state);
  }
}

export interface RetryPolicy {
  readonly attempts: number;
  readonly baseMs: number;
  readonly capMs: number;
}

/**
 * Runs `fn` until it succeeds, the error is not retryable, attempts run out, or the next wait
 * would pass the deadline.
 */
export async function retry<T>(
  fn: (attempt: number) => Promise<T>,
  options: RetryPolicy & { retryable: (error: unknown) => boolean; deadline: number; onRetry?: (attempt: number, error: unknown, delayMs: number) => void; signal?: AbortSignal },
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn(attempt);
    } catch (error) {
      if (attempt >= options.attempts || !options.retryable(error) || options.signal?.aborted) throw error;
      const delay = backoffDelay(attempt, options.baseMs, options.capMs);
      if (Date.now() + delay >= options.deadline) throw error;
      options.onRetry?.(attempt, error, delay);
      // Abandoned while waiting: the signal's reason, as an abandoned attempt would.
      await sleep(delay, undefined, options.signal ? { signal: options.signal } : undefined);
    }
  }
}
