/**
 * Turns a proving run's report into what people read: `summary.md` (printed at the end of a run)
 * and `report.html`, one self-contained file with hand-made SVG charts so it opens offline, from an
 * archive or a CI artifact, years later. Every string that reaches HTML goes through `esc`: service
 * names, fault names and configuration come from outside this file.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { validateReport, type CapacityPointT, type CheckT, type FaultT, type Report } from './report-schema.js';

// ---------------------------------------------------------------------------------------------
// Formatting: every figure leaves here with its unit.

const numberFormat = new Intl.NumberFormat('en-US', { maximumFractionDigits: 2 });

/** The fault's target, and the services that shared its process and so its fate. */
const targetOf = (f: FaultT): string => (f.sharedFate.length > 0 ? `${f.target}, and with it ${f.sharedFate.join(', ')} (same process)` : f.target);

function fmtNum(value: number): string {
  if (value !== 0 && Math.abs(value) < 0.01) return value.toExponential(1);
  return numberFormat.format(value);
}

function fmtMs(value: number): string {
  if (value < 1) return `${value.toFixed(2)} ms`;
  if (value < 100) return `${Number(value.toFixed(1))} ms`;
  return `${numberFormat.format(Math.round(value))} ms`;
}

/** Durations (detection, recovery, phases) read better in seconds and minutes. */
function fmtDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${Number((ms / 1000).toFixed(1))} s`;
  const minutes = Math.floor(ms / 60_000);
  const seconds = Math.round((ms - minutes * 60_000) / 1000);
  return seconds ? `${minutes} min ${seconds} s` : `${minutes} min`;
}

function fmtRps(value: number): string {
  return `${value >= 100 ? numberFormat.format(Math.round(value)) : Number(value.toFixed(1))} rps`;
}

function fmtPct(fraction: number): string {
  const pct = fraction * 100;
  if (pct === 0) return '0%';
  if (pct < 0.01) return '<0.01%';
  return `${Number(pct.toFixed(pct < 1 ? 2 : 1))}%`;
}

function fmtBytes(bytes: number): string {
  if (bytes < 1024) return `${Math.round(bytes)} B`;
  if (bytes < 1024 * 1024) return `${Number((bytes / 1024).toFixed(1))} KiB`;
  return `${Number((bytes / 1024 / 1024).toFixed(1))} MiB`;
}

function fmtFigure(check: CheckT): string {
  const { figure, unit } = check;
  if (typeof figure === 'boolean') return figure ? 'yes' : 'no';
  if (typeof figure === 'string') return unit ? `${figure} ${unit}` : figure;
  if (unit === '%') return fmtPct(figure);
  if (unit === 'ms') return fmtMs(figure);
  if (unit === 'rps') return fmtRps(figure);
  return unit ? `${fmtNum(figure)} ${unit}` : fmtNum(figure);
}

/** Model parameters span many orders of magnitude (κ is often 1e-7): three significant digits. */
function fmtParam(value: number): string {
  return String(Number(value.toPrecision(3)));
}

const noVisibleEffect = (fault: FaultT): boolean => fault.timeToDetectMs === null && fault.timeToRecoverMs === 0;

function fmtDetect(fault: FaultT): string {
  return fault.timeToDetectMs === null ? 'no visible effect' : fmtDuration(fault.timeToDetectMs);
}

function fmtRecover(fault: FaultT): string {
  if (fault.timeToRecoverMs === null) return 'not recovered';
  return noVisibleEffect(fault) ? 'nothing to recover' : fmtDuration(fault.timeToRecoverMs);
}

// ---------------------------------------------------------------------------------------------
// Figures derived from the report, shared by both renderings.

export interface Verdict {
  readonly pass: boolean;
  readonly failed: CheckT[];
  /** "all 13 checks passed", "2 of 13 checks failed", "no checks ran". */
  readonly headline: string;
  /** One line for a terminal: PASS or FAIL, the headline and the names of the failed checks. */
  readonly line: string;
}

/** A run with no checks has proved nothing, so it does not pass. */
export function verdict(report: Report): Verdict {
  const failed = report.checks.filter((c) => !c.pass);
  const total = report.checks.length;
  const pass = total > 0 && failed.length === 0;
  const headline = total === 0 ? 'no checks ran' : pass ? `all ${total} checks passed` : `${failed.length} of ${total} checks failed`;
  const names = failed.length ? `: ${failed.map((c) => c.name).join('; ')}` : '';
  return { pass, failed, headline, line: `${pass ? 'PASS' : 'FAIL'}: ${headline}${names}` };
}

const byOffered = (points: readonly CapacityPointT[]): CapacityPointT[] => [...points].sort((a, b) => a.offeredRps - b.offeredRps);

function uslAt(usl: NonNullable<Report['capacity']['usl']>, n: number): number {
  return (usl.lambda * n) / (1 + usl.sigma * (n - 1) + usl.kappa * n * (n - 1));
}

/** Where the fitted curve peaks; none when κ = 0 (the fit predicts no retrograde region). */
function uslPeak(usl: NonNullable<Report['capacity']['usl']>): { n: number; x: number } | undefined {
  if (usl.kappa <= 0) return undefined;
  const n = Math.sqrt((1 - usl.sigma) / usl.kappa);
  return { n, x: uslAt(usl, n) };
}

/** The fit in words, saying so when its peak lies beyond the rates that were measured. */
function uslSentence(report: Report): string {
  const usl = report.capacity.usl;
  if (!usl) return 'No USL fit in this report.';
  const measured = Math.max(0, ...report.capacity.points.map((p) => p.offeredRps));
  const top = uslPeak(usl);
  const peak = !top
    ? 'no predicted peak (κ = 0)'
    : `predicted peak ${fmtRps(top.x)} at ${fmtRps(top.n)} offered${top.n > measured * 1.1 ? `, an extrapolation beyond the highest measured rate (${fmtRps(measured)}): weak evidence` : ''}`;
  return `USL fit X(N) = λN / (1 + σ(N−1) + κN(N−1)) over offered rate N: σ = ${fmtParam(usl.sigma)}, κ = ${fmtParam(usl.kappa)}, λ = ${fmtParam(usl.lambda)} (achieved rps per offered rps), R² = ${usl.r2.toFixed(3)}; ${peak}.`;
}

/** Long method texts repeat across checks and faults; after the first, point back to it. */
function onceEach(): (text: string) => string {
  const seen = new Set<string>();
  return (text) => {
    if (seen.has(text)) return 'as above';
    seen.add(text);
    return text;
  };
}

function skippedPhases(report: Report): { name: string; reason: string }[] {
  return report.phases.flatMap((p) => (p.skipped ? [{ name: p.name, reason: p.skipped.reason }] : []));
}

function sumMs(entries: Record<string, { meanMs: number }>): number {
  return Object.values(entries).reduce((sum, e) => sum + e.meanMs, 0);
}

function sortedEntries<T extends { meanMs: number }>(entries: Record<string, T>): [string, T][] {
  return Object.entries(entries).sort((a, b) => b[1].meanMs - a[1].meanMs);
}

const kneeDefinition = (report: Report): string =>
  `the highest offered rate with p99 ≤ ${fmtMs(report.capacity.slo.p99Ms)} and error rate ≤ ${fmtPct(report.capacity.slo.errorBudget)}`;

function machineLine(report: Report): string {
  const { system } = report;
  const m = system.machine;
  return `${system.profile} profile · commit ${system.commit} · Node ${system.node} · ${m.cores} cores, ${fmtNum(m.memoryGiB)} GiB, ${m.cpuModel} · seed ${system.seed} · started ${report.startedAt} · took ${fmtDuration(report.durationMs)}`;
}

// ---------------------------------------------------------------------------------------------
// summary.md

/** Markdown punctuation that would change how a name renders (or inject HTML where Markdown is rendered). */
function md(value: string): string {
  // `<` alone opens HTML; `>` is only special at the start of a line, which a figure never is.
  return value.replace(/[\\`*<[\]|]/g, (c) => `\\${c}`).replace(/\r?\n/g, ' ');
}

