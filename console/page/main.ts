/** The console page: the service map and RED charts, recent traces, the dead letters, and support access. */
import { render } from 'preact';
import { getJson, type EdgesAnswer, type ServicesAnswer, type SupportGrantsAnswer } from './api.js';
import { RedCharts } from './charts.js';
import { DeadLetters } from './dead-letters.js';
import { formatClock } from './format.js';
import { html } from './html.js';
import { usePolling } from './polling.js';
import { ServiceMap } from './service-map.js';
import { BreakGlassBanner, SupportAccess } from './support.js';
import { Traces } from './traces.js';

const refreshMs = 3000;

function StoreStatus({ answer }: { answer: ServicesAnswer }) {
  const { spans } = answer;
  return html`
    <p class="store-status">
      Holding ${spans.spans} spans of ${spans.traces} traces (at most ${spans.limits.maxSpans}, for ${spans.limits.maxAgeMs / 60_000} min)${spans.evictedTraces > 0
        ? `; dropped ${spans.evictedSpans} spans of ${spans.evictedTraces} older traces to stay within that`
        : ''}. Updated ${formatClock(answer.generatedAtUnixMs)}.
    </p>`;
}

function App() {
  const services = usePolling((signal) => getJson<ServicesAnswer>('/api/services', { windowSeconds: 60 }, signal), refreshMs);
  const edges = usePolling((signal) => getJson<EdgesAnswer>('/api/edges', { windowSeconds: 60 }, signal), refreshMs);
  const grants = usePolling((signal) => getJson<SupportGrantsAnswer>('/api/support/grants', { limit: 200 }, signal), refreshMs);
  const problem = services.error ?? edges.error;
  return html`
    <div class="layout">
      <header class="top">
        <h1>msa-poc console</h1>
        ${services.data ? html`<${StoreStatus} answer=${services.data} />` : null}
        ${problem ? html`<p class="error" role="alert">${problem}</p>` : null}
      </header>
      <${BreakGlassBanner} grants=${grants.data?.items ?? []} />
      <main>
        <section class="panel" aria-labelledby="map-title">
          <h2 id="map-title">Service map <span class="muted">last 60 s</span></h2>
          ${services.data && edges.data ? html`<${ServiceMap} services=${services.data.services} edges=${edges.data.edges} windowSeconds=${edges.data.windowSeconds} />` : html`<p class="muted">Loading…</p>`}
        </section>
        <section class="panel" aria-labelledby="red-title">
          <h2 id="red-title">Rate, errors, duration <span class="muted">per service, last 5 min</span></h2>
          ${services.data ? html`<${RedCharts} services=${services.data.services} />` : html`<p class="muted">Loading…</p>`}
        </section>
        <section class="panel" aria-labelledby="support-title">
          <h2 id="support-title">Support access</h2>
          <${SupportAccess} grants=${grants.data?.items ?? []} error=${grants.error} loaded=${grants.data !== undefined} />
        </section>
        <section class="panel" aria-labelledby="traces-title">
          <h2 id="traces-title">Traces</h2>
          <${Traces} services=${services.data?.services.map((s) => s.name) ?? []} />
        </section>
        <section class="panel" aria-labelledby="dead-letters-title">
          <h2 id="dead-letters-title">Dead letters</h2>
          <${DeadLetters} />
        </section>
      </main>
    </div>`;
}

const root = document.getElementById('app');
if (root) render(html`<${App} />`, root);
