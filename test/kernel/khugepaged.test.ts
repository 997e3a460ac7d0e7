import { describe, expect, it } from 'vitest';
import { fixtureUrl, useMachine } from '../fixtures/machine.ts';
import type { CollapseChecks, CollapseRun, GupRace, HeldOff, PinBlocks, ReaderResult } from '../fixtures/gup-workloads.ts';
import { applySwitches, defaultKernelConfig } from '../../src/config/kernel-config.ts';

const CPUS = 4;
const machine = useMachine({ cpus: CPUS });
const workload = (name: string) => fixtureUrl('gup-workloads', name);
const noFrameLeaked = () => expect(machine().freeFrames()).toBe(machine().v.nrFrames - 2);

describe('khugepaged collapse', () => {
  it('keeps every page intact for CPUs reading and writing it throughout the collapses', async () => {
    const rounds = 6;
    const run = await machine().run<unknown, CollapseRun | ReaderResult, object>(workload('collapseUnderAccess'), { rounds }, { seed: 11 });
    const collapser = run.results[0] as CollapseRun;
    expect(collapser.results).toEqual(Array(rounds).fill('SCAN_SUCCEED'));
    expect(collapser.wrongAfter).toBe(0);
    for (const r of run.results.slice(1) as ReaderResult[]) {
      expect(r.passes).toBeGreaterThan(0);
      expect(r.faulted).toBe(0);
      expect(r.wrong).toBe(0);
      expect(r.failedStores).toBe(0);
      expect(r.lostWrites).toBe(0);
    }
    noFrameLeaked();
  });

  it('backs off while GUP-fast holds a pin on a page of the range, and collapses once it is dropped', async () => {
    const run = await machine().run<unknown, PinBlocks | null, object>(workload('pinBlocksCollapse'), {}, { seed: 12 });
    const r = run.results[0]!;
    expect(r.whilePinned).toBe('SCAN_PAGE_COUNT');
    expect(r.mappedAfterFailure).toBe(r.pinnedPfn);
    expect(r.afterUnpin).toBe('SCAN_SUCCEED');
    expect(r.mappedAfterSuccess).not.toBe(r.pinnedPfn);
    expect(r.pinnedFrameFreed).toBe(true);
    expect(r.wrongAfter).toBe(0);
    noFrameLeaked();
  });

  // seed 001's argument: the walkers run the mm, so the flush IPI waits for each walk, and the
  // sync IPI adds nothing
  it.each(['always', 'skip-after-ipi-flush'])('never frees a table a GUP-fast walker is in, and every pin is a live mapped page (syncIpi=%s)', async (mode) => {
    const rounds = 10;
    const kernel = applySwitches(defaultKernelConfig(), [`syncIpi=${mode}`]);
    const run = await machine().run<unknown, CollapseRun | GupRace, object>(workload('gupVsCollapse'), { rounds, pages: 16 }, { seed: 13, kernel });
    const collapser = run.results[0] as CollapseRun;
    expect(collapser.results).toEqual(Array(rounds).fill('SCAN_SUCCEED'));
    expect(collapser.wrongAfter).toBe(0);
    for (const r of run.results.slice(1) as GupRace[]) {
      expect(r.first).toEqual([]);
      expect(r.count).toBe(0);
      expect(r.pinned).toBeGreaterThan(0);
    }
    noFrameLeaked();
  });

  it('refuses a range that is not one fully populated anonymous VMA over a PTE table', async () => {
    const run = await machine().run<unknown, CollapseChecks | null, object>(workload('collapseChecks'), {}, { seed: 14 });
    const r = run.results[0]!;
    expect(r.withHole).toBe('SCAN_EXCEED_NONE_PTE');
    expect(r.holeStillEmpty).toBe(true);
    expect(r.wrongAfterFailure).toBe(0);
    expect(r.filled).toBe('SCAN_SUCCEED');
    expect(r.noVma).toBe('SCAN_VMA_CHECK');
    expect(r.halfVma).toBe('SCAN_VMA_CHECK');
    expect(r.noTable).toBe('SCAN_PMD_NULL');
    expect(r.misaligned).toMatch(/not a 2 MiB-aligned user address/);
    expect(r.readOnly).toBe('SCAN_SUCCEED');
    expect(r.readOnlyWrite).toBe(false);
    expect(r.readOnlyWrong).toBe(0);
  });
});

