/**
 * The console against the real system, in a real browser: an order placed through the gateway shows
 * up on the service map and as one trace, and a dead letter is replayed from the page until the
 * order it carries is fulfilled. The screenshot goes to artifacts/console-system.png for CI to keep.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Browser, Page } from 'playwright-core';
import type { Order, PlaceOrderInput } from '@msa-poc/contracts';
import { launchChromium, screenshot } from '@msa-poc/console/browser';
import { eventually, startTestSystem, type TestSystem } from './testing.js';

const order = (customerId: string): PlaceOrderInput => ({
  customerId, items: [{ sku: 'SKU-0003', quantity: 1 }],
  shippingAddress: { name: 'Grace Hopper', line1: '1 Compiler Lane', city: 'Arlington', postalCode: '22201', country: 'US' },
});

interface TraceView { spans: { service: string; kind: string }[] }

describe('the console with the running system, in Chromium', { timeout: 180_000 }, () => {
  let system: TestSystem;
  let browser: Browser;
  let page: Page;
  let consoleUrl: string;
  let traceId: string;
  let deadOrder: Order;
  const pageErrors: string[] = [];

  before(async () => {
    system = await startTestSystem({
      withConsole: true,
      env: { POC_INTEGRATION_MAX_ATTEMPTS: '2', POC_INTEGRATION_RETRY_BASE_MS: '50', POC_INTEGRATION_RETRY_CAP_MS: '100', OTEL_BSP_SCHEDULE_DELAY: '200' },
    });
    consoleUrl = system.console?.url ?? assert.fail('the test system was started without its console');
    const placed = await system.api.call<Order>('POST', '/v1/orders', { body: order('cust-console'), headers: { 'idempotency-key': `console-${Date.now()}` } });
    assert.equal(placed.status, 201);
    traceId = String(placed.headers['x-trace-id']);
    // Fulfilled before the partner is made to fail, so that only the next order is dead-lettered.
    await eventually('the first order to be fulfilled', async () => ((await system.api.call<Order>('GET', `/v1/orders/${placed.body.id}`)).body.status === 'fulfilled' ? true : undefined), 30_000);

    // A dead letter: the partner fails every attempt of one order, then heals.
    const faults = `http://127.0.0.1:${system.config.endpoints.partner.adminPort}/faults`;
    await fetch(faults, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ errorRate: 1 }) });
    try {
      const failing = await system.api.call<Order>('POST', '/v1/orders', { body: order('cust-dead-letter'), headers: { 'idempotency-key': `dead-${Date.now()}` } });
      assert.equal(failing.status, 201);
      deadOrder = failing.body;
      await eventually('the dead letter in the console', async () => {
        const letters = (await (await fetch(`${consoleUrl}/api/dead-letters`)).json()) as { items: { event: { data: { orderId?: string } } }[] };
        return letters.items.some((l) => l.event.data.orderId === deadOrder.id) ? true : undefined;
      });
    } finally {
      await fetch(faults, { method: 'DELETE' });
    }
    browser = await launchChromium();
    page = await browser.newPage({ viewport: { width: 1400, height: 1100 } });
    page.on('pageerror', (error) => pageErrors.push(error.message));
    await page.goto(consoleUrl);
  });

  after(async () => {
    await browser?.close();
    await system?.dispose();
  });

  test("the order's x-trace-id opens one trace with spans from gateway, orders, store and integration, the async hop included", async () => {
    const trace = await eventually('the trace with its async hop', async () => {
      const response = await fetch(`${consoleUrl}/api/traces/${traceId}`);
      if (!response.ok) return undefined;
      const view = (await response.json()) as TraceView;
      return view.spans.some((s) => s.service === 'integration' && s.kind === 'consumer') ? view : undefined;
    }, 30_000);
    for (const service of ['gateway', 'orders', 'store', 'integration', 'partner']) assert.ok(trace.spans.some((s) => s.service === service), `a span from ${service}`);

    await page.getByLabel('Trace id').fill(traceId);
    await page.getByRole('button', { name: 'Search' }).click();
    await page.locator(`tr[data-trace-id="${traceId}"]`).getByRole('button').click();
    const waterfall = page.locator('section.waterfall');
    await waterfall.locator('li.span-row[data-kind="consumer"]').first().waitFor({ timeout: 10_000 });
    for (const service of ['gateway', 'orders', 'store', 'integration']) {
      assert.ok(await waterfall.locator(`li.span-row[data-service="${service}"]`).count() > 0, `the waterfall shows ${service}`);
    }
  });

  test('the map shows gateway → orders → store and integration → partner with live rates', async () => {
    for (const [from, to] of [['gateway', 'orders'], ['orders', 'store'], ['integration', 'partner']]) {
      const edge = page.locator(`svg.map-svg g.edge[data-from="${from}"][data-to="${to}"][data-kind="call"]`);
      await edge.waitFor({ timeout: 15_000 });
      assert.ok(Number(await edge.getAttribute('data-rate')) > 0, `${from} → ${to} has a rate`);
    }
  });

  test('a dead letter replayed from the page is published again, and its order is fulfilled', async () => {
    const row = page.locator('tr[data-dead-letter]', { hasText: deadOrder.id });
    await row.waitFor({ timeout: 15_000 });
    await row.getByRole('button', { name: /Replay the dead letter/ }).click();
    const dialog = page.getByRole('dialog', { name: 'Replay this dead letter?' });
    await dialog.getByRole('button', { name: 'Replay' }).click();
    await page.locator('.dead-letters [role="status"]', { hasText: /^Replayed/ }).waitFor({ timeout: 10_000 });
    const fulfilled = await eventually('the replayed order to be fulfilled', async () => {
      const current = await system.api.call<Order>('GET', `/v1/orders/${deadOrder.id}`);
      return current.body.status === 'fulfilled' ? current.body : undefined;
    }, 30_000);
    assert.equal(fulfilled.id, deadOrder.id);
    const again = await fetch(`${consoleUrl}/api/dead-letters`);
    const replayed = ((await again.json()) as { items: { event: { data: { orderId?: string } }; replay?: { replayedBy: string } }[] }).items.find((l) => l.event.data.orderId === deadOrder.id);
    assert.equal(replayed?.replay?.replayedBy, 'console');
    await screenshot(page, 'console-system.png');
    assert.deepEqual(pageErrors, [], 'the page raised no errors');
  });
});
