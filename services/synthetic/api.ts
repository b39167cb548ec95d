/** The relay: cross this service, then the levels below it, and say which services were crossed. */
import type { RelayContract } from '@msa-poc/contracts';
import type { Client, Handlers } from '@msa-poc/platform/service';

export function relayApi(name: string, below: readonly Client<RelayContract>[]): Handlers<RelayContract> {
  return {
    relay: async ({ query }) => {
      const depth = query.depth ?? 16;
      const next = depth > 1 ? (query.breadth === 'one' ? below.slice(0, 1) : below) : [];
      const replies = await Promise.all(next.map((client) => client.relay({ query: { ...query, depth: depth - 1 } })));
      return { status: 200, body: { crossed: [name, ...replies.flatMap((r) => r.body.crossed)], depth: 1 + Math.max(0, ...replies.map((r) => r.body.depth)) } };
    },
  };
}
