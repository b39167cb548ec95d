/**
 * Open-model load generator.
 *
 * Requests are scheduled from a target arrival rate, never from responses, and every latency is
 * measured from the request's *intended* send time, so a stalled system shows up in the figures
 * instead of silently slowing the client down (coordinated omission). Operations are plain async
 * functions: an HTTP call, an OAuth/DPoP `ApiClient.call`, anything that yields a status.
 *
 * Rules the figures follow:
 * - Every request has a deadline, intended time + `timeoutMs`. Missing it is a timeout: an error
 *   whose latency is exactly `timeoutMs`; the operation is told then (its `signal` aborted, its
 *   `onCancel` hook called).
 * - At most `maxInFlight` operations are in flight (a timed-out one leaves at its deadline). A
 *   request that falls due while all are taken is not sent: it counts in `couldNotIssue` and as an
 *   error (`not-issued`) with latency `timeoutMs`. Its user would have waited at least for a free
 *   slot plus a full service time, which nobody measured; recording the longest wait the run
 *   allows, rather than a guess or a lower bound, keeps the client's own cap from ever showing up
 *   as shorter latencies or fewer samples.
 * - A run stopped through `signal` aborts what is in flight; those requests are counted in
 *   `cancelled` and left out of every latency figure, since nobody waited for them to the end.
 */
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { createHistogram, mergeSummaries, recordMs, recordMsTimes, summarize, type Histogram, type Summary } from './histogram.js';

export { summarize, mergeSummaries, createHistogram, recordMs };
export type { Summary, Histogram };

/** What an operation returns; a thrown error is a failure. */
export type Outcome = { readonly status: number };

/** What an operation is told about the request it makes. */
export interface Deadline {
  /** Time left until the request's deadline when the operation was called, ms. */
  readonly budgetMs: number;
  /**
   * Aborted at the deadline (reason: a `TimeoutError`) or when the run is stopped. Made on first
   * read: an AbortSignal and its listeners cost the client about as much CPU as the rest of its
   * bookkeeping, so an operation that reacts through `onCancel` instead never pays for one.
   */
  readonly signal: AbortSignal;
  /** Calls `cancel` once, with the same reason and at the same moment as `signal` aborts; at once if that has happened. */
  onCancel(cancel: (reason: unknown) => void): void;
}

export interface Operation {
  readonly name: string;
  readonly run: (request: Deadline) => Promise<Outcome>;
}

/** A Deadline for running an operation outside `runLoad`: `signal` ends it, `budgetMs` is what it is told. */
export function deadlineOf(signal: AbortSignal, budgetMs: number): Deadline {
  return {
    signal,
    budgetMs,
    onCancel: (cancel) => {
      if (signal.aborted) cancel(signal.reason);
      else signal.addEventListener('abort', () => cancel(signal.reason), { once: true });
    },
  };
}

/** Requests per second at a moment of the run (ms since its start). */
export interface RateShape {
  (elapsedMs: number): number;
  /** Exact number of requests due by a moment; without it the rate is integrated numerically. */
  readonly cumulative?: (elapsedMs: number) => number;
}

export interface LoadSnapshot {
  readonly elapsedMs: number;
  readonly targetRps: number;
  readonly intended: number;
  readonly issued: number;
  readonly completed: number;
  readonly succeeded: number;
  readonly failed: number;
  readonly timedOut: number;
  readonly couldNotIssue: number;
  readonly inFlight: number;
  /** Over the interval since the previous snapshot: successes per second and corrected latency. */
  readonly interval: { readonly ms: number; readonly succeededRps: number; readonly latency: Summary };
}

export interface LoadOptions {
  readonly shape: RateShape;
  /** Length of the scheduling window; requests intended in [0, durationMs) are sent. */
  readonly durationMs: number;
  /** The scenario: which operation request number `sequence` (0-based) is. */
  readonly next: (sequence: number) => Operation;
  readonly timeoutMs: number;
  readonly maxInFlight: number;
  /** Default: status < 500 (a 4xx is the system answering). */
  readonly isSuccess?: (outcome: Outcome) => boolean;
  readonly onProgress?: (snapshot: LoadSnapshot) => void;
  readonly progressEveryMs?: number;
  readonly signal?: AbortSignal;
}

export type ErrorKind = 'timeout' | 'connection' | 'not-issued' | 'other';

export interface OperationResult {
  readonly count: number;
  readonly failed: number;
  readonly latency: Summary;
  readonly statuses: Record<string, number>;
}

