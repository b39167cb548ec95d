import { test } from 'node:test';
import assert from 'node:assert/strict';
import { auditRecordHash, canonicalAuditEncoding, describeChainBreak, genesisHash, verifyAuditChain, type ChainedAuditRecord, type ChainPage } from './audit-chain.js';

const first = { position: 1, at: '2026-11-26T00:00:00.000Z', actor: 'client-1', keyThumbprint: null, action: 'orders.place', outcome: 'allowed', target: '', requestId: null, traceId: null, detail: 'café ✓', previousHash: genesisHash };

test('the encoding is the documented one: length-prefixed UTF-8 fields, absent ones as "-", an empty one kept apart', () => {
  assert.equal(canonicalAuditEncoding(first), `msa-poc audit v1\n1:1\n24:2026-11-26T00:00:00.000Z\n8:client-1\n-\n12:orders.place\n7:allowed\n0:\n-\n-\n9:café ✓\n64:${genesisHash}\n`);
  // As computed outside Node: printf '<the encoding above>' | sha256sum
  assert.equal(auditRecordHash(first), '1e6f9317df5b4a09580f93b59bcec90dfe6e1b02a77bfa827ee3f69a87873aba');
  assert.notEqual(auditRecordHash({ ...first, target: null }), auditRecordHash(first));
  assert.notEqual(auditRecordHash({ ...first, actor: 'client-1\n-', keyThumbprint: null }), auditRecordHash({ ...first, actor: 'client-1', keyThumbprint: '-' }), 'no value runs into the next field');
});

function chainOf(length: number): ChainedAuditRecord[] {
  const records: ChainedAuditRecord[] = [];
  let previousHash = genesisHash;
  for (let position = 1; position <= length; position++) {
    const fields = { ...first, position, actor: `client-${position}`, previousHash };
    const record = { ...fields, hash: auditRecordHash(fields) };
    records.push(record);
    previousHash = record.hash;
  }
  return records;
}

const reader = (records: ChainedAuditRecord[], head = { position: records.at(-1)?.position ?? 0, hash: records.at(-1)?.hash ?? genesisHash }) =>
  async (after: number, limit: number): Promise<ChainPage> => ({ items: records.filter((r) => r.position > after).slice(0, limit), head });

test('an empty chain verifies against the genesis head; a chain verifies across pages, reporting progress', async () => {
  assert.deepEqual(await verifyAuditChain(reader([])), { ok: true, checked: 0, head: { position: 0, hash: genesisHash } });
  const records = chainOf(7);
  const progress: number[] = [];
  const verdict = await verifyAuditChain(reader(records), { pageSize: 3, onProgress: (checked) => progress.push(checked) });
  assert.deepEqual(verdict, { ok: true, checked: 7, head: { position: 7, hash: records[6]?.hash } });
  assert.deepEqual(progress, [3, 6]);
});

test('an anchor recorded earlier holds while the chain keeps it, and fails once it is rewritten or cut below it', async () => {
  const records = chainOf(5);
  const anchor = { position: 3, hash: records[2]?.hash as string };
  assert.equal((await verifyAuditChain(reader(records), { anchor })).ok, true);

  // The whole chain rewritten from record 2 on, with fresh hashes: every link holds, the anchor does not.
  const rewritten = chainOf(5);
  let previousHash = rewritten[0]?.hash as string;
  for (let i = 1; i < rewritten.length; i++) {
    const fields = { ...(rewritten[i] as ChainedAuditRecord), detail: 'rewritten', previousHash };
    rewritten[i] = { ...fields, hash: auditRecordHash(fields) };
    previousHash = (rewritten[i] as ChainedAuditRecord).hash;
  }
  assert.equal((await verifyAuditChain(reader(rewritten))).ok, true, 'links alone cannot tell');
  const verdict = await verifyAuditChain(reader(rewritten), { anchor });
  assert.equal(verdict.ok, false);
  if (!verdict.ok) {
    assert.deepEqual([verdict.broken.kind, verdict.broken.position, verdict.broken.expected], ['unanchored', 3, anchor.hash]);
    assert.match(describeChainBreak(verdict.broken), /rewritten after that head was recorded/);
  }
  const cut = await verifyAuditChain(reader(records.slice(0, 2)), { anchor });
  assert.equal(!cut.ok && cut.broken.kind, 'unanchored');
});

test('a chain that ends before the head the store recorded is found truncated', async () => {
  const records = chainOf(4);
  const verdict = await verifyAuditChain(reader(records.slice(0, 3), { position: 4, hash: records[3]?.hash as string }));
  assert.equal(verdict.ok, false);
  if (!verdict.ok) assert.deepEqual([verdict.broken.kind, verdict.broken.position, verdict.checked], ['truncated', 4, 3]);
});
