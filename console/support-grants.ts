/**
 * Support access as a lead watches it: every access request and grant, read from the store with
 * the console's identity (read-only), and one grant with the audit records that name it, read from
 * the store's hash-chained audit trail.
 */
import type { ChainedAuditRecord, SupportGrant } from '@msa-poc/contracts';
import { ProblemError } from '@msa-poc/platform/errors';
import { lazyStoreClient, notConnected, type StoreAccess } from './store-client.js';

export interface SupportGrantDetail {
  readonly grant: SupportGrant;
  /** Every audit record whose target or detail names the grant, oldest first. */
  readonly audit: ChainedAuditRecord[];
}

export interface SupportGrantSource {
  list(limit: number): Promise<SupportGrant[]>;
  detail(id: string): Promise<SupportGrantDetail>;
  close(): Promise<void>;
}

/** The largest page of the chain the store serves. */
const chainPage = 5000;

export function storeSupportGrants(store: StoreAccess): SupportGrantSource {
  const { client, close } = lazyStoreClient(store);
  return {
    async list(limit) {
      return (await client().listAllSupportGrants({ query: { limit } })).body.items;
    },
    async detail(id) {
      const found = await client().getSupportGrant({ params: { id } });
      if (found.status !== 200) throw new ProblemError('notFound', `The store has no access request or grant ${id}; the console lists the latest ones at /api/support/grants.`);
      // The chain is read whole, page by page: records name a grant in their target (decisions)
      // or their detail (token exchanges and the requests made under it).
      const audit: ChainedAuditRecord[] = [];
      for (let after = 0; ;) {
        const page = (await client().readAuditChain({ query: { after, limit: chainPage } })).body;
        audit.push(...page.items.filter((record) => record.target === `grant ${id}` || (record.detail ?? '').includes(id)));
        const last = page.items.at(-1);
        if (!last || last.position >= page.head.position) break;
        after = last.position;
      }
      return { grant: found.body, audit };
    },
    close,
  };
}

export const noSupportGrants: SupportGrantSource = {
  list: () => Promise.reject(notConnected('support access')),
  detail: () => Promise.reject(notConnected('support access')),
  close: async () => undefined,
};
