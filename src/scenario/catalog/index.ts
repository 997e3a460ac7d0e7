/*
 * The catalog's registry: every scenario file of this directory, found at run time, so that a
 * scenario added as catalog/<name>.ts (`export default defineScenario({...})`) is listed without
 * editing this file. A module here whose default export is not a scenario (lib.ts, shared
 * helpers) is left out when the catalog is loaded. The measurements of scenario/measure/ are
 * found the same way.
 */
import { readdirSync } from 'node:fs';
import { isAbsolute, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isScenario, type Scenario } from '../scenario.ts';
import { UsageError } from '../../errors.ts';

export interface CatalogEntry {
  name: string;
  /** the module URL a CPU worker imports the scenario from */
  url: string;
  scenario: Scenario;
}

/** The race catalog: this directory. */
export const CATALOG_DIR = new URL('./', import.meta.url);
/** The measurements (defineMeasurement), found the same way. */
export const MEASURE_DIR = new URL('../measure/', import.meta.url);

/** name -> module URL of each .ts file of `dir` but index.ts, by name. */
export function catalogUrls(dir: URL = CATALOG_DIR): Map<string, string> {
  const files = readdirSync(dir).filter((f) => f.endsWith('.ts') && f !== 'index.ts');
  return new Map(files.sort().map((f) => [f.slice(0, -'.ts'.length), new URL(f, dir).href]));
}

/**
 * Where a message shows a file: relative to the working directory when it is below it, as the
 * user would type it, else its absolute path.
 */
export function displayPath(path: string): string {
  const rel = relative(process.cwd(), path);
  return rel.startsWith('..') || isAbsolute(rel) ? path : rel;
}

/** esbuild's syntax errors, as tsx passes them on: "<path>:<line>:<column>: ERROR: <text>". */
const ESBUILD_ERROR = /^(.+):(\d+):(\d+): ERROR: (.*)$/m;

/**
 * An error thrown while a scenario file loads, as one line that names the file, with the line and
 * column where the error has them, and where it was when that is in another file (a helper the
 * scenario imports); the error itself is the cause (printed with --debug).
 *   a syntax error        esbuild's first error: "<file>:4:12: syntax error: Expected ..."
 *   a throw at import     its first stack frame in the file, else outside this package's src/
 *                         (tsx maps stacks to the source): "<file>:4:31: failed to load: Error: ..."
 *   a link error          a missing export or module: the file, and Node's message
 *   defineScenario's      a UsageError that names the scenario, the preset and the valid names:
 *   checks                "<file>: scenario x: forbidden 'y' is not an oracle kind; kinds: ..."
 */
export function loadError(url: string, err: unknown): UsageError {
  const path = fileURLToPath(url);
  const file = displayPath(path);
  const e = err instanceof Error ? err : null;
  if (e?.name === 'UsageError') return new UsageError(`${file}: ${e.message}`, { cause: err });
  const syntax = e?.name === 'TransformError' ? ESBUILD_ERROR.exec(e.message) : null;
  const at = syntax ? { path: syntax[1], line: syntax[2], column: syntax[3] } : e && errorPlace(e, path);
  const what = syntax ? `syntax error: ${syntax[4]}` : `failed to load: ${e ? `${e.name}: ${e.message.split('\n')[0]}` : `${String(err)} was thrown`}`;
  if (!at) return new UsageError(`${file}: ${what}`, { cause: err });
  const place = `${displayPath(at.path)}:${at.line}:${at.column}`;
  return new UsageError(at.path === path ? `${place}: ${what}` : `${file}: ${what} (at ${place})`, { cause: err });
}

/** Node's stack frames (source-mapped): "at fn (/path/file.ts:4:31)", or the path alone. */
const FRAME = /^\s*at (?:.*? \()?(?:file:\/\/)?(\/[^():]+\.[cm]?ts):(\d+):(\d+)\)?$/;
/** Node's first stack line for an error at link time (a missing export): "/path/file.ts:1". */
const LINK_ERROR = /^(?:file:\/\/)?(\/[^:]+\.[cm]?ts):(\d+)$/;
const PACKAGE_SRC = fileURLToPath(new URL('../../', import.meta.url));

/** The first place in `e`'s stack that is in the file at `path`, else outside this package's src/. */
function errorPlace(e: Error, path: string): { path: string; line: string; column: string } | null {
  const places = (e.stack ?? '').split('\n').flatMap((line) => {
    const m = FRAME.exec(line) ?? LINK_ERROR.exec(line);
    return m ? [{ path: m[1], line: m[2], column: m[3] ?? '1' }] : [];
  });
  return places.find((p) => p.path === path) ?? places.find((p) => !p.path.startsWith(PACKAGE_SRC)) ?? null;
}

/** The module at `url`; whatever fails while it loads is a loadError. */
async function importModule(url: string): Promise<{ default?: unknown }> {
  try {
    return (await import(url)) as { default?: unknown };
  } catch (err) {
    throw loadError(url, err);
  }
}

/** The default export of the module at `url` if defineScenario made it, else null (lib.ts). */
async function importScenario(url: string): Promise<Scenario | null> {
  const mod = await importModule(url);
  return isScenario(mod.default) ? mod.default : null;
}

/**
 * The scenario of a file the user names: its default export, made by defineScenario or
 * defineMeasurement. Anything else is a UsageError naming the file.
 */
export async function scenarioFile(url: string): Promise<Scenario> {
  const mod = await importModule(url);
  if (isScenario(mod.default)) return mod.default;
  const file = displayPath(fileURLToPath(url));
  const what = !('default' in mod) ? 'it has no default export' : `its default export is ${describe(mod.default)}, not a scenario`;
  throw new UsageError(`${file} does not default-export a scenario made by defineScenario or defineMeasurement (import them from 'shootdown'): ${what}`);
}

function describe(x: unknown): string {
  if (x === null || x === undefined) return String(x);
  if (typeof x === 'function') return 'a function';
  return typeof x === 'object' ? 'an object' : `a ${typeof x}`;
}

/** The scenario `name` of `dir`, or null when there is none by that name. */
export async function catalogScenario(name: string, dir: URL = CATALOG_DIR): Promise<CatalogEntry | null> {
  const url = catalogUrls(dir).get(name);
  const scenario = url === undefined ? null : await importScenario(url);
  return scenario && url ? { name, url, scenario } : null;
}

export interface Catalog {
  entries: CatalogEntry[];
  /** files that failed to load, with the error: a scenario being written, or a broken one */
  broken: { name: string; error: string }[];
}

/** Every scenario of `dir`, by file name; one file that fails to load does not hide the others. */
export async function loadCatalog(dir: URL = CATALOG_DIR): Promise<Catalog> {
  const names = [...catalogUrls(dir).keys()];
  const settled = await Promise.allSettled(names.map((name) => catalogScenario(name, dir)));
  const out: Catalog = { entries: [], broken: [] };
  settled.forEach((s, i) => {
    if (s.status === 'rejected') out.broken.push({ name: names[i], error: (s.reason as Error)?.message ?? String(s.reason) });
    else if (s.value) out.entries.push(s.value);
  });
  return out;
}
