/**
 * CI's breaking-change check: the contracts of this checkout against the snapshot committed on
 * another branch (main by default). A change that breaks a consumer without a new major version
 * fails, naming each break, as the contracts' own test does against the snapshot of this checkout.
 *
 *   npm run contracts:check -- [REF]          (default origin/main; fetch it first)
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { contracts, events, snapshotOf, unannouncedBreaks, type Snapshot } from '@msa-poc/contracts';
import { repositoryRoot } from './images.js';

export const snapshotPath = 'packages/contracts/snapshot/contracts.json';

/** The contract snapshot as committed on `ref`. */
export function snapshotAt(ref: string, cwd = repositoryRoot): Snapshot {
  const shown = spawnSync('git', ['show', `${ref}:${snapshotPath}`], { cwd, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (shown.error) throw new Error(`cannot run git (${shown.error.message}); the check reads the snapshot of ${ref} with \`git show\``);
  if (shown.status !== 0) {
    throw new Error(`cannot read ${snapshotPath} at ${ref}: ${shown.stderr.trim().replace(/\.$/, '')}. Fetch that branch first (git fetch origin main), or name another ref.`);
  }
  return JSON.parse(shown.stdout) as Snapshot;
}

/** What this checkout's contracts break for consumers of the ones at `ref`. */
export const breaksAgainst = (ref: string): string[] => unannouncedBreaks(snapshotAt(ref), snapshotOf(contracts, events));

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const ref = process.argv[2] ?? 'origin/main';
  try {
    const breaks = breaksAgainst(ref);
    if (breaks.length === 0) {
      process.stdout.write(`contracts: compatible with ${ref}\n`);
    } else {
      process.stderr.write(`contracts: breaking changes against ${ref} without a new major version:\n  ${breaks.join('\n  ')}\nBump the contract's major version (and refresh the snapshot with \`npm run contracts:snapshot\`), or keep the old shape.\n`);
      process.exitCode = 1;
    }
  } catch (error) {
    process.stderr.write(`contracts: ${(error as Error).message}\n`);
    process.exitCode = 2;
  }
}
