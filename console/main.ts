/** The console as a process: settings from the environment, URLs on stdout, a graceful stop on signals. */
import { stopOnSignals } from '@msa-poc/platform/shutdown';
import { createLogger } from '@msa-poc/platform/telemetry';
import { loadConsoleSettings } from './config.js';
import { startConsole } from './console.js';

try {
  const settings = loadConsoleSettings();
  const log = createLogger('console', settings.platform.logLevel);
  const running = await startConsole({
    port: settings.port,
    otlpPort: settings.otlpPort,
    storeUrl: settings.platform.endpoints.store.url,
    pkiDir: settings.platform.pkiDir,
    spanLimits: { maxSpans: settings.maxSpans, maxAgeMs: settings.maxAgeMs },
    log,
  });
  log.info({ url: running.url, otlpUrl: running.otlpUrl }, `console ready at ${running.url}; send traces to ${running.otlpUrl}/v1/traces`);
  stopOnSignals({ log, close: () => running.stop() });
} catch (error) {
  process.stderr.write(`console failed to start: ${(error as Error).message}\n`);
  process.exit(1);
}
