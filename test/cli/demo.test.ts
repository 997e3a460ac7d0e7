import { describe, expect, it } from 'vitest';
import { shootdown } from '../fixtures/cli.ts';

describe('shootdown demo', () => {
  it('prints one JSON object with the run and exits 0 when every flush held', async () => {
    const r = await shootdown('demo', '--cpus', '3', '--flushes', '200', '--seed', '5', '--json');
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out).toMatchObject({ cpus: 3, flushes: 200, violations: 0, seed: 5 });
    expect(out.ipis).toBe(400);
    expect(out.shootdownUs.median).toBeGreaterThan(0);
    expect(out.shootdownUs.p99).toBeGreaterThanOrEqual(out.shootdownUs.median);
    expect(out.counters.nr_tlb_remote_flush).toBe(200);
  });

  it('runs clean under --set x86TlbFlush=invlpgb: the mm gets a global ASID and its flushes become INVLPGBs', async () => {
    const r = await shootdown('demo', '--cpus', '5', '--flushes', '300', '--seed', '6', '--set', 'x86TlbFlush=invlpgb', '--json');
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out).toMatchObject({ cpus: 5, flushes: 300, violations: 0, set: ['x86TlbFlush=invlpgb'] });
    expect(out.counters.global_asids_assigned).toBe(1);
    expect(out.counters.invlpgb).toBeGreaterThan(0);
    expect(out.counters.tlbsync).toBeGreaterThan(0);
    // the flushes before the global ASID, and the transition's, IPIed the 4 others
    expect(out.ipis).toBeLessThan(300 * 4);
  });

  it.each([
    [['--set', 'x86TlbFlush=nope'], "unknown value 'nope' for switch x86TlbFlush; values: ipi, invlpgb, kvm-pv"],
    [['--cpus', '0'], '--cpus must be an integer from 1 to 64, got "0"'],
    [['--cpus', '65'], '--cpus must be an integer from 1 to 64, got "65"'],
    [['--cpus', 'two'], '--cpus must be an integer from 1 to 64, got "two"'],
    [['--flushes', '1.5'], '--flushes must be an integer from 1 to 10000000, got "1.5"'],
    [['--frobnicate'], "Unknown option '--frobnicate'"],
  ])('rejects %j with exit 2 and a one-line message', async (args, message) => {
    const r = await shootdown('demo', ...args);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(message);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stdout).toBe('');
  });

  it('reports bad input as JSON under --json', async () => {
    const r = await shootdown('demo', '--cpus', '0', '--json');
    expect(r.code).toBe(2);
    expect(JSON.parse(r.stdout)).toEqual({ error: { kind: 'usage', message: '--cpus must be an integer from 1 to 64, got "0"' } });
  });

  it('rejects an unknown command with the list of commands', async () => {
    const r = await shootdown('frobnicate');
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("unknown command 'frobnicate'; commands: demo, list");
  });

  it('has help text', async () => {
    const r = await shootdown('demo', '--help');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('shootdown demo [--cpus N] [--flushes F]');
  });
});
