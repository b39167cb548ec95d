import { test } from 'node:test';
import assert from 'node:assert/strict';
import { extendTopology, parseSyntheticTopology, serviceNames, syntheticServices, topology } from '@msa-poc/contracts';
import { nodeFlagsOf } from './system.js';
import { eventually, startTestSystem } from './testing.js';

test('a synthetic topology is laid out level by level after the declared services, and a shape that cannot hold N is refused', () => {
  const services = syntheticServices(parseSyntheticTopology('synthetic:12,3,2'));
  assert.deepEqual(services.map((s) => [s.name, s.calls]), [
    ['synth-1', ['synth-2', 'synth-3']], ['synth-2', ['synth-4', 'synth-5']], ['synth-3', ['synth-6', 'synth-7']],
    ['synth-4', []], ['synth-5', []], ['synth-6', []], ['synth-7', []],
  ]);
  assert.deepEqual([services[0]?.port, services[0]?.adminPort, services[6]?.port], [8105, 9105, 8111]);
  assert.ok(services.every((s) => s.exposure === 'internal' && s.program === 'services/synthetic'));
  assert.throws(() => parseSyntheticTopology('synthetic:40,2,2'), /35 synthetic services do not fit 2 levels of fan-out 2 \(at most 3\); raise the depth or the fan-out/);
  assert.throws(() => parseSyntheticTopology('synthetic:5'), /N from 6 to 200 processes in all/);
  assert.throws(() => parseSyntheticTopology('synthetic:ten'), /is not a synthetic topology: write synthetic:N\[,depth,fanout\]/);
});

test('synthetic:8,3,1 starts three more services with identities and allow-lists, and one request crosses all of them in one trace', async (t) => {
  // This process and every one it starts read the same extended list (POC_TOPOLOGY travels with the configuration).
  extendTopology('synthetic:8,3,1');
  assert.deepEqual(serviceNames.slice(-3), ['synth-1', 'synth-2', 'synth-3']);
  assert.deepEqual(topology.find((s) => s.name === 'gateway')?.calls.at(-1), 'synth-1');
  const system = await startTestSystem({ withConsole: true });
  t.after(() => system.dispose());
  assert.deepEqual([...system.services.keys()].filter((name) => name.startsWith('synth-')).sort(), ['synth-1', 'synth-2', 'synth-3']);

  const reply = await system.api.call<{ crossed: string[]; depth: number }>('GET', '/v1/relay');
  assert.equal(reply.status, 200);
  assert.deepEqual(reply.body, { crossed: ['synth-1', 'synth-2', 'synth-3'], depth: 3 });
  const shallow = await system.api.call<{ crossed: string[] }>('GET', '/v1/relay?depth=1');
  assert.deepEqual(shallow.body.crossed, ['synth-1']);
  const invalid = await system.api.call<{ type: string }>('GET', '/v1/relay?depth=99');
  assert.equal(invalid.status, 400, 'the edge validates the query against the contract');

  // The allow-list comes from the topology: synth-2 admits synth-1 only.
  const { relayContract } = await import('@msa-poc/contracts');
  await assert.rejects(system.client(relayContract('synth-2'), 'gateway').client.relay({ query: {} }), /gateway may not call GET \/relay; the contract allows synth-1/);

  const traceId = String(reply.headers['x-trace-id']);
  const consoleUrl = system.console!.url;
  const spans = await eventually('the relay trace through every synthetic service', async () => {
    const response = await fetch(`${consoleUrl}/api/traces/${traceId}`);
    if (!response.ok) return undefined;
    const view = (await response.json()) as { spans: { service: string }[] };
    return ['gateway', 'synth-1', 'synth-2', 'synth-3'].every((service) => view.spans.some((s) => s.service === service)) ? view.spans : undefined;
  });
  assert.ok(spans.length >= 7, 'a server span per service and a client span per hop');
});

test('the supervisor starts a synthetic service to favour memory, and a process hosting a declared service with V8\'s defaults', () => {
  extendTopology('synthetic:8,3,1');
  assert.deepEqual(nodeFlagsOf({ name: 'synth-2', services: ['synth-2'] }), ['--max-semi-space-size=1', '--optimize-for-size', '--enable-source-maps']);
  assert.deepEqual(nodeFlagsOf({ name: 'synthetic', services: ['synth-2', 'synth-3'] }), ['--max-semi-space-size=1', '--optimize-for-size', '--enable-source-maps']);
  assert.deepEqual(nodeFlagsOf({ name: 'gateway', services: ['gateway'] }), ['--enable-source-maps']);
  assert.deepEqual(nodeFlagsOf({ name: 'mixed', services: ['store', 'synth-3'] }), ['--enable-source-maps'], 'the store shares the process: its heap is not sized for a pass-through');
});