export interface ClientHealth {
  readonly cpuUserMs: number;
  readonly cpuSystemMs: number;
  /** Process CPU time over wall time: 1 is one core fully used. */
  readonly cpuShareOfOneCore: number;
  readonly eventLoopDelayP99Ms: number;
  readonly eventLoopUtilization: number;
  /** How late the scheduler reached requests (before any wait for a slot), p99. */
  readonly schedulerLagP99Ms: number;
  readonly limitedByClient: boolean;
  readonly reason?: string;
}

export interface LoadResult {
  /** Requests whose intended time the scheduler reached. */
  readonly intended: number;
  /** Requests handed to their operation. */
  readonly issued: number;
  /** Operations that returned an outcome (any status) before their deadline. */
  readonly completed: number;
  readonly succeeded: number;
  /** Unsuccessful outcomes, errors, timeouts and requests that could not be issued. */
  readonly failed: number;
  readonly timedOut: number;
  readonly couldNotIssue: number;
  /** Issued more than 5 ms after their intended time (the client's own lateness). */
  readonly lateSends: number;
  /** Stopped through `signal` before an outcome; in no latency figure. */
  readonly cancelled: number;
  readonly aborted: boolean;
  readonly maxInFlightSeen: number;
  /** Successes that arrived inside the window, per second of window. */
  readonly achievedRps: number;
  /** Intended requests per second of window. */
  readonly offeredRps: number;
  /** The scheduling window actually covered (shorter when aborted). */
  readonly durationMs: number;
  /** From intended send time: coordinated omission corrected. */
  readonly latency: Summary;
  /** From actual send time, issued requests only. */
  readonly serviceTime: Summary;
  readonly byOperation: Record<string, OperationResult>;
  readonly statuses: Record<string, number>;
  readonly errors: Partial<Record<ErrorKind, number>>;
  readonly client: ClientHealth;
}

/** A send this late counts in `lateSends`. */
export const LATE_SEND_MS = 5;
/**
 * The client calls itself the limit when its scheduler's lag p99 passes both an absolute floor and
 * a share of the latency p99 it measured (its lateness is then a material part of the figures: a
 * few ms matter against a 2 ms service, not against a 300 ms one), when its event loop is delayed,
 * or when it uses about a whole core.
 */
export const CLIENT_LIMITS = { schedulerLagP99Ms: 5, schedulerLagShareOfLatencyP99: 0.1, eventLoopDelayP99Ms: 20, cpuShareOfOneCore: 0.9 } as const;

// ---------------------------------------------------------------------------------------------
// Rate shapes

function checkRate(rps: number, what: string): void {
  if (!Number.isFinite(rps) || rps < 0) throw new RangeError(`${what} must be a finite rate ≥ 0, got ${rps}`);
}

function shapeOf(rate: (ms: number) => number, cumulative: (ms: number) => number): RateShape {
  return Object.assign((ms: number) => rate(ms), { cumulative });
}

export function constant(rps: number): RateShape {
  checkRate(rps, 'constant rate');
  return shapeOf(() => rps, (ms) => (rps * Math.max(0, ms)) / 1000);
}

/** Linear from `fromRps` to `toRps` over `overMs`, then holds `toRps`. */
export function ramp(fromRps: number, toRps: number, overMs: number): RateShape {
  checkRate(fromRps, 'ramp start');
  checkRate(toRps, 'ramp end');
  if (!(overMs > 0) || !Number.isFinite(overMs)) throw new RangeError(`ramp length must be > 0 ms, got ${overMs}`);
  const slope = (toRps - fromRps) / overMs;
  const during = (ms: number): number => (fromRps * ms + (slope * ms * ms) / 2) / 1000;
  return shapeOf(
    (ms) => (ms >= overMs ? toRps : fromRps + slope * Math.max(0, ms)),
    (ms) => (ms <= 0 ? 0 : ms <= overMs ? during(ms) : during(overMs) + (toRps * (ms - overMs)) / 1000),
  );
}

export interface Step { readonly rps: number; readonly durationMs: number }

/** Each rate for its duration, one after the other; the last rate holds after the last step. */
export function steps(list: readonly Step[]): RateShape {
  if (list.length === 0) throw new RangeError('steps needs at least one step');
  const starts: number[] = [];
  const before: number[] = [];
  let at = 0;
  let count = 0;
  for (const step of list) {
    checkRate(step.rps, 'step rate');
    if (!(step.durationMs > 0) || !Number.isFinite(step.durationMs)) throw new RangeError(`step length must be > 0 ms, got ${step.durationMs}`);
    starts.push(at);
    before.push(count);
    at += step.durationMs;
    count += (step.rps * step.durationMs) / 1000;
  }
  const indexAt = (ms: number): number => {
    let index = 0;
    while (index + 1 < list.length && (starts[index + 1] as number) <= ms) index++;
    return index;
  };
  return shapeOf(
    (ms) => (list[indexAt(ms)] as Step).rps,
    (ms) => {
      if (ms <= 0) return 0;
      const index = indexAt(ms);
      return (before[index] as number) + ((list[index] as Step).rps * (ms - (starts[index] as number))) / 1000;
    },
  );
}

