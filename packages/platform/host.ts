/**
 * The program of a process that hosts several components: starts each service definition in this
 * one Node process, callees before callers, with a registry that lets them call each other
 * in-process; stops them in reverse on SIGINT/SIGTERM. Which services share a process is decided
 * by whoever starts it (`poc up --topology`), never by the services.
 */
import { ComponentRegistry } from './inprocess.js';
import { startService, type RunningService, type ServiceDefinition } from './service.js';
import { loadConfig } from './config.js';
import { stopOnSignals } from './shutdown.js';
import { createLogger } from './telemetry.js';

// Each definition has its own contract and dependency types (handlers are contravariant in them);
// the host only passes a definition on to startService, which needs none of them.
export type AnyDefinition = ServiceDefinition<any, any>;

/** Starts `definitions` in order (every callee before its callers); a failure stops those already started. */
export async function startComponents(definitions: readonly AnyDefinition[], env: Readonly<Record<string, string | undefined>> = process.env): Promise<{ readonly components: readonly RunningService[]; close(): Promise<void> }> {
  const registry = new ComponentRegistry(definitions.map((d) => d.contract.service));
  const running: RunningService[] = [];
  const close = async (): Promise<void> => {
    for (const component of [...running].reverse()) await component.close();
  };
  try {
    for (const definition of definitions) running.push(await startService(definition, env, { registry }));
  } catch (error) {
    await close();
    throw error;
  }
  return { components: running, close };
}

/** Entry point of a host process; exits 1 naming the component that failed to start. */
export async function runHost(definitions: readonly AnyDefinition[]): Promise<void> {
  const names = definitions.map((d) => d.contract.service).join('+');
  const log = createLogger(names, loadConfig(process.env).logLevel);
  let host: Awaited<ReturnType<typeof startComponents>>;
  try {
    host = await startComponents(definitions);
  } catch (error) {
    process.stderr.write(`${names} failed to start: ${(error as Error).message}\n`);
    process.exit(1);
  }
  stopOnSignals({ log, close: () => host.close() });
  process.on('unhandledRejection', (error) => log.error({ err: error }, 'unhandled rejection'));
}
