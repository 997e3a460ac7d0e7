/*
 * mmu_gather, field by field (src/kernel/mmu-gather.ts): each test puts the kernel in a situation
 * where a gather that ignored the field would flush too little, too much, too late, or free
 * something too early, and checks what the other CPUs see.
 */
import { describe, expect, it } from 'vitest';
import { fixtureUrl, useMachine } from '../fixtures/machine.ts';
import {
  GATHER_CAPACITY,
  type BatchResult, type ExitLazyResult, type ExitResult, type LazyResult, type NeedFlushAllResult, type NestedResult, type RangeResult, type RmapResult, type StrideLevel,
  type StrideResult, type TablesResult,
} from '../fixtures/gather-workloads.ts';
import { MAX_GATHER_BATCH, MMU_GATHER_BUNDLE, MmuGather, pmdFreeTlb, pteFreeTlb, pudFreeTlb, tlbRemovePage, tlbRemoveTlbEntry } from '../../src/kernel/mmu-gather.ts';
import { INIT_MM } from '../../src/kernel/mm-layout.ts';
import { PAGE_SIZE } from '../../src/machine/phys-layout.ts';
import { PMD_SIZE } from '../../src/machine/pagetable.ts';
import { applySwitches, defaultKernelConfig } from '../../src/config/kernel-config.ts';
import type { RunResult } from '../../src/machine/machine.ts';

// room for a zap one page larger than a gather holds (GATHER_CAPACITY, 9678 pages)
const machine = useMachine({ cpus: 4, frames: 12288 });
const workload = (name: string) => fixtureUrl('gather-workloads', name);
/** no speculative walks: TLB contents are exactly what the programs loaded */
const quiet = (seed: number, ...switches: string[]) => ({ seed, speculationShift: -1, kernel: applySwitches(defaultKernelConfig(), switches) });
const run = <R>(name: string, options: object, seed: number, ...switches: string[]): Promise<RunResult<R>> =>
  machine().run<unknown, R, object>(workload(name), options, quiet(seed, ...switches));

describe('the gather functions', () => {
  it('tlb_remove_tlb_entry widens the range by the page and notes cleared_ptes', () => {
    const tlb = new MmuGather(1, false, 0, 0);
    tlbRemoveTlbEntry(tlb, 5 * PAGE_SIZE);
    tlbRemoveTlbEntry(tlb, 2 * PAGE_SIZE);
    expect([tlb.start, tlb.end, tlb.clearedPtes, tlb.freedTables]).toEqual([2 * PAGE_SIZE, 6 * PAGE_SIZE, true, false]);
  });

  it('pte/pmd/pud_free_tlb queue the table, note the level above it and freed_tables, and widen the range by one page', () => {
    const cases = [
      { free: pteFreeTlb, level: 'clearedPmds' },
      { free: pmdFreeTlb, level: 'clearedPuds' },
      { free: pudFreeTlb, level: 'clearedP4ds' },
    ] as const;
    for (const { free, level } of cases) {
      const tlb = new MmuGather(1, false, 0, 0);
      free(tlb, 77, 4 * PMD_SIZE);
      const levels = { clearedPtes: tlb.clearedPtes, clearedPmds: tlb.clearedPmds, clearedPuds: tlb.clearedPuds, clearedP4ds: tlb.clearedP4ds };
      expect(levels).toEqual({ clearedPtes: false, clearedPmds: false, clearedPuds: false, clearedP4ds: false, [level]: true });
      expect([tlb.start, tlb.end, tlb.freedTables, tlb.tables]).toEqual([4 * PMD_SIZE, 4 * PMD_SIZE + PAGE_SIZE, true, [77]]);
    }
  });

  it('sizes the page batch as x86-64 mainline: 510 entries a batch page, 19 batch pages after the bundle of 8', () => {
    expect([MMU_GATHER_BUNDLE, MAX_GATHER_BATCH, GATHER_CAPACITY]).toEqual([8, 510, 9678]);
  });

  it('tlb_remove_page asks for a flush only when the last batch page is full', () => {
    const tlb = new MmuGather(1, false, 0, 0);
    const full = Array.from({ length: GATHER_CAPACITY }, (_, i) => tlbRemovePage(tlb, 100 + i, false));
    expect(full.indexOf(true)).toBe(GATHER_CAPACITY - 1);
    expect([tlb.pages.length, tlb.delayedRmapPending, tlb.batchCount]).toEqual([GATHER_CAPACITY, false, 19]);
  });

  it('tlb_remove_page stops at the first batch page while a delayed rmap is pending', () => {
    const tlb = new MmuGather(1, false, 0, 0);
    const full = Array.from({ length: 600 }, (_, i) => tlbRemovePage(tlb, 100 + i, i === 0));
    // the bundle's 7 and one batch page's 509
    expect(full.indexOf(true)).toBe(7 + 509 - 1);
    expect([tlb.delayRmap[0], tlb.delayedRmapPending]).toEqual([true, true]);
  });
});