/** Integration step for shapes without a closed form, and the granularity of cumulative lookups. */
const SCHEDULE_STEP_MS = 1;

/**
 * Intended send times (ms since start) of every request in [0, durationMs), in order: request j
 * (1-based) is due when the integrated rate reaches j, so a constant rate r gives t_j = j / r.
 * Each time comes from the integral itself, not from adding gaps, so nothing drifts.
 */
export function* intendedTimes(shape: RateShape, durationMs: number): Generator<number, void, undefined> {
  const cumulative = shape.cumulative;
  let t0 = 0;
  let n0 = 0;
  let t1 = 0;
  let n1 = 0;
  let target = 1;
  while (t0 < durationMs) {
    if (t1 <= t0) {
      t1 = Math.min(t0 + SCHEDULE_STEP_MS, durationMs);
      if (cumulative) n1 = cumulative(t1);
      else {
        const rate = shape((t0 + t1) / 2);
        n1 = n0 + ((Number.isFinite(rate) && rate > 0 ? rate : 0) * (t1 - t0)) / 1000;
      }
    }
    if (n1 >= target) {
      // The rate is taken as constant within one step, so the crossing is interpolated linearly.
      const at = n1 > n0 ? t0 + ((target - n0) / (n1 - n0)) * (t1 - t0) : t0;
      target++;
      if (at < durationMs) yield at;
      continue;
    }
    t0 = t1;
    n0 = n1;
  }
}

// ---------------------------------------------------------------------------------------------
// The run

const CONNECTION_CODES = new Set([
  'ECONNREFUSED', 'ECONNRESET', 'ECONNABORTED', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'ENETDOWN', 'ETIMEDOUT',
  'UND_ERR_SOCKET', 'UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_CLOSED',
]);
const TIMEOUT_CODES = new Set(['UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT']);

/** timeout, connection or other, looking through `cause` chains (fetch wraps its errors). */
export function classifyError(error: unknown): Exclude<ErrorKind, 'not-issued'> {
  let current: unknown = error;
  for (let depth = 0; depth < 5 && current !== null && typeof current === 'object'; depth++) {
    const { name, code, cause } = current as { name?: unknown; code?: unknown; cause?: unknown };
    if (name === 'TimeoutError' || (typeof code === 'string' && TIMEOUT_CODES.has(code))) return 'timeout';
    if (typeof code === 'string' && CONNECTION_CODES.has(code)) return 'connection';
    current = cause;
  }
  return 'other';
}

class Flight implements Deadline {
  done = false;
  #controller: AbortController | undefined;
  #onCancel: ((reason: unknown) => void) | undefined;
  #cancelled = false;
  #reason: unknown;

  constructor(
    readonly op: Operation,
    readonly intended: number,
    readonly deadline: number,
    readonly sentAt: number,
  ) {}

  get budgetMs(): number {
    return Math.max(0, this.deadline - this.sentAt);
  }

