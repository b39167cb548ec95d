/**
 * Which services share a process: the system's topology as deployed, chosen at start-up and kept
 * out of the services' code. `split` gives each service a process of its own; `colocated` puts
 * every service but the partner in one; a JSON file names the processes and what each hosts.
 */
import { readFileSync } from 'node:fs';
import { serviceEntry, serviceNames, startOrder, type ServiceName } from '@msa-poc/contracts';

export interface HostProcess {
  /** e.g. `gateway` when it hosts one service, or the name a topology file gives it. */
  readonly name: string;
  /** In start order: every callee before its callers. */
  readonly services: readonly ServiceName[];
}

export interface Placement {
  /** `split`, `colocated`, or the file it was read from. */
  readonly name: string;
  readonly processes: readonly HostProcess[];
}

export class PlacementError extends Error {}

/** The external partner is not ours to co-locate: it always runs as a process of its own. */
const external = serviceNames.filter((name) => serviceEntry(name).exposure === 'external');

const inStartOrder = (services: readonly ServiceName[]): ServiceName[] => startOrder().filter((name) => services.includes(name));

export const split: Placement = { name: 'split', processes: startOrder().map((name) => ({ name, services: [name] })) };

export const colocated: Placement = {
  name: 'colocated',
  processes: [
    { name: 'app', services: inStartOrder(serviceNames.filter((name) => !external.includes(name))) },
    ...external.map((name) => ({ name, services: [name] })),
  ],
};

/**
 * A placement from its description: `split`, `colocated`, or a JSON file such as
 * `{ "processes": { "edge": ["gateway"], "core": ["orders", "store"], "integration": ["integration"], "partner": ["partner"] } }`.
 */
export function placementOf(spec: string | undefined): Placement {
  if (spec === undefined || spec === 'split') return split;
  if (spec === 'colocated') return colocated;
  let text: string;
  try {
    text = readFileSync(spec, 'utf8');
  } catch (error) {
    throw new PlacementError(`--topology takes split, colocated or a JSON file; cannot read "${spec}": ${(error as Error).message}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new PlacementError(`${spec} is not JSON: ${(error as Error).message}`);
  }
  return placementFrom(spec, parsed);
}

/** Checks a topology document; every problem is named at once, with what to do about it. */
export function placementFrom(name: string, document: unknown): Placement {
  const example = '{ "processes": { "edge": ["gateway"], "core": ["orders", "store", "integration"], "partner": ["partner"] } }';
  const processes = (document as { processes?: unknown } | null)?.processes;
  if (typeof processes !== 'object' || processes === null || Array.isArray(processes)) {
    throw new PlacementError(`${name} must have a "processes" object naming each process and the services it hosts, e.g. ${example}`);
  }
  const problems: string[] = [];
  const placedIn = new Map<ServiceName, string>();
  const result: HostProcess[] = [];
  for (const [processName, services] of Object.entries(processes)) {
    if (!/^[a-z][a-z0-9-]{0,31}$/.test(processName)) problems.push(`process name "${processName}" must be 1-32 lower-case letters, digits or dashes, starting with a letter`);
    if (!Array.isArray(services) || services.length === 0 || !services.every((s) => typeof s === 'string')) {
      problems.push(`process "${processName}" must list one or more service names`);
      continue;
    }
    for (const service of services as string[]) {
      if (!(serviceNames as readonly string[]).includes(service)) {
        problems.push(`process "${processName}" names "${service}", which is not a service (services: ${serviceNames.join(', ')})`);
        continue;
      }
      const earlier = placedIn.get(service as ServiceName);
      if (earlier !== undefined) problems.push(`${service} is placed in both "${earlier}" and "${processName}"; a service runs in one process`);
      else placedIn.set(service as ServiceName, processName);
    }
    const own = (services as string[]).filter((s): s is ServiceName => (serviceNames as readonly string[]).includes(s));
    for (const service of own) {
      if (external.includes(service) && own.length > 1) problems.push(`${service} is an external system and cannot share process "${processName}" with ${own.filter((s) => s !== service).join(', ')}; give it a process of its own`);
    }
    result.push({ name: processName, services: inStartOrder(own) });
  }
  const missing = serviceNames.filter((s) => !placedIn.has(s));
  if (missing.length > 0) problems.push(`no process hosts ${missing.join(', ')}; every service must be placed once`);
  if (problems.length > 0) throw new PlacementError(`${name} is not a valid topology:\n  - ${problems.join('\n  - ')}`);
  // Processes start in the order of their earliest service, so that callees tend to come first.
  const position = (p: HostProcess) => startOrder().indexOf(p.services[0] as ServiceName);
  return { name, processes: result.sort((a, b) => position(a) - position(b)) };
}

/** The process that hosts `service`. */
export function processOf(placement: Placement, service: ServiceName): HostProcess {
  const found = placement.processes.find((p) => p.services.includes(service));
  if (!found) throw new Error(`${placement.name} places no process for ${service}`);
  return found;
}
