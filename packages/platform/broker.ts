/**
 * The production event transport: NATS JetStream.
 *
 * The store's outbox relay publishes with `publish()`, deduplicated by the event id; the
 * integration service consumes with `consume()`, a durable pull consumer with explicit acks,
 * bounded concurrency, server-side redelivery and a dead-letter subject for poison messages.
 */
import { connect, headers as natsHeaders, errors as natsErrors, nanos } from '@nats-io/transport-node';
import type { MsgHdrs, NatsConnection } from '@nats-io/transport-node';
import { AckPolicy, DeliverPolicy, JetStreamApiCodes, JetStreamApiError, StorageType, jetstream, jetstreamManager } from '@nats-io/jetstream';
import type { Consumer, ConsumerMessages, JetStreamClient, JetStreamManager, JsMsg } from '@nats-io/jetstream';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { AnyCloudEvent } from '@msa-poc/contracts';
import { processEvent, startPublish, type EventTelemetry, type Verdict } from './messaging.js';
import { context, extractContext, trace, type Link } from './tracing.js';

export type BrokerLog = (msg: string, fields?: object) => void;

export interface BrokerOptions {
  url: string;
  /** Connection name, shown by the server's monitoring (`connz`). */
  name: string;
  log?: BrokerLog;
  /** How long to wait for a PubAck or a JetStream API reply (default 5000). */
  requestTimeoutMs?: number;
  /** Spans and metrics of publishing and processing; without it, trace context is passed on only. */
  telemetry?: EventTelemetry;
}

export interface StreamSpec {
  name: string;
  subjects: readonly string[];
  /** Window in which a repeated `Nats-Msg-Id` is dropped (server default: 2 minutes). */
  duplicateWindowMs?: number;
  /** Retention by age; unset keeps events until removed by other limits. */
  maxAgeMs?: number;
}

/** Handler verdict: done, try again later, or give up on this event now. */
export type HandlerResult = 'ack' | { retryAfterMs: number; error: string } | { deadLetter: string };

export interface Delivery {
  /** 1 on the first delivery; the server counts redeliveries, so this survives restarts. */
  deliveryCount: number;
  subject: string;
  headers: Readonly<Record<string, string>>;
}

export type EventHandler = (event: AnyCloudEvent, delivery: Delivery) => Promise<HandlerResult>;

export interface ConsumeOptions {
  stream: string;
  durable: string;
  filterSubject: string;
  /** Deliveries before an event is dead-lettered (the server stops redelivering there too). */
  maxDeliver: number;
  /** Time the server waits for an ack before redelivering, e.g. after a consumer crash. */
  ackWaitMs: number;
  /**
   * Redelivery delays, per attempt, for a handler that throws (the last one repeats).
   * Applied client-side through `nak(delay)`: the server's own consumer BackOff would also
   * replace ackWait with its first entry, turning a short retry delay into a short ack deadline.
   */
  backoffMs?: number[];
  /** Most handlers running at once; never exceeded, since each fetch asks only for free slots. */
  concurrency: number;
  deadLetterSubject: string;
  handler: EventHandler;
  /** How long `stop()` waits for in-flight handlers (default 10000). */
  stopTimeoutMs?: number;
}

export interface ConsumerStats {
  inFlight: number;
  delivered: number;
  acked: number;
  retried: number;
  deadLettered: number;
  /** Undelivered messages as the server reported them with the latest delivery. */
  pending: number;
  /** Acks the server did not confirm in time; those events may be delivered again. */
  ackFailed: number;
}

export interface Consumption {
  stop(): Promise<void>;
  stats(): ConsumerStats;
}

export interface ConsumerLag {
  /** Messages not yet delivered to the consumer. */
  pending: number;
  /** Delivered, not yet acknowledged (in flight, or waiting out a retry delay). */
  ackPending: number;
  redelivered: number;
}

