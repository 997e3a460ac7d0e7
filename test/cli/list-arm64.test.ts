/*
 * Which races of the catalog run on arm64: the generic ones, whose code arm64 shares, and not
 * those that model x86's own flush (tlb_gen, PCIDs, INVLPGB, KVM's paravirt flush, x86
 * pte_needs_flush), nor the two batched-pending races whose window on arm64 is only a TLBI in
 * flight (their scenario files say why).
 */
import { describe, expect, it } from 'vitest';
import { Arch } from '../../src/arch/arch.ts';
import { loadCatalog } from '../../src/scenario/catalog/index.ts';
import { runsOn } from '../../src/scenario/scenario.ts';
import { shootdown } from '../fixtures/cli.ts';

const GENERIC = [
  'cow-stale-writable', 'dontneed-nested-flush', 'fork-vma-lock', 'lazyfree-direct-io', 'lost-dirty-early-rmap',
  'migrate-flush-pending', 'mremap-flush-after-unlock', 'nested-reset-range', 'ptep-clear-nonatomic', 'truncate-fault-race',
];
const X86_ONLY = [
  'asid-transition-switching', 'batched-pending-lost', 'deferred-flush-same-gen', 'gup-fast-broadcast-flush',
  'gup-fast-pv-preempted', 'madvise-batched-pending', 'mprotect-skip-nonatomic-clear', 'reclaim-global-asid',
];

describe('shootdown list --scenarios --arch arm64', () => {
  it('lists the races that run on arm64: the generic ones and gup-fast-tlbi-flush, none of x86\'s own', async () => {
    const r = await shootdown('list', '--scenarios', '--arch', 'arm64', '--json');
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.broken).toEqual([]);
    const names: string[] = out.scenarios.map((s: { name: string }) => s.name);
    const catalog = await loadCatalog();
    expect(names).toEqual(catalog.entries.filter((e) => runsOn(e.scenario, Arch.Arm64)).map((e) => e.name));
    for (const name of [...GENERIC, 'gup-fast-tlbi-flush']) expect(names, name).toContain(name);
    for (const name of X86_ONLY) expect(names, name).not.toContain(name);
    // and x86 still runs every generic race, and not the arm64 one
    const x86 = catalog.entries.filter((e) => runsOn(e.scenario, Arch.X86)).map((e) => e.name);
    for (const name of [...GENERIC, ...X86_ONLY]) expect(x86, name).toContain(name);
    expect(x86).not.toContain('gup-fast-tlbi-flush');
  });
});
