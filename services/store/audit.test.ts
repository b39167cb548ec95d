import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { appendAudit, listAudit } from './audit.js';
import type { Database } from './database.js';
import { migrate } from './migrate.js';
import { backends } from './test-databases.js';

for (const backend of backends) {
  describe(`audit trail (${backend.name})`, () => {
    let db: Database;
    let dispose: () => Promise<void>;
    before(async () => {
      ({ db, dispose } = await backend.fresh());
      await migrate(db);
    });
    after(async () => dispose());

    it('appends in order, reads the latest or what came after a position', async () => {
      const at = new Date().toISOString();
      assert.equal(await appendAudit(db, ['a', 'b', 'c'].map((actor) => ({ at, actor, action: 'orders.place', outcome: 'succeeded' as const, requestId: `r-${actor}` }))), 3);
      assert.deepEqual((await listAudit(db, { limit: 2 })).map((r) => r.actor), ['b', 'c']);
      assert.deepEqual((await listAudit(db, { after: 1, limit: 10 })).map((r) => [r.position, r.actor, r.requestId]), [[2, 'b', 'r-b'], [3, 'c', 'r-c']]);
    });

    it('refuses to change or delete a record, whoever asks', async () => {
      await assert.rejects(db.query("UPDATE audit_records SET outcome = 'refused'"), /append-only/);
      await assert.rejects(db.query('DELETE FROM audit_records'), /append-only/);
      assert.equal((await listAudit(db, { limit: 10 })).length, 3);
    });
  });
}
