/**
 * Per-service RED over the last minutes, from the server spans: requests per second, the share
 * that failed, and latency at p50 and p99. One small line chart per figure; a gap where a service
 * had no requests.
 */
import type { SeriesPoint, ServiceTraffic } from './api.js';
import { formatClock, formatMs, formatPercent, formatRate, serviceColour } from './format.js';
import { html } from './html.js';

interface Line {
  readonly label: string;
  readonly values: readonly (number | null)[];
  readonly className: string;
}

const width = 260;
const height = 64;
const pad = { top: 6, right: 4, bottom: 14, left: 4 };

/** The chart's points, split into runs where a value is missing. */
function runs(values: readonly (number | null)[], max: number): [number, number][][] {
  const step = values.length > 1 ? (width - pad.left - pad.right) / (values.length - 1) : 0;
  const found: [number, number][][] = [];
  let run: [number, number][] = [];
  values.forEach((value, i) => {
    if (value === null) {
      if (run.length > 0) found.push(run);
      run = [];
      return;
    }
    run.push([pad.left + i * step, pad.top + (height - pad.top - pad.bottom) * (1 - (max === 0 ? 0 : value / max))]);
  });
  if (run.length > 0) found.push(run);
  return found;
}

function Run({ points, className }: { points: [number, number][]; className: string }) {
  // A lone value has no line to draw: a dot shows it.
  if (points.length === 1) return html`<circle class=${className} cx=${points[0]![0]} cy=${points[0]![1]} r="1.8" />`;
  return html`<polyline class=${className} points=${points.map(([x, y]) => `${x.toFixed(1)},${y.toFixed(1)}`).join(' ')} />`;
}

function latestOf(values: readonly (number | null)[]): number | undefined {
  for (let i = values.length - 1; i >= 0; i--) if (values[i] !== null) return values[i]!;
  return undefined;
}

function Chart({ title, lines, format, series }: { title: string; lines: readonly Line[]; format: (v: number) => string; series: readonly SeriesPoint[] }) {
  const all = lines.flatMap((l) => l.values.filter((v): v is number => v !== null));
  const max = Math.max(0, ...all);
  const latest = lines.map((l) => {
    const value = latestOf(l.values);
    return `${l.label} ${value === undefined ? 'none' : format(value)}`;
  }).join(', ');
  const from = series[0];
  const to = series[series.length - 1];
  return html`
    <figure class="chart">
      <figcaption>${title}<span class="chart-max">max ${format(max)}</span></figcaption>
      <svg viewBox=${`0 0 ${width} ${height}`} role="img" aria-label=${`${title}, latest: ${latest}`}>
        <line class="axis" x1=${pad.left} x2=${width - pad.right} y1=${height - pad.bottom} y2=${height - pad.bottom} />
        ${lines.flatMap((line) => runs(line.values, max).map((points, i) => html`<${Run} key=${`${line.label}-${i}`} points=${points} className=${line.className} />`))}
        ${from && to ? html`<g class="ticks"><text x=${pad.left} y=${height - 2}>${formatClock(from.atUnixMs)}</text><text x=${width - pad.right} y=${height - 2} text-anchor="end">${formatClock(to.atUnixMs)}</text></g>` : null}
      </svg>
    </figure>`;
}

function ServiceCard({ service }: { service: ServiceTraffic }) {
  const series = service.series;
  return html`
    <article class="service-card" aria-labelledby=${`red-${service.name}`}>
      <header>
        <h3 id=${`red-${service.name}`}><span class="dot" style=${{ background: serviceColour(service.name) }}></span>${service.name}</h3>
        <dl class="figures">
          <div><dt>rate</dt><dd>${formatRate(service.rate)}</dd></div>
          <div><dt>errors</dt><dd class=${(service.errorPercent ?? 0) > 0 ? 'bad' : ''}>${formatPercent(service.errorPercent)}</dd></div>
          <div><dt>p50</dt><dd>${formatMs(service.p50Ms)}</dd></div>
          <div><dt>p99</dt><dd>${formatMs(service.p99Ms)}</dd></div>
        </dl>
      </header>
      <div class="charts">
        <${Chart} title="requests/s" series=${series} format=${formatRate} lines=${[{ label: 'rate', values: series.map((p) => p.rate), className: 'line rate' }]} />
        <${Chart} title="errors" series=${series} format=${formatPercent} lines=${[{ label: 'errors', values: series.map((p) => p.errorPercent), className: 'line errors' }]} />
        <${Chart} title="latency p50 · p99" series=${series} format=${formatMs} lines=${[
          { label: 'p50', values: series.map((p) => p.p50Ms), className: 'line p50' },
          { label: 'p99', values: series.map((p) => p.p99Ms), className: 'line p99' },
        ]} />
      </div>
    </article>`;
}

export function RedCharts({ services }: { services: readonly ServiceTraffic[] }) {
  const active = services.filter((s) => s.series.some((p) => p.count > 0));
  const idle = services.filter((s) => !active.includes(s));
  return html`
    <div class="red">
      ${active.length === 0 ? html`<p class="empty">No requests yet. Services send their spans here; start the system with <code>npx poc up</code> and place an order.</p>` : null}
      ${active.map((service) => html`<${ServiceCard} key=${service.name} service=${service} />`)}
      ${idle.length > 0 && active.length > 0 ? html`<p class="idle">Served no requests in the last minutes: ${idle.map((s) => s.name).join(', ')}.</p>` : null}
    </div>`;
}