describe('start and end: the gathered range', () => {
  it('flushes exactly the pages MADV_DONTNEED cleared: another CPU keeps the rest of the mapping cached', async () => {
    const r = await run<RangeResult | boolean[] | null>('gatheredRange', {}, 31);
    expect(r.results[1]).toEqual([true, true, false, false, true, true, true, true]);
    expect(r.results[0]).toMatchObject({ flushOne: 2, flushAll: 0, genSteps: 1 });
  });
});

describe('cleared_ptes/pmds/puds/p4ds: whether to flush, and the stride', () => {
  it('does not flush at all when the gather cleared nothing (a second MADV_DONTNEED of the same range)', async () => {
    const r = await run<RangeResult | boolean[] | null>('gatheredRange', {}, 32);
    expect(r.results[0]).toMatchObject({ emptyGenSteps: 0, emptyIpis: 0 });
  });

  // ptes: one flush at tlb_finish_mmu (no flush at tlb_end_vma on x86), 17 INVLPGs for the
  // cleared PTEs, which cover the tables' one page too
  it.each<[StrideLevel, number, number]>([
    ['ptes', 17, 3],
    ['pmds', 2, 4],
    ['puds', 2, 3],
    ['p4ds', 2, 2],
  ])('a munmap whose smallest cleared level is %s invalidates at that level\'s stride: %i INVLPGs, %i tables freed', async (level, invlpgs, tables) => {
    const r = await run<StrideResult | boolean[] | null>('strides', { level }, 33);
    expect(r.results[0]).toMatchObject({ flushOne: invlpgs, flushAll: 0, tablesFreed: tables });
    // pages 0 and 16: a stride wider than a page would have left page 16 cached on CPU 1
    if (level === 'ptes') expect(r.results[1]).toEqual([false, false]);
  });
});

describe('needFlushAll', () => {
  it('turns the flush of a one-page gather into a full flush', async () => {
    const all = await run<NeedFlushAllResult | boolean | null>('needFlushAll', { needFlushAll: true }, 34);
    expect(all.results[0]).toMatchObject({ flushOne: 0, flushAll: 1 });
    expect(all.results[1]).toBe(false);
    const ranged = await run<NeedFlushAllResult | boolean | null>('needFlushAll', { needFlushAll: false }, 34);
    expect(ranged.results[0]).toMatchObject({ flushOne: 1, flushAll: 0 });
    expect(ranged.results[1]).toBe(true);
  });
});

describe('freedTables', () => {
  it('flushes lazy CPUs when tables were freed (munmap), and not when none were (MADV_DONTNEED)', async () => {
    const r = await run<LazyResult | null>('lazyCpu', {}, 35);
    const lazy = r.results[1]!;
    expect(lazy.afterMadvise).toEqual({ flushesReceived: 0, loadedMm: lazy.mm });
    expect(lazy.afterMunmap).toEqual({ flushesReceived: 1, loadedMm: INIT_MM });
  });
});

describe('fullmm', () => {
  it('exit_mmap flushes once, everything, with freed tables (no flush per VMA), and only then puts the pages', async () => {
    const r = await run<ExitResult | ExitLazyResult | null>('exitFullmm', {}, 36);
    expect(r.results[0]).toEqual({ genSteps: 1, flushPages: [-1] });
    expect(r.results[1]).toEqual({ freedAtFlush: 0, cachedAtFlush: true, loadedMmAfter: INIT_MM });
  });
});

