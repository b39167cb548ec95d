/**
 * Recent traces, newest first, searchable by trace id, request id, route, status and service.
 * Choosing one opens it as a waterfall below the list.
 */
import { useState } from 'preact/hooks';
import { getJson, type TraceSummary } from './api.js';
import { formatClock, formatMs } from './format.js';
import { html } from './html.js';
import { usePolling } from './polling.js';
import { Waterfall } from './waterfall.js';

interface Filters {
  traceId: string;
  requestId: string;
  route: string;
  status: string;
  service: string;
}

const noFilters: Filters = { traceId: '', requestId: '', route: '', status: '', service: '' };

const statusChoices = [
  ['', 'any'], ['error', 'failed (a span errored)'], ['ok', 'no error'], ['2xx', '2xx'], ['4xx', '4xx'], ['5xx', '5xx'], ['409', '409'], ['503', '503'],
] as const;

export function Traces({ services }: { services: readonly string[] }) {
  const [draft, setDraft] = useState<Filters>(noFilters);
  const [filters, setFilters] = useState<Filters>(noFilters);
  const [selected, setSelected] = useState<string | undefined>(undefined);
  const { data, error } = usePolling(
    (signal) => getJson<{ items: TraceSummary[] }>('/api/traces', { ...filters, limit: 50 }, signal),
    5000,
    JSON.stringify(filters),
  );
  const field = (name: keyof Filters) => (event: Event) => setDraft({ ...draft, [name]: (event.currentTarget as HTMLInputElement).value.trim() });
  const search = (event: Event) => {
    event.preventDefault();
    setFilters(draft);
    // Searching by trace id means wanting that trace: open it straight away.
    if (draft.traceId) setSelected(draft.traceId.toLowerCase());
  };
  const clear = () => {
    setDraft(noFilters);
    setFilters(noFilters);
  };
  const items = data?.items ?? [];
  return html`
    <div class="traces">
      <form class="search" onSubmit=${search} aria-label="Search traces">
        <label>Trace id<input name="traceId" value=${draft.traceId} onInput=${field('traceId')} placeholder="32 hex digits" pattern="[0-9a-fA-F]{32}" spellcheck="false" /></label>
        <label>Request id<input name="requestId" value=${draft.requestId} onInput=${field('requestId')} placeholder="x-request-id" spellcheck="false" /></label>
        <label>Route<input name="route" value=${draft.route} onInput=${field('route')} placeholder="/orders" spellcheck="false" /></label>
        <label>Status<select name="status" value=${draft.status} onChange=${field('status')}>
          ${statusChoices.map(([value, label]) => html`<option key=${value} value=${value}>${label}</option>`)}
        </select></label>
        <label>Service<select name="service" value=${draft.service} onChange=${field('service')}>
          <option value="">any</option>
          ${services.map((name) => html`<option key=${name} value=${name}>${name}</option>`)}
        </select></label>
        <div class="buttons"><button type="submit">Search</button><button type="button" onClick=${clear}>Clear</button></div>
      </form>
      ${error ? html`<p class="error" role="alert">${error}</p>` : null}
      <table class="trace-list">
        <caption>${Object.values(filters).some((v) => v !== '') ? 'Traces matching the search' : 'Recent traces'}, newest first (refreshed every 5 s)</caption>
        <thead><tr><th scope="col">Started</th><th scope="col">Request</th><th scope="col">Status</th><th scope="col">Duration</th><th scope="col">Spans</th><th scope="col">Services</th></tr></thead>
        <tbody>
          ${items.length === 0 ? html`<tr><td colspan="6" class="muted">${data ? 'No trace matches.' : 'Loading…'}</td></tr>` : items.map((trace) => html`
            <tr key=${trace.traceId} class=${`${trace.errorCount > 0 ? 'failed' : ''}${trace.traceId === selected ? ' selected' : ''}`} data-trace-id=${trace.traceId}>
              <td>${formatClock(trace.startUnixMs)}</td>
              <td><button type="button" class="link" onClick=${() => setSelected(trace.traceId)} aria-label=${`Open trace ${trace.name} (${trace.traceId}) as a waterfall`}>${trace.service} · ${trace.name}</button>
                ${trace.requestId ? html`<div class="muted small">request <code>${trace.requestId}</code></div>` : null}</td>
              <td>${trace.statusCode ?? '–'}${trace.errorCount > 0 ? html` <span class="badge error">${trace.errorCount} failed</span>` : null}</td>
              <td>${formatMs(trace.durationMs)}</td>
              <td>${trace.spanCount}</td>
              <td>${trace.services.join(', ')}</td>
            </tr>`)}
        </tbody>
      </table>
      ${selected ? html`<${Waterfall} key=${selected} traceId=${selected} onClose=${() => setSelected(undefined)} />` : null}
    </div>`;
}
