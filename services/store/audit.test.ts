import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { cp, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { AuditRecord } from '@msa-poc/contracts';
import { auditRecordHash, genesisHash, verifyAuditChain, type ChainVerdict } from '@msa-poc/platform/audit-chain';
import { appendAudit, listAudit, readAuditChain } from './audit.js';
import type { Database } from './database.js';
import { migrate, migrationsDirectory } from './migrate.js';
import { backends } from './test-databases.js';

const record = (actor: string, extra: Partial<AuditRecord> = {}): AuditRecord => ({ at: new Date().toISOString(), actor, action: 'orders.place', outcome: 'succeeded', ...extra });
const verify = (db: Database, pageSize = 1000): Promise<ChainVerdict> => verifyAuditChain((after, limit) => readAuditChain(db, { after, limit }), { pageSize });

/** Changes the table the way someone with the database's superuser rights could: past the append-only trigger. */
async function tamper(db: Database, sql: string): Promise<void> {
  await db.transaction(async (tx) => {
    await tx.query('ALTER TABLE audit_records DISABLE TRIGGER audit_records_append_only');
    await tx.query(sql);
    await tx.query('ALTER TABLE audit_records ENABLE TRIGGER audit_records_append_only');
  });
}

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
      assert.equal(await appendAudit(db, ['a', 'b', 'c'].map((actor) => record(actor, { requestId: `r-${actor}` }))), 3);
      assert.deepEqual((await listAudit(db, { limit: 2 })).map((r) => r.actor), ['b', 'c']);
      assert.deepEqual((await listAudit(db, { after: 1, limit: 10 })).map((r) => [r.position, r.actor, r.requestId]), [[2, 'b', 'r-b'], [3, 'c', 'r-c']]);
    });

    it('refuses to change or delete a record, whoever asks', async () => {
      await assert.rejects(db.query("UPDATE audit_records SET outcome = 'refused'"), /append-only/);
      await assert.rejects(db.query('DELETE FROM audit_records'), /append-only/);
      assert.equal((await listAudit(db, { limit: 10 })).length, 3);
    });

    it('chains each record to the one before it, from the genesis hash, and the chain verifies page by page', async () => {
      await appendAudit(db, [record('d', { keyThumbprint: 'k', target: '', detail: 'naïve “quotes” ✓', traceId: 'a'.repeat(32) })]);
      const { items, head } = await readAuditChain(db, { after: 0, limit: 100 });
      assert.equal(items[0]?.previousHash, genesisHash);
      for (const [i, item] of items.entries()) {
        assert.equal(item.hash, auditRecordHash(item));
        if (i > 0) assert.equal(item.previousHash, items[i - 1]?.hash);
      }
      assert.equal(items[3]?.target, '', 'an empty value is kept apart from an absent one');
      assert.deepEqual(head, { position: 4, hash: items[3]?.hash });
      assert.deepEqual(await verify(db, 3), { ok: true, checked: 4, head });
    });

    it('concurrent appends line up into one chain, positions without gaps', async () => {
      const pool = await backend.fresh({ poolSize: 8 });
      try {
        await migrate(pool.db);
        await Promise.all(Array.from({ length: 40 }, (_, i) => appendAudit(pool.db, [record(`c${i}`), record(`c${i}`)])));
        const verdict = await verify(pool.db, 25);
        assert.equal(verdict.ok, true, JSON.stringify(verdict));
        const { items } = await readAuditChain(pool.db, { after: 0, limit: 1000 });
        assert.deepEqual(items.map((r) => r.position), Array.from({ length: 80 }, (_, i) => i + 1));
      } finally {
        await pool.dispose();
      }
    });

    describe('a tampered chain is found, with where and what', () => {
      const cases: { name: string; sql: string; expect: (v: Extract<ChainVerdict, { ok: false }>['broken']) => void }[] = [
        {
          name: 'a record altered in place',
          sql: "UPDATE audit_records SET outcome = 'refused' WHERE position = 3",
          expect: (b) => {
            assert.equal(b.kind, 'altered');
            assert.equal(b.position, 3);
            assert.notEqual(b.expected, b.found);
          },
        },
        {
          name: 'a record altered and given a fresh hash',
          sql: "UPDATE audit_records SET actor = 'someone-else', hash = repeat('f', 64) WHERE position = 2",
          expect: (b) => assert.deepEqual([b.kind, b.position], ['altered', 2]),
        },
        {
          name: 'a record deleted',
          sql: 'DELETE FROM audit_records WHERE position = 2',
          expect: (b) => {
            assert.equal(b.kind, 'unlinked');
            assert.equal(b.position, 3);
            assert.equal(b.kind === 'unlinked' && b.previousPosition, 1);
          },
        },
        {
          name: 'two records reordered',
          sql: 'UPDATE audit_records SET position = -2 WHERE position = 2; UPDATE audit_records SET position = 2 WHERE position = 4; UPDATE audit_records SET position = 4 WHERE position = -2',
          expect: (b) => assert.deepEqual([b.kind, b.position], ['unlinked', 2]),
        },
        {
          name: 'the last record deleted',
          sql: 'DELETE FROM audit_records WHERE position = 5',
          expect: (b) => assert.deepEqual([b.kind, b.position], ['truncated', 5]),
        },
      ];
      for (const { name, sql, expect } of cases) {
        it(name, async () => {
          const scratch = await backend.fresh();
          try {
            await migrate(scratch.db);
            await appendAudit(scratch.db, ['a', 'b', 'c', 'd', 'e'].map((actor) => record(actor)));
            assert.equal((await verify(scratch.db)).ok, true);
            await tamper(scratch.db, sql);
            const verdict = await verify(scratch.db, 2);
            assert.equal(verdict.ok, false, `${name} went unnoticed`);
            if (!verdict.ok) expect(verdict.broken);
          } finally {
            await scratch.dispose();
          }
        });
      }
    });

    it('the migration chains the records written before the chain existed, as the store would have', async () => {
      const scratch = await backend.fresh();
      const before0008 = await mkdtemp(join(tmpdir(), 'msa-poc-migrations-'));
      try {
        for (const name of await readdir(migrationsDirectory)) {
          if (name.endsWith('.sql') && name < '0008') await cp(new URL(name, migrationsDirectory), join(before0008, name));
        }
        await migrate(scratch.db, pathToFileURL(`${before0008}/`));
        const insert = `INSERT INTO audit_records (at, actor, key_thumbprint, action, outcome, target, request_id, trace_id, detail) VALUES
          ('2026-01-02T03:04:05.678912+02:00', 'ünïcode ✓', NULL, 'auth.request', 'allowed', 'GET /v1/orders', 'r1', NULL, 'multi
line'), (now(), 'b', 'thumb', 'orders.place', 'succeeded', '', NULL, 't', NULL)`;
        await scratch.db.query(insert);
        // A rolled-back insert leaves a gap in the old positions; the chain does not depend on them being contiguous.
        await scratch.db.transaction(async (tx) => {
          await tx.query("INSERT INTO audit_records (at, actor, action, outcome) VALUES (now(), 'gone', 'x', 'failed')");
          throw new Error('roll back');
        }).catch(() => undefined);
        await scratch.db.query("INSERT INTO audit_records (at, actor, action, outcome) VALUES (now(), 'c', 'clients.remove', 'failed')");
        await migrate(scratch.db);
        await appendAudit(scratch.db, [record('after')]);
        const verdict = await verify(scratch.db);
        assert.equal(verdict.ok, true, JSON.stringify(verdict));
        const { items } = await readAuditChain(scratch.db, { after: 0, limit: 10 });
        assert.deepEqual(items.map((r) => [r.position, r.actor]), [[1, 'ünïcode ✓'], [2, 'b'], [4, 'c'], [5, 'after']]);
        assert.equal(items[0]?.at, '2026-01-02T01:04:05.678Z');
      } finally {
        await scratch.dispose();
        await rm(before0008, { recursive: true, force: true });
      }
    });
  });
}
