/**
 * The dead letters, as the store holds them: read and replayed through the store's typed client,
 * over mutual TLS with the console's own certificate, so the store knows (and audits) who asked.
 */
import type { DeadLetter, DeadLetterReplay, Problem } from '@msa-poc/contracts';
import { lazyStoreClient, notConnected, type StoreAccess } from './store-client.js';

export type DeadLetterView = DeadLetter & { readonly replay?: DeadLetterReplay };

export type ReplayAnswer = { readonly status: 200; readonly body: DeadLetterReplay } | { readonly status: 404 | 409 | 422; readonly body: Problem };

export interface DeadLetterSource {
  list(limit: number): Promise<DeadLetterView[]>;
  replay(id: string): Promise<ReplayAnswer>;
  close(): Promise<void>;
}

export function storeDeadLetters(store: StoreAccess): DeadLetterSource {
  const { client, close } = lazyStoreClient(store);
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
    close,
  };
}

/** A console started alone, with no system behind it: every dead-letter call explains what is missing. */
export const noDeadLetters: DeadLetterSource = {
  list: () => Promise.reject(notConnected('dead letters')),
  replay: () => Promise.reject(notConnected('dead letters')),
  close: async () => undefined,
};
