import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sampleReport } from './fixtures/sample-report.js';
import { reportJsonSchema, validateReport, type Report } from './report-schema.js';
import { esc, renderHtml, renderSummary, verdict, writeReport } from './report.js';

const clone = (report: Report = sampleReport): Report => structuredClone(report);
const mutate = (change: (r: Record<string, any>) => void): unknown => {
  const copy = clone() as unknown as Record<string, any>;
  change(copy);
  return copy;
};

const hostile = '<script>alert(1)</script>';

function degenerateReport(): Report {
  return {
    ...clone(),
    phases: [
      { name: 'warm-up', startedAt: '2025-06-11T09:14:09.018Z', durationMs: 10_000 },
      { name: 'capacity', startedAt: '2025-06-11T09:14:19.018Z', durationMs: 0, skipped: { reason: 'the load client could not obtain a token' } },
      { name: 'faults', startedAt: '2025-06-11T09:14:19.018Z', durationMs: 0, skipped: { reason: '--target: no process control over a system started elsewhere' } },
    ],
    services: [],
    capacity: { knee_rps: null, limited_by: null, slo: { p99Ms: 250, errorBudget: 0.01 }, points: [], usl: null, method: 'not run' },
    steady_state: null,
    critical_path: { perService: {}, perEdge: {}, networkShare: 0, traces: 0, method: 'not run' },
    chatter: { perEdge: {}, method: 'not run' },
    faults: [],
    integrity: { acknowledged: 0, indeterminate: 0, persisted: 0, lost: 0, unverified: 0, delivered: 0, duplicates: null, lost_order_ids: [], method: 'not run' },
    checks: [],
    recommendations: [],
    warnings: [],
  };
}

test('the sample report matches the schema, also after a JSON round trip', () => {
  const direct = validateReport(sampleReport);
  assert.ok(direct.ok, JSON.stringify(!direct.ok && direct.errors));
  assert.equal(validateReport(JSON.parse(JSON.stringify(sampleReport))).ok, true);
  assert.equal(validateReport(degenerateReport()).ok, true);
});

test('the sample is plausible: knee between 300 and 600 rps, the knee point meets the objective and the next one breaks it, the store limits', () => {
  const { capacity } = sampleReport;
  assert.ok(capacity.knee_rps !== null && capacity.knee_rps >= 300 && capacity.knee_rps <= 600);
  assert.equal(capacity.limited_by?.service, 'store');
  assert.ok(capacity.points.length >= 6);
  const sorted = [...capacity.points].sort((a, b) => a.offeredRps - b.offeredRps);
  const at = sorted.findIndex((p) => p.offeredRps === capacity.knee_rps);
  const knee = sorted[at];
  const next = sorted[at + 1];
  assert.ok(knee && next);
  assert.ok(knee.p99Ms <= capacity.slo.p99Ms && knee.errorRate <= capacity.slo.errorBudget);
  assert.ok(next.p99Ms > capacity.slo.p99Ms || next.errorRate > capacity.slo.errorBudget);
  assert.equal(sampleReport.system.machine.cores, 2);
  assert.equal(sampleReport.services.length, 5);
});

test('missing and invalid fields are rejected, with the path of the offending field', () => {
  const cases: [string, unknown, string][] = [
    ['missing knee_rps', mutate((r) => delete r.capacity.knee_rps), '/capacity'],
    ['missing integrity', mutate((r) => delete r.integrity), '/integrity'],
    ['missing machine cores', mutate((r) => delete r.system.machine.cores), '/system/machine'],
    ['unknown schema version', mutate((r) => { r.schemaVersion = 2; }), '/schemaVersion'],
    ['error rate above 1', mutate((r) => { r.capacity.points[0].errorRate = 1.5; }), '/capacity/points/0/errorRate'],
    ['latency as text', mutate((r) => { r.faults[0].timeline[0].p99Ms = 'fast'; }), '/faults/0/timeline/0/p99Ms'],
    ['negative duration', mutate((r) => { r.durationMs = -1; }), '/durationMs'],
    ['unknown recommendation kind', mutate((r) => { r.recommendations[0].kind = 'rewrite'; }), '/recommendations/0/kind'],
    ['recommendation without evidence', mutate((r) => { r.recommendations[0].evidence = []; }), '/recommendations/0/evidence'],
    ['start time not a date', mutate((r) => { r.startedAt = 'yesterday'; }), '/startedAt'],
    ['fractional count', mutate((r) => { r.integrity.lost = 0.5; }), '/integrity/lost'],
    ['NaN figure', mutate((r) => { r.capacity.points[1].p50Ms = Number.NaN; }), '/capacity/points/1/p50Ms'],
    ['unknown field (a typo in the harness)', mutate((r) => { r.capacity.knee = 450; }), '/capacity/knee'],
    ['skipped phase without a reason', mutate((r) => { r.phases[0].skipped = {}; }), '/phases/0/skipped'],
    ['per-service entry missing elu', mutate((r) => { delete r.capacity.points[0].perService.store.elu; }), '/capacity/points/0/perService/store'],
    ['not an object', 42, '/'],
  ];
  for (const [what, value, path] of cases) {
    const result = validateReport(value);
    assert.equal(result.ok, false, what);
    assert.ok(!result.ok && result.errors.some((e) => e.path.startsWith(path)), `${what}: expected an error at ${path}, got ${JSON.stringify(!result.ok && result.errors)}`);
  }
});

