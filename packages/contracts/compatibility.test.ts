import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { Type } from '@sinclair/typebox';
import { contract, event, route } from './route.js';
import { contracts, events } from './index.js';
import { schemaBreaks, snapshotOf, unannouncedBreaks, type Snapshot } from './compatibility.js';

const snapshotFile = new URL('../snapshot/contracts.json', import.meta.url);

test('the contracts are compatible with the committed snapshot, or announce the break with a new major version', () => {
  const committed = JSON.parse(readFileSync(snapshotFile, 'utf8')) as Snapshot;
  const breaks = unannouncedBreaks(committed, snapshotOf(contracts, events));
  assert.deepEqual(breaks, [], `breaking changes without a major version bump:\n${breaks.join('\n')}\n(after bumping the version, refresh the snapshot with \`npm run contracts:snapshot\`)`);
});

const body = (props: Record<string, ReturnType<typeof Type.String>>, required = true) =>
  Type.Object(Object.fromEntries(Object.entries(props).map(([k, v]) => [k, required ? v : Type.Optional(v)])), { additionalProperties: false });
const version = (v: string, requestBody: ReturnType<typeof body>, response: ReturnType<typeof body>) =>
  snapshotOf({ store: contract({ service: 'store', version: v, routes: { put: route({ method: 'POST', path: '/x', summary: 's', body: requestBody, responses: { 200: response }, callers: ['orders'], idempotent: true }) } }) }, {});

test('detects a removed response field, a narrowed type and a new required input', () => {
  const base = version('1.0.0', body({ a: Type.String() }), body({ id: Type.String(), name: Type.String() }));
  const removed = version('1.1.0', body({ a: Type.String() }), body({ id: Type.String() }));
  assert.match(unannouncedBreaks(base, removed).join('\n'), /\/name: removed/);
  const narrowed = version('1.1.0', body({ a: Type.String({ maxLength: 3 }) }), body({ id: Type.String(), name: Type.String() }));
  assert.match(unannouncedBreaks(base, narrowed).join('\n'), /maxLength unbounded became 3/);
  const required = version('1.1.0', Type.Object({ a: Type.String(), b: Type.String() }, { additionalProperties: false }), body({ id: Type.String(), name: Type.String() }));
  assert.match(unannouncedBreaks(base, required).join('\n'), /\/b: new required input/);
  const retyped = version('1.1.0', Type.Object({ a: Type.Integer() }, { additionalProperties: false }) as never, body({ id: Type.String(), name: Type.String() }));
  assert.match(unannouncedBreaks(base, retyped).join('\n'), /type string became integer/);
});

test('a compatible change passes, and a breaking change passes once the major version is bumped', () => {
  const base = version('1.0.0', body({ a: Type.String({ maxLength: 3 }) }), body({ id: Type.String() }));
  const widenedInput = version('1.1.0', Type.Object({ a: Type.String({ maxLength: 10 }), b: Type.Optional(Type.String()) }, { additionalProperties: false }), body({ id: Type.String() }));
  assert.deepEqual(unannouncedBreaks(base, widenedInput), []);
  const removed = version('2.0.0', body({ a: Type.String({ maxLength: 3 }) }), body({}));
  assert.deepEqual(unannouncedBreaks(base, removed), []);
});

test('event data is checked as producer output read by strict consumers', () => {
  const make = (v: string, data: ReturnType<typeof Type.Object>) => snapshotOf({}, { e: event({ type: 't.v1', version: v, summary: 's', subject: 's', data }) });
  const base = make('1.0.0', Type.Object({ status: Type.Union([Type.Literal('a'), Type.Literal('b')]) }, { additionalProperties: false }));
  const widened = make('1.1.0', Type.Object({ status: Type.Union([Type.Literal('a'), Type.Literal('b'), Type.Literal('c')]) }, { additionalProperties: false }));
  assert.match(unannouncedBreaks(base, widened).join('\n'), /may now produce "c"/);
  const added = make('1.1.0', Type.Object({ status: Type.Union([Type.Literal('a'), Type.Literal('b')]), extra: Type.String() }, { additionalProperties: false }));
  assert.match(unannouncedBreaks(base, added).join('\n'), /extra: added, and old readers refuse unknown properties/);
});

test('optional-to-required in a request and required-to-optional in a response both break', () => {
  assert.match(schemaBreaks({ properties: { a: { type: 'string' } }, required: [] }, { properties: { a: { type: 'string' } }, required: ['a'] }, '', 'input').join(), /became required/);
  assert.match(schemaBreaks({ properties: { a: { type: 'string' } }, required: ['a'] }, { properties: { a: { type: 'string' } }, required: [] }, '', 'output').join(), /may now be absent/);
});
