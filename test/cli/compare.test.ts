import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { shootdown } from '../fixtures/cli.ts';

const dir = mkdtempSync(join(tmpdir(), 'shootdown-compare-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('shootdown compare', () => {
  it('runs every kernel at every CPU count with one seed, prints one JSON object with stable names and writes the page', async () => {
    const html = join(dir, 'mprotect.html');
    const r = await shootdown('compare', 'mprotect-toggle', '--kernel', 'always-flush,skip-promotions', '--cpus', '1,2', '--seed', '7', '--json', '--html', html);
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out).toMatchObject({ scenario: 'mprotect-toggle', kernels: ['always-flush', 'skip-promotions'], cpus: [1, 2], seed: 7, variants: [''] });
    expect(out.host.cores).toBeGreaterThan(0);
    expect(out.host.node).toBe(process.version);
    expect(out.rows.map((r: { kernel: string; cpus: number }) => `${r.kernel}@${r.cpus}`)).toEqual(['always-flush@1', 'skip-promotions@1', 'always-flush@2', 'skip-promotions@2']);
    for (const row of out.rows) {
      for (const field of ['ipis', 'shootdowns', 'cpusPerShootdown', 'fullFlushes', 'rangedFlushes', 'invlpg', 'entriesInvalidated', 'refillWalks', 'syncIpis', 'redundantFlushes', 'measuredUsPerOp', 'modelledUsPerOp', 'violations']) {
        expect(typeof row[field], field).toBe('number');
      }
      expect(row.waitUs).toHaveProperty('median');
      expect(row.waitUs).toHaveProperty('p99');
      expect(row.counters).toHaveProperty('nr_tlb_remote_flush');
      expect(row.violations).toBe(0);
    }
    // one CPU: no IPI; two: one per flush, half of them under skip-promotions
    expect(out.rows[0].ipis).toBe(0);
    expect(out.rows[3].ipis * 2).toBe(out.rows[2].ipis);
    const page = readFileSync(html, 'utf8');
    expect(page).toContain('skip-promotions');
    expect(existsSync(html)).toBe(true);
  });

  it('runs every row with the --param values on top of the trial options: twice the toggles, twice the IPIs', async () => {
    const ipis = async (toggles: number) => {
      const r = await shootdown('compare', 'mprotect-toggle', '--kernel', 'mainline', '--cpus', '2', '--seed', '3', '--param', `toggles=${toggles}`, '--json');
      expect(r.code).toBe(0);
      return JSON.parse(r.stdout).rows[0].ipis as number;
    };
    const [ten, twenty] = [await ipis(10), await ipis(20)];
    expect(ten).toBeGreaterThan(0);
    expect(twenty).toBe(2 * ten);
  });

  it('prints a table per variant and warns when CPUs outnumber the host cores', async () => {
    const cpus = Math.min(64, availableParallelism() + 1);
    const r = await shootdown('compare', 'fanout-sweep', '--cpus', `1,${cpus}`, '--seed', '1');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`warning: ${cpus} CPUs on ${availableParallelism()} host cores`);
    expect(r.stdout).toMatch(/variant busy:[\s\S]*variant idle:/);
    expect(r.stdout).toMatch(/one operation = flush_tlb_mm_range/);
  });

  it.each([
    [['compare', 'mprotect-toggle', '--kernel', 'nosuch'], /no preset 'nosuch'; presets: mainline, always-flush, skip-promotions/],
    [['compare', 'mprotect-toggle', '--kernel', ','], /--kernel takes a comma-separated list with no empty item/],
    [['compare', 'mprotect-toggle', '--kernel', ''], /--kernel takes a comma-separated list with no empty item/],
    [['compare', 'mprotect-toggle', '--cpus', '0'], /--cpus must be an integer from 1 to 64, got "?0"?/],
    [['compare', 'mprotect-toggle', '--cpus', '1,,2'], /--cpus takes a comma-separated list/],
    [['compare', 'fanout-sweep', '--variant', 'sleepy'], /no variant 'sleepy'; variants: busy, idle/],
    [['compare', 'mprotect-toggle', '--kernel', 'mprotectFlush=sometimes'], /unknown value 'sometimes' for switch mprotectFlush/],
    [['compare', 'no-such-scenario'], /unknown scenario 'no-such-scenario'; scenarios: .*fanout-sweep/],
    [['compare'], /compare takes one scenario/],
    [['compare', 'mprotect-toggle', '--param', 'toggle=5'], /unknown --param 'toggle' for scenario mprotect-toggle; options: pages \(default 16\), toggles \(default 50\)/],
    [['compare', 'mprotect-toggle', '--param', 'toggles=many'], /--param toggles/],
  ])('bad input %j exits 2 with a one-line message and writes nothing', async (args, message) => {
    const html = join(dir, 'bad.html');
    const r = await shootdown(...args, '--html', html);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(r.stdout).toBe('');
    expect(existsSync(html)).toBe(false);
  });
});
