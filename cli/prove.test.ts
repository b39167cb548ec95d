/**
 * `poc prove --quick` end to end, as CI runs it: the system started behind fault proxies, every
 * phase run, a valid report written, and an exit code that agrees with the checks.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { validateReport, type Report } from '@msa-poc/harness/report-schema';
import { freeServicePorts } from './testing.js';

const poc = fileURLToPath(new URL('../bin/poc.js', import.meta.url));

test('poc prove --quick runs every phase and writes a valid report whose checks decide the exit code', { timeout: 300_000 }, async () => {
  const home = mkdtempSync(join(tmpdir(), 'poc-prove-'));
  const out = join(home, 'report');
  // No spans to whatever listens on the default OTLP port: it is not this test's.
  const env: Record<string, string | undefined> = { ...process.env, POC_HOME: home, ...(await freeServicePorts()) };
  try {
    const child = spawn(process.execPath, [poc, 'prove', '--quick', '--seed', '42', '--out', out], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    child.stderr.on('data', (chunk) => (stderr += chunk));
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    assert.ok(code === 0 || code === 1, `exit ${code}: ${stderr.slice(-2000)}`);
    for (const phase of ['warm-up', 'capacity', 'steady-state', 'faults', 'integrity']) assert.match(stderr, new RegExp(`▶ ${phase}`), `progress shows ${phase}`);
    for (const file of ['report.json', 'report.html', 'summary.md', 'services.log']) assert.ok(existsSync(join(out, file)), `${file} written`);

    const checked = validateReport(JSON.parse(readFileSync(join(out, 'report.json'), 'utf8')));
    assert.ok(checked.ok, JSON.stringify(!checked.ok && checked.errors));
    const report = checked.value as Report;
    assert.equal(report.system.seed, 42);
    assert.ok(report.capacity.points.length >= 6, `${report.capacity.points.length} capacity points`);
    assert.ok(report.capacity.limited_by?.service, 'a limiter is named');
    assert.deepEqual(report.faults.map((f) => f.name), ['partner failing', 'integration killed', 'store paused', 'store slowed']);
    assert.ok(report.critical_path.traces > 0, 'the steady state was traced');
    assert.ok(report.critical_path.perEdge['gateway->orders'], `the gateway → orders hop is on the critical path: ${JSON.stringify(report.critical_path.perEdge)}`);
    assert.ok(report.critical_path.networkShare > 0 && report.critical_path.networkShare < 1);
    assert.ok((report.chatter.perEdge['orders->store']?.callsPerRequest ?? 0) > 0, `chatter counts orders → store: ${JSON.stringify(report.chatter.perEdge)}`);
    assert.ok(report.chatter.perEdge['integration->partner'], 'chatter includes the asynchronous hop to the partner');
    assert.ok(report.integrity.acknowledged > 0);
    assert.equal(report.integrity.lost, 0, 'no acknowledged order lost');
    assert.equal(report.integrity.duplicates, 0, 'no order fulfilled twice');
    const failed = report.checks.filter((c) => !c.pass);
    assert.equal(code, failed.length === 0 ? 0 : 1, `exit code agrees with the checks (failed: ${failed.map((c) => c.name).join('; ')})`);
    assert.match(stdout, failed.length === 0 ? /\*\*PASS\*\*/ : /\*\*FAIL\*\*/, 'the summary is printed, verdict first');
  } finally {
    rmSync(home, { recursive: true, force: true });
  }
});
