/*
 * The catalog's registry: every scenario file of this directory, found at run time, so that a
 * scenario added as catalog/<name>.ts (`export default defineScenario({...})`) is listed without
 * editing this file. A module here whose default export is not a scenario (lib.ts, shared
 * helpers) is left out when the catalog is loaded. The measurements of scenario/measure/ are
 * found the same way.
 */
import { readdirSync } from 'node:fs';
import { relative } from 'node:path';
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
 * The default export of the module at `url` if defineScenario made it, else null. A scenario that
 * names what does not exist (defineScenario's UsageError) is a UsageError naming its file.
 */
export async function importScenario(url: string): Promise<Scenario | null> {
  let mod: { default?: unknown };
  try {
    mod = (await import(url)) as { default?: unknown };
  } catch (err) {
    if ((err as Error)?.name === 'UsageError') throw new UsageError(`${relative(process.cwd(), fileURLToPath(url))}: ${(err as Error).message}`);
    throw err;
  }
  return isScenario(mod.default) ? mod.default : null;
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
