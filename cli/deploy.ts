/**
 * `poc deploy`: the deployment files generated from the topology, and the identities a container
 * deployment mounts.
 *
 *   poc deploy render --target compose|k8s|monitoring|all [--out DIR]
 *   poc deploy identities
 */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { PlatformConfig } from '@msa-poc/platform/config';
import { ensureSigningKey } from '@msa-poc/platform/signatures';
import { loadOrCreateSigningKey } from '@msa-poc/gateway/auth/access-token';
import { deployDir, targets, writeFiles, type Target } from '@msa-poc/deploy/render';
import { allWorkloads } from '@msa-poc/deploy/workloads';
import { prepareIdentities } from './system.js';

/** `all`, or one of the render targets; anything else is refused with the list. */
export function parseTargets(raw: string | undefined): Target[] {
  if (raw === undefined || raw === 'all') return [...targets];
  if ((targets as readonly string[]).includes(raw)) return [raw as Target];
  throw new RangeError(`--target must be ${targets.join(', ')} or all, not "${raw}"`);
}

/** Writes the chosen targets' files into `out` (deploy/ by default) and returns their paths. */
export function renderDeployment(target: string | undefined, out: string | undefined): string[] {
  return writeFiles(out === undefined ? deployDir : resolve(out), parseTargets(target));
}

const signingKeyName = /^(.+)\.sign\.(key|pub)$/;

/**
 * Makes sure every file a deployment mounts exists: the CA and the certificates, and each key file a
 * workload reads, including the gateway's token key, which `poc up` only creates when the gateway
 * first starts (a read-only mount would not let it).
 */
export async function prepareDeploymentIdentities(config: PlatformConfig): Promise<string[]> {
  const issued = await prepareIdentities(config);
  const keyFiles = [...new Set(allWorkloads().flatMap((w) => w.keyFiles))].sort();
  for (const file of keyFiles) {
    const pair = signingKeyName.exec(file);
    if (pair) await ensureSigningKey(config.keysDir, pair[1]!);
    else await loadOrCreateSigningKey(config.keysDir, file);
  }
  const missing = keyFiles.filter((file) => !existsSync(join(config.keysDir, file)));
  if (missing.length > 0) throw new Error(`after creating the identities, ${missing.join(', ')} still missing from ${config.keysDir}; check that the folder is writable`);
  return issued;
}
