import { describe, expect, it } from 'vitest';
import { shootdown } from '../fixtures/cli.ts';

describe('shootdown demo --arch arm64', () => {
  it('runs clean with no IPI: each flush is TLBIs and one DSB ISH', async () => {
    const r = await shootdown('demo', '--arch', 'arm64', '--cpus', '4', '--flushes', '300', '--seed', '7', '--json');
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out).toMatchObject({ arch: 'arm64', cpus: 4, flushes: 300, violations: 0, ipis: 0 });
    const c = out.counters;
    expect(c.dsb_ish).toBe(300);
    expect(c.tlbi_va + c.tlbi_va_leaf + c.tlbi_range + c.tlbi_asid + c.tlbi_all).toBeGreaterThan(0);
    expect(c.ipis_sent).toBe(0);
  });
});
