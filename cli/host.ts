/**
 * The program of a process that hosts several services (`poc up --topology colocated` or a
 * topology file): `node host.js store orders integration gateway` starts those components, in
 * that order, in this one process. Each runs exactly as it does alone: its definition is the one
 * its own entry point runs (services/NAME/service.ts), found by the contract it serves, so a
 * service added to the topology is hosted without a line here.
 */
import { pathToFileURL } from 'node:url';
import { isServiceName, serviceNames, type ServiceName } from '@msa-poc/contracts';
import { runHost, type AnyDefinition } from '@msa-poc/platform/host';
import { serviceModule } from './system.js';

async function definitionOf(name: ServiceName): Promise<AnyDefinition> {
  const module = (await import(pathToFileURL(serviceModule(name, 'service.js')).href)) as Record<string, unknown>;
  const found = Object.values(module).find((value): value is AnyDefinition => (value as AnyDefinition | undefined)?.contract?.service === name);
  if (!found) throw new Error(`services/${name}/service.ts exports no service definition for ${name} (defineService with its contract)`);
  return found;
}

const names = process.argv.slice(2);
const unknown = names.filter((name) => !isServiceName(name));
if (names.length === 0 || unknown.length > 0) {
  process.stderr.write(`usage: host.js SERVICE...  (services: ${serviceNames.join(', ')}${unknown.length > 0 ? `; unknown: ${unknown.join(', ')}` : ''})\n`);
  process.exit(2);
}
await runHost(await Promise.all((names as ServiceName[]).map(definitionOf)));
