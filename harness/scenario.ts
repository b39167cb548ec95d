/**
 * Scenarios: what the load client sends. A scenario is a set of weighted operations, each a small
 * async function over a context that holds the real API client, a seeded random source and data
 * generators. The default scenario is a shop's traffic; `poc prove --scenario FILE` loads a user's
 * own, written with `defineScenario` (see harness/examples/). Every order placed through
 * `ctx.placeOrder` is recorded for the integrity audit: acknowledged, failed, or indeterminate.
 */
import type { Order, PlaceOrderInput, ServiceName } from '@msa-poc/contracts';
import type { ApiCaller, ApiResponse } from './api-client.js';
import type { Operation } from './load.js';

export interface Placement {
  readonly key: string;
  readonly body: PlaceOrderInput;
  outcome: 'acknowledged' | 'failed' | 'indeterminate';
  orderId?: string;
  status?: number;
}

export interface ScenarioContext {
  /** The public API: a real OAuth client with DPoP proofs (or, in the bench's bare floor, plain HTTP). */
  readonly api: ApiCaller;
  /** Aborts at the request's deadline: pass it to every call. */
  readonly signal: AbortSignal;
  /** Seeded: the same seed replays the same choices. */
  random(): number;
  pick<T>(items: readonly T[]): T;
  customerId(): string;
  sku(): string;
  /** Places an order with a fresh idempotency key and records it for the integrity audit. */
  placeOrder(order?: Partial<PlaceOrderInput>): Promise<ApiResponse<Order>>;
  /** The id of an order this run placed, if any. */
  knownOrder(): string | undefined;
  /** Think time inside a multi-step operation. */
  sleep(ms: number): Promise<void>;
}

export interface ScenarioOperation {
  /** Relative frequency; weights need not add up to one. */
  readonly weight: number;
  /** The services this operation needs to answer: a fault elsewhere that hurts it has spread. */
  readonly dependsOn?: readonly ServiceName[];
  readonly run: (ctx: ScenarioContext) => Promise<{ status: number }>;
}

export interface ScenarioDefinition {
  readonly name: string;
  readonly operations: Readonly<Record<string, ScenarioOperation>>;
}

export const defineScenario = (definition: ScenarioDefinition): ScenarioDefinition => definition;

const everything: readonly ServiceName[] = ['gateway', 'orders', 'store'];

export const defaultScenario = defineScenario({
  name: 'shop (browse 30 %, read 25 %, list 10 %, place 30 %, cancel 5 %)',
  operations: {
    // The catalog is cached in orders: it does not need the store to answer.
    browse: { weight: 0.3, dependsOn: ['gateway', 'orders'], run: (ctx) => ctx.api.call('GET', '/v1/products', { signal: ctx.signal }) },
    read: {
      weight: 0.25, dependsOn: everything,
      run: (ctx) => {
        const id = ctx.knownOrder();
        return id ? ctx.api.call('GET', `/v1/orders/${id}`, { signal: ctx.signal }) : ctx.api.call('GET', '/v1/products', { signal: ctx.signal });
      },
    },
    list: { weight: 0.1, dependsOn: everything, run: (ctx) => ctx.api.call('GET', `/v1/orders?customerId=${ctx.customerId()}&limit=10`, { signal: ctx.signal }) },
    place: { weight: 0.3, dependsOn: everything, run: (ctx) => ctx.placeOrder() },
    cancel: {
      weight: 0.05, dependsOn: everything,
      run: (ctx) => {
        const id = ctx.knownOrder();
        return id ? ctx.api.call('POST', `/v1/orders/${id}/cancel`, { signal: ctx.signal }) : ctx.placeOrder();
      },
    },
  },
});

/** A small deterministic generator (mulberry32), so a run can be repeated from its seed. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const address = { name: 'Load Test', line1: '1 Benchmark Road', city: 'Ghent', postalCode: '9000', country: 'BE' };

/** Turns a scenario into the load generator's operations, and keeps the placements for the audit. */
export class ScenarioRunner {
  readonly placements: Placement[] = [];
  readonly #placed: string[] = [];
  readonly #random: () => number;
  readonly #runId: string;
  readonly #names: string[];
  readonly #cumulative: number[];
  #keys = 0;

