/**
 * The console's client of the store: the store's typed client over mutual TLS with the console's
 * own certificate (`spiffe://msa-poc.local/console`), so the store knows, and audits, who asked.
 */
import { storeContract } from '@msa-poc/contracts';
import { createClient, type ClientHandle } from '@msa-poc/platform/client';
import { ProblemError } from '@msa-poc/platform/errors';
import { loadIdentity, tlsClientOptions } from '@msa-poc/platform/identity';
import type { Client } from '@msa-poc/platform/service';

export interface StoreAccess {
  /** Where the store listens, e.g. `https://127.0.0.1:8102`. */
  readonly url: string;
  /** The folder of the local CA, holding `console.crt` and `console.key`. */
  readonly pkiDir: string;
}

export interface LazyStoreClient {
  readonly client: () => Client<typeof storeContract>;
  readonly close: () => Promise<void>;
}

/** Reads the certificate on first use, so that a console started before `poc up` created it recovers by itself. */
export function lazyStoreClient(store: StoreAccess): LazyStoreClient {
  let handle: ClientHandle<typeof storeContract> | undefined;
  return {
    client: () => {
      handle ??= createClient(storeContract, { origin: store.url, peer: 'store', connect: consoleTls(store.pkiDir), timeoutMs: 5_000 });
      return handle.client;
    },
    close: async () => {
      await handle?.close();
    },
  };
}

function consoleTls(pkiDir: string): ReturnType<typeof tlsClientOptions> {
  try {
    return tlsClientOptions(loadIdentity(pkiDir, 'console'), 'store');
  } catch (error) {
    throw new ProblemError('unavailable', `The console has no certificate to call the store with: ${(error as Error).message}.`, { cause: error });
  }
}

/** A console started alone, with no system behind it: every call that needs the store explains what is missing. */
export function notConnected(what: string): ProblemError {
  return new ProblemError('unavailable', `This console was started without a store, so it cannot show ${what}. Start it with the system (\`npx poc up\`), or pass \`storeUrl\` and \`pkiDir\` to startConsole.`);
}
