// Writes the committed contract snapshot that the compatibility test compares against.
import { writeFileSync } from 'node:fs';
import { contracts, events } from '../packages/contracts/dist/index.js';
import { snapshotOf } from '../packages/contracts/dist/compatibility.js';

const file = new URL('../packages/contracts/snapshot/contracts.json', import.meta.url);
writeFileSync(file, `${JSON.stringify(snapshotOf(contracts, events), null, 2)}\n`);
console.log(`wrote ${file.pathname}`);