  constructor(private readonly api: ApiCaller, seed: number, readonly definition: ScenarioDefinition = defaultScenario) {
    this.#random = seededRandom(seed);
    this.#runId = `${seed.toString(36)}-${Date.now().toString(36)}`;
    this.#names = Object.keys(definition.operations);
    const weights = this.#names.map((n) => Math.max(0, definition.operations[n]?.weight ?? 0));
    const total = weights.reduce((a, b) => a + b, 0);
    if (this.#names.length === 0 || total <= 0) throw new Error(`scenario "${definition.name}" has no operation with a positive weight`);
    let sum = 0;
    this.#cumulative = weights.map((w) => (sum += w / total));
  }

  /** The services each operation needs, for judging a fault's spread. */
  dependencies(): Record<string, readonly ServiceName[]> {
    return Object.fromEntries(this.#names.map((n) => [n, this.definition.operations[n]?.dependsOn ?? everything]));
  }

  next = (_sequence: number): Operation => {
    const roll = this.#random();
    const index = this.#cumulative.findIndex((edge) => roll < edge);
    const name = this.#names[index === -1 ? this.#names.length - 1 : index] as string;
    const operation = this.definition.operations[name] as ScenarioOperation;
    return { name, run: ({ signal }) => operation.run(this.#context(signal)) };
  };

  #context(signal: AbortSignal): ScenarioContext {
    const random = this.#random;
    const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)] as T;
    const customerId = () => `load-${Math.floor(random() * 200)}`;
    const sku = () => `SKU-${String(1 + Math.floor(random() * 50)).padStart(4, '0')}`;
    return {
      api: this.api, signal, random, pick, customerId, sku,
      knownOrder: () => (this.#placed.length ? pick(this.#placed) : undefined),
      sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
      placeOrder: async (order = {}) => {
        const placement: Placement = {
          key: `prove-${this.#runId}-${this.#keys++}`,
          body: { customerId: customerId(), items: [{ sku: sku(), quantity: 1 + Math.floor(random() * 3) }], shippingAddress: address, ...order },
          outcome: 'indeterminate',
        };
        this.placements.push(placement);
        const reply = await this.api.call<Order>('POST', '/v1/orders', { body: placement.body, headers: { 'idempotency-key': placement.key }, signal });
        placement.status = reply.status;
        if (reply.status === 200 || reply.status === 201) {
          placement.outcome = 'acknowledged';
          placement.orderId = reply.body.id;
          this.#placed.push(reply.body.id);
        } else placement.outcome = 'failed';
        return reply;
      },
    };
  }
}

/**
 * Loads a scenario from a TypeScript (or JavaScript) file whose default export is a
 * `defineScenario(...)`. TypeScript is transpiled with the compiler the project already has; the
 * result is written beside the project's modules so that its imports resolve as the user wrote them.
 */
export async function loadScenario(file: string, workDir: string): Promise<ScenarioDefinition> {
  const { readFile, writeFile, mkdir } = await import('node:fs/promises');
  const { basename, join, resolve } = await import('node:path');
  const { pathToFileURL } = await import('node:url');
  const path = resolve(file);
  let source: string;
  try {
    source = await readFile(path, 'utf8');
  } catch (error) {
    throw new Error(`cannot read the scenario ${path}: ${(error as Error).message}`);
  }
  let code = source;
  if (/\.(c|m)?ts$/.test(path)) {
    const ts = (await import('typescript')).default;
    const output = ts.transpileModule(source, { fileName: path, reportDiagnostics: true, compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022, verbatimModuleSyntax: false } });
    const errors = (output.diagnostics ?? []).filter((d) => d.category === ts.DiagnosticCategory.Error);
    if (errors.length) throw new Error(`the scenario ${path} does not compile: ${errors.map((d) => ts.flattenDiagnosticMessageText(d.messageText, ' ')).join('; ')}`);
    code = output.outputText;
  }
  await mkdir(workDir, { recursive: true });
  const compiled = join(workDir, `${basename(path).replace(/\.[^.]+$/, '')}-${Date.now()}.mjs`);
  await writeFile(compiled, code);
  const module = (await import(pathToFileURL(compiled).href)) as { default?: ScenarioDefinition };
  const definition = module.default;
  if (!definition || typeof definition !== 'object' || typeof definition.operations !== 'object') {
    throw new Error(`the scenario ${path} must export default defineScenario({ name, operations: { … } })`);
  }
  return definition;
}
