/**
 * The console's settings from the environment, checked once at start. Ports default to 8090 for
 * the page and 4318 for OTLP/HTTP (the port OTLP exporters try first); the store and the
 * certificates are found where the rest of the system's configuration says.
 */
import { ConfigError, intSetting, loadConfig, portSetting } from '@msa-poc/platform/config';
import type { PlatformConfig } from '@msa-poc/platform/config';
import { defaultSpanStoreLimits } from './span-store.js';

export const defaultConsolePort = 8090;
export const defaultOtlpPort = 4318;

export interface ConsoleSettings {
  readonly port: number;
  readonly otlpPort: number;
  readonly maxSpans: number;
  readonly maxAgeMs: number;
  readonly platform: PlatformConfig;
}

type Env = Readonly<Record<string, string | undefined>>;

export function loadConsoleSettings(env: Env = process.env): ConsoleSettings {
  const platform = loadConfig(env);
  const port = portSetting(env, 'POC_CONSOLE_PORT', defaultConsolePort);
  const otlpPort = portSetting(env, 'POC_CONSOLE_OTLP_PORT', defaultOtlpPort);
  if (port === otlpPort) throw new ConfigError(`POC_CONSOLE_PORT and POC_CONSOLE_OTLP_PORT are both ${port}; give the page and the OTLP receiver a port each`);
  for (const [name, endpoint] of Object.entries(platform.endpoints)) {
    for (const [variable, value] of [['POC_CONSOLE_PORT', port], ['POC_CONSOLE_OTLP_PORT', otlpPort]] as const) {
      if (value === endpoint.port || value === endpoint.adminPort) throw new ConfigError(`${variable}=${value} is a port of ${name} too; choose another`);
    }
  }
  return {
    port,
    otlpPort,
    maxSpans: intSetting(env, 'POC_CONSOLE_MAX_SPANS', defaultSpanStoreLimits.maxSpans, 100, 5_000_000),
    maxAgeMs: intSetting(env, 'POC_CONSOLE_MAX_AGE_SECONDS', defaultSpanStoreLimits.maxAgeMs / 1000, 10, 86_400) * 1000,
    platform,
  };
}
