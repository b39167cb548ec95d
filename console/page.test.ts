/**
 * The page in a real browser: Debian's Chromium, driven by playwright-core, against a console
 * started alone and fed one order's trace over OTLP. The screenshot goes to artifacts/console.png.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import type { Browser, Page } from 'playwright-core';
import { problem, type DeadLetterReplay } from '@msa-poc/contracts';
import { createLogger } from '@msa-poc/platform/telemetry';
import { startConsole, type RunningConsole } from './console.js';
import type { DeadLetterSource, DeadLetterView } from './dead-letters.js';
import { launchChromium, screenshot } from './browser.js';
import { exportSpans, orderTrace } from './testing.js';

const letter: DeadLetterView = {
  id: randomUUID(), consumer: 'integration', error: 'partner answered 503: injected fault', attempts: 5, createdAt: new Date().toISOString(),
  event: { specversion: '1.0', id: randomUUID(), source: '/store', type: 'dev.msa-poc.order.placed.v1', time: new Date().toISOString(), datacontenttype: 'application/json', data: { orderId: randomUUID() } },
};

/** The store's side of dead letters, in memory: the real one is tested with the store. */
function oneDeadLetter(): DeadLetterSource {
  let replay: DeadLetterReplay | undefined;
  return {
    list: async () => [replay ? { ...letter, replay } : letter],
    replay: async (id) => {
      if (replay) return { status: 409, body: problem('alreadyReplayed', `Dead letter ${id} was replayed already.`) };
      replay = { deadLetterId: id, eventId: letter.event.id, replayEventId: randomUUID(), replayedAt: new Date().toISOString(), replayedBy: 'console' };
      return { status: 200, body: replay };
    },
    close: async () => undefined,
  };
}

describe('console page in Chromium', () => {
  let running: RunningConsole;
  let browser: Browser;
  let page: Page;
  const pageErrors: string[] = [];
  const trace = orderTrace({ requestId: 'req-browser-test-1' });

  before(async () => {
    running = await startConsole({ port: 0, otlpPort: 0, deadLetters: oneDeadLetter(), log: createLogger('console', 'silent') });
    // Services export in batches, each service on its own: so does this.
    const byService = new Map<string, typeof trace.spans>();
    for (const span of trace.spans) {
      const service = String(span.resource.attributes['service.name']);
      byService.set(service, [...(byService.get(service) ?? []), span]);
    }
    for (const [service, spans] of byService) {
      const response = await exportSpans(running.otlpUrl, spans, { format: service === 'integration' ? 'json' : 'protobuf', gzip: service === 'store' });
      assert.equal(response.status, 200, service);
    }
    // Never skipped: a machine without the browser fails here, saying how to get it.
    browser = await launchChromium();
    page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
    page.on('pageerror', (error) => pageErrors.push(error.message));
    await page.goto(running.url);
  });

  after(async () => {
    await browser?.close();
    await running?.stop();
  });

  it('draws the service map from the observed edges, each with a rate', async () => {
    for (const [from, to, kind] of [['gateway', 'orders', 'call'], ['orders', 'store', 'call'], ['store', 'database', 'call'], ['integration', 'partner', 'call'], ['store', 'integration', 'event']]) {
      const edge = page.locator(`svg.map-svg g.edge[data-from="${from}"][data-to="${to}"][data-kind="${kind}"]`);
      await edge.waitFor({ timeout: 10_000 });
      assert.ok(Number(await edge.getAttribute('data-rate')) > 0, `${from} → ${to} has a rate`);
      assert.match(await edge.locator('text').textContent() ?? '', /^[\d.]+\/(s|min) · 0 % err/, `${from} → ${to} is labelled with its figures`);
    }
    assert.equal(await page.locator('g.node[data-service="database"]').count(), 1);
    assert.equal(await page.locator('g.node[data-service="partner"]').count(), 1);
  });

  it('finds the order by its request id and opens it as a waterfall, async hop included', async () => {
    await page.getByLabel('Request id').fill('req-browser-test-1');
    await page.getByRole('button', { name: 'Search' }).click();
    const row = page.locator(`tr[data-trace-id="${trace.traceId}"]`);
    await row.waitFor({ timeout: 10_000 });
    assert.equal(await page.locator('table.trace-list tbody tr').count(), 1);
    await row.getByRole('button').click();

    const waterfall = page.locator('section.waterfall');
    await waterfall.locator('li.span-row').first().waitFor({ timeout: 10_000 });
    assert.equal(await waterfall.locator('li.span-row').count(), trace.spans.length);
    for (const service of ['gateway', 'orders', 'store', 'integration']) {
      assert.ok(await waterfall.locator(`li.span-row[data-service="${service}"]`).count() > 0, `spans from ${service}`);
    }
    const consumer = waterfall.locator('li.span-row[data-kind="consumer"]');
    assert.match(await consumer.locator('.links').innerText(), /linked from store · publish orders\.placed/);

    // A span opens, by keyboard, to show its attributes.
    const root = waterfall.locator('li.span-row').first().locator('button.span-line');
    await root.focus();
    await page.keyboard.press('Enter');
    assert.equal(await root.getAttribute('aria-expanded'), 'true');
    assert.match(await waterfall.locator('.span-details').first().innerText(), /msa\.request_id\s+req-browser-test-1/);
  });

  it('replays a dead letter after confirmation and shows the result', async () => {
    const replay = page.getByRole('button', { name: /Replay the dead letter of dev\.msa-poc\.order\.placed\.v1/ });
    await replay.click();
    const dialog = page.getByRole('dialog', { name: 'Replay this dead letter?' });
    await dialog.waitFor();
    await dialog.getByRole('button', { name: 'Replay' }).click();
    const status = page.locator('.dead-letters [role="status"]', { hasText: /^Replayed/ });
    await status.waitFor({ timeout: 10_000 });
    assert.match(await status.innerText(), new RegExp(`^Replayed: event ${letter.event.id} was published again as [0-9a-f-]{36}\\.$`));
    await page.locator(`tr[data-dead-letter="${letter.id}"]`).getByText(/Replayed .* by console/).waitFor({ timeout: 10_000 });

    await screenshot(page, 'console.png');
    assert.deepEqual(pageErrors, [], 'the page raised no errors');
  });
});
