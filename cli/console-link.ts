/**
 * The console beside a system: started first, so that no span of the system's start is lost, with
 * the console's own certificate so that it can list and replay dead letters, and the services told
 * to export their spans to it unless the user sends them elsewhere.
 */
import { Writable } from 'node:stream';
import { startConsole, type RunningConsole } from '@msa-poc/console/console';
import { loadConfig, type PlatformConfig } from '@msa-poc/platform/config';
import { createLogger } from '@msa-poc/platform/telemetry';
import type { SpanRecord } from '@msa-poc/harness/critical-path';
import { prepareIdentities } from './system.js';

export interface LinkedConsole {
  readonly console: RunningConsole;
  /** The system's configuration, its spans now going to the console (or where the user said). */
  readonly config: PlatformConfig;
  /** What the services' environment needs for that. */
  readonly env: Record<string, string>;
  /** False when the user's OTEL_* settings send the spans elsewhere or turn tracing off. */
  readonly receivesSpans: boolean;
}

/** Lines of the console's own log, one JSON record each, handed to `onLine`. */
function lineSink(onLine: (line: string) => void): Writable {
  let pending = '';
  return new Writable({
    write(chunk: Buffer, _encoding, done) {
      pending += chunk.toString('utf8');
      const lines = pending.split('\n');
      pending = lines.pop() ?? '';
      for (const line of lines) if (line) onLine(line);
      done();
    },
  });
}

export async function startLinkedConsole(options: {
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly port: number;
  readonly otlpPort: number;
  readonly onLog?: (line: string) => void;
}): Promise<LinkedConsole> {
  const base = loadConfig(options.env);
  await prepareIdentities(base);
  const log = createLogger('console', base.logLevel, options.onLog ? lineSink(options.onLog) : undefined);
  const running = await startConsole({ port: options.port, otlpPort: options.otlpPort, storeUrl: base.endpoints.store.url, pkiDir: base.pkiDir, log });
  // A collector the user chose, or tracing turned off, wins; the console then shows no traces, which `poc up` says.
  const userChoice = options.env.OTEL_EXPORTER_OTLP_ENDPOINT || options.env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT || base.tracing.exportSpans === false;
  const env: Record<string, string> = userChoice ? {} : { OTEL_EXPORTER_OTLP_ENDPOINT: running.otlpUrl };
  return { console: running, config: loadConfig({ ...options.env, ...env }), env, receivesSpans: !userChoice };
}

const numberAttribute = (value: unknown): number | undefined => (typeof value === 'number' && Number.isFinite(value) ? value : undefined);

/** The traces that started between two moments, as the proving run's analysis reads them. */
export function tracesBetween(running: RunningConsole, fromMs: number, toMs: number): SpanRecord[][] {
  const summaries = running.spans.search({ limit: Number.MAX_SAFE_INTEGER }).filter((t) => t.startUnixMs >= fromMs && t.startUnixMs <= toMs);
  const traces: SpanRecord[][] = [];
  for (const summary of summaries) {
    const detail = running.spans.trace(summary.traceId);
    if (!detail) continue;
    traces.push(detail.spans.flatMap((span): SpanRecord[] => {
      if (span.kind === 'unspecified') return [];
      const peer = span.attributes['peer.service'];
      const requestBytes = numberAttribute(span.attributes['http.request.body.size']);
      const responseBytes = numberAttribute(span.attributes['http.response.body.size']);
      return [{
        traceId: detail.traceId, spanId: span.spanId, ...(span.parentSpanId ? { parentSpanId: span.parentSpanId } : {}),
        service: span.service, kind: span.kind, startMs: span.startUnixMs, endMs: span.startUnixMs + span.durationMs,
        ...(typeof peer === 'string' ? { peerService: peer } : {}),
        ...(requestBytes !== undefined ? { requestBytes } : {}), ...(responseBytes !== undefined ? { responseBytes } : {}),
      }];
    }));
  }
  return traces;
}