describe('the sync IPI after pmdp_collapse_flush (switch syncIpi)', () => {
  // [layout, CPUs running the mm, syncIpi, IPIs sent in all, sync IPIs (tlb_remove_table_sync_one)]
  // The sync IPI goes to every other CPU; seed 001 skips it after any native IPI flush, also when
  // that flush reached only some of them (a CPU outside the mm cannot be in GUP-fast on it).
  it.each([
    ['every CPU runs the mm', [0, 1, 2, 3], 'always', 6, 1],
    ['every CPU runs the mm', [0, 1, 2, 3], 'skip-after-ipi-flush', 3, 0],
    ['every CPU runs the mm', [0, 1, 2, 3], 'never', 3, 0],
    ['khugepaged, the three other CPUs run the mm', [1, 2, 3], 'always', 6, 1],
    ['khugepaged, the three other CPUs run the mm', [1, 2, 3], 'skip-after-ipi-flush', 3, 0],
    ['CPU 3 does not run the mm', [0, 1, 2], 'always', 5, 1],
    ['CPU 3 does not run the mm', [0, 1, 2], 'skip-after-ipi-flush', 2, 0],
    ['CPU 3 does not run the mm', [0, 1, 2], 'never', 2, 0],
  ] as const)('%s (CPUs %j), syncIpi=%s: %i IPIs, %i of them the sync', async (_, runners, mode, ipis, syncs) => {
    const kernel = applySwitches(defaultKernelConfig(), [`syncIpi=${mode}`]);
    const run = await machine().run<unknown, string | null, object>(workload('collapseOnce'), { runners: [...runners] }, { seed: 15, speculationShift: -1, kernel });
    expect(run.results[0]).toBe('SCAN_SUCCEED');
    expect(run.counters.nr_tlb_remote_flush).toBe(1);
    expect(run.counters.tlb_remove_table_sync_one).toBe(syncs);
    expect(run.counters.ipis_sent).toBe(ipis);
    // the old table is deposited (it maps the copies here), not freed
    expect(run.counters.page_tables_freed).toBe(0);
  });
});

/*
 * The interleaving forced: what holds a collapse off while a CPU has IRQs off. A GUP-fast walker
 * in the old table runs its own mm, so pmdp_collapse_flush's IPI waits for it under every value
 * of syncIpi: that is seed 001's argument for skipping the sync IPI after a native flush. The
 * sync IPI (mainline: always) is a second rendezvous with every CPU, also one outside the mm,
 * after the flush and before the pages are checked and copied away; the value that skips it
 * lets the collapse finish without waiting for a CPU that cannot be in GUP-fast on the mm.
 */
describe('GUP-fast against a collapse, the interleaving forced', () => {
  it.each([
    ['always', { first: 'ipi', pagesFreed: false }, 1],
    ['skip-after-ipi-flush', { first: 'collapse-returned', pagesFreed: true }, 0],
    ['never', { first: 'collapse-returned', pagesFreed: true }, 0],
  ] as const)('syncIpi=%s: the walker in the table holds off the collapse through the flush IPI; the CPU outside the mm sees %j', async (mode, outside, syncs) => {
    const kernel = applySwitches(defaultKernelConfig(), [`syncIpi=${mode}`]);
    const run = await machine().run<unknown, string | HeldOff | null, object>(workload('collapseHeldOff'), {}, { seed: 71, speculationShift: -1, kernel });
    expect(run.results[0]).toBe('SCAN_SUCCEED');
    expect(run.results[3]).toEqual({ first: 'ipi', pagesFreed: false });
    expect(run.results[2]).toEqual(outside);
    expect(run.counters.tlb_remove_table_sync_one).toBe(syncs);
    noFrameLeaked();
  });
});
