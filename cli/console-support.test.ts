/**
 * Support access on the console, against the real system: a pending request and a break-glass
 * grant appear, the break-glass banner shows at once, the live grant counts down, and each grant
 * links to its record and audit trail. The store serves the console's reads with the console's own
 * certificate, and nothing else. Screenshots go to artifacts/console-support*.png and
 * artifacts/console-break-glass-banner.png.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Browser, Page } from 'playwright-core';
import { storeContract, type ChainedAuditRecord, type SupportGrant } from '@msa-poc/contracts';
import { artifactPath, launchChromium, screenshot } from '@msa-poc/console/browser';
import { eventually, startTestSystem, type TestSystem } from './testing.js';

for (const profile of ['embedded', 'production'] as const) {
  describe(`support access on the console (${profile})`, { timeout: 180_000 }, () => {
    let system: TestSystem;
    let consoleUrl: string;
    let pending: SupportGrant;
    let glass: SupportGrant;

    before(async () => {
      system = await startTestSystem({ profile, withConsole: true });
      consoleUrl = system.console?.url ?? assert.fail('the test system was started without its console');
      const engineer = await system.apiClient('engineer', ['orders:read'], undefined, ['support']);
      await system.apiClient('lead', ['orders:read'], undefined, ['support-lead']);
      const asked = await engineer.call<SupportGrant>('POST', '/v1/support/access-requests', {
        body: { customerId: 'cust-waiting', ticketId: 'TCK-4242', reason: 'refund not received', actions: ['orders:read'], durationSeconds: 1800 },
      });
      assert.equal(asked.status, 201, JSON.stringify(asked.body));
      pending = asked.body;
      const opened = await engineer.call<SupportGrant>('POST', '/v1/support/break-glass', { body: { customerId: 'cust-outage', incidentId: 'INC-500', reason: 'orders vanish at checkout', durationSeconds: 600 } });
      assert.equal(opened.status, 201, JSON.stringify(opened.body));
      glass = opened.body;
      assert.equal((await engineer.supportToken(glass.id)).status, 200);
    });
    after(async () => system?.dispose());

    test('the console lists the grants and shows one with the audit records that name it', async () => {
      const listed = (await (await fetch(`${consoleUrl}/api/support/grants`)).json()) as { items: SupportGrant[] };
      assert.equal(listed.items.find((g) => g.id === pending.id)?.status, 'pending');
      assert.deepEqual(listed.items.filter((g) => g.id === glass.id).map((g) => [g.breakGlass, g.reviewStatus]), [[true, 'unreviewed']]);

      const detail = (await (await fetch(`${consoleUrl}/api/support/grants/${glass.id}`)).json()) as { grant: SupportGrant; audit: ChainedAuditRecord[] };
      assert.equal(detail.grant.id, glass.id);
      assert.deepEqual(detail.audit.filter((r) => r.action === 'support.break-glass').map((r) => [r.actor, r.outcome]), [['engineer', 'succeeded']]);
      assert.ok(detail.audit.some((r) => r.action === 'support.exchange' && r.outcome === 'allowed'), 'the token exchange under the grant is in its trail');
      assert.ok(detail.audit.every((r) => r.hash.length === 64), 'records come from the hash chain');

      const unknown = await fetch(`${consoleUrl}/api/support/grants/${crypto.randomUUID()}`);
      assert.equal(unknown.status, 404);
      assert.match(((await unknown.json()) as { detail: string }).detail, /no access request or grant/);
      assert.equal((await fetch(`${consoleUrl}/api/support/grants/not-a-uuid`)).status, 400);
    });

    test('the store lets the console read grants, and neither change them nor let another service read them all', async () => {
      const asConsole = system.client(storeContract, 'console');
      const asOrders = system.client(storeContract, 'orders');
      try {
        const decided = await asConsole.client.decideSupportAccess({ params: { id: pending.id }, body: { by: 'lead', decision: 'approve' } });
        assert.equal(decided.status, 403);
        assert.match((decided.body as { detail: string }).detail, /console may not call POST \/support\/access-requests\/:id\/decision/);
        await assert.rejects(asOrders.client.listAllSupportGrants({ query: {} }), /orders may not call GET \/support\/grants; the contract allows console/);
        assert.equal((await asConsole.client.listAllSupportGrants({ query: {} })).status, 200);
      } finally {
        await Promise.all([asConsole.close(), asOrders.close()]);
      }
    });

    test('the page shows the pending request, the break-glass banner at once, and a countdown that runs down', { skip: profile === 'production' && 'the page reads the same console API' }, async () => {
      let browser: Browser | undefined;
      try {
        browser = await launchChromium();
        const page: Page = await browser.newPage({ viewport: { width: 1400, height: 1100 } });
        const pageErrors: string[] = [];
        page.on('pageerror', (error) => pageErrors.push(error.message));
        await page.goto(consoleUrl);

        const banner = page.locator('.break-glass-banner[role="alert"]');
        await banner.waitFor({ timeout: 10_000 });
        assert.match(await banner.innerText(), /Break-glass access without approval: 1 unreviewed[\s\S]*engineer opened customer cust-outage for incident INC-500/);
        await page.locator(`tr[data-pending-request="${pending.id}"]`, { hasText: 'TCK-4242' }).waitFor({ timeout: 10_000 });
        const row = page.locator(`tr[data-live-grant="${glass.id}"]`);
        await row.waitFor({ timeout: 10_000 });
        assert.match(await row.innerText(), /break-glass, unreviewed/);

        const countdown = row.locator('td.countdown');
        const first = Number(await countdown.getAttribute('data-seconds-left'));
        assert.ok(first > 0 && first <= 600, `starts within the grant's 600 s, at ${first}`);
        const later = await eventually('the countdown to run down', async () => {
          const left = Number(await countdown.getAttribute('data-seconds-left'));
          return left < first ? left : undefined;
        }, 10_000);
        assert.ok(later >= first - 10, `it counts seconds, from ${first} to ${later}`);
        assert.match(await countdown.innerText(), /^\d+:\d\d$/);

        const link = row.getByRole('link', { name: `Record and audit trail of grant ${glass.id}` });
        assert.equal(await link.getAttribute('href'), `/api/support/grants/${glass.id}`);
        await screenshot(page, 'console-support.png');
        await page.locator('section[aria-labelledby="support-title"]').screenshot({ path: artifactPath('console-support-panel.png') });
        await banner.screenshot({ path: artifactPath('console-break-glass-banner.png') });

        // Reviewed, the banner goes at the next poll; the grant stays live, marked reviewed.
        const lead = await system.apiClient('lead', ['orders:read'], undefined, ['support-lead']);
        assert.equal((await lead.call('POST', `/v1/support/break-glass/${glass.id}/review`, { body: { outcome: 'justified', note: 'INC-500 confirmed' } })).status, 200);
        await banner.waitFor({ state: 'detached', timeout: 10_000 });
        await row.getByText('break-glass, reviewed justified').waitFor({ timeout: 5_000 });
        assert.deepEqual(pageErrors, [], 'the page raised no errors');
      } finally {
        await browser?.close();
      }
    });
  });
}