export interface Broker {
  ensureStream(spec: StreamSpec): Promise<void>;
  /** Deletes a stream and its consumers, if it exists: a clean slate for a test run. */
  deleteStream(name: string): Promise<void>;
  /**
   * Publishes in a PRODUCER span that continues the trace the event was created in (its
   * traceparent), linked to `links` (e.g. the relay batch); the event goes out carrying the span.
   */
  publish(subject: string, event: AnyCloudEvent, options?: { links?: Link[] }): Promise<void>;
  consume(options: ConsumeOptions): Promise<Consumption>;
  consumerInfo(stream: string, durable: string): Promise<ConsumerLag>;
  isConnected(): boolean;
  /** Stops every consumption gracefully, then drains the connection. */
  close(): Promise<void>;
}

/** Headers a dead-lettered message carries, besides those of the original. */
export const deadLetterHeaders = {
  error: 'Dead-Letter-Error',
  attempts: 'Dead-Letter-Attempts',
  stream: 'Dead-Letter-Stream',
  subject: 'Dead-Letter-Subject',
  sequence: 'Dead-Letter-Sequence',
} as const;

const isCloudEvent = TypeCompiler.Compile(AnyCloudEvent);
const noop: BrokerLog = () => {};
/** Mirrors the contract's limit on a dead letter's error text. */
const maxErrorLength = 2000;
/** Long enough to keep idle pulls cheap for the server; `stop()` cuts a pull short anyway. */
const fetchExpiresMs = 5000;
const defaultBackoffMs = [1000, 5000, 30_000];

export async function connectBroker(options: BrokerOptions): Promise<Broker> {
  const log = options.log ?? noop;
  const telemetry: EventTelemetry = options.telemetry ?? { tracer: trace.getTracer('msa-poc') };
  const timeout = options.requestTimeoutMs ?? 5000;
  let nc: NatsConnection;
  try {
    nc = await connect({
      servers: options.url,
      name: options.name,
      timeout,
      // Once connected, never give up: a broker outage must not need a service restart.
      reconnect: true,
      maxReconnectAttempts: -1,
      reconnectTimeWait: 2000,
      reconnectJitter: 500,
    });
  } catch (error) {
    throw new Error(
      `cannot connect to NATS at ${options.url} (${messageOf(error)}); start a NATS server with JetStream enabled (nats-server -js) or set POC_NATS_URL`,
      { cause: error },
    );
  }
  const js = jetstream(nc, { timeout });
  let jsm: JetStreamManager;
  try {
    jsm = await jetstreamManager(nc, { timeout });
  } catch (error) {
    await nc.close();
    throw new Error(`NATS at ${options.url} has no JetStream (${messageOf(error)}); start it with -js or set POC_NATS_URL`, { cause: error });
  }

  let connected = true;
  void (async () => {
    for await (const status of nc.status()) {
      if (status.type === 'disconnect') {
        connected = false;
        log('broker disconnected', { server: status.server });
      } else if (status.type === 'reconnect') {
        connected = true;
        log('broker reconnected', { server: status.server });
      } else if (status.type === 'error') {
        log('broker error', { error: status.error.message });
      }
    }
  })().catch((error: unknown) => log('broker status monitor ended', { error: messageOf(error) }));

  const consumptions = new Set<Consumption>();
  // Servers before 2.11 do not parse "+TERM <reason>" and leave the message pending; asked per use, as a reconnect may land elsewhere.
  const termTakesReason = () => versionAtLeast(nc.info?.version, 2, 11);

  const publishRaw = async (subject: string, data: Uint8Array | string, msgId: string, hdrs: MsgHdrs): Promise<void> => {
    try {
      await js.publish(subject, data, { msgID: msgId, headers: hdrs, timeout });
    } catch (error) {
      throw new Error(`publish of ${msgId} to ${subject} failed: ${publishFailure(error, subject, timeout)}`, { cause: error });
    }
  };

  const broker: Broker = {
    async ensureStream(spec) {
      const limits = {
        subjects: [...spec.subjects],
        ...(spec.duplicateWindowMs !== undefined && { duplicate_window: nanos(spec.duplicateWindowMs) }),
        ...(spec.maxAgeMs !== undefined && { max_age: nanos(spec.maxAgeMs) }),
      };
      if (await exists(() => jsm.streams.info(spec.name), JetStreamApiCodes.StreamNotFound)) {
        await jsm.streams.update(spec.name, limits);
      } else {
        await jsm.streams.add({ name: spec.name, storage: StorageType.File, ...limits });
      }
    },

    async deleteStream(name) {
      if (await exists(() => jsm.streams.info(name), JetStreamApiCodes.StreamNotFound)) await jsm.streams.delete(name);
    },

    async publish(subject, event, publishOptions = {}) {
      if (!isCloudEvent.Check(event)) {
        const first = isCloudEvent.Errors(event).First();
        throw new Error(`refusing to publish a malformed CloudEvent to ${subject}: ${first ? `${first.path || '/'} ${first.message}` : 'invalid'}`);
      }
      const origin = extractContext(event);
      const publication = startPublish(telemetry, { system: 'nats', destination: subject }, event.id, {
        parent: trace.getSpanContext(origin) ? origin : context.active(),
        ...(publishOptions.links ? { links: publishOptions.links } : {}),
      });
      const stamped = publication.stamp(event);
      try {
        await publishRaw(subject, JSON.stringify(stamped), event.id, eventHeaders(stamped));
        publication.end();
      } catch (error) {
        publication.end(error);
        throw error;
      }
    },

    async consume(opts) {
      if (!(Number.isInteger(opts.concurrency) && opts.concurrency >= 1)) throw new Error(`concurrency must be a positive integer, got ${opts.concurrency}`);
      if (!(Number.isInteger(opts.maxDeliver) && opts.maxDeliver >= 1)) throw new Error(`maxDeliver must be a positive integer, got ${opts.maxDeliver}`);
      await ensureConsumer(jsm, opts);
      const consumer = await js.consumers.get(opts.stream, opts.durable);
      const consumption = runConsumer(consumer, opts, { log, telemetry, ackTimeoutMs: timeout, publishRaw, termTakesReason, onStopped: () => consumptions.delete(consumption) });
      consumptions.add(consumption);
      return consumption;
    },

    async consumerInfo(stream, durable) {
      const info = await jsm.consumers.info(stream, durable);
      return { pending: info.num_pending, ackPending: info.num_ack_pending, redelivered: info.num_redelivered };
    },

    isConnected: () => connected && !nc.isClosed() && !nc.isDraining(),

    async close() {
      await Promise.all([...consumptions].map((c) => c.stop()));
      if (!nc.isClosed() && !nc.isDraining()) await nc.drain();
    },
  };
  return broker;
}