describe('the page batch', () => {
  it('frees a zapped page only after the flush reached the CPU caching it', async () => {
    const r = await run<BatchResult | number | null>('pageBatch', {}, 37);
    expect(r.results[1]).toEqual({ clearedAtFlush: 1, freedAtFlush: 0, cachedAtFlush: true, nextStillMapped: false, freedAfter: 1 });
    expect(r.results[0]).toBe(1);
  });

  it('flushes and frees when the last batch page is full, before zapping the next page, and not before', async () => {
    const r = await run<BatchResult | number | null>('batchFull', {}, 38);
    expect(r.results[1]).toEqual({ clearedAtFlush: GATHER_CAPACITY, freedAtFlush: 0, cachedAtFlush: true, nextStillMapped: true, freedAfter: GATHER_CAPACITY + 1 });
    // two flushes for 9679 pages: the full gather's and the last page's
    expect(r.results[0]).toBe(2);
  });
});

describe('delayRmap', () => {
  it.each([
    ['on', 1],
    ['off', 0],
  ])('with delayedRmap=%s a zapped dirty file page is mapped %i time(s) when the flush is sent, under the PTL', async (value, mapcountAtFlush) => {
    const r = await run<RmapResult | null>('dirtyFileZap', {}, 39, `delayedRmap=${value}`);
    expect(r.results[1]).toEqual({ mapcountBefore: 1, mapcountAtFlush, ptlHeldAtFlush: true, pteClearedAtFlush: true, mapcountAfter: 0 });
  });
});

describe('tables', () => {
  // syncIpi is khugepaged's: munmap is the same under every value (mainline's RCU table freeing)
  it.each(['always', 'never'])('frees page tables only after the flush and an RCU grace period that an IRQs-off reader holds off, with no sync IPI (syncIpi=%s)', async (mode) => {
    const r = await run<TablesResult | null>('tablesFreed', {}, 40, `syncIpi=${mode}`);
    expect(r.results[1]).toEqual({ unhookedAtFlush: true, freedAtFlush: 0 });
    expect(r.results[2]).toEqual({ freedInReader: 0, ipiInReader: false });
    expect(r.results[0]).toEqual({ freedAfter: 3 });
    expect(r.counters.page_tables_freed).toBe(3);
    expect(r.counters.tlb_remove_table_sync_one).toBe(0);
  });

  it('a munmap of 2 MiB, 8 pages touched and its PTE table freed, while another thread of the mm runs costs one IPI', async () => {
    const r = await run<number | null>('munmapWhileThreadRuns', {}, 41);
    expect(r.results[0]).toBe(1);
    expect(r.counters.tlb_remove_table_sync_one).toBe(0);
  });
});

describe('nested gathers and tlb_flush_pending', () => {
  it('counts a gather as pending from tlb_gather_mmu to tlb_finish_mmu, nested only when another is open', async () => {
    const r = await run<NestedResult | null>('nestedGather', {}, 42);
    expect(r.results[0]).toEqual({ pendingInGather: true, nestedAlone: false, pendingAfter: false });
  });

  it('a MADV_DONTNEED that found the PTEs already cleared flushes everything, lazy CPUs too, before it returns', async () => {
    const r = await run<NestedResult | null>('nestedGather', {}, 43);
    expect(r.results[1]).toEqual({ genSteps: 1, flushOne: 0, flushAll: 1 });
    expect(r.results[2]).toEqual({ staleAfterMadvise: false });
    expect(r.results[3]).toMatchObject({ lazyLoadedMm: INIT_MM, lazyFlushesReceived: 1 });
  });

  it('with nestedForceFlush=off it returns without a flush, the other CPU still caching the pages', async () => {
    const r = await run<NestedResult | null>('nestedGather', {}, 44, 'nestedForceFlush=off');
    expect(r.results[1]).toEqual({ genSteps: 0, flushOne: 0, flushAll: 0 });
    expect(r.results[2]).toEqual({ staleAfterMadvise: true });
    expect(r.results[3]!.lazyLoadedMm).toBe(r.results[3]!.mm);
  });

  it('with nestedRange=reset-range it flushes only its own range, without freed tables: the lazy CPU is skipped', async () => {
    const r = await run<NestedResult | null>('nestedGather', {}, 45, 'nestedRange=reset-range');
    expect(r.results[1]).toEqual({ genSteps: 1, flushOne: 2, flushAll: 0 });
    expect(r.results[2]).toEqual({ staleAfterMadvise: false });
    expect(r.results[3]).toMatchObject({ lazyLoadedMm: r.results[3]!.mm, lazyFlushesReceived: 0 });
  });
});
