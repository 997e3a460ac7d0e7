import { describe, expect, it } from 'vitest';
import { SWITCHES, SWITCH_NAMES } from '../../src/config/kernel-config.ts';
import { MEASURE_DIR, loadCatalog } from '../../src/scenario/catalog/index.ts';
import { shootdown } from '../fixtures/cli.ts';

describe('shootdown list', () => {
  it('prints every switch with its values, default, descriptions and source as JSON', async () => {
    const r = await shootdown('list', '--json');
    expect(r.code).toBe(0);
    const { switches } = JSON.parse(r.stdout);
    expect(switches).toHaveLength(28);
    expect(switches.map((s: { name: string }) => s.name)).toEqual(SWITCH_NAMES);
    for (const s of switches) {
      expect(s.default).toBe(SWITCHES[s.name as keyof typeof SWITCHES].default);
      expect(s.values).toContain(s.default);
      expect(Object.keys(s.description)).toEqual(s.values);
      expect(s.from).toMatch(/seed|mainline/);
    }
    expect(switches.find((s: { name: string }) => s.name === 'syncIpi')).toMatchObject({
      values: ['always', 'skip-after-ipi-flush', 'skip-after-any-flush', 'never'],
      default: 'always',
    });
  });

  it('names every switch in its text output and marks the defaults', async () => {
    const r = await shootdown('list');
    expect(r.code).toBe(0);
    for (const name of SWITCH_NAMES) expect(r.stdout).toMatch(new RegExp(`^${name}$`, 'm'));
    expect(r.stdout).toMatch(/^ {2}\* always +tlb_remove_table_sync_one/m);
    expect(r.stdout).toMatch(/^ {4}never +no sync IPI/m);
  });

  it('has help text', async () => {
    const r = await shootdown('list', '--help');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('shootdown list [scenario|path/to/file.ts] [--scenarios] [--json]');
  });

  it('rejects an option it does not take with exit 2', async () => {
    const r = await shootdown('list', '--cpus', '2');
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("Unknown option '--cpus'");
  });

  it('lists the catalog and the measurements with --scenarios --json, each as its file defines it', async () => {
    const r = await shootdown('list', '--scenarios', '--json');
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.broken).toEqual([]);
    const [catalog, measure] = [await loadCatalog(), await loadCatalog(MEASURE_DIR)];
    expect(out.scenarios.map((s: { name: string }) => s.name)).toEqual(catalog.entries.map((e) => e.name));
    expect(out.measurements.map((s: { name: string }) => s.name)).toEqual(measure.entries.map((e) => e.name));
    for (const { name, scenario } of [...catalog.entries, ...measure.entries]) {
      const listed = [...out.scenarios, ...out.measurements].find((s: { name: string }) => s.name === name);
      expect(listed).toMatchObject({ question: scenario.question, forbidden: scenario.forbidden, cpus: scenario.cpus, kind: scenario.kind ?? 'race' });
      expect(listed.presets).toEqual(Object.entries(scenario.presets).map(([preset, switches]) => ({ name: preset, switches, expected: scenario.expected[preset] })));
      expect(listed.source).toBe(scenario.source ?? null);
    }
    // every race of the catalog names where it comes from
    for (const s of out.scenarios) expect(s.source, s.name).toMatch(/seed|mainline/);
    expect(out.scenarios.find((s: { name: string }) => s.name === 'batched-pending-lost')).toMatchObject({
      forbidden: 'access-after-return',
      cpus: 3,
      preferredCpus: 5,
      noise: 'high',
      presets: [
        { name: 'buggy', switches: ['batchedPending=flag'], expected: 'sometimes' },
        { name: 'fixed', switches: [], expected: 'never' },
        { name: 'cpumask', switches: ['batchedPending=cpumask'], expected: 'never' },
      ],
    });
    expect(out.measurements.find((s: { name: string }) => s.name === 'fanout-sweep')).toMatchObject({
      kind: 'measurement',
      forbidden: 'any',
      operation: 'flush_tlb_mm_range',
      variants: ['busy', 'idle'],
      trialOptions: { targets: 'busy', pages: 8 },
    });
  });

  it('shows each scenario with its question, forbidden kind, CPUs and presets in text', async () => {
    const r = await shootdown('list', '--scenarios');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^race scenarios \(src\/scenario\/catalog\): shootdown stress <name>/);
    expect(r.stdout).toMatch(/^dontneed-nested-flush\n {2}Can MADV_DONTNEED return before .*\n {2}source {6}seed 002; mainline 99baac21e458 .*\n {2}forbidden {3}access-after-return\n {2}cpus {8}3\n {2}presets {5}buggy {2}sometimes {2}nestedForceFlush=off\n {14}fixed {2}never {6}\(mainline\)\n {2}options {5}rounds=50$/m);
    expect(r.stdout).toMatch(/^ {2}cpus {8}3 \(runs on 5 unless told\); noise high in run-all$/m);
    expect(r.stdout).toMatch(/^measurements \(src\/scenario\/measure\): shootdown compare <name>$/m);
    expect(r.stdout).toMatch(/^fanout-sweep\n.*\n {2}operation {3}flush_tlb_mm_range; every oracle on, any report fails\n/m);
    expect(r.stdout).toMatch(/^ {2}variants {4}busy, idle$/m);
  });
});