async function ensureConsumer(jsm: JetStreamManager, opts: ConsumeOptions): Promise<void> {
  const changeable = {
    ack_wait: nanos(opts.ackWaitMs),
    max_deliver: opts.maxDeliver,
    filter_subject: opts.filterSubject,
  };
  if (await exists(() => jsm.consumers.info(opts.stream, opts.durable), JetStreamApiCodes.ConsumerNotFound)) {
    await jsm.consumers.update(opts.stream, opts.durable, changeable);
    return;
  }
  try {
    await jsm.consumers.add(opts.stream, { durable_name: opts.durable, ack_policy: AckPolicy.Explicit, deliver_policy: DeliverPolicy.All, ...changeable });
  } catch (error) {
    // Another replica may have created it between our look and our add.
    if (!(await exists(() => jsm.consumers.info(opts.stream, opts.durable), JetStreamApiCodes.ConsumerNotFound))) throw error;
    await jsm.consumers.update(opts.stream, opts.durable, changeable);
  }
}

type PublishRaw = (subject: string, data: Uint8Array | string, msgId: string, hdrs: MsgHdrs) => Promise<void>;

interface ConsumerDeps {
  log: BrokerLog;
  telemetry: EventTelemetry;
  ackTimeoutMs: number;
  publishRaw: PublishRaw;
  termTakesReason: () => boolean;
  onStopped: () => void;
}

