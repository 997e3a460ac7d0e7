import { describe, expect, it } from 'vitest';
import { SWITCHES, SWITCH_NAMES } from '../../src/config/kernel-config.ts';
import { shootdown } from '../fixtures/cli.ts';

describe('shootdown list', () => {
  it('prints every switch with its values, default, descriptions and source as JSON', async () => {
    const r = await shootdown('list', '--json');
    expect(r.code).toBe(0);
    const { switches } = JSON.parse(r.stdout);
    expect(switches).toHaveLength(14);
    expect(switches.map((s: { name: string }) => s.name)).toEqual(SWITCH_NAMES);
    for (const s of switches) {
      expect(s.default).toBe(SWITCHES[s.name as keyof typeof SWITCHES].default);
      expect(s.values).toContain(s.default);
      expect(Object.keys(s.description)).toEqual(s.values);
      expect(s.from).toMatch(/seed|mainline/);
    }
    expect(switches.find((s: { name: string }) => s.name === 'syncIpi')).toMatchObject({
      values: ['always', 'skip-after-ipi-flush', 'never'],
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
    expect(r.stdout).toContain('shootdown list [scenario|path/to/file.ts] [--json]');
  });

  it('rejects an option it does not take with exit 2', async () => {
    const r = await shootdown('list', '--cpus', '2');
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("Unknown option '--cpus'");
  });
});
