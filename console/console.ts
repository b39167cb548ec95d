/**
 * The console: an OTLP/HTTP trace receiver and a live dashboard, both on loopback only. Spans go
 * into a bounded store (for traces and waterfalls) and a sliding traffic window (for the service
 * map and the RED charts); dead letters are read from, and replayed through, the store service, and
 * support access requests and grants are read from it.
 */
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { listenError } from '@msa-poc/platform/config';
import { createLogger, type Logger } from '@msa-poc/platform/telemetry';
import { createApi } from './api.js';
import { defaultConsolePort, defaultOtlpPort } from './config.js';
import { noDeadLetters, storeDeadLetters, type DeadLetterSource } from './dead-letters.js';
import { loadPageAssets } from './page.js';
import { noSupportGrants, storeSupportGrants, type SupportGrantSource } from './support-grants.js';
import { createOtlpReceiver } from './receiver.js';
import { defaultSpanStoreLimits, SpanStore, type SpanStoreLimits } from './span-store.js';
import { defaultTrafficOptions, TrafficWindow, type TrafficOptions } from './traffic.js';

/** Loopback only: the console has no authentication of its own, and shows what the services do. */
const host = '127.0.0.1';

export interface ConsoleOptions {
  /** The page and its API; 0 takes any free port. Default 8090. */
  readonly port?: number;
  /** The OTLP/HTTP receiver; 0 takes any free port. Default 4318. */
  readonly otlpPort?: number;
  /** Where the store listens (`https://127.0.0.1:8102`); without it the console shows no dead letters. */
  readonly storeUrl?: string;
  /** The local CA's folder, with the console's certificate; needed with `storeUrl`. */
  readonly pkiDir?: string;
  readonly spanLimits?: Partial<SpanStoreLimits>;
  readonly traffic?: Partial<TrafficOptions>;
  /** Largest OTLP body, as sent and once decompressed. Default 8 MiB. */
  readonly maxOtlpBodyBytes?: number;
  readonly log?: Logger;
  /** Replaces the store as the source of dead letters (tests). */
  readonly deadLetters?: DeadLetterSource;
  /** Replaces the store as the source of support grants (tests). */
  readonly supportGrants?: SupportGrantSource;
}

export interface RunningConsole {
  /** The page: `http://127.0.0.1:8090`. */
  readonly url: string;
  /** The OTLP/HTTP endpoint's origin, for OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:4318`. */
  readonly otlpUrl: string;
  readonly spans: SpanStore;
  stop(): Promise<void>;
}

export async function startConsole(options: ConsoleOptions = {}): Promise<RunningConsole> {
  const log = options.log ?? createLogger('console', 'info');
  if ((options.storeUrl === undefined) !== (options.pkiDir === undefined)) {
    throw new Error('startConsole needs storeUrl and pkiDir together: the console calls the store with its own certificate');
  }
  const spans = new SpanStore({ ...defaultSpanStoreLimits, ...options.spanLimits });
  const traffic = new TrafficWindow({ ...defaultTrafficOptions, ...options.traffic });
  const deadLetters = options.deadLetters
    ?? (options.storeUrl !== undefined && options.pkiDir !== undefined ? storeDeadLetters({ url: options.storeUrl, pkiDir: options.pkiDir }) : noDeadLetters);
  const supportGrants = options.supportGrants
    ?? (options.storeUrl !== undefined && options.pkiDir !== undefined ? storeSupportGrants({ url: options.storeUrl, pkiDir: options.pkiDir }) : noSupportGrants);
  const closeSources = () => Promise.all([deadLetters.close(), supportGrants.close()]);

  let pagePort = 0;
  const api = createApi({ spans, traffic, deadLetters, supportGrants, page: await loadPageAssets(), log, port: () => pagePort });
  const receiver = createOtlpReceiver({
    maxBodyBytes: options.maxOtlpBodyBytes ?? 8 * 1024 * 1024,
    log,
    onSpans: (received) => {
      const now = Date.now();
      // Only new spans count as traffic: an exporter that retries a batch must not double the rates.
      const added = spans.add(received, now);
      traffic.observe(added, (traceId, spanId) => spans.span(traceId, spanId), now);
    },
  });

  const wantedPort = options.port ?? defaultConsolePort;
  try {
    await api.listen({ port: wantedPort, host });
  } catch (error) {
    await closeSources();
    throw listenError(error, 'the console', wantedPort, 'POC_CONSOLE_PORT');
  }
  pagePort = (api.server.address() as AddressInfo).port;
  const wantedOtlpPort = options.otlpPort ?? defaultOtlpPort;
  try {
    await new Promise<void>((resolve, reject) => {
      receiver.once('error', reject);
      receiver.listen({ port: wantedOtlpPort, host }, () => {
        receiver.off('error', reject);
        resolve();
      });
    });
  } catch (error) {
    await api.close();
    await closeSources();
    throw listenError(error, "the console's OTLP receiver", wantedOtlpPort, 'POC_CONSOLE_OTLP_PORT');
  }
  const otlpPort = (receiver.address() as AddressInfo).port;

  let stopping: Promise<void> | undefined;
  return {
    url: `http://${host}:${pagePort}`,
    otlpUrl: `http://${host}:${otlpPort}`,
    spans,
    stop: () => {
      stopping ??= (async () => {
        await Promise.all([api.close(), closeServer(receiver)]);
        await closeSources();
      })();
      return stopping;
    },
  };
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    // Exporters keep connections alive between batches: idle ones must not hold the stop up.
    server.closeIdleConnections();
  });
}
