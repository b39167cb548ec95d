/** A helper process of the run (span sink, plain route): started, and known to listen once it sends its port. */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export interface Helper {
  readonly port: number;
  readonly child: ChildProcess;
  stop(): Promise<void>;
}

export async function startHelper(module: string): Promise<Helper> {
  const child = fork(fileURLToPath(new URL(module, import.meta.url)), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const port = await new Promise<number>((resolve, reject) => {
    child.once('message', (message) => resolve((message as { port: number }).port));
    child.once('exit', (code) => reject(new Error(`${module} exited before it listened (exit code ${code})`)));
  });
  return {
    port, child,
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    },
  };
}

/** Sends the listening port to the parent; stops when told to or when the parent goes. */
export function announce(server: { close(callback?: () => void): unknown }, port: number): void {
  process.send?.({ port });
  const stop = () => server.close(() => process.exit(0));
  process.once('SIGTERM', stop);
  process.once('disconnect', stop);
}
