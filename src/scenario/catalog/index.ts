/*
 * The catalog's registry: every scenario file of this directory, found at run time, so that a
 * scenario added as catalog/<name>.ts (`export default defineScenario({...})`) is listed without
 * editing this file. A module here whose default export is not a scenario (lib.ts, shared
 * helpers) is left out when the catalog is loaded.
 */
import { readdirSync } from 'node:fs';
import { isScenario, type Scenario } from '../scenario.ts';

export interface CatalogEntry {
  name: string;
  /** the module URL a CPU worker imports the scenario from */
  url: string;
  scenario: Scenario;
}

/** name -> module URL of each .ts file of this directory but this one, by name. */
export function catalogUrls(): Map<string, string> {
  const files = readdirSync(new URL('./', import.meta.url)).filter((f) => f.endsWith('.ts') && f !== 'index.ts');
  return new Map(files.sort().map((f) => [f.slice(0, -'.ts'.length), new URL(`./${f}`, import.meta.url).href]));
}

/** The default export of the module at `url` if defineScenario made it, else null. */
export async function importScenario(url: string): Promise<Scenario | null> {
  const mod = (await import(url)) as { default?: unknown };
  return isScenario(mod.default) ? mod.default : null;
}

/** The catalog scenario `name`, or null when there is none by that name. */
export async function catalogScenario(name: string): Promise<CatalogEntry | null> {
  const url = catalogUrls().get(name);
  const scenario = url === undefined ? null : await importScenario(url);
  return scenario && url ? { name, url, scenario } : null;
}

export interface Catalog {
  entries: CatalogEntry[];
  /** files that failed to load, with the error: a scenario being written, or a broken one */
  broken: { name: string; error: string }[];
}

/** Every catalog scenario, by file name; one file that fails to load does not hide the others. */
export async function loadCatalog(): Promise<Catalog> {
  const names = [...catalogUrls().keys()];
  const settled = await Promise.allSettled(names.map(catalogScenario));
  const out: Catalog = { entries: [], broken: [] };
  settled.forEach((s, i) => {
    if (s.status === 'rejected') out.broken.push({ name: names[i], error: (s.reason as Error)?.message ?? String(s.reason) });
    else if (s.value) out.entries.push(s.value);
  });
  return out;
}
