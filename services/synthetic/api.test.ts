import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Client, HttpView } from '@msa-poc/platform/service';
import type { RelayContract } from '@msa-poc/contracts';
import { relayApi } from './api.js';

const http: HttpView = { method: 'GET', url: '/relay', headers: {}, rawBody: undefined };
const caller = { kind: 'service', service: 'gateway' } as const;
const asked: unknown[] = [];
const leaf = (name: string) => ({ relay: async (request: { query: unknown }) => (asked.push([name, request.query]), relayApi(name, []).relay({ query: {}, caller, http })) }) as unknown as Client<RelayContract>;

test('crosses every service below, depth first, and counts the levels', async () => {
  const reply = await relayApi('synth-1', [leaf('synth-2'), leaf('synth-3')]).relay({ query: {}, caller, http });
  assert.deepEqual(reply, { status: 200, body: { crossed: ['synth-1', 'synth-2', 'synth-3'], depth: 2 } });
});

test('breadth one follows the first callee only, and depth stops the descent', async () => {
  asked.length = 0;
  const chain = await relayApi('synth-1', [leaf('synth-2'), leaf('synth-3')]).relay({ query: { breadth: 'one' }, caller, http });
  assert.deepEqual(chain.body, { crossed: ['synth-1', 'synth-2'], depth: 2 });
  assert.deepEqual(asked, [['synth-2', { breadth: 'one', depth: 15 }]], 'the remaining depth travels down');
  const shallow = await relayApi('synth-1', [leaf('synth-2')]).relay({ query: { depth: 1 }, caller, http });
  assert.deepEqual(shallow.body, { crossed: ['synth-1'], depth: 1 });
});
