/**
 * Starts the bare chain as three processes (store, orders, gateway, in that order, each once the
 * one it calls listens) and stops it in reverse.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { freePorts } from '@msa-poc/cli/testing';

export const bareServices = ['store', 'orders', 'gateway'] as const;
export type BareService = (typeof bareServices)[number];

export interface BareChain {
  /** The bare gateway's origin. */
  readonly url: string;
  readonly processes: ReadonlyMap<BareService, ChildProcess>;
  stop(): Promise<void>;
}

export interface BareChainOptions {
  /** Where the bare store keeps its PGlite database. */
  readonly dataDir: string;
  readonly env?: Record<string, string>;
  /** Node options for each process, e.g. --cpu-prof. */
  readonly execArgv?: readonly string[];
  readonly onLog?: (service: BareService, line: string) => void;
  readonly readyTimeoutMs?: number;
}

export async function startBareChain(options: BareChainOptions): Promise<BareChain> {
  const [store, orders, gateway] = await freePorts(3);
  const env = {
    ...process.env, ...options.env, BENCH_BARE_DATA_DIR: options.dataDir,
    BENCH_BARE_STORE_PORT: String(store), BENCH_BARE_ORDERS_PORT: String(orders), BENCH_BARE_GATEWAY_PORT: String(gateway),
  };
  const processes = new Map<BareService, ChildProcess>();
  const stop = async () => {
    for (const name of [...bareServices].reverse()) {
      const child = processes.get(name);
      if (!child || child.exitCode !== null || child.signalCode !== null) continue;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
    }
  };
  try {
    for (const name of bareServices) {
      const child = spawn(process.execPath, [...(options.execArgv ?? []), fileURLToPath(new URL(`./${name}.js`, import.meta.url))], { env, stdio: ['ignore', 'pipe', 'pipe', 'ipc'] });
      processes.set(name, child);
      for (const stream of [child.stdout, child.stderr]) if (stream) createInterface({ input: stream }).on('line', (line) => options.onLog?.(name, line));
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`the bare ${name} did not listen within ${(options.readyTimeoutMs ?? 60_000) / 1000} s`)), options.readyTimeoutMs ?? 60_000);
        child.once('message', () => { clearTimeout(timer); resolve(); });
        child.once('exit', (code, signal) => { clearTimeout(timer); reject(new Error(`the bare ${name} exited while starting (${signal ?? `exit code ${code}`}); its output is in the run's log`)); });
      });
    }
  } catch (error) {
    await stop();
    throw error;
  }
  return { url: `http://127.0.0.1:${gateway}`, processes, stop };
}
