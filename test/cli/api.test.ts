/*
 * A scenario of the user's own, in a temporary folder outside the repository with no
 * package.json and no node_modules, importing only from 'shootdown': the command resolves that to
 * the running package (bin/hooks.mjs), in the main thread and in every CPU worker, as .ts and as
 * .mts; stress --typecheck checks it against the package's types before the run. And the API
 * has every name the catalog's scenarios and measurements import from the package's modules.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cpSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { shootdown } from '../fixtures/cli.ts';
import * as api from '../../src/index.ts';

const FIXTURES = fileURLToPath(new URL('../fixtures/own-scenario/', import.meta.url));
let dir: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'shootdown-api-'));
  cpSync(FIXTURES, dir, { recursive: true });
  writeFileSync(join(dir, 'free-under-reclaim.mts'), readFileSync(join(dir, 'free-under-reclaim.ts')));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('a scenario file in a folder of its own', () => {
  it.each(['free-under-reclaim.ts', 'free-under-reclaim.mts'])('runs %s from outside the repository, clean under fixed', async (file) => {
    const r = await shootdown('stress', join(dir, file), '--kernel', 'fixed', '--trials', '3', '--seed', '1', '--json');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ scenario: 'free-under-reclaim', forbidden: 'lost-data', expected: 'never', trials: 3, reports: 0, failed: false });
  });

  it('truncates a file under two writers: every access past the end is SIGBUS, every store below it reaches the disk', async () => {
    const r = await shootdown('stress', join(dir, 'truncate-under-stores.ts'), '--kernel', 'fixed', '--trials', '4', '--seed', '2', '--json');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out).toMatchObject({ scenario: 'truncate-under-stores', forbidden: 'assertion', trials: 4, reports: 0, failed: false });
    // the truncates zapped what the writers' CPUs had cached, and the writers' accesses past the end faulted
    expect(out.counters.nr_tlb_remote_flush).toBeGreaterThan(0);
    expect(out.counters.page_faults).toBeGreaterThan(0);
  });

  it.each(['fixed', 'buggy'])('moves memory with sysMremap and keeps every store (mremap-keeps-data.ts, %s)', async (kernel) => {
    const r = await shootdown('stress', join(dir, 'mremap-keeps-data.ts'), '--kernel', kernel, '--trials', '3', '--seed', '1', '--json');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out).toMatchObject({ scenario: 'mremap-keeps-data', forbidden: 'lost-data', expected: 'never', trials: 3, reports: 0, failed: false });
    // the moves happened, PTE by PTE, with the stores' pages in them
    expect(out.counters.mremap_ptes_moved).toBeGreaterThan(0);
  });

  it('reports what its programs do wrong, with a helper module of its own folder (exit 1)', async () => {
    const r = await shootdown('stress', join(dir, 'lost-store.ts'), '--kernel', 'fixed', '--trials', '2', '--seed', '1', '--json');
    expect(r.code).toBe(1);
    const out = JSON.parse(r.stdout);
    expect(out).toMatchObject({ scenario: 'lost-store', failed: true, violations: 2, reportsByKind: { 'lost-data': 2 } });
    expect(out.rerun).toContain(`stress ${join(dir, 'lost-store.ts')} --kernel fixed`);
  });

  it('type-checks clean against the package types with --typecheck, and then runs', async () => {
    const r = await shootdown('stress', join(dir, 'lost-store.ts'), '--typecheck', '--kernel', 'fixed', '--trials', '1', '--seed', '1');
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('stress lost-store: Does the data check see a store');
  });

  it('--typecheck finds a misspelt trial option before the run: exit 2, one line with file:line:col', async () => {
    const file = join(dir, 'misspelt.ts');
    writeFileSync(file, readFileSync(join(dir, 'free-under-reclaim.ts'), 'utf8').replace('trialOptions: { rounds: 40 }', 'trialOptions: { rouns: 40 }'));
    const r = await shootdown('stress', file, '--typecheck', '--kernel', 'fixed', '--trials', '1');
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    const lines = r.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(new RegExp(`^shootdown: ${file}:\\d+:\\d+: error TS2561: .*'rouns' does not exist in type 'Options'. Did you mean to write 'rounds'\\?`));
  });

  it('--typecheck reports every error, one line each', async () => {
    const file = join(dir, 'two-errors.ts');
    writeFileSync(file, `import { sysMmap, type Cpu } from 'shootdown';\nexport function f(cpu: Cpu): number {\n  sysMmap(cpu, 'mm', { length: 4096, prot: 0 });\n  return sysMmap(cpu, 1, { length: 4096 });\n}\n`);
    const r = await shootdown('stress', file, '--typecheck');
    expect(r.code).toBe(2);
    const lines = r.stderr.trim().split('\n');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(new RegExp(`^shootdown: ${file}:3:16: error TS2345: .*'string'.*'number'`));
    expect(lines[1]).toMatch(new RegExp(`^${file}:4:26: error TS2345: .*'prot'`));
  });
});

describe("what 'shootdown' exports", () => {
  const API_TEXT = readFileSync(new URL('../../src/index.ts', import.meta.url), 'utf8');
  const IMPORT = /import (type )?\{([^}]*)\} from '\.[^']*'/g;
  // the catalog's scenarios and measurements, and the suite's adversarial scenarios
  const files = ['catalog', 'measure'].flatMap((dir) => {
    const url = new URL(`../../src/scenario/${dir}/`, import.meta.url);
    return readdirSync(url).filter((f) => f !== 'index.ts' && f !== 'lib.ts').map((f) => new URL(f, url));
  });
  files.push(...['anon', 'file'].map((kind) => new URL(`../fixtures/adversarial-${kind}.ts`, import.meta.url)));

  it.each(files.map((url) => [url.pathname.split(/\/(?:src|test)\//)[1], url]))('has every name %s imports from the package', (_, url) => {
    for (const [, typeOnly, names] of readFileSync(url, 'utf8').matchAll(IMPORT)) {
      for (const raw of names.split(',').map((n) => n.trim()).filter(Boolean)) {
        const name = raw.replace(/^type /, '');
        // a type leaves nothing at run time: the API's text names it
        if (typeOnly || raw.startsWith('type ')) expect(API_TEXT).toMatch(new RegExp(`\\b${name}\\b`));
        else expect(api).toHaveProperty(name);
      }
    }
  });
});
