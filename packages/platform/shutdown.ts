/**
 * Graceful stop of a process: on SIGINT or SIGTERM, or when the `poc` process that started it goes
 * away, close what is open and exit; exit with 1 if closing takes longer than the grace period.
 */
import type { Logger } from './telemetry.js';

export function stopOnSignals(options: { readonly log: Logger; readonly close: () => Promise<void>; readonly graceMs?: number }): void {
  const graceMs = options.graceMs ?? 10_000;
  const stop = (signal: string) => {
    options.log.info({ signal }, 'shutdown requested');
    const timer = setTimeout(() => {
      options.log.error(`graceful shutdown took longer than ${graceMs / 1000} s; exiting`);
      process.exit(1);
    }, graceMs);
    timer.unref();
    options.close().then(
      () => process.exit(0),
      (error: unknown) => {
        options.log.error({ err: error }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.once('SIGINT', () => stop('SIGINT'));
  process.once('SIGTERM', () => stop('SIGTERM'));
  // Started by `poc`: when its IPC channel closes, `poc` is gone and nobody else will stop us.
  if (process.send) process.once('disconnect', () => stop('parent exited'));
}
