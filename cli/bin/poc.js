#!/usr/bin/env node
// The `poc` command. The TypeScript sources compile to ../dist on `npm install` (the root `prepare` script).
import '../dist/main.js';
