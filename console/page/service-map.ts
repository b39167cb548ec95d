/**
 * The service map: services, the database and the partner as nodes, the calls and events seen in
 * the window as edges, each labelled with its rate, error share and latency. Columns follow the
 * direction of the calls; an edge pointing back (a partner's callback, a consumer reading from the
 * store) curves underneath instead of reordering the map.
 */
import type { EdgeTraffic, ServiceTraffic } from './api.js';
import { formatMs, formatPercent, formatRate, serviceColour } from './format.js';
import { html } from './html.js';

interface Placed {
  readonly name: string;
  readonly x: number;
  readonly y: number;
  readonly column: number;
}

const nodeWidth = 132;
const nodeHeight = 52;
const columnWidth = 250;
const rowHeight = 130;
const margin = 30;

/**
 * Columns by longest path along the edges that go forward in `preferred` order (the topology's order,
 * then everything else); an edge to a node earlier in that order is a way back and does not push.
 */
export function placeNodes(preferred: readonly string[], edges: readonly EdgeTraffic[]): Placed[] {
  const rank = new Map(preferred.map((name, i) => [name, i]));
  const column = new Map(preferred.map((name) => [name, 0]));
  const forward = edges.filter((e) => (rank.get(e.to) ?? 0) > (rank.get(e.from) ?? 0));
  // At most one pass per node: the forward edges cannot form a cycle.
  for (let pass = 0; pass < preferred.length; pass++) {
    let moved = false;
    for (const edge of forward) {
      const wanted = (column.get(edge.from) ?? 0) + 1;
      if ((column.get(edge.to) ?? 0) < wanted) {
        column.set(edge.to, wanted);
        moved = true;
      }
    }
    if (!moved) break;
  }
  const rows = new Map<number, number>();
  return preferred.map((name) => {
    const c = column.get(name) ?? 0;
    const row = rows.get(c) ?? 0;
    rows.set(c, row + 1);
    return { name, column: c, x: margin + nodeWidth / 2 + c * columnWidth, y: margin + nodeHeight / 2 + row * rowHeight };
  });
}

/** Point at t on a cubic Bézier curve. */
function bezier(t: number, p0: number, p1: number, p2: number, p3: number): number {
  const u = 1 - t;
  return u * u * u * p0 + 3 * u * u * t * p1 + 3 * u * t * t * p2 + t * t * t * p3;
}

/** Two short lines, so that a label fits between two neighbouring nodes. */
function edgeLabel(edge: EdgeTraffic): [string, string] {
  return [`${formatRate(edge.rate)} · ${formatPercent(edge.errorPercent)} err`, `${formatMs(edge.p50Ms)} / ${formatMs(edge.p99Ms)}`];
}

function edgeDescription(edge: EdgeTraffic): string {
  const what = edge.kind === 'event' ? 'events to' : 'calls to';
  const latency = edge.kind === 'event' ? 'delivery lag' : 'latency';
  return `${edge.from} ${what} ${edge.to}: ${formatRate(edge.rate)}, ${formatPercent(edge.errorPercent)} errors, ${latency} p50 ${formatMs(edge.p50Ms)}, p99 ${formatMs(edge.p99Ms)}`;
}

function Edge({ edge, from, to }: { edge: EdgeTraffic; from: Placed; to: Placed }) {
  const backwards = to.column <= from.column;
  // Forward: right side to left side. Backwards: bottom to bottom, curving below both.
  const [x0, y0, x3, y3] = backwards
    ? [from.x, from.y + nodeHeight / 2, to.x, to.y + nodeHeight / 2]
    : [from.x + nodeWidth / 2, from.y, to.x - nodeWidth / 2, to.y];
  const bend = backwards ? 70 + Math.abs(x3 - x0) * 0.15 : 0;
  const [x1, y1, x2, y2] = backwards ? [x0, y0 + bend, x3, y3 + bend] : [x0 + (x3 - x0) / 2, y0, x0 + (x3 - x0) / 2, y3];
  const labelX = bezier(0.5, x0, x1, x2, x3);
  const labelY = bezier(0.5, y0, y1, y2, y3) + (backwards ? 14 : -20);
  const failing = (edge.errorPercent ?? 0) > 0;
  const [figures, latency] = edgeLabel(edge);
  return html`
    <g class=${`edge ${edge.kind}${failing ? ' failing' : ''}`} data-from=${edge.from} data-to=${edge.to} data-kind=${edge.kind} data-rate=${edge.rate}>
      <title>${edgeDescription(edge)}</title>
      <path d=${`M ${x0} ${y0} C ${x1} ${y1}, ${x2} ${y2}, ${x3} ${y3}`} marker-end=${failing ? 'url(#arrow-failing)' : 'url(#arrow)'} />
      <text class="edge-label" x=${labelX} y=${labelY} text-anchor="middle"><tspan x=${labelX}>${figures}</tspan><tspan x=${labelX} dy="1.2em">${latency}</tspan></text>
    </g>`;
}