test('the JSON Schema is plain JSON and the committed harness/report.schema.json is up to date', async () => {
  const schema = reportJsonSchema();
  assert.equal(schema.$schema, 'https://json-schema.org/draft/2020-12/schema');
  assert.deepEqual(JSON.parse(JSON.stringify(schema)), schema);
  const properties = schema.properties as Record<string, { properties?: Record<string, unknown> }>;
  for (const field of ['schemaVersion', 'system', 'services', 'capacity', 'critical_path', 'chatter', 'faults', 'integrity', 'checks', 'recommendations', 'warnings', 'phases']) {
    assert.ok(field in properties, field);
  }
  assert.deepEqual(Object.keys(properties.integrity?.properties ?? {}).sort(), ['acknowledged', 'delivered', 'duplicates', 'indeterminate', 'lost', 'lost_order_ids', 'method', 'persisted', 'unverified']);
  const committed = JSON.parse(await readFile(new URL('../report.schema.json', import.meta.url), 'utf8')) as unknown;
  assert.deepEqual(committed, schema, 'harness/report.schema.json is stale: run `npm run report-schema -w harness`');
});

test('the verdict passes only when there are checks and all of them pass', () => {
  assert.equal(verdict(sampleReport).pass, false);
  assert.deepEqual(verdict(sampleReport).failed.map((c) => c.name), ['fault db-connection-cut: expected behaviour', 'fault db-connection-cut: recovery time']);
  const allPass = clone();
  allPass.checks = allPass.checks.map((c) => ({ ...c, pass: true }));
  assert.equal(verdict(allPass).pass, true);
  assert.match(verdict(allPass).line, /^PASS: all 13 checks passed$/);
  assert.equal(verdict({ ...clone(), checks: [] }).pass, false);
  assert.match(verdict({ ...clone(), checks: [] }).line, /^FAIL: no checks ran/);
});

test('the summary starts with the verdict and names every failed check, the knee with its unit, the limiter and each fault', () => {
  const summary = renderSummary(sampleReport);
  const [first] = summary.split('\n');
  assert.match(first ?? '', /^\*\*FAIL\*\*: 2 of 13 checks failed/);
  for (const check of sampleReport.checks.filter((c) => !c.pass)) assert.ok(first?.includes(check.name), check.name);
  assert.match(summary, /Knee: 450 rps\*\* offered/);
  assert.match(summary, /p99 ≤ 250 ms and error rate ≤ 1%/);
  assert.match(summary, /Limited by: store/);
  assert.match(summary, /13\.8 s, needs ≤ 10 s/);
  assert.match(summary, /\*\*p99 44\.8 ms\*\*/);
  for (const fault of sampleReport.faults) assert.match(summary, new RegExp(`^\\| ${fault.name} \\|`, 'm'), fault.name);
  assert.match(summary, /24,318 acknowledged · 41 indeterminate · 24,337 persisted · \*\*0 lost\*\* · 0 unverified · 24,337 delivered · \*\*0 duplicates\*\*/);
  assert.match(summary, /^1\. \*\*scale store\*\*/m);
  // Every section says how its figures were measured.
  assert.ok((summary.match(/How measured:/g) ?? []).length >= 6);
  const passing = clone();
  passing.checks = passing.checks.map((c) => ({ ...c, pass: true }));
  assert.match(renderSummary(passing).split('\n')[0] ?? '', /^\*\*PASS\*\*: all 13 checks passed$/);
});

