/**
 * One trace as a waterfall: each span under its parent, its bar placed on the trace's timeline.
 * Asynchronous hops show as consumer spans with a link to the producer span they continue; a
 * link within the trace jumps to that span. A row opens to show the span's attributes and events.
 */
import { useState } from 'preact/hooks';
import { getJson, type TraceDetail, type WaterfallSpan } from './api.js';
import { formatClock, formatMs, serviceColour } from './format.js';
import { html } from './html.js';
import { usePolling } from './polling.js';

function AttributeTable({ attributes }: { attributes: Record<string, unknown> }) {
  const entries = Object.entries(attributes);
  if (entries.length === 0) return html`<p class="muted">No attributes.</p>`;
  return html`
    <table class="attributes">
      <tbody>${entries.map(([key, value]) => html`<tr key=${key}><th scope="row">${key}</th><td>${typeof value === 'string' ? value : JSON.stringify(value)}</td></tr>`)}</tbody>
    </table>`;
}

function SpanRow({ span, total, open, onToggle, onJump }: { span: WaterfallSpan; total: number; open: boolean; onToggle: () => void; onJump: (spanId: string) => void }) {
  const left = total > 0 ? (100 * span.offsetMs) / total : 0;
  const width = total > 0 ? Math.max((100 * span.durationMs) / total, 0.3) : 100;
  const detailsId = `span-${span.spanId}`;
  return html`
    <li class=${`span-row${span.status === 'error' ? ' failed' : ''}`} id=${`row-${span.spanId}`} data-service=${span.service} data-kind=${span.kind}>
      <button type="button" class="span-line" aria-expanded=${open} aria-controls=${detailsId} onClick=${onToggle}>
        <span class="span-label" style=${{ paddingLeft: `${span.depth * 14}px` }}>
          <span class="dot" style=${{ background: serviceColour(span.service) }}></span>
          <span class="span-service">${span.service}</span>
          <span class="span-name">${span.name}</span>
          ${span.kind === 'producer' || span.kind === 'consumer' ? html`<span class=${`badge ${span.kind}`}>${span.kind}</span>` : null}
          ${span.status === 'error' ? html`<span class="badge error">error</span>` : null}
        </span>
        <span class="span-track" aria-hidden="true">
          <span class="span-bar" style=${{ left: `${left}%`, width: `${width}%`, background: serviceColour(span.service) }}></span>
        </span>
        <span class="span-duration">${formatMs(span.durationMs)}</span>
      </button>
      ${span.links.length > 0 ? html`
        <ul class="links" aria-label="Links">
          ${span.links.map((link) => html`
            <li key=${link.spanId}>
              <span aria-hidden="true">↪ </span>linked from ${link.target
                ? link.target.sameTrace
                  ? html`<button type="button" class="link" onClick=${() => onJump(link.spanId)}>${link.target.service} · ${link.target.name}</button>`
                  : html`<span>${link.target.service} · ${link.target.name} in trace <code>${link.traceId}</code></span>`
                : html`<span>span <code>${link.spanId}</code> of trace <code>${link.traceId}</code> (not held by the console)</span>`}
            </li>`)}
        </ul>` : null}
      ${open ? html`
        <div class="span-details" id=${detailsId}>
          <p>
            <strong>${span.kind}</strong> span <code>${span.spanId}</code>${span.parentSpanId ? html`, child of <code>${span.parentSpanId}</code>` : ', root'};
            started ${formatClock(span.startUnixMs)} (+${formatMs(span.offsetMs)}), took ${formatMs(span.durationMs)}; status ${span.status}${span.statusMessage ? `: ${span.statusMessage}` : ''}.
          </p>
          <${AttributeTable} attributes=${span.attributes} />
          ${span.events.length > 0 ? html`
            <h5>Events</h5>
            <ul>${span.events.map((event, i) => html`<li key=${i}>${formatClock(event.atUnixMs)} ${event.name} <${AttributeTable} attributes=${event.attributes} /></li>`)}</ul>` : null}
        </div>` : null}
    </li>`;
}

export function Waterfall({ traceId, onClose }: { traceId: string; onClose: () => void }) {
  // A trace grows while its late spans (the async hops) arrive: keep polling it.
  const { data, error } = usePolling((signal) => getJson<TraceDetail>(`/api/traces/${traceId}`, {}, signal), 3000, traceId);
  const [open, setOpen] = useState<ReadonlySet<string>>(new Set());
  const toggle = (spanId: string) => setOpen((current) => {
    const next = new Set(current);
    if (next.has(spanId)) next.delete(spanId);
    else next.add(spanId);
    return next;
  });
  const jump = (spanId: string) => {
    const row = document.getElementById(`row-${spanId}`);
    row?.scrollIntoView({ block: 'center', behavior: 'smooth' });
    row?.querySelector('button')?.focus();
    row?.classList.add('highlight');
    setTimeout(() => row?.classList.remove('highlight'), 1500);
  };
  const services = data ? [...new Set(data.spans.map((s) => s.service))] : [];
  return html`
    <section class="waterfall" aria-labelledby="waterfall-title">
      <header>
        <h3 id="waterfall-title">Trace <code>${traceId}</code></h3>
        <button type="button" onClick=${onClose}>Close</button>
      </header>
      ${error ? html`<p class="error" role="alert">${error}</p>` : null}
      ${data ? html`
        <p class="muted">${data.spans.length} spans from ${services.join(', ')}; ${formatMs(data.durationMs)} from the first span's start to the last one's end, starting ${formatClock(data.startUnixMs)}.</p>
        <ol class="spans">
          ${data.spans.map((span) => html`<${SpanRow} key=${span.spanId} span=${span} total=${data.durationMs} open=${open.has(span.spanId)} onToggle=${() => toggle(span.spanId)} onJump=${jump} />`)}
        </ol>` : error ? null : html`<p class="muted">Loading…</p>`}
    </section>`;
}
