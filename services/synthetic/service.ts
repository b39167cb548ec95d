/**
 * synthetic — one program for every generated pass-through service of a synthetic topology
 * (`poc up --topology synthetic:N`), told which one it is by POC_SERVICE. It runs on the full
 * chassis (mutual TLS, allow-list, validation, telemetry) and has no logic of its own, so what it
 * costs is what a hop between services costs.
 */
import { relayContract, serviceEntry, type SyntheticServiceName } from '@msa-poc/contracts';
import { defineService } from '@msa-poc/platform/service';
import { relayApi } from './api.js';

export function syntheticService(name: SyntheticServiceName) {
  const below = Object.fromEntries(serviceEntry(name).calls.map((callee) => [callee, relayContract(callee as SyntheticServiceName)]));
  return defineService({
    contract: relayContract(name),
    dependencies: below,
    async setup({ clients }) {
      return { handlers: relayApi(name, Object.values(clients)) };
    },
  });
}
