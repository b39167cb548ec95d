import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Ledger } from './ledger.js';

const entry = (orderId: string) => ({ orderId, fulfilmentId: `ful_${orderId}`, acceptedAt: new Date().toISOString(), requests: 1, accepts: 1, callbackDeliveredAt: null, callbackAttempts: 0 });

test('a restarted partner remembers what it accepted, the repeats and the callbacks, and survives a torn last line', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ledger-'));
  try {
    const file = join(dir, 'nested', 'ledger.jsonl');
    const first = new Ledger(file);
    first.accept(entry('a'));
    first.accept(entry('b'));
    first.repeated('a');
    first.callback('a', '2026-01-01T00:00:00.000Z', 2);
    appendFileSync(file, '{"op":"accept","entry":{"orderId":"c"'); // a crash mid-write
    const again = new Ledger(file);
    assert.deepEqual(again.entries().map((e) => e.orderId), ['a', 'b']);
    assert.equal(again.get('a')?.requests, 2);
    assert.equal(again.get('a')?.callbackDeliveredAt, '2026-01-01T00:00:00.000Z');
    assert.equal(again.get('b')?.callbackDeliveredAt, null);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('an order accepted twice is counted, so that an audit can see a duplicate shipment', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ledger-'));
  try {
    const ledger = new Ledger(join(dir, 'ledger.jsonl'));
    ledger.accept(entry('a'));
    ledger.accept(entry('a'));
    assert.equal(ledger.entries().length, 1);
    assert.equal(ledger.get('a')?.accepts, 2);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
