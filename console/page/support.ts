/**
 * Support access as a lead watches it: pending requests waiting for a decision, live grants with
 * the time they have left, and break-glass grants, which opened without approval, flagged in a red
 * banner for as long as any is unreviewed. Each grant links to its record and audit trail.
 */
import { useEffect, useState } from 'preact/hooks';
import type { SupportGrant } from './api.js';
import { formatDateTime } from './format.js';
import { html } from './html.js';

/** The current time, moving once a second: the countdowns follow it between polls. */
function useNow(): number {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(timer);
  }, []);
  return now;
}

function formatLeft(ms: number): string {
  const seconds = Math.max(0, Math.floor(ms / 1000));
  return `${Math.floor(seconds / 60)}:${String(seconds % 60).padStart(2, '0')}`;
}

const logLink = (grant: SupportGrant) => html`<a href=${`/api/support/grants/${grant.id}`} target="_blank" rel="noopener" aria-label=${`Record and audit trail of grant ${grant.id}`}>log</a>`;

const isLive = (grant: SupportGrant, now: number) => grant.status === 'approved' && grant.expiresAt !== undefined && Date.parse(grant.expiresAt) > now;

/** Shown above everything while any break-glass grant waits for its review. */
export function BreakGlassBanner({ grants }: { grants: SupportGrant[] }) {
  const unreviewed = grants.filter((g) => g.breakGlass && g.reviewStatus === 'unreviewed');
  if (unreviewed.length === 0) return null;
  return html`
    <div class="break-glass-banner" role="alert">
      <strong>Break-glass access without approval: ${unreviewed.length} unreviewed.</strong>
      <ul>
        ${unreviewed.map((g) => html`<li key=${g.id} data-break-glass=${g.id}>
          ${g.requester} opened customer <strong>${g.customerId}</strong> for incident ${g.ticketId} at ${formatDateTime(g.requestedAt)} (${g.status === 'approved' ? 'live' : g.status}): <q>${g.reason}</q>${' — '}${logLink(g)}. A support lead reviews it with <code>poc support review ${g.id} --client LEAD --outcome justified|unjustified --note …</code>
        </li>`)}
      </ul>
    </div>`;
}

export function SupportAccess({ grants, error, loaded }: { grants: SupportGrant[]; error: string | undefined; loaded: boolean }) {
  const now = useNow();
  const pending = grants.filter((g) => g.status === 'pending');
  const live = grants.filter((g) => isLive(g, now));
  const empty = (columns: number, what: string) => html`<tr><td colspan=${columns} class="muted">${loaded ? what : error ? 'Unavailable.' : 'Loading…'}</td></tr>`;
  return html`
    <div class="support">
      ${error ? html`<p class="error" role="alert">${error}</p>` : null}
      <table class="pending-requests">
        <caption>Access requests waiting for a support lead, newest first</caption>
        <thead><tr><th scope="col">Requested</th><th scope="col">Engineer</th><th scope="col">Customer</th><th scope="col">Ticket</th><th scope="col">For</th><th scope="col">Reason</th><th scope="col"></th></tr></thead>
        <tbody>
          ${pending.length === 0 ? empty(7, 'No pending requests.') : pending.map((g) => html`
            <tr key=${g.id} data-pending-request=${g.id}>
              <td>${formatDateTime(g.requestedAt)}</td><td>${g.requester}</td><td>${g.customerId}</td><td>${g.ticketId}</td>
              <td>${Math.round(g.durationSeconds / 60)} min</td><td>${g.reason}</td><td>${logLink(g)}</td>
            </tr>`)}
        </tbody>
      </table>
      <table class="live-grants">
        <caption>Live grants, with the time they have left</caption>
        <thead><tr><th scope="col">Left</th><th scope="col">Engineer</th><th scope="col">Customer</th><th scope="col">Ticket or incident</th><th scope="col">Approved by</th><th scope="col"></th></tr></thead>
        <tbody>
          ${live.length === 0 ? empty(6, 'No live grants.') : live.map((g) => {
            const leftMs = Date.parse(g.expiresAt ?? '') - now;
            return html`
            <tr key=${g.id} data-live-grant=${g.id} class=${g.breakGlass ? 'break-glass' : ''}>
              <td class="countdown" data-seconds-left=${Math.floor(leftMs / 1000)}>${formatLeft(leftMs)}</td>
              <td>${g.requester}</td><td>${g.customerId}</td>
              <td>${g.ticketId}${g.breakGlass ? html`<span class="badge error">break-glass${g.reviewStatus === 'reviewed' ? `, reviewed ${g.reviewOutcome ?? ''}` : ', unreviewed'}</span>` : null}</td>
              <td>${g.breakGlass ? html`<span class="muted">nobody (break-glass)</span>` : g.decidedBy}</td>
              <td>${logLink(g)}</td>
            </tr>`;
          })}
        </tbody>
      </table>
    </div>`;
}