function runConsumer(consumer: Consumer, opts: ConsumeOptions, deps: ConsumerDeps): Consumption {
  const { log, telemetry, ackTimeoutMs, publishRaw, onStopped } = deps;
  const counters = { delivered: 0, acked: 0, retried: 0, deadLettered: 0, pending: 0, ackFailed: 0 };
  const inFlight = new Set<Promise<void>>();
  const backoff = opts.backoffMs?.length ? opts.backoffMs : defaultBackoffMs;
  const ctx = { stream: opts.stream, durable: opts.durable };
  let stopping = false;
  let currentFetch: ConsumerMessages | undefined;
  // Resolves whatever the loop is waiting on (a free slot, or a pause after an error).
  let wake: (() => void) | undefined;
  const waitForWake = (ms?: number) =>
    new Promise<void>((resolve) => {
      const timer = ms === undefined ? undefined : setTimeout(resolve, ms);
      wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });

  const deadLetter = async (msg: JsMsg, reason: string, attempts: number): Promise<void> => {
    const hdrs = natsHeaders();
    if (msg.headers) for (const [key, values] of msg.headers) for (const value of values) hdrs.append(key, value);
    hdrs.delete('Nats-Msg-Id');
    hdrs.set(deadLetterHeaders.error, headerSafe(reason));
    hdrs.set(deadLetterHeaders.attempts, String(attempts));
    hdrs.set(deadLetterHeaders.stream, opts.stream);
    hdrs.set(deadLetterHeaders.subject, msg.subject);
    hdrs.set(deadLetterHeaders.sequence, String(msg.seq));
    try {
      // The id ties the dead letter to the stored message, so a redelivery after a lost term() cannot file it twice.
      await publishRaw(opts.deadLetterSubject, msg.data, `dlq:${opts.stream}:${msg.seq}`, hdrs);
    } catch (error) {
      // Terming without a stored dead letter would lose the event: leave it to the server to redeliver.
      log('dead-letter publish failed; event left for redelivery', { ...ctx, seq: msg.seq, error: messageOf(error) });
      msg.nak(backoff[backoff.length - 1]);
      counters.retried++;
      return;
    }
    if (deps.termTakesReason()) msg.term(headerSafe(reason).slice(0, 256));
    else msg.term();
    counters.deadLettered++;
    telemetry.metrics?.deadLetters.inc({ consumer: opts.durable });
    log('event dead-lettered', { ...ctx, seq: msg.seq, attempts, error: reason });
  };

  const handle = async (msg: JsMsg): Promise<void> => {
    const attempts = msg.info.deliveryCount;
    let event: unknown;
    try {
      event = JSON.parse(msg.string());
    } catch (error) {
      return deadLetter(msg, `body is not valid JSON: ${messageOf(error)}`, attempts);
    }
    if (!isCloudEvent.Check(event)) {
      const first = isCloudEvent.Errors(event).First();
      return deadLetter(msg, `body is not a CloudEvent: ${first ? `${first.path || '/'} ${first.message}` : 'invalid'}`, attempts);
    }
    let result: HandlerResult;
    try {
      const checked = event; // the type guard's narrowing does not reach into the closure below
      result = await processEvent(
        telemetry, { system: 'nats', destination: msg.subject }, { event: checked, consumer: opts.durable, attempt: attempts },
        () => opts.handler(checked, { deliveryCount: attempts, subject: msg.subject, headers: plainHeaders(msg.headers) }),
        verdictOf,
      );
    } catch (error) {
      result = { retryAfterMs: backoff[Math.min(attempts, backoff.length) - 1] ?? 0, error: messageOf(error) };
    }
    if (result === 'ack') {
      try {
        // A confirmed ack: a lost one would otherwise pass silently and the event come back after ackWait.
        await msg.ackAck({ timeout: ackTimeoutMs });
        counters.acked++;
      } catch (error) {
        counters.ackFailed++;
        log('ack not confirmed; the event may be redelivered', { ...ctx, seq: msg.seq, eventId: event.id, error: messageOf(error) });
      }
    } else if (typeof result === 'object' && result !== null && 'deadLetter' in result) {
      await deadLetter(msg, result.deadLetter, attempts);
    } else if (typeof result === 'object' && result !== null && 'retryAfterMs' in result) {
      if (attempts >= opts.maxDeliver) {
        await deadLetter(msg, result.error, attempts);
      } else {
        msg.nak(Math.max(0, result.retryAfterMs));
        counters.retried++;
        log('event will be retried', { ...ctx, seq: msg.seq, eventId: event.id, attempts, retryAfterMs: result.retryAfterMs, error: result.error });
      }
    } else {
      msg.nak(backoff[0]);
      counters.retried++;
      log('handler returned no verdict; event will be retried', { ...ctx, seq: msg.seq, eventId: event.id });
    }
  };

  const dispatch = (msg: JsMsg) => {
    counters.delivered++;
    counters.pending = msg.info.pending;
    const task = handle(msg)
      .catch((error: unknown) => {
        // Only a broken connection gets here (nak/term throw when closed); the server will redeliver.
        log('event handling failed', { ...ctx, seq: msg.seq, error: messageOf(error) });
      })
      .finally(() => {
        inFlight.delete(task);
        wake?.();
      });
    inFlight.add(task);
  };

  const loop = (async () => {
    while (!stopping) {
      const free = opts.concurrency - inFlight.size;
      if (free <= 0) {
        await waitForWake();
        continue;
      }
      try {
        currentFetch = await consumer.fetch({ max_messages: free, expires: fetchExpiresMs });
        if (stopping) currentFetch.stop();
        for await (const msg of currentFetch) {
          // Already on its way when stop() was called: hand it back at once rather than start it.
          if (stopping) msg.nak();
          else dispatch(msg);
        }
      } catch (error) {
        if (stopping) break;
        log('fetch failed; retrying', { ...ctx, error: messageOf(error) });
        await waitForWake(1000);
      } finally {
        currentFetch = undefined;
      }
    }
  })();

  return {
    async stop() {
      if (!stopping) {
        stopping = true;
        currentFetch?.stop();
        wake?.();
        onStopped();
      }
      await loop;
      const timeoutMs = opts.stopTimeoutMs ?? 10_000;
      let timer: NodeJS.Timeout | undefined;
      const timedOut = new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(true), timeoutMs);
      });
      const late = await Promise.race([Promise.all(inFlight).then(() => false), timedOut]);
      clearTimeout(timer);
      if (late) log('stop timed out with handlers still running; their events will be redelivered', { ...ctx, inFlight: inFlight.size });
    },
    stats: () => ({ inFlight: inFlight.size, ...counters }),
  };
}

