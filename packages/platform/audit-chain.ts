/**
 * The audit trail's hash chain: how a record's hash is computed (by the store when it appends, by
 * the migration that chained the records written before the chain existed, and by whoever verifies
 * it), and how a chain read back in order is checked link by link.
 *
 * Canonical encoding, version 1 (the bytes that are hashed), a UTF-8 string:
 *
 *   "msa-poc audit v1\n"
 *   then, for each field in this order — position, at, actor, key_thumbprint, action, outcome,
 *   target, request_id, trace_id, detail, previous_hash —
 *     "<n>:<value>\n" where n is the value's length in UTF-8 bytes, written in decimal, or
 *     "-\n" when the field is absent (NULL).
 *
 * `position` is written in decimal; `at` as `YYYY-MM-DDTHH:MM:SS.mmmZ` (UTC, milliseconds, what
 * `Date.prototype.toISOString` writes). hash = lowercase hex SHA-256 of those bytes. The first
 * record's previous_hash is the genesis value, 64 zeros. Because a length prefix starts with a
 * digit, no value can be mistaken for an absent field or run into the next one.
 */
import { createHash } from 'node:crypto';
import type { ChainedAuditRecord } from '@msa-poc/contracts';

export type { ChainedAuditRecord };

export const genesisHash = '0'.repeat(64);

const field = (value: string | null): string => (value === null ? '-\n' : `${Buffer.byteLength(value, 'utf8')}:${value}\n`);

/** The canonical encoding (version 1) of a record and the hash it follows. */
export function canonicalAuditEncoding(record: Omit<ChainedAuditRecord, 'hash'>): string {
  return 'msa-poc audit v1\n' + [
    String(record.position), record.at, record.actor, record.keyThumbprint, record.action, record.outcome,
    record.target, record.requestId, record.traceId, record.detail, record.previousHash,
  ].map(field).join('');
}

export function auditRecordHash(record: Omit<ChainedAuditRecord, 'hash'>): string {
  return createHash('sha256').update(canonicalAuditEncoding(record), 'utf8').digest('hex');
}

export type ChainBreak =
  /** The record's fields do not hash to its stored hash: it was changed after it was written. */
  | { kind: 'altered'; position: number; expected: string; found: string }
  /** The record does not follow the one before it: a record between them was removed, or records were inserted or reordered. */
  | { kind: 'unlinked'; position: number; previousPosition: number | null; expected: string; found: string }
  /** The chain no longer holds a head recorded earlier (an anchor): it was rewritten since. */
  | { kind: 'unanchored'; position: number; expected: string; found: string }
  /** The chain does not end at the head the store recorded: records at its end were removed, or added behind the store's back. */
  | { kind: 'truncated'; position: number; expected: string; found: string };

export type ChainVerdict =
  | { ok: true; checked: number; head: { position: number; hash: string } }
  | { ok: false; checked: number; broken: ChainBreak };

/** One page of the chain in position order, and the chain's head, read from one snapshot. */
export interface ChainPage {
  readonly items: readonly ChainedAuditRecord[];
  readonly head: { readonly position: number; readonly hash: string };
}

/**
 * Reads the whole chain a page at a time (so a long chain needs no more memory than a page) and
 * checks every link, stopping at the first break. The last page's head, read in the same snapshot
 * as that page, must be the last record: a chain cut short at its end is found too.
 */
export async function verifyAuditChain(
  readPage: (after: number, limit: number) => Promise<ChainPage>,
  options: {
    pageSize?: number;
    onProgress?: (checked: number, headPosition: number) => void;
    /** A head recorded earlier, outside the database: the chain must still hold that record with that hash. */
    anchor?: { position: number; hash: string };
  } = {},
): Promise<ChainVerdict> {
  const pageSize = options.pageSize ?? 1000;
  const verifier = new ChainVerifier(options.anchor);
  let after = 0;
  for (;;) {
    const page = await readPage(after, pageSize);
    const intact = verifier.add(page.items);
    const last = page.items.at(-1);
    if (!intact || !last || page.items.length < pageSize) return verifier.finish(page.head);
    options.onProgress?.(verifier.checked, page.head.position);
    after = last.position;
  }
}

/** Checks a chain fed to it in position order; `finish` compares its end with the head the store keeps. */
class ChainVerifier {
  constructor(private readonly anchor: { position: number; hash: string } | undefined) {}

  #previous: { position: number; hash: string } | null = null;
  #checked = 0;
  #broken: ChainBreak | undefined;

  get checked(): number {
    return this.#checked;
  }

  /** Checks the next records; answers false once the chain is broken (the rest need not be read). */
  add(records: readonly ChainedAuditRecord[]): boolean {
    for (const record of records) {
      if (this.#broken) return false;
      const expectedPrevious = this.#previous?.hash ?? genesisHash;
      if (record.previousHash !== expectedPrevious) {
        this.#broken = { kind: 'unlinked', position: record.position, previousPosition: this.#previous?.position ?? null, expected: expectedPrevious, found: record.previousHash };
        return false;
      }
      const computed = auditRecordHash(record);
      if (computed !== record.hash) {
        this.#broken = { kind: 'altered', position: record.position, expected: computed, found: record.hash };
        return false;
      }
      if (this.anchor && record.position >= this.anchor.position && !(this.#previous && this.#previous.position >= this.anchor.position)) {
        const found = record.position === this.anchor.position ? record.hash : `no record ${this.anchor.position} (the chain goes from ${this.#previous?.position ?? 'its start'} to ${record.position})`;
        if (found !== this.anchor.hash) {
          this.#broken = { kind: 'unanchored', position: this.anchor.position, expected: this.anchor.hash, found };
          return false;
        }
      }
      this.#previous = { position: record.position, hash: record.hash };
      this.#checked += 1;
    }
    return !this.#broken;
  }

  finish(head: { position: number; hash: string }): ChainVerdict {
    if (this.#broken) return { ok: false, checked: this.#checked, broken: this.#broken };
    const last = this.#previous ?? { position: 0, hash: genesisHash };
    if (this.anchor && last.position < this.anchor.position) {
      return { ok: false, checked: this.#checked, broken: { kind: 'unanchored', position: this.anchor.position, expected: this.anchor.hash, found: `no record ${this.anchor.position} (the chain ends at ${last.position})` } };
    }
    if (last.position !== head.position || last.hash !== head.hash) {
      return { ok: false, checked: this.#checked, broken: { kind: 'truncated', position: head.position, expected: head.hash, found: last.position === 0 ? 'no records' : `position ${last.position}, hash ${last.hash}` } };
    }
    return { ok: true, checked: this.#checked, head: last };
  }
}

/** One line a person can act on, for a broken chain. */
export function describeChainBreak(broken: ChainBreak): string {
  switch (broken.kind) {
    case 'altered':
      return `record ${broken.position} was altered after it was written: its fields hash to ${broken.expected}, but its stored hash is ${broken.found}`;
    case 'unlinked':
      return `record ${broken.position} does not follow ${broken.previousPosition === null ? 'the start of the chain' : `record ${broken.previousPosition}`}: it names previous hash ${broken.found}, expected ${broken.expected} — records between them were removed, or records were inserted or reordered`;
    case 'unanchored':
      return `record ${broken.position} was anchored with hash ${broken.expected}, but the chain now holds ${broken.found}: the chain was rewritten after that head was recorded`;
    case 'truncated':
      return `the store's head of the chain is record ${broken.position} with hash ${broken.expected}, but the chain ends at ${broken.found}: records at its end were removed, or added without going through the store`;
  }
}
