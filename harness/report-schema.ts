/**
 * The shape of a proving run's report. `report.json` is read by people and by tools (CI, diffing two
 * runs), so the shape is a schema, committed as `report.schema.json`, and every report is checked
 * against it before it is written. Objects are closed: a misspelt field in the harness is a bug
 * caught here rather than a figure silently missing from the report.
 */
import { writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { FormatRegistry, Type, type Static, type TObject, type TProperties, type TSchema } from '@sinclair/typebox';
import { TypeCompiler, type TypeCheck } from '@sinclair/typebox/compiler';

// TypeBox checks only formats it has been told about; an unregistered format fails every value.
const isoDateTime = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;
if (!FormatRegistry.Has('date-time')) FormatRegistry.Set('date-time', (v) => isoDateTime.test(v) && !Number.isNaN(Date.parse(v)));

const closed = <T extends TProperties>(properties: T, description?: string): TObject<T> =>
  Type.Object(properties, { additionalProperties: false, ...(description ? { description } : {}) });
const nullable = <T extends TSchema>(schema: T) => Type.Union([schema, Type.Null()]);
const ms = (description: string) => Type.Number({ minimum: 0, description: `${description} (milliseconds)` });
const rps = (description: string) => Type.Number({ minimum: 0, description: `${description} (requests per second)` });
const fraction = (description: string) => Type.Number({ minimum: 0, maximum: 1, description: `${description} (0..1)` });
const count = (description: string) => Type.Integer({ minimum: 0, description });
const text = (description: string) => Type.String({ description });
const timestamp = (description: string) => Type.String({ format: 'date-time', description });

export const Machine = closed({
  cores: Type.Integer({ minimum: 1, description: 'logical CPUs visible to the run' }),
  memoryGiB: Type.Number({ minimum: 0, description: 'total memory (GiB)' }),
  cpuModel: text('CPU model as reported by the operating system'),
});

export const SystemInfo = closed({
  profile: text('deployment profile: embedded or production'),
  topology: text('what was proved: the reference system started by the harness, or the target URL of a system started elsewhere'),
  commit: text('git commit of the system under test (short or full hash; "unknown" outside a repository)'),
  node: text('Node.js version of the harness'),
  machine: Machine,
  loadClientSharesCores: Type.Boolean({ description: 'true when the load client ran on the same cores as the system: the knee is then a lower bound' }),
  seed: Type.Union([Type.Integer(), Type.String()], { description: 'random seed of the scenario mix and data generators; the same seed replays the same requests' }),
  config: Type.Record(Type.String(), Type.Unknown(), { description: 'the effective configuration of the run (options, objectives, durations)' }),
});

export const LoadClient = closed({
  cpuSharePeak: fraction("peak CPU of the load client's process, share of the whole machine"),
  eventLoopDelayP99Ms: ms("p99 event-loop delay of the load client's process"),
  lateSendShare: fraction('share of requests that left more than 10 ms after their intended send time'),
  unissued: count('requests the client was scheduled to send and could not issue'),
  wasLimit: Type.Boolean({ description: 'true when the load client, not the system, bounded the offered rate' }),
}, 'health of the load generator itself: a saturated client hides the system\'s real limit');

export const Phase = closed({
  name: text('phase: warm-up, capacity, steady-state, faults, integrity, ...'),
  startedAt: timestamp('when the phase started (ISO 8601)'),
  durationMs: ms('wall-clock duration of the phase'),
  skipped: Type.Optional(closed({ reason: text('why the phase did not run') })),
});

export const ServiceFigures = closed({
  name: text('service name'),
  cpuSharePeak: fraction('peak CPU of the service process over the run, share of the whole machine (all cores)'),
  eventLoopUtilizationPeak: fraction('peak event-loop utilisation over the run, 1 s windows'),
  rssMiB: Type.Number({ minimum: 0, description: 'peak resident set size (MiB)' }),
});

export const CapacityPoint = closed({
  offeredRps: rps('open-model arrival rate the client scheduled'),
  achievedRps: rps('completed requests (success or failure) per second'),
  p50Ms: ms('median latency from intended send time (coordinated omission corrected)'),
  p99Ms: ms('p99 latency from intended send time (coordinated omission corrected)'),
  errorRate: fraction('share of requests that failed or timed out'),
  perService: Type.Record(Type.String(), closed({
    elu: fraction('mean event-loop utilisation of the service during the step'),
    p99Ms: ms('p99 of the service\'s server-side handling time during the step'),
  }), { description: 'per-service figures at this point, keyed by service name' }),
});

export const Usl = closed({
  sigma: Type.Number({ minimum: 0, maximum: 1, description: 'contention coefficient σ' }),
  kappa: Type.Number({ minimum: 0, description: 'coherency (crosstalk) coefficient κ' }),
  lambda: Type.Number({ exclusiveMinimum: 0, description: 'throughput per unit of load without contention λ' }),
  r2: Type.Number({ maximum: 1, description: 'coefficient of determination of the fit over the capacity points' }),
}, 'Universal Scalability Law X(N) = λN / (1 + σ(N−1) + κN(N−1)) fitted by least squares, with N the offered rate (rps) and X the achieved rate (rps)');

export const Capacity = closed({
  knee_rps: nullable(rps('highest offered rate at which p99 and error rate both met the objective; null when no point met it or the search did not run')),
  limited_by: nullable(closed({
    service: text('the service that saturated first'),
    evidence: text('the figures that name it: event-loop utilisation, queueing and latency growth per service'),
  })),
  slo: closed({
    p99Ms: ms('latency objective: p99 at or under this'),
    errorBudget: fraction('error budget: error rate at or under this'),
  }),
  points: Type.Array(CapacityPoint, { description: 'every measured step of the capacity search' }),
  usl: nullable(Usl),
  method: text('how the points were measured and the knee chosen'),
});

export const SteadyState = closed({
  offeredRps: rps('arrival rate held during the phase'),
  achievedRps: rps('completed requests per second'),
  fractionOfKnee: Type.Number({ minimum: 0, description: 'offered rate divided by the knee' }),
  durationMs: ms('measured duration, warm-up excluded'),
  requests: count('requests measured'),
  p50Ms: ms('median latency'),
  p90Ms: ms('p90 latency'),
  p99Ms: ms('p99 latency'),
  p999Ms: ms('p99.9 latency'),
  maxMs: ms('maximum latency'),
  errorRate: fraction('share of requests that failed or timed out'),
  cpuMsPerRequest: nullable(ms("CPU time of all the system's processes per completed request (co-located services counted once per process); null when no admin port was reachable")),
  rssMiB: nullable(Type.Number({ minimum: 0, description: "resident memory of all the system's processes at the end of the phase, each process once (MiB); null when no admin port was reachable" })),
  method: text('how latency was measured'),
});

const PathShare = closed({
  meanMs: ms('mean time on the critical path per request'),
  share: fraction('share of the mean critical path'),
});

export const CriticalPath = closed({
  perService: Type.Record(Type.String(), PathShare, { description: 'time inside each service, keyed by service name' }),
  perEdge: Type.Record(Type.String(), PathShare, { description: 'time between services, keyed "caller->callee"' }),
  networkShare: fraction('share of the critical path spent between services rather than in them'),
  traces: count('traces aggregated'),
  method: text('how the critical path was extracted and attributed'),
});

export const Chatter = closed({
  perEdge: Type.Record(Type.String(), closed({
    callsPerRequest: Type.Number({ minimum: 0, description: 'calls on this edge per user request' }),
    bytesPerRequest: Type.Number({ minimum: 0, description: 'request plus response bytes on this edge per user request' }),
    roundTripsPerRequest: Type.Number({ minimum: 0, description: 'sequential network round trips on this edge per user request' }),
  }), { description: 'keyed "caller->callee"' }),
  method: text('how calls, bytes and round trips were counted'),
});

export const TimelinePoint = closed({
  tMs: ms('offset from the start of the fault\'s timeline'),
  rps: rps('completed requests in this bucket'),
  errorRate: fraction('share of requests that failed or timed out in this bucket'),
  p99Ms: ms('p99 latency in this bucket'),
});

export const Fault = closed({
  name: text('fault scenario'),
  target: text('the faulted service, process or connection'),
  sharedFate: Type.Array(Type.String(), { description: 'services co-located with the target in the process the fault hit, and hit with it (empty when the target runs alone or the fault is not on its process)' }),
  injection: text('how the fault was injected'),
  expected: text('the behaviour the system is expected to show, checked by the harness'),
  injectedAtMs: ms('when the fault was injected, offset from the start of the timeline'),
  durationMs: ms('how long the fault lasted'),
  errorRateDuring: fraction('error rate while the fault was active'),
  p99DuringMs: ms('p99 latency while the fault was active'),
  timeToDetectMs: nullable(ms('from injection to the first bucket whose error rate or p99 left the baseline band; null when users saw no effect')),
  timeToRecoverMs: nullable(ms('from the end of the fault to the first of 3 consecutive buckets back inside the baseline band; null when not recovered by the end of the timeline')),
  spread: closed({
    affected: Type.Array(Type.String(), { description: 'request kinds whose error rate or p99 broke the objective during the fault' }),
    unaffected: Type.Array(Type.String(), { description: 'request kinds that kept within the objective' }),
  }),
  expectationMet: Type.Boolean(),
  method: text('how detection, recovery and spread were measured'),
  timeline: Type.Array(TimelinePoint, { description: 'buckets before, during and after the fault' }),
});

export const Integrity = closed({
  acknowledged: count('order placements the system acknowledged (2xx)'),
  indeterminate: count('order placements whose outcome the client could not know (timeout, connection lost)'),
  persisted: count('orders from acknowledged or indeterminate placements found in the store afterwards'),
  lost: count('acknowledged orders absent from the store'),
  unverified: count('acknowledged orders whose read-back failed to the end: neither proven persisted nor proven lost'),
  delivered: count('persisted orders that reached the partner'),
  duplicates: Type.Union([count('orders fulfilled more than once in effect by the partner'), Type.Null()], { description: "null when the partner's ledger was out of reach (a --target run): not measured" }),
  lost_order_ids: Type.Array(Type.String(), { maxItems: 20, description: 'the first 20 lost order ids, to look up in the logs and traces' }),
  method: text('how the audit read the store and the partner ledger'),
});

export const Check = closed({
  name: text('what was checked'),
  pass: Type.Boolean(),
  figure: Type.Union([Type.Number(), Type.String(), Type.Boolean()], { description: 'the measured value' }),
  unit: Type.Optional(text('unit of the figure: ms, rps, %, s, ...; percentages are stored as fractions with unit "%"')),
  threshold: text('the condition the figure had to meet, with its unit, e.g. "≤ 250 ms"'),
  howMeasured: text('how the figure was measured'),
});

export const recommendationKinds = ['scale', 'split', 'cache', 'merge', 'batch', 'timeout', 'breaker', 'bulkhead', 'colocate'] as const;
export const RecommendationKind = Type.Union(recommendationKinds.map((k) => Type.Literal(k)));

export const Recommendation = closed({
  kind: RecommendationKind,
  target: text('service or edge the recommendation is about'),
  text: text('what to do and why'),
  evidence: Type.Array(Type.String(), { minItems: 1, description: 'the figures behind it, each with its unit' }),
});

export const ReportSchema = closed({
  schemaVersion: Type.Literal(1),
  system: SystemInfo,
  loadClient: LoadClient,
  startedAt: timestamp('when the run started (ISO 8601)'),
  durationMs: ms('wall-clock duration of the run'),
  phases: Type.Array(Phase),
  services: Type.Array(ServiceFigures),
  capacity: Capacity,
  steady_state: nullable(SteadyState),
  critical_path: CriticalPath,
  chatter: Chatter,
  faults: Type.Array(Fault),
  integrity: Integrity,
  checks: Type.Array(Check),
  recommendations: Type.Array(Recommendation, { description: 'most important first' }),
  warnings: Type.Array(Type.String()),
}, 'report of one proving run of msa-poc (`poc prove`)');

export type Report = Static<typeof ReportSchema>;
export type CapacityPointT = Static<typeof CapacityPoint>;
export type FaultT = Static<typeof Fault>;
export type CheckT = Static<typeof Check>;
export type RecommendationT = Static<typeof Recommendation>;
export type PhaseT = Static<typeof Phase>;

export const reportSchemaId = 'https://msa-poc.local/schemas/report.json';

/** The schema as plain JSON Schema (draft 2020-12), without TypeBox's symbol keys. */
export function reportJsonSchema(): Record<string, unknown> {
  const plain = JSON.parse(JSON.stringify(ReportSchema)) as Record<string, unknown>;
  return { $schema: 'https://json-schema.org/draft/2020-12/schema', $id: reportSchemaId, title: 'msa-poc proving run report', ...plain };
}

export const defaultSchemaFile = fileURLToPath(new URL('../report.schema.json', import.meta.url));

/** Writes the JSON Schema where the repository keeps it (harness/report.schema.json by default). */
export async function writeReportJsonSchema(file: string = defaultSchemaFile): Promise<string> {
  await writeFile(file, `${JSON.stringify(reportJsonSchema(), null, 2)}\n`);
  return file;
}

export interface ReportError {
  readonly path: string;
  readonly message: string;
}

export type ReportValidation = { ok: true; value: Report } | { ok: false; errors: ReportError[] };

let check: TypeCheck<typeof ReportSchema> | undefined;

export function validateReport(value: unknown): ReportValidation {
  check ??= TypeCompiler.Compile(ReportSchema);
  if (check.Check(value)) return { ok: true, value };
  const errors: ReportError[] = [];
  for (const error of check.Errors(value)) {
    errors.push({ path: error.path || '/', message: error.message });
    if (errors.length >= 20) break;
  }
  return { ok: false, errors };
}