function verdictOf(result: HandlerResult): Verdict {
  if (result === 'ack') return { outcome: 'processed' };
  if (typeof result === 'object' && result !== null && 'deadLetter' in result) return { outcome: 'dead_letter', failure: result.deadLetter };
  if (typeof result === 'object' && result !== null && 'retryAfterMs' in result) return { outcome: 'retry', failure: result.error };
  return { outcome: 'retry', failure: 'the handler returned no verdict' };
}

function eventHeaders(event: AnyCloudEvent): MsgHdrs {
  const hdrs = natsHeaders();
  hdrs.set('content-type', 'application/cloudevents+json');
  hdrs.set('ce-type', event.type);
  if (event.traceparent) hdrs.set('traceparent', event.traceparent);
  if (event.tracestate) hdrs.set('tracestate', event.tracestate);
  return hdrs;
}

function plainHeaders(hdrs: MsgHdrs | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (hdrs) for (const [key, values] of hdrs) if (values[0] !== undefined) out[key] = values[0];
  return out;
}

/** Header values cannot hold line breaks, and the contract caps a dead letter's error text. */
function headerSafe(text: string): string {
  return text.replace(/[\r\n]+/g, ' ').slice(0, maxErrorLength);
}

function publishFailure(error: unknown, subject: string, timeoutMs: number): string {
  if (error instanceof natsErrors.TimeoutError) return `no PubAck within ${timeoutMs} ms (is a stream consuming ${subject}, and is the broker reachable?)`;
  // The client reports "no responders" as "jetstream is not enabled"; here JetStream was seen at connect.
  for (let e: unknown = error; e instanceof Error; e = e.cause) {
    if (e instanceof natsErrors.NoRespondersError || (e instanceof natsErrors.RequestError && e.isNoResponders())) {
      return `no JetStream stream captures ${subject}`;
    }
  }
  return messageOf(error);
}

function versionAtLeast(version: string | undefined, major: number, minor: number): boolean {
  const [maj = 0, min = 0] = (version ?? '').split('.').map((part) => Number.parseInt(part, 10) || 0);
  return maj > major || (maj === major && min >= minor);
}

async function exists(lookup: () => Promise<unknown>, notFoundCode: number): Promise<boolean> {
  try {
    await lookup();
    return true;
  } catch (error) {
    if (error instanceof JetStreamApiError && error.code === notFoundCode) return false;
    throw error;
  }
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
