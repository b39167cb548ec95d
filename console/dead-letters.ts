/**
 * The dead letters, as the store holds them: read and replayed through the store's typed client,
 * over mutual TLS with the console's own certificate, so the store knows (and audits) who asked.
 */
import { storeContract, type DeadLetter, type DeadLetterReplay, type Problem } from '@msa-poc/contracts';
import { createClient, type ClientHandle } from '@msa-poc/platform/client';
import { ProblemError } from '@msa-poc/platform/errors';
import { loadIdentity, tlsClientOptions } from '@msa-poc/platform/identity';

export type DeadLetterView = DeadLetter & { readonly replay?: DeadLetterReplay };

export type ReplayAnswer = { readonly status: 200; readonly body: DeadLetterReplay } | { readonly status: 404 | 409 | 422; readonly body: Problem };

export interface DeadLetterSource {
  list(limit: number): Promise<DeadLetterView[]>;
  replay(id: string): Promise<ReplayAnswer>;
  close(): Promise<void>;
}

export interface StoreAccess {
  /** Where the store listens, e.g. `https://127.0.0.1:8102`. */
  readonly url: string;
  /** The folder of the local CA, holding `console.crt` and `console.key`. */
  readonly pkiDir: string;
}

/** Reads the certificate on first use, so that a console started before `poc up` created it recovers by itself. */
export function storeDeadLetters(store: StoreAccess): DeadLetterSource {
  let handle: ClientHandle<typeof storeContract> | undefined;
  const client = () => {
    handle ??= createClient(storeContract, { origin: store.url, peer: 'store', connect: consoleTls(store.pkiDir), timeoutMs: 5_000 });
    return handle.client;
  };
  return {
    async list(limit) {
      const [letters, replays] = await Promise.all([
        client().listDeadLetters({ query: { limit } }),
        // Replays are few (each is a person's decision); the latest 500 cover any page of dead letters.
        client().listDeadLetterReplays({ query: { limit: 500 } }),
      ]);
      const replayOf = new Map(replays.body.items.map((replay) => [replay.deadLetterId, replay]));
      return letters.body.items.map((letter) => {
        const replay = replayOf.get(letter.id);
        return replay ? { ...letter, replay } : letter;
      });
    },
    async replay(id) {
      return client().replayDeadLetter({ params: { id } });
    },
    async close() {
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

/** A console started alone, with no system behind it: every dead-letter call explains what is missing. */
export const noDeadLetters: DeadLetterSource = {
  list: () => Promise.reject(notConnected()),
  replay: () => Promise.reject(notConnected()),
  close: async () => undefined,
};

function notConnected(): ProblemError {
  return new ProblemError('unavailable', 'This console was started without a store, so it cannot show dead letters. Start it with the system (`npx poc up`), or pass `storeUrl` and `pkiDir` to startConsole.');
}
