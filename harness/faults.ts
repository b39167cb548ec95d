/**
 * The faults the proving run injects during steady load, each with what a well-built system is
 * expected to do about it. Every fault is undone by `heal`, whatever happened in between.
 */
import type { FaultProxy } from './proxy.js';
import type { ServiceName } from '@msa-poc/contracts';
import type { SystemHandle } from './system-handle.js';

export interface FaultContext {
  readonly system: SystemHandle;
  /** The partner's admin endpoint, with its fault switch; absent when this run cannot reach it. */
  readonly partnerAdmin: string | undefined;
  /** Sits between every caller and the store (its URL is the store's URL for the services). */
  readonly storeProxy: FaultProxy | undefined;
  /** Sits between the store and PostgreSQL (production profile only). */
  readonly databaseProxy: FaultProxy | undefined;
}

export interface Fault {
  readonly name: string;
  readonly target: string;
  /** What should happen, in a sentence the report prints next to what did. */
  readonly expected: string;
  /** The services this fault takes away or slows: requests that need them may suffer, no others. */
  readonly affects: readonly ServiceName[];
  /** Whether the fault hits the target's process, and so every service co-located with it. */
  readonly hitsProcess: boolean;
  /** Why this fault cannot run here, if it cannot. */
  unavailable(context: FaultContext): string | undefined;
  inject(context: FaultContext): Promise<void>;
  heal(context: FaultContext): Promise<void>;
}

const notStartedHere = 'this run did not start the system (--target), so it cannot kill or pause its processes';

/** A process fault needs processes this run started. */
const processes = (system: SystemHandle) => {
  if (!system.processes) throw new Error(notStartedHere);
  return system.processes;
};

/** The services a fault on `fault`'s process also hits: those co-located with its target in this run. */
export function sharedFateOf(fault: Fault, context: FaultContext): ServiceName[] {
  const processes = context.system.processes;
  if (!fault.hitsProcess || !processes) return [];
  return [...new Set(fault.affects.flatMap((service) => processes.sharing(service)))].filter((service) => !fault.affects.includes(service));
}

const partnerFaults = async (context: FaultContext, method: 'PUT' | 'DELETE', body?: unknown) => {
  if (!context.partnerAdmin) throw new Error("the partner's admin port is not reachable");
  const response = await fetch(`${context.partnerAdmin}/faults`, { method, ...(body ? { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } } : {}) });
  if (!response.ok) throw new Error(`the partner's fault switch answered ${response.status}`);
};

export const faults: readonly Fault[] = [
  {
    name: 'partner failing',
    target: 'partner',
    expected: 'the API is unaffected (fulfilment is asynchronous) and orders placed during the outage are fulfilled after it',
    affects: ['partner'],
    hitsProcess: false,
    unavailable: ({ partnerAdmin }) => (partnerAdmin ? undefined : "the partner's fault switch (its admin port) is not reachable from this run"),
    inject: (context) => partnerFaults(context, 'PUT', { errorRate: 1 }),
    heal: (context) => partnerFaults(context, 'DELETE'),
  },
  {
    name: 'integration killed',
    target: 'integration',
    expected: 'the API is unaffected; events wait in the outbox and are handed to the partner once integration is back',
    affects: ['integration'],
    hitsProcess: true,
    unavailable: ({ system }) => (system.processes ? undefined : notStartedHere),
    inject: async ({ system }) => {
      if (!processes(system).signal('integration', 'SIGKILL')) throw new Error('integration is not a process this run started');
    },
    heal: ({ system }) => processes(system).restart('integration'),
  },
  {
    name: 'store paused',
    target: 'store',
    expected: 'requests that need the store fail within their deadline; catalog reads go on from the cache in orders; all recover within seconds of the store resuming',
    affects: ['store'],
    hitsProcess: true,
    unavailable: ({ system }) => (system.processes ? undefined : notStartedHere),
    inject: async ({ system }) => {
      if (!processes(system).signal('store', 'SIGSTOP')) throw new Error('store is not a process this run started');
    },
    heal: async ({ system }) => void processes(system).signal('store', 'SIGCONT'),
  },
  {
    name: 'store slowed',
    target: 'store (network)',
    expected: 'requests that need the store slow down by about the added latency per round trip, without errors; catalog reads are untouched',
    affects: ['store'],
    hitsProcess: false,
    unavailable: ({ storeProxy, system }) => {
      if (!storeProxy) return 'no fault proxy sits in front of the store (a --target run cannot place one)';
      const peers = system.processes?.sharing('store').filter((s) => s !== 'store') ?? [];
      return peers.length > 0 ? `the store shares its process with ${peers.join(', ')}, which call it in-process: no network between them to slow` : undefined;
    },
    inject: async ({ storeProxy }) => storeProxy?.add('slow', { kind: 'latency', latencyMs: 100, jitterMs: 20 }),
    heal: async ({ storeProxy }) => storeProxy?.remove('slow'),
  },
  {
    name: 'database connection cut',
    target: 'store → PostgreSQL',
    expected: 'the store reconnects; requests during the cut fail with 5xx problem documents, none hangs, and nothing acknowledged is lost',
    affects: ['store'],
    hitsProcess: false,
    unavailable: ({ databaseProxy, system }) =>
      databaseProxy ? undefined : system.profile === 'embedded' ? 'the embedded profile runs PGlite inside the store process: there is no connection to cut' : 'no fault proxy sits in front of PostgreSQL',
    inject: async ({ databaseProxy }) => databaseProxy?.add('cut', { kind: 'reset' }),
    heal: async ({ databaseProxy }) => databaseProxy?.remove('cut'),
  },
];