export function renderSummary(report: Report): string {
  const v = verdict(report);
  const howOnce = onceEach();
  const out: string[] = [];
  out.push(`**${v.pass ? 'PASS' : 'FAIL'}**: ${v.headline}${v.failed.length ? `: ${v.failed.map((c) => md(c.name)).join('; ')}` : ''}`);
  out.push('', '# msa-poc proving run', '', md(machineLine(report)));

  if (v.failed.length) {
    out.push('', '## Failed checks');
    for (const c of v.failed) out.push(`- **${md(c.name)}**: ${md(fmtFigure(c))}, needs ${md(c.threshold)}. _How measured: ${md(howOnce(c.howMeasured))}_`);
  }
  if (report.warnings.length) {
    out.push('', '## Warnings');
    for (const w of report.warnings) out.push(`- ${md(w)}`);
  }
  const skipped = skippedPhases(report);
  if (skipped.length) {
    out.push('', '## Skipped phases');
    for (const s of skipped) out.push(`- ${md(s.name)}: skipped, ${md(s.reason)}`);
  }

  const cap = report.capacity;
  const points = byOffered(cap.points);
  out.push('', '## Capacity');
  if (cap.knee_rps !== null) {
    out.push(`- **Knee: ${fmtRps(cap.knee_rps)}** offered: ${md(kneeDefinition(report))}, over ${points.length} measured points. _How measured: ${md(cap.method)}_`);
  } else {
    out.push(`- **Knee: not found** (${points.length ? `no measured point met ${md(kneeDefinition(report).replace(/^the highest offered rate with /, ''))}` : 'no capacity points were measured'}).`);
  }
  if (cap.limited_by) out.push(`- **Limited by: ${md(cap.limited_by.service)}**. Evidence: ${md(cap.limited_by.evidence)}`);
  const peak = points.reduce<CapacityPointT | undefined>((best, p) => (!best || p.achievedRps > best.achievedRps ? p : best), undefined);
  if (peak) out.push(`- Peak throughput: ${fmtRps(peak.achievedRps)} achieved at ${fmtRps(peak.offeredRps)} offered.`);
  out.push(`- ${uslSentence(report)}`);

  out.push('', '## Steady state');
  const ss = report.steady_state;
  if (ss) {
    out.push(`- ${fmtRps(ss.offeredRps)} offered (${fmtPct(ss.fractionOfKnee)} of the knee) for ${fmtDuration(ss.durationMs)}, ${fmtNum(ss.requests)} requests, ${fmtRps(ss.achievedRps)} achieved: latency p50 ${fmtMs(ss.p50Ms)}, p90 ${fmtMs(ss.p90Ms)}, **p99 ${fmtMs(ss.p99Ms)}**, p99.9 ${fmtMs(ss.p999Ms)}, max ${fmtMs(ss.maxMs)}; error rate ${fmtPct(ss.errorRate)}. _How measured: ${md(ss.method)}_`);
  } else {
    out.push('- Not measured.');
  }
  const cp = report.critical_path;
  if (cp.traces > 0) {
    const total = sumMs(cp.perService) + sumMs(cp.perEdge);
    const parts = sortedEntries(cp.perService).map(([name, e]) => `${md(name)} ${fmtMs(e.meanMs)} (${fmtPct(e.share)})`);
    out.push(`- Critical path: mean ${fmtMs(total)} per request over ${fmtNum(cp.traces)} traces; ${parts.join(', ')}; between services ${fmtPct(cp.networkShare)}. _How measured: ${md(cp.method)}_`);
  }
  const chatty = Object.entries(report.chatter.perEdge).filter(([, e]) => e.callsPerRequest > 1).sort((a, b) => b[1].callsPerRequest - a[1].callsPerRequest);
  if (chatty.length) {
    out.push(`- Chatty edges (more than one call per user request): ${chatty.map(([edge, e]) => `${md(edge)} ${fmtNum(e.callsPerRequest)} calls, ${fmtBytes(e.bytesPerRequest)}, ${fmtNum(e.roundTripsPerRequest)} round trips`).join('; ')}. _How measured: ${md(report.chatter.method)}_`);
  }

  out.push('', '## Faults');
  if (report.faults.length) {
    out.push('', '| fault | target | errors during | p99 during | detected after | recovered after | request kinds hurt | expected behaviour |', '|---|---|---:|---:|---:|---:|---|---|');
    for (const f of report.faults) {
      out.push(`| ${md(f.name)} | ${md(targetOf(f))} | ${fmtPct(f.errorRateDuring)} | ${fmtMs(f.p99DuringMs)} | ${fmtDetect(f)} | ${fmtRecover(f)} | ${f.spread.affected.length ? md(f.spread.affected.join(', ')) : 'none'} | ${f.expectationMet ? 'met' : '**not met**'}: ${md(f.expected)} |`);
    }
    const methods = [...new Set(report.faults.map((f) => f.method))];
    out.push('', `_How measured: ${methods.map(md).join(' / ')}_`);
  } else {
    out.push('- No faults were injected.');
  }

  const i = report.integrity;
  out.push('', '## Integrity', `- ${fmtNum(i.acknowledged)} acknowledged · ${fmtNum(i.indeterminate)} indeterminate · ${fmtNum(i.persisted)} persisted · **${fmtNum(i.lost)} lost** · ${fmtNum(i.unverified)} unverified · ${fmtNum(i.delivered)} delivered · **${i.duplicates === null ? 'duplicates not measured' : `${fmtNum(i.duplicates)} duplicates`}** (orders). _How measured: ${md(i.method)}_`);
  if (i.lost_order_ids.length) out.push(`- Lost order ids${i.lost > i.lost_order_ids.length ? ` (first ${i.lost_order_ids.length} of ${fmtNum(i.lost)})` : ''}: ${i.lost_order_ids.map((id) => `\`${id}\``).join(', ')}`);

  out.push('', '## Recommendations');
  if (report.recommendations.length) {
    report.recommendations.slice(0, 5).forEach((r, n) => {
      out.push(`${n + 1}. **${r.kind} ${md(r.target)}**: ${md(r.text)} Evidence: ${r.evidence.map(md).join('; ')}.`);
    });
    if (report.recommendations.length > 5) out.push(`\n${report.recommendations.length - 5} more in report.html.`);
  } else {
    out.push('- None: no figure called for a change.');
  }
  return `${out.join('\n')}\n`;
}

// ---------------------------------------------------------------------------------------------
// report.html: SVG charts

const escapes: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

export function esc(value: unknown): string {
  return String(value).replace(/[&<>"']/g, (c) => escapes[c] ?? c);
}

/** Attribute numbers: short and never NaN, so a degenerate series cannot break the markup. */
const n = (value: number): string => (Number.isFinite(value) ? String(Math.round(value * 10) / 10) : '0');

interface Axis {
  readonly at: (value: number) => number;
  readonly ticks: number[];
  readonly lo: number;
  readonly hi: number;
}

function niceStep(span: number, count: number): number {
  const raw = span / count;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const norm = raw / magnitude;
  return (norm < 1.5 ? 1 : norm < 3 ? 2 : norm < 7 ? 5 : 10) * magnitude;
}

/** `exact` keeps the domain as given (a stacked bar must end at its total), ticks stay round. */
function linearAxis(min: number, max: number, from: number, to: number, count = 5, exact = false): Axis {
  if (!(max > min)) max = min + 1;
  const step = niceStep(max - min, count);
  const lo = exact ? min : Math.floor(min / step) * step;
  const hi = exact ? max : Math.ceil(max / step) * step;
  const ticks: number[] = [];
  for (let t = Math.ceil(lo / step) * step; t <= hi + step / 1e6; t += step) ticks.push(Number(t.toPrecision(12)));
  return { at: (v) => from + ((v - lo) / (hi - lo)) * (to - from), ticks, lo, hi };
}

/** Latency spans orders of magnitude across a capacity search; a log axis keeps the low points readable. */
function logAxis(min: number, max: number, from: number, to: number): Axis {
  const lo = Math.max(min, 0.01);
  const hi = max > lo ? max : lo * 10;
  const ticks: number[] = [];
  const decades = Math.log10(hi / lo);
  const mantissas = decades > 3.5 ? [1] : decades > 1.5 ? [1, 2, 5] : [1, 1.5, 2, 3, 5, 7];
  for (let e = Math.floor(Math.log10(lo)); e <= Math.ceil(Math.log10(hi)); e++) {
    for (const m of mantissas) {
      const t = Number((m * 10 ** e).toPrecision(6));
      if (t >= lo && t <= hi) ticks.push(t);
    }
  }
  const span = Math.log10(hi) - Math.log10(lo);
  return { at: (v) => from + ((Math.log10(Math.max(v, lo)) - Math.log10(lo)) / span) * (to - from), ticks, lo, hi };
}

interface Box { left: number; top: number; right: number; bottom: number }

function tickLabel(value: number): string {
  if (Math.abs(value) >= 1000) return numberFormat.format(value);
  return String(Number(value.toPrecision(4)));
}

function gridAndAxes(x: Axis, y: Axis, box: Box, xTitle: string, yTitle: string, yFormat: (v: number) => string = tickLabel): string {
  const parts: string[] = [];
  for (const t of y.ticks) {
    const py = y.at(t);
    parts.push(`<line class="grid" x1="${n(box.left)}" x2="${n(box.right)}" y1="${n(py)}" y2="${n(py)}"/><text class="tick" x="${n(box.left - 6)}" y="${n(py + 4)}" text-anchor="end">${esc(yFormat(t))}</text>`);
  }
  for (const t of x.ticks) {
    const px = x.at(t);
    parts.push(`<line class="grid" x1="${n(px)}" x2="${n(px)}" y1="${n(box.top)}" y2="${n(box.bottom)}"/><text class="tick" x="${n(px)}" y="${n(box.bottom + 16)}" text-anchor="middle">${esc(tickLabel(t))}</text>`);
  }
  parts.push(`<rect class="frame" x="${n(box.left)}" y="${n(box.top)}" width="${n(box.right - box.left)}" height="${n(box.bottom - box.top)}"/>`);
  parts.push(`<text class="axis-title" x="${n((box.left + box.right) / 2)}" y="${n(box.bottom + 34)}" text-anchor="middle">${esc(xTitle)}</text>`);
  parts.push(`<text class="axis-title" transform="translate(${n(box.left - 44)} ${n((box.top + box.bottom) / 2)}) rotate(-90)" text-anchor="middle">${esc(yTitle)}</text>`);
  return parts.join('');
}

function polyline(points: [number, number][], cls: string): string {
  if (points.length === 0) return '';
  return `<polyline class="${cls}" points="${points.map(([px, py]) => `${n(px)},${n(py)}`).join(' ')}"/>`;
}

function legend(items: { cls: string; label: string; shape?: 'line' | 'dot' | 'hollow' | 'box' }[], x: number, y: number): string {
  let offset = x;
  return items.map((item) => {
    const swatch = item.shape === 'box'
      ? `<rect class="${item.cls}" x="${n(offset)}" y="${n(y - 9)}" width="14" height="10"/>`
      : item.shape === 'dot' || item.shape === 'hollow'
        ? `<circle class="${item.cls}" cx="${n(offset + 7)}" cy="${n(y - 4)}" r="4"/>`
        : `<line class="${item.cls}" x1="${n(offset)}" x2="${n(offset + 16)}" y1="${n(y - 4)}" y2="${n(y - 4)}"/>`;
    const out = `${swatch}<text class="legend" x="${n(offset + 20)}" y="${n(y)}">${esc(item.label)}</text>`;
    offset += 28 + item.label.length * 6.3;
    return out;
  }).join('');
}

const svgOpen = (kind: string, width: number, height: number, label: string): string =>
  `<svg class="chart" data-chart="${esc(kind)}" viewBox="0 0 ${width} ${height}" role="img" aria-label="${esc(label)}">`;

function verticalMarker(x: number, box: Box, cls: string, label: string, anchor: 'start' | 'end' = 'start'): string {
  const dx = anchor === 'start' ? 4 : -4;
  return `<line class="${cls}" x1="${n(x)}" x2="${n(x)}" y1="${n(box.top)}" y2="${n(box.bottom)}"/><text class="marker-label ${cls}-label" x="${n(x + dx)}" y="${n(box.top - 6)}" text-anchor="${anchor}">${esc(label)}</text>`;
}

function broke(report: Report, p: CapacityPointT): boolean {
  return p.p99Ms > report.capacity.slo.p99Ms || p.errorRate > report.capacity.slo.errorBudget;
}

function latencyChart(report: Report): string {
  const points = byOffered(report.capacity.points);
  const { slo, knee_rps: knee } = report.capacity;
  const W = 580, H = 340;
  const box: Box = { left: 62, top: 40, right: W - 16, bottom: H - 48 };
  const x = linearAxis(0, Math.max(...points.map((p) => p.offeredRps), knee ?? 0), box.left, box.right);
  const lows = points.map((p) => p.p50Ms).filter((v) => v > 0);
  const y = logAxis(Math.min(...lows, slo.p99Ms) / 1.4, Math.max(...points.map((p) => p.p99Ms), slo.p99Ms) * 1.4, box.bottom, box.top);
  const parts = [svgOpen('latency', W, H, `Latency p50 and p99 against offered rate; knee ${knee ?? 'not found'} rps; objective p99 ${slo.p99Ms} ms`)];
  parts.push(gridAndAxes(x, y, box, 'offered rate (rps)', 'latency (ms, log scale)'));
  const sloY = y.at(slo.p99Ms);
  parts.push(`<line class="slo" x1="${n(box.left)}" x2="${n(box.right)}" y1="${n(sloY)}" y2="${n(sloY)}"/><text class="marker-label slo-label" x="${n(box.left + 6)}" y="${n(sloY - 5)}">objective p99 ≤ ${esc(fmtMs(slo.p99Ms))}</text>`);
  if (knee !== null) parts.push(verticalMarker(x.at(knee), box, 'knee', `knee ${fmtRps(knee)}`, x.at(knee) > box.right - 90 ? 'end' : 'start'));
  parts.push(polyline(points.map((p) => [x.at(p.offeredRps), y.at(p.p50Ms)]), 'line p50'));
  parts.push(polyline(points.map((p) => [x.at(p.offeredRps), y.at(p.p99Ms)]), 'line p99'));
  for (const p of points) {
    const tip = `<title>${esc(`${fmtRps(p.offeredRps)} offered: p50 ${fmtMs(p.p50Ms)}, p99 ${fmtMs(p.p99Ms)}, errors ${fmtPct(p.errorRate)}`)}</title>`;
    parts.push(`<circle class="dot p50" cx="${n(x.at(p.offeredRps))}" cy="${n(y.at(p.p50Ms))}" r="3.5">${tip}</circle>`);
    parts.push(`<circle class="dot ${broke(report, p) ? 'broken' : 'p99'}" cx="${n(x.at(p.offeredRps))}" cy="${n(y.at(p.p99Ms))}" r="4">${tip}</circle>`);
  }
  parts.push(legend([{ cls: 'line p50', label: 'p50' }, { cls: 'line p99', label: 'p99' }, { cls: 'dot broken', label: 'objective broken', shape: 'hollow' }], box.left, 18));
  parts.push('</svg>');
  return parts.join('');
}

function throughputChart(report: Report): string {
  const points = byOffered(report.capacity.points);
  const { usl, knee_rps: knee } = report.capacity;
  const W = 580, H = 340;
  const box: Box = { left: 62, top: 40, right: W - 16, bottom: H - 48 };
  const maxOffered = Math.max(...points.map((p) => p.offeredRps), knee ?? 0);
  const x = linearAxis(0, maxOffered, box.left, box.right);
  const curve = usl ? Array.from({ length: 81 }, (_, i) => x.lo + ((x.hi - x.lo) * i) / 80).map((o): [number, number] => [o, uslAt(usl, o)]) : [];
  const y = linearAxis(0, Math.max(...points.map((p) => p.achievedRps), ...curve.map(([, v]) => v), maxOffered * 0.5), box.bottom, box.top);
  const parts = [svgOpen('throughput', W, H, `Achieved against offered rate${usl ? `, USL fit R² ${usl.r2}` : ''}`)];
  parts.push(gridAndAxes(x, y, box, 'offered rate (rps)', 'achieved rate (rps)'));
  const diagonalEnd = Math.min(x.hi, y.hi);
  parts.push(polyline([[x.at(0), y.at(0)], [x.at(diagonalEnd), y.at(diagonalEnd)]], 'ideal'));
  if (knee !== null) parts.push(verticalMarker(x.at(knee), box, 'knee', `knee ${fmtRps(knee)}`, x.at(knee) > box.right - 90 ? 'end' : 'start'));
  // The fitted curve may run past the plotted range beyond the last point; clip to the frame.
  parts.push(`<clipPath id="throughput-clip"><rect x="${n(box.left)}" y="${n(box.top)}" width="${n(box.right - box.left)}" height="${n(box.bottom - box.top)}"/></clipPath>`);
  if (usl) parts.push(`<g clip-path="url(#throughput-clip)">${polyline(curve.map(([o, v]) => [x.at(o), y.at(v)]), 'line usl')}</g>`);
  parts.push(polyline(points.map((p) => [x.at(p.offeredRps), y.at(p.achievedRps)]), 'line achieved'));
  for (const p of points) {
    parts.push(`<circle class="dot achieved" cx="${n(x.at(p.offeredRps))}" cy="${n(y.at(p.achievedRps))}" r="4"><title>${esc(`${fmtRps(p.offeredRps)} offered: ${fmtRps(p.achievedRps)} achieved`)}</title></circle>`);
  }
  const items: { cls: string; label: string }[] = [{ cls: 'line achieved', label: 'achieved' }, { cls: 'ideal', label: 'achieved = offered' }];
  if (usl) items.push({ cls: 'line usl', label: `USL fit (R² ${usl.r2.toFixed(3)})` });
  parts.push(legend(items, box.left, 18));
  parts.push('</svg>');
  return parts.join('');
}

const serviceColours = ['#3867d6', '#e8590c', '#2b8a3e', '#9c36b5', '#d9a400', '#0b7285', '#c2255c', '#5c940d'];
const edgeColours = ['#868e96', '#adb5bd', '#6c757d', '#ced4da', '#495057', '#dee2e6'];

function criticalPathChart(report: Report): string {
  const cp = report.critical_path;
  const services = sortedEntries(cp.perService);
  const edges = sortedEntries(cp.perEdge);
  const inServices = sumMs(cp.perService);
  const between = sumMs(cp.perEdge);
  const total = inServices + between;
  const segments = [
    ...services.map(([name, e], i) => ({ label: name, meanMs: e.meanMs, share: e.share, colour: serviceColours[i % serviceColours.length] ?? '#3867d6' })),
    ...edges.map(([name, e], i) => ({ label: name, meanMs: e.meanMs, share: e.share, colour: edgeColours[i % edgeColours.length] ?? '#868e96' })),
  ];
  const W = 1160;
  const labelWidth = 170;
  const barLeft = labelWidth, barRight = W - 20, barHeight = 30;
  const legendRows = Math.ceil(segments.length / 4);
  const H = 40 + 2 * (barHeight + 16) + 30 + legendRows * 20 + 10;
  const x = linearAxis(0, total, barLeft, barRight, 8, true);
  const parts = [svgOpen('critical-path', W, H, `Critical path: mean ${fmtMs(total)} per request, ${fmtPct(cp.networkShare)} between services`)];
  const bar = (row: number, title: string, items: { label: string; meanMs: number; share: number; colour: string }[]): void => {
    const top = 20 + row * (barHeight + 16);
    parts.push(`<text class="bar-title" x="${n(barLeft - 10)}" y="${n(top + barHeight / 2 + 4)}" text-anchor="end">${esc(title)}</text>`);
    let cursor = 0;
    for (const item of items) {
      const x0 = x.at(cursor), x1 = x.at(cursor + item.meanMs);
      cursor += item.meanMs;
      const label = `${item.label} ${fmtMs(item.meanMs)} (${fmtPct(item.share)})`;
      parts.push(`<rect class="segment" x="${n(x0)}" y="${n(top)}" width="${n(Math.max(0, x1 - x0))}" height="${barHeight}" fill="${esc(item.colour)}"><title>${esc(label)}</title></rect>`);
      const inner = x1 - x0 > label.length * 6.4 + 8 ? label : x1 - x0 > item.label.length * 6.4 + 8 ? item.label : '';
      if (inner) parts.push(`<text class="segment-label" x="${n((x0 + x1) / 2)}" y="${n(top + barHeight / 2 + 4)}" text-anchor="middle">${esc(inner)}</text>`);
    }
  };
  bar(0, 'by service and edge', segments);
  bar(1, 'in vs between services', [
    { label: 'in services', meanMs: inServices, share: total ? inServices / total : 0, colour: '#3867d6' },
    { label: 'between services', meanMs: between, share: cp.networkShare, colour: '#868e96' },
  ]);
  const axisY = 20 + 2 * (barHeight + 16) - 6;
  for (const t of x.ticks) parts.push(`<line class="grid" x1="${n(x.at(t))}" x2="${n(x.at(t))}" y1="${n(axisY - 4)}" y2="${n(axisY)}"/><text class="tick" x="${n(x.at(t))}" y="${n(axisY + 13)}" text-anchor="middle">${esc(tickLabel(t))}</text>`);
  parts.push(`<text class="axis-title" x="${n(barLeft - 10)}" y="${n(axisY + 13)}" text-anchor="end">ms per request</text>`);
  segments.forEach((s, i) => {
    const lx = barLeft + (i % 4) * ((barRight - barLeft) / 4);
    const ly = axisY + 40 + Math.floor(i / 4) * 20;
    parts.push(`<rect x="${n(lx)}" y="${n(ly - 10)}" width="12" height="12" fill="${esc(s.colour)}"/><text class="legend" x="${n(lx + 18)}" y="${n(ly)}">${esc(`${s.label}: ${fmtMs(s.meanMs)} (${fmtPct(s.share)})`)}</text>`);
  });
  parts.push('</svg>');
  return parts.join('');
}

function faultChart(report: Report, fault: FaultT): string {
  const points = [...fault.timeline].sort((a, b) => a.tMs - b.tMs);
  const W = 1160, panelH = 92, gap = 26;
  const box = (i: number): Box => ({ left: 70, right: W - 20, top: 34 + i * (panelH + gap), bottom: 34 + i * (panelH + gap) + panelH });
  const H = box(2).bottom + 44;
  const bucket = points.length > 1 ? (points[1]?.tMs ?? 0) - (points[0]?.tMs ?? 0) : 1000;
  const end = Math.max((points.at(-1)?.tMs ?? 0) + bucket, fault.injectedAtMs + fault.durationMs);
  const seconds = (ms: number): number => ms / 1000;
  const x = linearAxis(0, seconds(end), 70, W - 20, 12);
  const { slo } = report.capacity;
  const panels = [
    { key: 'rps', title: 'throughput (rps)', cls: 'line achieved', max: Math.max(...points.map((p) => p.rps), 1) * 1.1, value: (p: (typeof points)[number]) => p.rps, format: tickLabel, limit: undefined as number | undefined },
    { key: 'err', title: 'errors (%)', cls: 'line errors', max: Math.min(100, Math.max(...points.map((p) => p.errorRate), slo.errorBudget * 2) * 100 * 1.05), value: (p: (typeof points)[number]) => p.errorRate * 100, format: tickLabel, limit: slo.errorBudget * 100 },
    { key: 'p99', title: 'p99 (ms)', cls: 'line p99', max: Math.max(...points.map((p) => p.p99Ms), slo.p99Ms) * 1.1, value: (p: (typeof points)[number]) => p.p99Ms, format: tickLabel, limit: slo.p99Ms },
  ];
  const parts = [svgOpen('fault-timeline', W, H, `Fault ${fault.name}: throughput, errors and p99 over time, fault window shaded`)];
  const windowX0 = x.at(seconds(fault.injectedAtMs)), windowX1 = x.at(seconds(fault.injectedAtMs + fault.durationMs));
  panels.forEach((panel, i) => {
    const b = box(i);
    const y = linearAxis(0, panel.max, b.bottom, b.top, 3);
    parts.push(`<rect class="fault-window" x="${n(windowX0)}" y="${n(b.top)}" width="${n(Math.max(0, windowX1 - windowX0))}" height="${n(b.bottom - b.top)}"/>`);
    parts.push(gridAndAxes(x, y, b, i === 2 ? 'time since the start of the timeline (s)' : '', ''));
    parts.push(`<text class="panel-title" x="${n(b.left + 6)}" y="${n(b.top + 14)}">${esc(panel.title)}</text>`);
    if (panel.limit !== undefined) {
      const ly = y.at(panel.limit);
      parts.push(`<line class="slo" x1="${n(b.left)}" x2="${n(b.right)}" y1="${n(ly)}" y2="${n(ly)}"/>`);
    }
    parts.push(polyline(points.map((p) => [x.at(seconds(p.tMs + bucket / 2)), y.at(panel.value(p))]), panel.cls));
  });
  const all: Box = { left: 70, right: W - 20, top: box(0).top, bottom: box(2).bottom };
  parts.push(`<text class="marker-label fault-label" x="${n((windowX0 + windowX1) / 2)}" y="${n(all.top - 20)}" text-anchor="middle">${esc(`fault ${fmtDuration(fault.durationMs)}`)}</text>`);
  if (noVisibleEffect(fault)) {
    parts.push(`<text class="marker-label recover-label" x="${n(all.right)}" y="${n(all.top - 6)}" text-anchor="end">no visible effect on user requests</text>`);
  } else {
    if (fault.timeToDetectMs !== null) {
      const dx = x.at(seconds(fault.injectedAtMs + fault.timeToDetectMs));
      parts.push(verticalMarker(dx, all, 'detect', `detected +${fmtDuration(fault.timeToDetectMs)}`, 'end'));
    }
    if (fault.timeToRecoverMs !== null) {
      const rx = x.at(seconds(fault.injectedAtMs + fault.durationMs + fault.timeToRecoverMs));
      parts.push(verticalMarker(rx, all, 'recover', `recovered +${fmtDuration(fault.timeToRecoverMs)} after the fault`, rx > all.right - 240 ? 'end' : 'start'));
    } else {
      parts.push(`<text class="marker-label recover-label" x="${n(all.right)}" y="${n(all.top - 6)}" text-anchor="end">not recovered by the end of the timeline</text>`);
    }
  }
  parts.push('</svg>');
  return parts.join('');
}

// ---------------------------------------------------------------------------------------------
// report.html: page

const css = `
:root { --pass: #1a7f37; --fail: #cf222e; --ink: #1f2328; --muted: #59636e; --line: #d1d9e0; --bg: #f6f8fa; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; color: var(--ink); background: #fff; }
main { max-width: 1200px; margin: 0 auto; padding: 24px 20px 60px; }
h1 { font-size: 24px; margin: 0 0 4px; }
h2 { font-size: 19px; margin: 36px 0 10px; padding-bottom: 6px; border-bottom: 1px solid var(--line); }
h3 { font-size: 15px; margin: 20px 0 6px; }
.sub { color: var(--muted); margin: 0 0 14px; }
nav { font-size: 13px; margin: 0 0 16px; } nav a { color: #0969da; margin-right: 14px; text-decoration: none; }
.verdict { border-radius: 8px; padding: 14px 18px; color: #fff; font-size: 17px; }
.verdict.pass { background: var(--pass); } .verdict.fail { background: var(--fail); }
.verdict ul { margin: 6px 0 0; padding-left: 20px; font-size: 14px; }
.callout { border-left: 4px solid #d4a72c; background: #fff8c5; padding: 8px 14px; margin: 12px 0; }
.callout.skipped { border-color: #8c959f; background: var(--bg); }
.callout ul { margin: 4px 0; padding-left: 18px; }
.cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(170px, 1fr)); gap: 10px; margin: 16px 0; }
.card { border: 1px solid var(--line); border-radius: 8px; padding: 10px 12px; }
.card .label { color: var(--muted); font-size: 12px; } .card .value { font-size: 22px; font-weight: 600; }
.card .note { color: var(--muted); font-size: 12px; }
.charts { display: grid; grid-template-columns: repeat(auto-fit, minmax(460px, 1fr)); gap: 16px; }
figure { margin: 0; } figcaption { color: var(--muted); font-size: 12px; margin-top: 2px; }
.how { color: var(--muted); font-size: 12.5px; margin: 6px 0; } .how b { color: var(--ink); font-weight: 600; }
.empty { color: var(--muted); font-style: italic; }
table { border-collapse: collapse; width: 100%; margin: 8px 0; font-size: 13px; }
th, td { border-bottom: 1px solid var(--line); padding: 5px 8px; text-align: left; vertical-align: top; }
th { background: var(--bg); font-weight: 600; } td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.badge { display: inline-block; border-radius: 10px; padding: 0 8px; font-size: 12px; font-weight: 600; color: #fff; white-space: nowrap; }
.badge.pass { background: var(--pass); } .badge.fail { background: var(--fail); } .badge.kind { background: #6e40c9; }
tr.failed td { background: #ffebe9; }
td:first-child { white-space: nowrap; }
#checks td:nth-child(2) { min-width: 230px; }
.flag { color: var(--fail); font-weight: 600; }
.fault { border: 1px solid var(--line); border-radius: 8px; padding: 4px 14px 10px; margin: 14px 0; }
.fault dl { display: grid; grid-template-columns: 150px 1fr; gap: 2px 12px; margin: 6px 0 8px; font-size: 13px; } .fault dt { color: var(--muted); } .fault dd { margin: 0; }
.kv { display: grid; grid-template-columns: 220px 1fr; gap: 2px 12px; font-size: 13px; } .kv div:nth-child(odd) { color: var(--muted); }
code { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 12.5px; }
svg.chart { width: 100%; height: auto; display: block; }
svg.chart text { font-family: system-ui, sans-serif; }
.tick { font-size: 11px; fill: #59636e; } .axis-title { font-size: 12px; fill: #1f2328; } .legend { font-size: 12px; fill: #1f2328; }
.panel-title { font-size: 12px; font-weight: 600; fill: #1f2328; } .bar-title { font-size: 12.5px; fill: #1f2328; }
.grid { stroke: #eaeef2; stroke-width: 1; } .frame { fill: none; stroke: #afb8c1; }
.line { fill: none; stroke-width: 2; } .line.p50 { stroke: #3867d6; } .line.p99 { stroke: #e8590c; } .line.achieved { stroke: #3867d6; }
.line.usl { stroke: #2b8a3e; stroke-dasharray: 6 3; } .line.errors { stroke: #cf222e; }
.ideal { fill: none; stroke: #8c959f; stroke-dasharray: 3 3; }
.dot.p50 { fill: #3867d6; } .dot.p99 { fill: #e8590c; } .dot.achieved { fill: #3867d6; } .dot.broken { fill: #fff; stroke: #cf222e; stroke-width: 2; }
.slo { stroke: #cf222e; stroke-dasharray: 5 4; stroke-width: 1.2; } .slo-label { fill: #cf222e; }
.knee { stroke: #6e40c9; stroke-dasharray: 5 3; stroke-width: 1.5; } .knee-label { fill: #6e40c9; font-weight: 600; }
.marker-label { font-size: 12px; }
.fault-window { fill: #cf222e; fill-opacity: 0.09; } .fault-label { fill: #cf222e; font-weight: 600; }
.detect { stroke: #d9a400; stroke-width: 1.5; stroke-dasharray: 4 3; } .detect-label { fill: #9a6700; }
.recover { stroke: #1a7f37; stroke-width: 1.5; stroke-dasharray: 4 3; } .recover-label { fill: #1a7f37; }
.segment { stroke: #fff; stroke-width: 1; } .segment-label { font-size: 11.5px; fill: #fff; font-weight: 600; }
`;

function how(text: string): string {
  return `<p class="how"><b>How measured:</b> ${esc(text)}</p>`;
}

function table(headers: { label: string; num?: boolean }[], rows: { cells: string[]; cls?: string }[]): string {
  const head = headers.map((h) => `<th${h.num ? ' class="num"' : ''}>${esc(h.label)}</th>`).join('');
  const body = rows.map((r) => `<tr${r.cls ? ` class="${r.cls}"` : ''}>${r.cells.map((c, i) => `<td${headers[i]?.num ? ' class="num"' : ''}>${c}</td>`).join('')}</tr>`).join('');
  return `<table><thead><tr>${head}</tr></thead><tbody>${body}</tbody></table>`;
}

const badge = (pass: boolean, yes = 'pass', no = 'fail'): string => `<span class="badge ${pass ? 'pass' : 'fail'}">${pass ? yes : no}</span>`;

function card(label: string, value: string, note: string): string {
  return `<div class="card"><div class="label">${esc(label)}</div><div class="value">${esc(value)}</div><div class="note">${esc(note)}</div></div>`;
}

function configValue(value: unknown): string {
  return typeof value === 'string' ? value : JSON.stringify(value) ?? String(value);
}

export function renderHtml(report: Report): string {
  const v = verdict(report);
  const cap = report.capacity;
  const points = byOffered(cap.points);
  const skipped = skippedPhases(report);
  const cp = report.critical_path;
  const ss = report.steady_state;
  const integrity = report.integrity;
  const out: string[] = [];

  out.push(`<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">`);
  out.push(`<title>${esc(`msa-poc proving run: ${v.pass ? 'PASS' : 'FAIL'} (${report.startedAt})`)}</title><style>${css}</style></head><body><main>`);
  out.push(`<h1>msa-poc proving run</h1><p class="sub">${esc(machineLine(report))}</p>`);
  out.push('<nav><a href="#capacity">Capacity</a><a href="#steady">Steady state</a><a href="#critical-path">Critical path</a><a href="#chatter">Chatter</a><a href="#faults">Faults</a><a href="#integrity">Integrity</a><a href="#checks">Checks</a><a href="#recommendations">Recommendations</a><a href="#system">Machine and configuration</a></nav>');

  out.push(`<div class="verdict ${v.pass ? 'pass' : 'fail'}"><strong>${v.pass ? 'PASS' : 'FAIL'}</strong>: ${esc(v.headline)}`);
  if (v.failed.length) out.push(`<ul>${v.failed.map((c) => `<li>${esc(c.name)}: ${esc(fmtFigure(c))}, needs ${esc(c.threshold)}</li>`).join('')}</ul>`);
  out.push('</div>');
  if (report.warnings.length) out.push(`<div class="callout"><strong>Warnings</strong><ul>${report.warnings.map((w) => `<li>${esc(w)}</li>`).join('')}</ul></div>`);
  if (skipped.length) out.push(`<div class="callout skipped"><strong>Skipped phases</strong><ul>${skipped.map((s) => `<li><b>${esc(s.name)}</b>: ${esc(s.reason)}</li>`).join('')}</ul></div>`);

  const faultsMet = report.faults.filter((f) => f.expectationMet).length;
  out.push('<div class="cards">');
  out.push(card('Knee', cap.knee_rps === null ? 'not found' : fmtRps(cap.knee_rps), `offered rate; p99 ≤ ${fmtMs(cap.slo.p99Ms)}, errors ≤ ${fmtPct(cap.slo.errorBudget)}`));
  out.push(card('Limited by', cap.limited_by?.service ?? 'unknown', 'first service to saturate'));
  out.push(card('Steady-state p99', ss ? fmtMs(ss.p99Ms) : 'not measured', ss ? `at ${fmtRps(ss.offeredRps)} (${fmtPct(ss.fractionOfKnee)} of the knee)` : ''));
  out.push(card('Between services', cp.traces ? fmtPct(cp.networkShare) : 'not measured', 'share of the critical path'));
  out.push(card('Faults as expected', `${faultsMet} / ${report.faults.length}`, 'expected behaviour met'));
  out.push(card('Lost / duplicated', `${fmtNum(integrity.lost)} / ${integrity.duplicates === null ? '–' : fmtNum(integrity.duplicates)}`, `of ${fmtNum(integrity.acknowledged)} acknowledged orders`));
  out.push('</div>');

  // Capacity
  out.push('<section id="capacity"><h2>Capacity</h2>');
  if (points.length) {
    out.push(`<p>${cap.knee_rps === null ? `<strong>No knee:</strong> no measured point met the objective.` : `<strong>Knee: ${esc(fmtRps(cap.knee_rps))}</strong> offered, ${esc(kneeDefinition(report))}.`}`);
    if (cap.limited_by) out.push(` <strong>Limited by ${esc(cap.limited_by.service)}</strong>: ${esc(cap.limited_by.evidence)}`);
    out.push('</p><div class="charts">');
    out.push(`<figure>${latencyChart(report)}<figcaption>Latency percentiles against offered rate; hollow red points broke the objective.</figcaption></figure>`);
    out.push(`<figure>${throughputChart(report)}<figcaption>${esc(uslSentence(report))}</figcaption></figure>`);
    out.push('</div>');
    const serviceNames = [...new Set(points.flatMap((p) => Object.keys(p.perService)))];
    out.push(table(
      [{ label: 'offered', num: true }, { label: 'achieved', num: true }, { label: 'p50', num: true }, { label: 'p99', num: true }, { label: 'errors', num: true }, ...serviceNames.map((s) => ({ label: `${s} ELU · p99`, num: true }))],
      points.map((p) => ({
        cls: broke(report, p) ? 'failed' : '',
        cells: [fmtRps(p.offeredRps), fmtRps(p.achievedRps), fmtMs(p.p50Ms), fmtMs(p.p99Ms), fmtPct(p.errorRate), ...serviceNames.map((s) => {
          const e = p.perService[s];
          return e ? `${esc(fmtNum(e.elu))} · ${esc(fmtMs(e.p99Ms))}` : '';
        })].map((c, i) => (i < 5 ? esc(c) : c)),
      })),
    ));
  } else {
    out.push('<p class="empty">No capacity points were measured, so there is no knee, no limiting service and no USL fit.</p>');
  }
  out.push(how(cap.method), '</section>');

  // Steady state and services
  out.push('<section id="steady"><h2>Steady state</h2>');
  if (ss) {
    out.push(`<p>${esc(fmtRps(ss.offeredRps))} offered (${esc(fmtPct(ss.fractionOfKnee))} of the knee) for ${esc(fmtDuration(ss.durationMs))}: ${esc(fmtNum(ss.requests))} requests, ${esc(fmtRps(ss.achievedRps))} achieved, error rate ${esc(fmtPct(ss.errorRate))}.</p>`);
    out.push(table([{ label: 'p50', num: true }, { label: 'p90', num: true }, { label: 'p99', num: true }, { label: 'p99.9', num: true }, { label: 'max', num: true }],
      [{ cells: [ss.p50Ms, ss.p90Ms, ss.p99Ms, ss.p999Ms, ss.maxMs].map((x) => esc(fmtMs(x))) }]));
    out.push(how(ss.method));
  } else {
    out.push('<p class="empty">Steady state was not measured.</p>');
  }
  out.push('<h3>Services (peaks over the run)</h3>');
  out.push(report.services.length
    ? table([{ label: 'service' }, { label: 'CPU peak (share of machine)', num: true }, { label: 'event-loop utilisation peak', num: true }, { label: 'RSS peak', num: true }],
      report.services.map((s) => ({ cells: [esc(s.name), esc(fmtPct(s.cpuSharePeak)), esc(fmtNum(s.eventLoopUtilizationPeak)), esc(`${fmtNum(s.rssMiB)} MiB`)] })))
    : '<p class="empty">No service figures.</p>');
  const lc = report.loadClient;
  out.push(`<p class="how"><b>Load client:</b> CPU peak ${esc(fmtPct(lc.cpuSharePeak))} of the machine, event-loop delay p99 ${esc(fmtMs(lc.eventLoopDelayP99Ms))}, late sends ${esc(fmtPct(lc.lateSendShare))}, unissued ${esc(fmtNum(lc.unissued))}; ${lc.wasLimit ? '<span class="flag">the load client, not the system, was the limit</span>' : 'it was not the limit'}.</p>`);
  out.push('</section>');

  // Critical path
  out.push('<section id="critical-path"><h2>Critical path</h2>');
  if (cp.traces > 0 && Object.keys(cp.perService).length + Object.keys(cp.perEdge).length > 0) {
    out.push(`<p>Mean ${esc(fmtMs(sumMs(cp.perService) + sumMs(cp.perEdge)))} per request over ${esc(fmtNum(cp.traces))} traces; ${esc(fmtPct(cp.networkShare))} of it between services.</p>`);
    out.push(`<figure>${criticalPathChart(report)}</figure>`);
    out.push(table([{ label: 'service or edge' }, { label: 'mean on the critical path', num: true }, { label: 'share', num: true }],
      [...sortedEntries(cp.perService).map(([k, e]) => ({ cells: [esc(k), esc(fmtMs(e.meanMs)), esc(fmtPct(e.share))] })),
        ...sortedEntries(cp.perEdge).map(([k, e]) => ({ cells: [`${esc(k)} <span class="how">(edge)</span>`, esc(fmtMs(e.meanMs)), esc(fmtPct(e.share))] }))]));
  } else {
    out.push('<p class="empty">No traces were aggregated.</p>');
  }
  out.push(how(cp.method), '</section>');

  // Chatter
  out.push('<section id="chatter"><h2>Chatter</h2>');
  const chatter = Object.entries(report.chatter.perEdge).sort((a, b) => b[1].callsPerRequest - a[1].callsPerRequest);
  out.push(chatter.length
    ? table([{ label: 'edge' }, { label: 'calls / request', num: true }, { label: 'bytes / request', num: true }, { label: 'round trips / request', num: true }],
      chatter.map(([edge, e]) => ({ cells: [esc(edge), `${esc(fmtNum(e.callsPerRequest))}${e.callsPerRequest > 1 ? ' <span class="flag">&gt; 1</span>' : ''}`, esc(fmtBytes(e.bytesPerRequest)), esc(fmtNum(e.roundTripsPerRequest))] })))
    : '<p class="empty">No calls between services were counted.</p>');
  out.push(how(report.chatter.method), '</section>');

  // Faults
  out.push('<section id="faults"><h2>Faults</h2>');
  if (report.faults.length) {
    out.push(table([{ label: 'fault' }, { label: 'target' }, { label: 'errors during', num: true }, { label: 'p99 during', num: true }, { label: 'detected after', num: true }, { label: 'recovered after', num: true }, { label: 'request kinds hurt' }, { label: 'expected behaviour' }],
      report.faults.map((f) => ({
        cls: f.expectationMet ? '' : 'failed',
        cells: [`<a href="#fault-${report.faults.indexOf(f)}">${esc(f.name)}</a>`, esc(targetOf(f)), esc(fmtPct(f.errorRateDuring)), esc(fmtMs(f.p99DuringMs)), esc(fmtDetect(f)), esc(fmtRecover(f)), esc(f.spread.affected.join(', ') || 'none'), badge(f.expectationMet, 'met', 'not met')],
      }))));
    report.faults.forEach((f, i) => {
      out.push(`<div class="fault" id="fault-${i}"><h3>${esc(f.name)} ${badge(f.expectationMet, 'as expected', 'not as expected')}</h3><dl>`);
      out.push(`<dt>target</dt><dd>${esc(targetOf(f))}</dd><dt>injected</dt><dd>${esc(f.injection)}, at +${esc(fmtDuration(f.injectedAtMs))} for ${esc(fmtDuration(f.durationMs))}</dd><dt>expected</dt><dd>${esc(f.expected)}</dd>`);
      const effect = noVisibleEffect(f)
        ? 'no visible effect on user requests'
        : `${f.timeToDetectMs === null ? 'not detected' : `detected ${fmtDuration(f.timeToDetectMs)} after injection`}; ${f.timeToRecoverMs === null ? 'not recovered by the end of the timeline' : `recovered ${fmtDuration(f.timeToRecoverMs)} after it ended`}`;
      out.push(`<dt>during the fault</dt><dd>errors ${esc(fmtPct(f.errorRateDuring))}, p99 ${esc(fmtMs(f.p99DuringMs))}; ${esc(effect)}</dd>`);
      out.push(`<dt>affected</dt><dd>${esc(f.spread.affected.join(', ') || 'none')}</dd><dt>unaffected</dt><dd>${esc(f.spread.unaffected.join(', ') || 'none')}</dd></dl>`);
      out.push(f.timeline.length ? `<figure>${faultChart(report, f)}</figure>` : '<p class="empty">No timeline was recorded for this fault.</p>');
      out.push(how(f.method), '</div>');
    });
  } else {
    out.push('<p class="empty">No faults were injected.</p>');
  }
  out.push('</section>');

  // Integrity
  out.push('<section id="integrity"><h2>Integrity audit</h2>');
  const integrityRows: [string, number | string, string, boolean][] = [
    ['acknowledged', integrity.acknowledged, 'order placements the system acknowledged', true],
    ['indeterminate', integrity.indeterminate, 'placements whose outcome the client could not know (timeout, connection lost)', true],
    ['persisted', integrity.persisted, 'orders from acknowledged or indeterminate placements found in the store', true],
    ['lost', integrity.lost, 'acknowledged orders absent from the store', integrity.lost === 0],
    ['unverified', integrity.unverified, 'acknowledged orders whose read-back kept failing: neither proven persisted nor lost', integrity.unverified === 0],
    ['delivered', integrity.delivered, 'persisted orders that reached the partner', integrity.delivered === integrity.persisted],
    ['duplicates', integrity.duplicates ?? 'not measured', integrity.duplicates === null ? "orders fulfilled more than once in effect: the partner's ledger was out of reach" : 'orders fulfilled more than once in effect', integrity.duplicates !== null && integrity.duplicates === 0],
  ];
  out.push(table([{ label: 'count' }, { label: 'orders', num: true }, { label: 'meaning' }],
    integrityRows.map(([name, value, meaning, ok]) => ({ cls: ok ? '' : 'failed', cells: [esc(name), esc(typeof value === 'number' ? fmtNum(value) : value), esc(meaning)] }))));
  out.push(how(integrity.method), '</section>');

  // Checks
  const checkHow = onceEach();
  out.push('<section id="checks"><h2>Checks</h2>');
  out.push(report.checks.length
    ? table([{ label: '' }, { label: 'check' }, { label: 'figure', num: true }, { label: 'threshold' }, { label: 'how measured' }],
      report.checks.map((c) => ({ cls: c.pass ? '' : 'failed', cells: [badge(c.pass), esc(c.name), esc(fmtFigure(c)), esc(c.threshold), `<span class="how">${esc(checkHow(c.howMeasured))}</span>`] })))
    : '<p class="empty">No checks ran, so the run cannot pass.</p>');
  out.push('</section>');

  // Recommendations
  out.push('<section id="recommendations"><h2>Recommendations</h2>');
  out.push(report.recommendations.length
    ? table([{ label: 'kind' }, { label: 'target' }, { label: 'recommendation' }, { label: 'evidence' }],
      report.recommendations.map((r) => ({ cells: [`<span class="badge kind">${esc(r.kind)}</span>`, esc(r.target), esc(r.text), `<ul>${r.evidence.map((e) => `<li>${esc(e)}</li>`).join('')}</ul>`] })))
    : '<p class="empty">None: no figure called for a change.</p>');
  out.push('</section>');

  // Machine and configuration
  const { system } = report;
  out.push('<section id="system"><h2>Machine and configuration</h2><div class="kv">');
  const kv: [string, string][] = [
    ['profile', system.profile], ['system under test', system.topology], ['commit', system.commit], ['Node.js', system.node],
    ['cores', String(system.machine.cores)], ['memory', `${fmtNum(system.machine.memoryGiB)} GiB`], ['CPU', system.machine.cpuModel],
    ['load client shares cores', system.loadClientSharesCores ? 'yes: the knee is a lower bound' : 'no'], ['seed', String(system.seed)],
    ['started', report.startedAt], ['duration', fmtDuration(report.durationMs)], ['report schema', `version ${report.schemaVersion}`],
    ...Object.entries(system.config).map(([k, val]): [string, string] => [`config: ${k}`, configValue(val)]),
  ];
  out.push(kv.map(([k, val]) => `<div>${esc(k)}</div><div><code>${esc(val)}</code></div>`).join(''), '</div>');
  out.push('<h3>Phases</h3>');
  out.push(table([{ label: 'phase' }, { label: 'started' }, { label: 'duration', num: true }, { label: 'status' }],
    report.phases.map((p) => ({ cells: [esc(p.name), esc(p.startedAt), esc(fmtDuration(p.durationMs)), p.skipped ? `skipped: ${esc(p.skipped.reason)}` : 'ran'] }))));
  out.push('</section></main></body></html>\n');
  return out.join('');
}

// ---------------------------------------------------------------------------------------------

/**
 * Writes report.json, report.html and summary.md into `dir` (created if missing). A report that
 * does not match the schema is refused before anything is written: it is a harness bug, and a
 * half-valid report.json would mislead every tool that reads it.
 */
export async function writeReport(report: Report, dir: string): Promise<{ json: string; html: string; summary: string }> {
  const checked = validateReport(report);
  if (!checked.ok) throw new Error(`report does not match its schema: ${checked.errors.map((e) => `${e.path} ${e.message}`).join('; ')}`);
  const target = resolve(dir);
  await mkdir(target, { recursive: true });
  const paths = { json: join(target, 'report.json'), html: join(target, 'report.html'), summary: join(target, 'summary.md') };
  await Promise.all([
    writeFile(paths.json, `${JSON.stringify(report, null, 2)}\n`),
    writeFile(paths.html, renderHtml(report)),
    writeFile(paths.summary, renderSummary(report)),
  ]);
  return paths;
}