/** What a node says about itself: its requests, else the events it processes (a consumer serves no requests). */
function nodeDetail(traffic: ServiceTraffic | undefined, consumed: readonly EdgeTraffic[]): string {
  if (traffic && traffic.count > 0) return `${formatRate(traffic.rate)} · p99 ${formatMs(traffic.p99Ms)}`;
  const events = consumed.reduce((sum, e) => sum + e.rate, 0);
  if (events > 0) return `processes ${formatRate(events)} events`;
  return traffic ? 'idle' : '';
}

function Node({ node, traffic, consumed }: { node: Placed; traffic: ServiceTraffic | undefined; consumed: readonly EdgeTraffic[] }) {
  const detail = nodeDetail(traffic, consumed);
  const failing = (traffic?.errorPercent ?? 0) > 0;
  return html`
    <g class=${`node${failing ? ' failing' : ''}`} data-service=${node.name} transform=${`translate(${node.x - nodeWidth / 2}, ${node.y - nodeHeight / 2})`}>
      <rect width=${nodeWidth} height=${nodeHeight} rx="8" style=${{ stroke: serviceColour(node.name) }} />
      <circle cx="14" cy="18" r="5" style=${{ fill: serviceColour(node.name) }} />
      <text class="node-name" x="26" y="22">${node.name}</text>
      <text class="node-detail" x="14" y="40">${detail}</text>
    </g>`;
}

export function ServiceMap({ services, edges, windowSeconds }: { services: readonly ServiceTraffic[]; edges: readonly EdgeTraffic[]; windowSeconds: number }) {
  const names = [...services.map((s) => s.name)];
  for (const edge of edges) for (const name of [edge.from, edge.to]) if (!names.includes(name)) names.push(name);
  const placed = placeNodes(names, edges);
  const byName = new Map(placed.map((p) => [p.name, p]));
  const trafficOf = new Map(services.map((s) => [s.name, s]));
  const width = Math.max(...placed.map((p) => p.x)) + nodeWidth / 2 + margin;
  // Room below the lowest row for the edges that curve back underneath.
  const height = Math.max(...placed.map((p) => p.y)) + nodeHeight / 2 + margin + (edges.some((e) => (byName.get(e.to)?.column ?? 0) <= (byName.get(e.from)?.column ?? 0)) ? 60 : 0);
  const description = edges.length === 0
    ? `No calls seen in the last ${windowSeconds} seconds.`
    : edges.map(edgeDescription).join('. ');
  return html`
    <div class="map">
      <svg viewBox=${`0 0 ${width} ${height}`} role="img" aria-labelledby="map-svg-title map-svg-desc" class="map-svg">
        <title id="map-svg-title">Service map</title>
        <desc id="map-svg-desc">${description}</desc>
        <defs>
          <marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" class="arrow" /></marker>
          <marker id="arrow-failing" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" class="arrow failing" /></marker>
        </defs>
        ${edges.map((edge) => {
          const from = byName.get(edge.from);
          const to = byName.get(edge.to);
          return from && to ? html`<${Edge} key=${`${edge.from}>${edge.to}:${edge.kind}`} edge=${edge} from=${from} to=${to} />` : null;
        })}
        ${placed.map((node) => html`<${Node} key=${node.name} node=${node} traffic=${trafficOf.get(node.name)} consumed=${edges.filter((e) => e.kind === 'event' && e.to === node.name)} />`)}
      </svg>
      <details class="edge-table">
        <summary>Edges as a table</summary>
        <table>
          <caption>Calls and events in the last ${windowSeconds} seconds. For events, latency is the delivery lag.</caption>
          <thead><tr><th scope="col">From</th><th scope="col">To</th><th scope="col">Kind</th><th scope="col">Rate</th><th scope="col">Errors</th><th scope="col">p50</th><th scope="col">p99</th></tr></thead>
          <tbody>
            ${edges.length === 0 ? html`<tr><td colspan="7">No traffic yet.</td></tr>` : edges.map((e) => html`
              <tr key=${`${e.from}>${e.to}:${e.kind}`}><td>${e.from}</td><td>${e.to}</td><td>${e.kind}</td><td>${formatRate(e.rate)}</td><td>${formatPercent(e.errorPercent)}</td><td>${formatMs(e.p50Ms)}</td><td>${formatMs(e.p99Ms)}</td></tr>`)}
          </tbody>
        </table>
      </details>
    </div>`;
}