test('the summary keeps hostile names from opening HTML or breaking its tables', () => {
  const report = clone();
  const fault = report.faults[0];
  assert.ok(fault);
  fault.name = `${hostile} | x`;
  const summary = renderSummary(report);
  // A backslash before `<` makes CommonMark print it as text instead of opening a tag.
  assert.ok(!/(^|[^\\])</m.test(summary), 'every < is escaped');
  assert.ok(summary.includes('| \\<script>alert(1)\\</script> \\| x |'));
});

test('the HTML is self-contained: no scripts, no external stylesheets, no remote src or href', () => {
  const html = renderHtml(sampleReport);
  assert.match(html, /^<!doctype html>/);
  assert.ok(!/<script/i.test(html), 'no script element');
  assert.ok(!/<link\b/i.test(html), 'no link element');
  assert.ok(!/@import/i.test(html), 'no CSS import');
  assert.ok(!/\b(src|href)\s*=\s*["']?\s*(https?:)?\/\//i.test(html), 'no remote src or href');
  assert.ok(!/url\(\s*["']?\s*(https?:)?\/\//i.test(html), 'no remote url() in CSS or SVG');
  assert.match(html, /<style>/);
});

test('the HTML has one SVG chart per chart type and per fault, with the knee, the objective, the USL curve and the fault windows', () => {
  const html = renderHtml(sampleReport);
  const svgs = html.match(/<svg\b[^>]*>/g) ?? [];
  assert.equal(svgs.length, 3 + sampleReport.faults.length);
  const kinds = svgs.map((s) => /data-chart="([^"]+)"/.exec(s)?.[1]);
  assert.deepEqual(kinds, ['latency', 'throughput', 'critical-path', ...sampleReport.faults.map(() => 'fault-timeline')]);
  const charts = html.split('<svg').slice(1).map((s) => s.slice(0, s.indexOf('</svg>')));
  const [latency = '', throughput = '', critical = '', ...faults] = charts;
  assert.match(latency, /knee 450 rps/);
  assert.match(latency, /objective p99 ≤ 250 ms/);
  assert.equal((latency.match(/<circle class="dot broken"[^>]*><title>/g) ?? []).length, 2, 'the two points past the knee broke the objective');
  assert.match(throughput, /class="line usl"/);
  assert.match(throughput, /knee 450 rps/);
  assert.match(critical, /store 3\.4 ms \(40\.5%\)/);
  assert.match(critical, /between services/);
  for (const chart of faults) assert.equal((chart.match(/class="fault-window"/g) ?? []).length, 3, 'the window is shaded on all three panels');
  const cut = faults[sampleReport.faults.findIndex((f) => f.name === 'db-connection-cut')] ?? '';
  assert.match(cut, /detected \+1 s/);
  assert.match(cut, /recovered \+13\.8 s after the fault/);
  const killed = faults[sampleReport.faults.findIndex((f) => f.name === 'integration-killed')] ?? '';
  assert.match(killed, /no visible effect on user requests/);
  const noUsl = clone();
  noUsl.capacity.usl = null;
  assert.ok(!renderHtml(noUsl).includes('class="line usl"'));
});

test('the HTML carries the tables: checks, faults, integrity, chatter, recommendations, machine and configuration', () => {
  const html = renderHtml(sampleReport);
  for (const id of ['capacity', 'steady', 'critical-path', 'chatter', 'faults', 'integrity', 'checks', 'recommendations', 'system']) assert.match(html, new RegExp(`<section id="${id}">`), id);
  assert.equal((html.match(/<span class="badge (pass|fail)">(pass|fail)<\/span>/g) ?? []).length, sampleReport.checks.length);
  assert.match(html, /<strong>FAIL<\/strong>: 2 of 13 checks failed/);
  assert.match(html, /orders-&gt;store<\/td><td class="num">1\.92 <span class="flag">&gt; 1<\/span>/);
  assert.match(html, /<td>lost<\/td><td class="num">0<\/td>/);
  assert.match(html, /AMD EPYC 7B13/);
  assert.match(html, /20250611/);
  assert.match(html, /config: clientTimeoutMs/);
  assert.match(html, /The load client ran on the same 2 cores/);
  assert.ok((html.match(/<b>How measured:<\/b>/g) ?? []).length >= 5 + sampleReport.faults.length);
});

test('every string put into the HTML is escaped', () => {
  const report = clone();
  const store = report.services.find((s) => s.name === 'store');
  assert.ok(store);
  store.name = hostile;
  for (const point of report.capacity.points) point.perService[hostile] = { elu: 0.5, p99Ms: 10 };
  report.critical_path.perService[hostile] = { meanMs: 1, share: 0.1 };
  report.chatter.perEdge[`${hostile}->x`] = { callsPerRequest: 1, bytesPerRequest: 1, roundTripsPerRequest: 1 };
  const fault = report.faults[0];
  assert.ok(fault);
  fault.name = hostile;
  report.system.config[hostile] = hostile;
  report.warnings.push(hostile);
  report.checks[0] = { ...report.checks[0]!, name: hostile, figure: hostile };
  const html = renderHtml(report);
  assert.ok(!html.includes('<script'), 'no raw script tag');
  const escaped = html.split(esc(hostile)).length - 1;
  assert.ok(escaped >= 8, `hostile string appears escaped (${escaped} times)`);
  assert.ok(html.includes('&lt;script&gt;alert(1)&lt;/script&gt;'));
  assert.equal(esc(`"'&<>`), '&quot;&#39;&amp;&lt;&gt;');
});

test('a degenerate report renders and says which phases were skipped and why', () => {
  const report = degenerateReport();
  const summary = renderSummary(report);
  const html = renderHtml(report);
  assert.match(summary.split('\n')[0] ?? '', /^\*\*FAIL\*\*: no checks ran$/);
  for (const phase of report.phases.filter((p) => p.skipped)) {
    assert.ok(summary.includes(`${phase.name}: skipped, ${phase.skipped?.reason}`), phase.name);
    assert.ok(html.includes(`<li><b>${esc(phase.name)}</b>: ${esc(phase.skipped?.reason)}</li>`), phase.name);
  }
  assert.match(summary, /Knee: not found\*\* \(no capacity points were measured\)/);
  assert.match(summary, /No USL fit/);
  assert.match(html, /No capacity points were measured/);
  assert.match(html, /No faults were injected/);
  assert.ok(!/<svg/.test(html), 'no empty charts');
  assert.ok(!/NaN|Infinity|undefined/.test(html + summary));
  // Points but no knee: every point broke the objective.
  const broken = clone();
  broken.capacity.knee_rps = null;
  broken.capacity.limited_by = null;
  assert.match(renderSummary(broken), /Knee: not found\*\* \(no measured point met p99 ≤ 250 ms and error rate ≤ 1%\)/);
  assert.ok(!/NaN|Infinity/.test(renderHtml(broken)));
  // One point, one bucket: scales must not divide by zero.
  const single = clone();
  single.capacity.points = single.capacity.points.slice(0, 1);
  for (const f of single.faults) f.timeline = f.timeline.slice(0, 1);
  assert.ok(!/NaN|Infinity/.test(renderHtml(single)));
});

test('writeReport writes report.json, report.html and summary.md, creating the directory', async () => {
  const root = await mkdtemp(join(tmpdir(), 'report-test-'));
  try {
    const dir = join(root, 'reports', '2025-06-11T09-14-02Z');
    const paths = await writeReport(sampleReport, dir);
    assert.deepEqual(paths, { json: join(dir, 'report.json'), html: join(dir, 'report.html'), summary: join(dir, 'summary.md') });
    assert.deepEqual((await readdir(dir)).sort(), ['report.html', 'report.json', 'summary.md']);
    assert.deepEqual(JSON.parse(await readFile(paths.json, 'utf8')), sampleReport);
    assert.equal(await readFile(paths.html, 'utf8'), renderHtml(sampleReport));
    assert.equal(await readFile(paths.summary, 'utf8'), renderSummary(sampleReport));
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});

test('writeReport refuses a report that does not match the schema and writes nothing', async () => {
  const root = await mkdtemp(join(tmpdir(), 'report-test-'));
  try {
    const dir = join(root, 'out');
    const bad = mutate((r) => { r.integrity.lost = -1; }) as Report;
    await assert.rejects(writeReport(bad, dir), /\/integrity\/lost/);
    await assert.rejects(readdir(dir), { code: 'ENOENT' });
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});
