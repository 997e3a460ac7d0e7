// The CPU worker's entry point: registers the TypeScript loader and the package's resolution hooks
// (bin/hooks.mjs, as the command does: the worker imports the user's scenario file too), then
// loads the CPU.
import { register } from 'node:module';
import { register as registerTsx } from 'tsx/esm/api';

// first: tsx's resolve, registered after, calls these hooks as its next step
register('../bin/hooks.mjs', import.meta.url);
registerTsx();
const cpu = await import('./cpu.ts');
export default cpu.default;