  get signal(): AbortSignal {
    if (!this.#controller) {
      this.#controller = new AbortController();
      if (this.#cancelled) this.#controller.abort(this.#reason);
    }
    return this.#controller.signal;
  }

  onCancel(cancel: (reason: unknown) => void): void {
    if (this.#cancelled) return cancel(this.#reason);
    const earlier = this.#onCancel;
    this.#onCancel = earlier ? (reason) => { earlier(reason); cancel(reason); } : cancel;
  }

  cancel(reason: unknown): void {
    if (this.#cancelled) return;
    this.#cancelled = true;
    this.#reason = reason;
    this.#controller?.abort(reason);
    const onCancel = this.#onCancel;
    this.#onCancel = undefined;
    onCancel?.(reason);
  }
}

class Tally {
  count = 0;
  failed = 0;
  /** Not-issued requests not yet in `latency`: they all weigh `timeoutMs`, so they are added in one go. */
  notIssuedUnrecorded = 0;
  readonly latency = createHistogram();
  readonly statuses: Record<string, number> = {};
}

const bump = (counts: Record<string, number>, key: string): void => { counts[key] = (counts[key] ?? 0) + 1; };
const round3 = (value: number): number => Math.round(value * 1000) / 1000;

/**
 * Below this wait the loop polls with setImmediate instead of arming a timer (1 ms resolution),
 * but only while requests are at least POLL_MIN_GAP_MS apart; at higher rates it issues whatever
 * is due on each 1 ms timer turn, and on any turn in which an answer freed a slot. Measured on 2 cores with a no-op operation: polling whenever the
 * wait is under 1 ms puts sends within 0.1 ms but burns a whole core from 1000 rps on; polling
 * under 0.3 ms leaves sends ~0.4 ms late at the median (timers alone: ~1 ms) for little CPU, as
 * long as the gaps are not themselves that short, when the loop would poll without pause.
 */
const POLL_BELOW_MS = 0.3;
const POLL_MIN_GAP_MS = 1;

class LoadRun {
  readonly #options: LoadOptions;
  readonly #isSuccess: (outcome: Outcome) => boolean;
  readonly #schedule: Generator<number, void, undefined>;
  readonly #start = performance.now();
  #nextAt: number | undefined;
  #lastIntended = 0;
  #sequence = 0;
  #tickTimer: NodeJS.Timeout | undefined;
  #tickImmediate: NodeJS.Immediate | undefined;
  #progressTimer: NodeJS.Timeout | undefined;
  #lastProgressAt = 0;
  #lastProgressSucceeded = 0;
  /**
   * Flights in the order they were sent, which is also the order of their deadlines (intended time
   * plus one timeout for all): one timer, armed for the first flight still in the air, stands in
   * for a timer per flight. Landed flights are swept off the front, so `#queue[#queueHead]` is in
   * the air whenever the queue is not empty.
   */
  #queue: Flight[] = [];
  #queueHead = 0;
  #inFlight = 0;
  #deadlineTimer: NodeJS.Timeout | undefined;
  /** Not-issued requests not yet in `#latency` and `#intervalLatency` (see `#flushNotIssued`). */
  #notIssuedUnrecorded = 0;
  #schedulingDone = false;
  #finished = false;
  #aborted = false;
  #windowEnd: number;
  readonly #resolve: (result: LoadResult) => void;
  readonly #reject: (error: unknown) => void;
  readonly #onAbort = (): void => this.#stop();

  #intended = 0;
  #issued = 0;
  #completed = 0;
  #succeeded = 0;
  #succeededInWindow = 0;
  #failed = 0;
  #timedOut = 0;
  #couldNotIssue = 0;
  #lateSends = 0;
  #cancelled = 0;
  #maxInFlightSeen = 0;
  readonly #latency = createHistogram();
  readonly #serviceTime = createHistogram();
  readonly #intervalLatency = createHistogram();
  readonly #schedulerLag = createHistogram();
  readonly #byOperation = new Map<string, Tally>();
  readonly #statuses: Record<string, number> = {};
  readonly #errors: Partial<Record<ErrorKind, number>> = {};

  readonly #cpu = process.cpuUsage();
  readonly #elu = performance.eventLoopUtilization();
  readonly #loopDelay = monitorEventLoopDelay({ resolution: 10 });

  constructor(options: LoadOptions, resolve: (result: LoadResult) => void, reject: (error: unknown) => void) {
    this.#options = options;
    this.#isSuccess = options.isSuccess ?? ((outcome) => outcome.status < 500);
    this.#schedule = intendedTimes(options.shape, options.durationMs);
    this.#windowEnd = options.durationMs;
    this.#resolve = resolve;
    this.#reject = reject;
  }

  begin(): void {
    this.#loopDelay.enable();
    const { signal, onProgress } = this.#options;
    if (signal?.aborted) return this.#stop();
    signal?.addEventListener('abort', this.#onAbort, { once: true });
    if (onProgress) this.#progressTimer = setInterval(() => this.#progress(), this.#options.progressEveryMs ?? 1000);
    this.#nextAt = this.#advance();
    this.#tick();
  }

  #now(): number {
    return performance.now() - this.#start;
  }

  #advance(): number | undefined {
    const next = this.#schedule.next();
    return next.done ? undefined : next.value;
  }

  readonly #tick = (): void => {
    this.#tickTimer = undefined;
    this.#tickImmediate = undefined;
    if (this.#schedulingDone) return;
    // Only what is due at the start of this turn is sent now; what falls due meanwhile waits for
    // the next turn, so a client that cannot keep up still lets responses and timers through.
    const dueBy = this.#now();
    try {
      while (this.#nextAt !== undefined && this.#nextAt <= dueBy) {
        const intended = this.#nextAt;
        this.#lastIntended = intended;
        this.#dispatch(intended);
        this.#nextAt = this.#advance();
      }
    } catch (error) {
      return this.#fail(error);
    }
    if (this.#nextAt === undefined) {
      this.#schedulingDone = true;
      return this.#maybeFinish();
    }
    const wait = this.#nextAt - this.#now();
    if (wait <= 0 || (wait < POLL_BELOW_MS && this.#nextAt - this.#lastIntended >= POLL_MIN_GAP_MS)) this.#tickImmediate = setImmediate(this.#tick);
    else this.#tickTimer = setTimeout(this.#tick, Math.max(1, Math.round(wait)));
  };

  #dispatch(intended: number): void {
    const op = this.#options.next(this.#sequence++);
    this.#intended++;
    const sentAt = this.#now();
    recordMs(this.#schedulerLag, sentAt - intended);
    if (this.#inFlight >= this.#options.maxInFlight) {
      this.#recordNotIssued(op.name);
      return;
    }
    this.#issued++;
    if (sentAt - intended > LATE_SEND_MS) this.#lateSends++;
    const deadline = intended + this.#options.timeoutMs;
    const flight = new Flight(op, intended, deadline, sentAt);
    this.#queue.push(flight);
    this.#inFlight++;
    if (this.#inFlight > this.#maxInFlightSeen) this.#maxInFlightSeen = this.#inFlight;
    if (this.#deadlineTimer === undefined) this.#armDeadline(deadline, sentAt);
    let pending: Promise<Outcome>;
    try {
      pending = op.run(flight);
    } catch (error) {
      pending = Promise.reject(error);
    }
    pending.then(
      (outcome) => this.#settle(flight, outcome, undefined),
      (error: unknown) => this.#settle(flight, undefined, error),
    );
  }

  #land(flight: Flight): boolean {
    if (flight.done) return false;
    flight.done = true;
    this.#inFlight--;
    const queue = this.#queue;
    let head = this.#queueHead;
    while (head < queue.length && (queue[head] as Flight).done) head++;
    if (head === queue.length) {
      queue.length = 0;
      head = 0;
    } else if (head >= 1024 && head * 2 >= queue.length) {
      this.#queue = queue.slice(head);
      head = 0;
    }
    this.#queueHead = head;
    return true;
  }

  #armDeadline(deadline: number, now: number): void {
    this.#deadlineTimer = setTimeout(this.#onDeadline, Math.max(1, Math.ceil(deadline - now)));
  }

  /** Times out every flight whose deadline has passed, then waits for the next one. */
  readonly #onDeadline = (): void => {
    this.#deadlineTimer = undefined;
    const now = this.#now();
    while (!this.#finished && this.#queueHead < this.#queue.length) {
      const first = this.#queue[this.#queueHead] as Flight;
      if (first.deadline > now) return this.#armDeadline(first.deadline, now);
      this.#timeout(first);
    }
  };

  #timeout(flight: Flight): void {
    if (!this.#land(flight)) return;
    const timeoutMs = this.#options.timeoutMs;
    this.#recordFailure(flight.op.name, timeoutMs, flight.deadline - flight.sentAt, 'timeout');
    flight.cancel(new DOMException(`no outcome within ${timeoutMs} ms`, 'TimeoutError'));
    this.#afterLanding();
  }

  #settle(flight: Flight, outcome: Outcome | undefined, error: unknown): void {
    try {
      this.#settleOrThrow(flight, outcome, error);
    } catch (failure) {
      this.#fail(failure);
    }
  }

  #settleOrThrow(flight: Flight, outcome: Outcome | undefined, error: unknown): void {
    if (!this.#land(flight)) return;
    const at = this.#now();
    const latency = at - flight.intended;
    const service = at - flight.sentAt;
    if (outcome !== undefined && typeof outcome.status === 'number') {
      this.#completed++;
      const ok = this.#isSuccess(outcome);
      const tally = this.#record(flight.op.name, latency, service, ok);
      const status = String(outcome.status);
      bump(this.#statuses, status);
      bump(tally.statuses, status);
      if (ok) {
        this.#succeeded++;
        if (at < this.#windowEnd) this.#succeededInWindow++;
      }
    } else {
      const kind = outcome !== undefined ? 'other' : classifyError(error);
      this.#recordFailure(flight.op.name, latency, service, kind);
    }
    this.#afterLanding();
  }

  #record(name: string, latencyMs: number, serviceMs: number | undefined, ok: boolean): Tally {
    recordMs(this.#latency, latencyMs);
    recordMs(this.#intervalLatency, latencyMs);
    if (serviceMs !== undefined) recordMs(this.#serviceTime, serviceMs);
    let tally = this.#byOperation.get(name);
    if (!tally) this.#byOperation.set(name, (tally = new Tally()));
    tally.count++;
    recordMs(tally.latency, latencyMs);
    if (!ok) {
      tally.failed++;
      this.#failed++;
    }
    return tally;
  }

  /** Counts now, records the latency (always `timeoutMs`) in bulk when the histograms are next read. */
  #recordNotIssued(name: string): void {
    let tally = this.#byOperation.get(name);
    if (!tally) this.#byOperation.set(name, (tally = new Tally()));
    tally.count++;
    tally.failed++;
    tally.notIssuedUnrecorded++;
    this.#failed++;
    this.#notIssuedUnrecorded++;
    this.#couldNotIssue++;
    bump(this.#errors, 'not-issued');
  }

  #flushNotIssued(): void {
    const timeoutMs = this.#options.timeoutMs;
    recordMsTimes(this.#latency, timeoutMs, this.#notIssuedUnrecorded);
    recordMsTimes(this.#intervalLatency, timeoutMs, this.#notIssuedUnrecorded);
    this.#notIssuedUnrecorded = 0;
    for (const tally of this.#byOperation.values()) {
      recordMsTimes(tally.latency, timeoutMs, tally.notIssuedUnrecorded);
      tally.notIssuedUnrecorded = 0;
    }
  }

  #recordFailure(name: string, latencyMs: number, serviceMs: number | undefined, kind: ErrorKind): void {
    this.#record(name, latencyMs, serviceMs, false);
    bump(this.#errors, kind);
    if (kind === 'timeout') this.#timedOut++;
  }

  #afterLanding(): void {
    if (this.#finished) return;
    this.#maybeFinish();
    // A freed slot takes what is already due in this turn of the event loop rather than on the
    // next timer turn: at high rates the loop only wakes every 1 ms (see POLL_MIN_GAP_MS), and
    // waiting for that left connections idle for up to a millisecond after each answer: on the
    // bench's plain route the client stayed below autocannon's rate while using half a core.
    if (this.#tickImmediate === undefined && this.#nextAt !== undefined && !this.#schedulingDone && this.#nextAt <= this.#now()) {
      clearTimeout(this.#tickTimer);
      this.#tickTimer = undefined;
      this.#tickImmediate = setImmediate(this.#tick);
    }
  }

  #maybeFinish(): void {
    if (this.#schedulingDone && this.#inFlight === 0) this.#finish();
  }

  #snapshot(): LoadSnapshot {
    const elapsedMs = this.#now();
    const intervalMs = elapsedMs - this.#lastProgressAt;
    this.#flushNotIssued();
    const snapshot: LoadSnapshot = {
      elapsedMs: round3(elapsedMs),
      targetRps: elapsedMs < this.#options.durationMs ? round3(this.#options.shape(elapsedMs)) : 0,
      intended: this.#intended,
      issued: this.#issued,
      completed: this.#completed,
      succeeded: this.#succeeded,
      failed: this.#failed,
      timedOut: this.#timedOut,
      couldNotIssue: this.#couldNotIssue,
      inFlight: this.#inFlight,
      interval: {
        ms: round3(intervalMs),
        succeededRps: intervalMs > 0 ? round3(((this.#succeeded - this.#lastProgressSucceeded) * 1000) / intervalMs) : 0,
        latency: summarize(this.#intervalLatency, { encode: false }),
      },
    };
    this.#lastProgressAt = elapsedMs;
    this.#lastProgressSucceeded = this.#succeeded;
    this.#intervalLatency.reset();
    return snapshot;
  }

  #progress(): void {
    try {
      this.#options.onProgress?.(this.#snapshot());
    } catch (error) {
      this.#fail(error);
    }
  }

  /** Stops through the caller's signal: everything pending or running is cancelled. */
  #stop(): void {
    if (this.#finished) return;
    this.#aborted = true;
    this.#windowEnd = Math.min(this.#windowEnd, this.#now());
    this.#halt(this.#options.signal?.reason);
    this.#finish();
  }

  #halt(reason: unknown): void {
    this.#schedulingDone = true;
    clearTimeout(this.#tickTimer);
    if (this.#tickImmediate) clearImmediate(this.#tickImmediate);
    for (const flight of this.#queue.slice(this.#queueHead)) {
      if (!this.#land(flight)) continue;
      this.#cancelled++;
      flight.cancel(reason);
    }
  }

  #fail(error: unknown): void {
    if (this.#finished) return;
    this.#halt(error);
    this.#cleanup();
    this.#reject(error);
  }

  #cleanup(): void {
    this.#finished = true;
    clearInterval(this.#progressTimer);
    clearTimeout(this.#deadlineTimer);
    this.#loopDelay.disable();
    this.#options.signal?.removeEventListener('abort', this.#onAbort);
  }

  #finish(): void {
    if (this.#finished) return;
    if (this.#options.onProgress && !this.#aborted) this.#progress();
    if (this.#finished) return;
    const wallMs = this.#now();
    const cpu = process.cpuUsage(this.#cpu);
    this.#flushNotIssued();
    const elu = performance.eventLoopUtilization(this.#elu).utilization;
    this.#cleanup();
    const loopDelayP99Ms = this.#loopDelay.count > 0 ? this.#loopDelay.percentile(99) / 1e6 : 0;
    const cpuShare = wallMs > 0 ? (cpu.user + cpu.system) / 1000 / wallMs : 0;
    const schedulerLagP99Ms = this.#schedulerLag.totalCount > 0 ? this.#schedulerLag.getValueAtPercentile(99) / 1000 : 0;
    const reasons: string[] = [];
    const latencyP99Ms = this.#latency.totalCount > 0 ? this.#latency.getValueAtPercentile(99) / 1000 : 0;
    if (schedulerLagP99Ms > Math.max(CLIENT_LIMITS.schedulerLagP99Ms, CLIENT_LIMITS.schedulerLagShareOfLatencyP99 * latencyP99Ms)) {
      reasons.push(`sends left late: scheduler lag p99 ${schedulerLagP99Ms.toFixed(1)} ms, over ${CLIENT_LIMITS.schedulerLagP99Ms} ms and ${CLIENT_LIMITS.schedulerLagShareOfLatencyP99 * 100} % of latency p99 ${latencyP99Ms.toFixed(1)} ms`);
    }
    if (loopDelayP99Ms > CLIENT_LIMITS.eventLoopDelayP99Ms) reasons.push(`event-loop delay p99 ${loopDelayP99Ms.toFixed(1)} ms > ${CLIENT_LIMITS.eventLoopDelayP99Ms} ms`);
    if (cpuShare >= CLIENT_LIMITS.cpuShareOfOneCore) reasons.push(`client CPU at ${(cpuShare * 100).toFixed(0)} % of one core`);
    const windowMs = this.#windowEnd;
    const byOperation: Record<string, OperationResult> = {};
    for (const [name, tally] of this.#byOperation) {
      byOperation[name] = { count: tally.count, failed: tally.failed, latency: summarize(tally.latency), statuses: tally.statuses };
    }
    this.#resolve({
      intended: this.#intended,
      issued: this.#issued,
      completed: this.#completed,
      succeeded: this.#succeeded,
      failed: this.#failed,
      timedOut: this.#timedOut,
      couldNotIssue: this.#couldNotIssue,
      lateSends: this.#lateSends,
      cancelled: this.#cancelled,
      aborted: this.#aborted,
      maxInFlightSeen: this.#maxInFlightSeen,
      achievedRps: windowMs > 0 ? round3((this.#succeededInWindow * 1000) / windowMs) : 0,
      offeredRps: windowMs > 0 ? round3((this.#intended * 1000) / windowMs) : 0,
      durationMs: round3(windowMs),
      latency: summarize(this.#latency),
      serviceTime: summarize(this.#serviceTime),
      byOperation,
      statuses: this.#statuses,
      errors: this.#errors,
      client: {
        cpuUserMs: round3(cpu.user / 1000),
        cpuSystemMs: round3(cpu.system / 1000),
        cpuShareOfOneCore: round3(cpuShare),
        eventLoopDelayP99Ms: round3(loopDelayP99Ms),
        eventLoopUtilization: round3(elu),
        schedulerLagP99Ms: round3(schedulerLagP99Ms),
        limitedByClient: reasons.length > 0,
        ...(reasons.length > 0 ? { reason: reasons.join('; ') } : {}),
      },
    });
  }
}

function checkOptions(options: LoadOptions): void {
  const positive = (value: number, name: string): void => {
    if (!(value > 0) || !Number.isFinite(value)) throw new RangeError(`${name} must be a finite number > 0, got ${value}`);
  };
  positive(options.durationMs, 'durationMs');
  positive(options.timeoutMs, 'timeoutMs');
  if (!Number.isInteger(options.maxInFlight) || options.maxInFlight < 1) throw new RangeError(`maxInFlight must be an integer ≥ 1, got ${options.maxInFlight}`);
  if (options.progressEveryMs !== undefined) positive(options.progressEveryMs, 'progressEveryMs');
}

/** Runs one open-model load; resolves when every intended request has an outcome or was cancelled. */
export async function runLoad(options: LoadOptions): Promise<LoadResult> {
  checkOptions(options);
  return new Promise<LoadResult>((resolve, reject) => new LoadRun(options, resolve, reject).begin());
}

// ---------------------------------------------------------------------------------------------
// Combining and adapting

/** What went wrong in a run, in a few words: error kinds, then the statuses `served` does not accept ("3 timeout, 12 × 503"). */
export function describeFailures(result: Pick<LoadResult, 'errors' | 'statuses'>, served: (status: number) => boolean): string {
  return [
    ...Object.entries(result.errors).map(([kind, count]) => `${count} ${kind}`),
    ...Object.entries(result.statuses).filter(([status]) => !served(Number(status))).map(([status, count]) => `${count} × ${status}`),
  ].join(', ');
}

/**
 * One result from runs that covered the same window side by side (several clients, workers or
 * processes): counts and rates add up, latencies merge their histograms, the window is the
 * longest. Client health keeps the worst figure of any one client, CPU times add up.
 */
export function mergeResults(results: readonly LoadResult[]): LoadResult {
  if (results.length === 0) throw new RangeError('mergeResults needs at least one result');
  const sum = (pick: (result: LoadResult) => number): number => results.reduce((total, result) => total + pick(result), 0);
  const worst = (pick: (result: LoadResult) => number): number => Math.max(...results.map(pick));
  const addCounts = (target: Record<string, number>, source: Record<string, number>): void => {
    for (const [key, value] of Object.entries(source)) target[key] = (target[key] ?? 0) + value;
  };
  const statuses: Record<string, number> = {};
  const errors: Record<string, number> = {};
  const operations = new Map<string, OperationResult[]>();
  for (const result of results) {
    addCounts(statuses, result.statuses);
    addCounts(errors, result.errors as Record<string, number>);
    for (const [name, op] of Object.entries(result.byOperation)) operations.set(name, [...(operations.get(name) ?? []), op]);
  }
  const byOperation: Record<string, OperationResult> = {};
  for (const [name, list] of operations) {
    const opStatuses: Record<string, number> = {};
    for (const op of list) addCounts(opStatuses, op.statuses);
    byOperation[name] = {
      count: list.reduce((total, op) => total + op.count, 0),
      failed: list.reduce((total, op) => total + op.failed, 0),
      latency: mergeSummaries(list.map((op) => op.latency)),
      statuses: opStatuses,
    };
  }
  const reasons = results.flatMap((result) => (result.client.reason ? [result.client.reason] : []));
  return {
    intended: sum((r) => r.intended),
    issued: sum((r) => r.issued),
    completed: sum((r) => r.completed),
    succeeded: sum((r) => r.succeeded),
    failed: sum((r) => r.failed),
    timedOut: sum((r) => r.timedOut),
    couldNotIssue: sum((r) => r.couldNotIssue),
    lateSends: sum((r) => r.lateSends),
    cancelled: sum((r) => r.cancelled),
    aborted: results.some((r) => r.aborted),
    maxInFlightSeen: sum((r) => r.maxInFlightSeen),
    achievedRps: round3(sum((r) => r.achievedRps)),
    offeredRps: round3(sum((r) => r.offeredRps)),
    durationMs: worst((r) => r.durationMs),
    latency: mergeSummaries(results.map((r) => r.latency)),
    serviceTime: mergeSummaries(results.map((r) => r.serviceTime)),
    byOperation,
    statuses,
    errors,
    client: {
      cpuUserMs: round3(sum((r) => r.client.cpuUserMs)),
      cpuSystemMs: round3(sum((r) => r.client.cpuSystemMs)),
      cpuShareOfOneCore: worst((r) => r.client.cpuShareOfOneCore),
      eventLoopDelayP99Ms: worst((r) => r.client.eventLoopDelayP99Ms),
      eventLoopUtilization: worst((r) => r.client.eventLoopUtilization),
      schedulerLagP99Ms: worst((r) => r.client.schedulerLagP99Ms),
      limitedByClient: results.some((r) => r.client.limitedByClient),
      ...(reasons.length > 0 ? { reason: reasons.join('; ') } : {}),
    },
  };
}

/** The shape of `ApiClient.call`, so an API client drives the generator without a dependency on it. */
export interface CallingClient {
  call(method: string, path: string, options?: { body?: unknown; headers?: Record<string, string>; timeoutMs?: number }): Promise<{ readonly status: number }>;
}

/** An operation that makes one call; the client's own timeout is set to the time left. */
export function callOperation(
  client: CallingClient,
  name: string,
  method: string,
  path: string,
  request: { readonly body?: unknown; readonly headers?: Record<string, string> } = {},
): Operation {
  return {
    name,
    run: async ({ budgetMs }) => {
      const response = await client.call(method, path, { ...request, timeoutMs: Math.max(1, Math.floor(budgetMs)) });
      return { status: response.status };
    },
  };
}
