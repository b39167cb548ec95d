/**
 * Nothing acknowledged is lost, nothing is fulfilled twice: a stream of orders while the store and
 * the integration service are killed (SIGKILL) and restarted, then an audit of the database and
 * the partner's ledger.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import type { Order, PlaceOrderInput } from '@msa-poc/contracts';
import { startTestSystem, type TestSystem } from './testing.js';

const address = { name: 'Grace Hopper', line1: '1 Navy Yard', city: 'Arlington', postalCode: '22202', country: 'US' };

interface Attempt {
  key: string;
  body: PlaceOrderInput;
  outcome: 'ok' | 'fail' | 'indeterminate';
  orderId?: string;
}

for (const profile of ['embedded', 'production'] as const) {
  describe(`integrity under process kills (${profile} profile)`, { timeout: 240_000 }, () => {
    let system: TestSystem;
    before(async () => {
      system = await startTestSystem({ profile, env: { POC_INTEGRATION_RETRY_BASE_MS: '100', POC_INTEGRATION_RETRY_CAP_MS: '1000' } });
    });
    after(async () => {
      await system?.dispose();
    });

    test('every acknowledged order exists once and reaches the partner exactly once in effect', async () => {
      const total = 60;
      const attempts: Attempt[] = Array.from({ length: total }, (_, i) => ({
        key: `integrity-${profile}-${i}-${Date.now()}`,
        body: { customerId: `cust-${i % 7}`, items: [{ sku: `SKU-00${String(10 + (i % 20)).padStart(2, '0')}`, quantity: 1 + (i % 3) }], shippingAddress: address },
        outcome: 'indeterminate',
      }));
      const place = async (a: Attempt) => {
        try {
          const reply = await system.api.call<Order>('POST', '/v1/orders', { headers: { 'idempotency-key': a.key }, body: a.body, timeoutMs: 3_000 });
          if (reply.status === 200 || reply.status === 201) {
            a.outcome = 'ok';
            a.orderId = reply.body.id;
          } else a.outcome = 'fail';
        } catch {
          a.outcome = 'indeterminate';
        }
      };
      const kill = async (name: 'store' | 'integration') => {
        const child = system.services.get(name)?.child;
        assert.ok(child);
        const exited = once(child, 'exit');
        child.kill('SIGKILL');
        await exited;
        await new Promise((r) => setTimeout(r, 200));
        await system.restart(name);
      };
      let next = 0;
      const worker = async () => {
        while (next < total) {
          const a = attempts[next++] as Attempt;
          await place(a);
          await new Promise((r) => setTimeout(r, 20));
        }
      };
      const faults = (async () => {
        while (next < 15) await new Promise((r) => setTimeout(r, 10));
        await kill('store');
        while (next < 40) await new Promise((r) => setTimeout(r, 10));
        await kill('integration');
      })();
      await Promise.all([worker(), worker(), worker(), faults]);

      // A careful client retries what it could not learn the outcome of, with the same key.
      for (const a of attempts.filter((x) => x.outcome !== 'ok')) {
        for (let i = 0; i < 20; i++) {
          await place(a);
          if ((a.outcome as Attempt['outcome']) === 'ok') break;
          await new Promise((r) => setTimeout(r, 250));
        }
      }
      const acknowledged = attempts.filter((a) => a.outcome === 'ok');
      assert.equal(acknowledged.length, total, `every order is eventually acknowledged (${attempts.filter((a) => a.outcome !== 'ok').length} not)`);
      assert.equal(new Set(acknowledged.map((a) => a.orderId)).size, total, 'one order per key');

      // Every acknowledged order is in the database and gets fulfilled.
      const deadline = Date.now() + 90_000;
      let unfulfilled = acknowledged.map((a) => a.orderId as string);
      while (unfulfilled.length > 0 && Date.now() < deadline) {
        const still: string[] = [];
        for (const id of unfulfilled) {
          const reply = await system.api.call<Order>('GET', `/v1/orders/${id}`).catch(() => undefined);
          assert.notEqual(reply?.status, 404, `acknowledged order ${id} is lost`);
          if (reply?.status !== 200 || reply.body.status !== 'fulfilled') still.push(id);
        }
        unfulfilled = still;
        if (unfulfilled.length > 0) await new Promise((r) => setTimeout(r, 500));
      }
      if (unfulfilled.length > 0) {
        const related = system.logs.filter((line) => /"level":"(warn|error)"/.test(line) || unfulfilled.some((id) => line.includes(id)));
        process.stderr.write(`unfulfilled: ${unfulfilled.join(', ')}\n${related.slice(-60).join('\n')}\n`);
      }
      assert.deepEqual(unfulfilled, [], 'every acknowledged order is fulfilled');

      // The partner shipped each order once, and nothing we did not acknowledge.
      const ledger = (await (await fetch(`http://127.0.0.1:${system.config.endpoints.partner.adminPort}/ledger`)).json()) as { entries: { orderId: string }[] };
      const shipped = ledger.entries.map((e) => e.orderId);
      assert.equal(new Set(shipped).size, shipped.length, 'no order accepted twice by the partner');
      assert.deepEqual([...shipped].sort(), acknowledged.map((a) => a.orderId as string).sort());
    });
  });
}
