/*
 * Module resolution hooks (node:module register) that both entry points install before tsx's:
 * the command (bin/shootdown.mjs) and every CPU worker thread (workers/cpu-worker.mjs), since the
 * workers import the user's scenario file too. Hooks run last registered first, so tsx's resolve
 * calls this one as its next step and sees the format decided here: it then compiles the file as
 * an ES module, instead of loading it through its CommonJS path.
 *
 *  - the specifier 'shootdown' is this package's public API, src/index.ts, whatever folder the
 *    importing file sits in: a user's scenario needs no node_modules and no package.json;
 *  - a .ts file outside any node_modules is an ES module. Without a package.json saying
 *    "type": "module" Node (and tsx after it) would take it for CommonJS, and a CommonJS file
 *    cannot import the ES modules of src/ (ERR_REQUIRE_CYCLE_MODULE). .mts is ESM already.
 */
const API = new URL('../src/index.ts', import.meta.url).href;
const PACKAGE = 'shootdown';

export async function resolve(specifier, context, nextResolve) {
  if (specifier === PACKAGE) return { url: API, format: 'module', shortCircuit: true };
  const resolved = await nextResolve(specifier, context);
  const { pathname, protocol } = new URL(resolved.url);
  if (protocol === 'file:' && pathname.endsWith('.ts') && !pathname.includes('/node_modules/')) return { ...resolved, format: 'module' };
  return resolved;
}
