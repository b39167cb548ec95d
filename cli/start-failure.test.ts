/** A service that dies while the system starts is named with what it said last, so the cause is on screen. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '@msa-poc/platform/config';
import { startSystem } from './system.js';
import { freeServicePorts } from './testing.js';

test('a process that exits while starting is reported with its last lines, and nothing is left running', { timeout: 60_000 }, async () => {
  const home = mkdtempSync(join(tmpdir(), 'msa-poc-start-failure-'));
  try {
    const config = loadConfig({ ...process.env, POC_HOME: home, POC_PROFILE: 'embedded', ...(await freeServicePorts()) });
    // Every process fails the same way before any service code runs: node cannot load a preload module.
    const missing = join(home, 'no-such-preload.cjs');
    await assert.rejects(
      startSystem({ config, execArgv: ['--require', missing], extraEnv: { POC_HOME: home } }),
      (error: unknown) => {
        const text = (error as Error).message;
        assert.match(text, /exited while starting: exit code 1; its last lines:\n/);
        assert.match(text, /Cannot find module/);
        assert.ok(text.includes(missing), 'the line names the missing file');
        return true;
      },
    );
  } finally {
    rmSync(home, { recursive: true, force: true });
  }
});
