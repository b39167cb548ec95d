/**
 * The dead letters the store holds: the event, the error that stopped it, and a Replay button that
 * asks for confirmation, then publishes the event again through the store's outbox (once: the
 * store refuses a second replay) and shows what happened.
 */
import { useEffect, useRef, useState } from 'preact/hooks';
import { getJson, replayDeadLetter, type DeadLetterView } from './api.js';
import { formatDateTime } from './format.js';
import { html } from './html.js';
import { usePolling } from './polling.js';

type Outcome = { readonly kind: 'replayed' | 'failed'; readonly message: string };

/** What a person needs to recognise the event: its type, and the order it is about when it names one. */
function eventSummary(letter: DeadLetterView): string {
  const orderId = (letter.event.data as { orderId?: unknown } | null)?.orderId;
  return typeof orderId === 'string' ? `${letter.event.type}, order ${orderId}` : letter.event.type;
}

function ConfirmReplay({ letter, onConfirm, onCancel }: { letter: DeadLetterView; onConfirm: () => void; onCancel: () => void }) {
  const dialog = useRef<HTMLDialogElement>(null);
  useEffect(() => {
    // Modal: focus moves into the dialog, Escape cancels, the rest of the page is inert meanwhile.
    dialog.current?.showModal();
  }, []);
  return html`
    <dialog ref=${dialog} class="confirm" aria-labelledby="confirm-title" aria-describedby="confirm-text" onCancel=${onCancel}>
      <h3 id="confirm-title">Replay this dead letter?</h3>
      <p id="confirm-text">
        The event <code>${letter.event.id}</code> (${eventSummary(letter)}) will be published again, under a new id, to every consumer.
        This happens once: the dead letter is then marked replayed. It failed with: <q>${letter.error}</q>
      </p>
      <div class="buttons">
        <button type="button" class="primary" onClick=${onConfirm}>Replay</button>
        <button type="button" onClick=${onCancel} autofocus>Cancel</button>
      </div>
    </dialog>`;
}

export function DeadLetters() {
  const { data, error, refresh } = usePolling((signal) => getJson<{ items: DeadLetterView[] }>('/api/dead-letters', { limit: 100 }, signal), 10_000);
  const [confirming, setConfirming] = useState<DeadLetterView | undefined>(undefined);
  const [busy, setBusy] = useState<string | undefined>(undefined);
  const [outcome, setOutcome] = useState<Outcome | undefined>(undefined);

  const replay = async (letter: DeadLetterView) => {
    setConfirming(undefined);
    setBusy(letter.id);
    try {
      const done = await replayDeadLetter(letter.id);
      setOutcome({ kind: 'replayed', message: `Replayed: event ${done.eventId} was published again as ${done.replayEventId}.` });
    } catch (failure) {
      setOutcome({ kind: 'failed', message: `Not replayed: ${(failure as Error).message}` });
    } finally {
      setBusy(undefined);
      refresh();
    }
  };

  const items = data?.items ?? [];
  return html`
    <div class="dead-letters">
      <p role="status" aria-live="polite" class=${`outcome ${outcome?.kind ?? ''}`}>${outcome?.message ?? ''}</p>
      ${error ? html`<p class="error" role="alert">${error}</p>` : null}
      <table>
        <caption>Events a consumer gave up on, newest first</caption>
        <thead><tr><th scope="col">Dead-lettered</th><th scope="col">Event</th><th scope="col">Consumer</th><th scope="col">Attempts</th><th scope="col">Error</th><th scope="col">State</th></tr></thead>
        <tbody>
          ${items.length === 0 ? html`<tr><td colspan="6" class="muted">${data ? 'No dead letters.' : error ? 'Unavailable.' : 'Loading…'}</td></tr>` : items.map((letter) => html`
            <tr key=${letter.id} data-dead-letter=${letter.id}>
              <td>${formatDateTime(letter.createdAt)}</td>
              <td>${eventSummary(letter)}<div class="muted small"><code>${letter.event.id}</code></div></td>
              <td>${letter.consumer}</td>
              <td>${letter.attempts}</td>
              <td class="error-text">${letter.error}</td>
              <td>${letter.replay
                ? html`Replayed ${formatDateTime(letter.replay.replayedAt)} by ${letter.replay.replayedBy}<div class="muted small">as <code>${letter.replay.replayEventId}</code></div>`
                : html`<button type="button" onClick=${() => setConfirming(letter)} disabled=${busy === letter.id} aria-label=${`Replay the dead letter of ${eventSummary(letter)}`}>${busy === letter.id ? 'Replaying…' : 'Replay'}</button>`}</td>
            </tr>`)}
        </tbody>
      </table>
      ${confirming ? html`<${ConfirmReplay} letter=${confirming} onConfirm=${() => void replay(confirming)} onCancel=${() => setConfirming(undefined)} />` : null}
    </div>`;
}
