#!/usr/bin/env node
// The `shootdown` command: registers the TypeScript loader and the package's own resolution hooks
// (bin/hooks.mjs: 'shootdown' is src/index.ts, a user's .ts file is ESM), then runs the CLI.
import { register } from 'node:module';
import { register as registerTsx } from 'tsx/esm/api';

// first: tsx's resolve, registered after, calls these hooks as its next step
register('./hooks.mjs', import.meta.url);
registerTsx();
const { main } = await import('../src/cli.ts');
process.exitCode = await main(process.argv.slice(2));
