import { describe, expect, it } from 'vitest';
import { fixtureUrl, useMachine } from '../fixtures/machine.ts';
import type { PinnedLazyfreeResult } from '../fixtures/lazyfree-workloads.ts';
import type { LostPendingResult, MadvFreeResult, PendingCounts, ReaderResult } from '../fixtures/reclaim-workloads.ts';
import type { ReclaimStat } from '../../src/kernel/reclaim.ts';
import type { ReclaimHintedResult } from '../fixtures/kernel-workloads.ts';
import { applySwitches, defaultKernelConfig } from '../../src/config/kernel-config.ts';

const CPUS = 4;
const machine = useMachine({ cpus: CPUS });
const workload = (name: string) => fixtureUrl('reclaim-workloads', name);
const batchedPending = (scheme: string) => applySwitches(defaultKernelConfig(), [`batchedPending=${scheme}`]);

describe('reclaim of file pages (shrink_folio_list, try_to_unmap_one)', () => {
  it('file data written through a mapping and reclaimed while three CPUs read it reads back intact', async () => {
    const pages = 8;
    const run = await machine().run<unknown, ReaderResult, object>(workload('reclaimWhileReading'), { pages, rounds: 10 }, { seed: 21 });
    const [kswapd, ...readers] = run.results as [{ stat: ReclaimStat; badAfter: number }, ...{ reads: number; bad: number; firstBad: string | null }[]];
    for (const r of readers) {
      expect(r.firstBad).toBeNull();
      expect(r.bad).toBe(0);
      expect(r.reads).toBeGreaterThan(0);
    }
    expect(kswapd.badAfter).toBe(0);
    // the dirty pages went to disk before their frames went, and frames did go
    expect(kswapd.stat.pageout).toBeGreaterThanOrEqual(1);
    expect(kswapd.stat.reclaimed).toBeGreaterThan(0);
    // the readers faulted reclaimed pages back in from disk
    expect(run.perCpuCounters.slice(1).reduce((n, c) => n + c.page_faults, 0)).toBeGreaterThan(0);
  });

  it('loses no write when pages are reclaimed over and over while three CPUs write them', async () => {
    const pages = 8;
    const run = await machine().run<unknown, { lost: number } | { passes: number; stat: ReclaimStat }, object>(workload('reclaimWhileWriting'), { pages, rounds: 200 }, { seed: 22 });
    const [kswapd, ...writers] = run.results;
    for (const w of writers) expect(w).toEqual({ lost: 0 });
    const k = kswapd as { passes: number; stat: ReclaimStat };
    expect(k.passes).toBeGreaterThanOrEqual(2);
    // the first pass found every page written through a dirty PTE and wrote it out
    expect(k.stat.pageout).toBeGreaterThanOrEqual(pages);
  });
});

describe('reclaim of MADV_FREE pages', () => {
  it('discards the clean ones, which read back as zero, and keeps the ones written again', async () => {
    const pages = 8;
    const run = await machine().run<unknown, MadvFreeResult | { bad: number }, object>(workload('madvFreeReclaim'), { pages }, { seed: 23 });
    const [cpu0, ...others] = run.results as [MadvFreeResult, ...{ bad: number }[]];
    expect(cpu0.stat).toEqual({ reclaimed: pages / 2, lazyfreed: pages / 2, pageout: 0 });
    // written again, they are ordinary anonymous memory: without swap, reclaim keeps them
    expect(cpu0.statRewritten).toEqual({ reclaimed: 0, lazyfreed: 0, pageout: 0 });
    expect(cpu0.bad).toBe(0);
    for (const o of others) expect(o.bad).toBe(0);
  });
});

describe('reclaim of a pinned MADV_FREE page', () => {
  it('keeps it mapped and lazily freeable while GUP holds it, and discards it once unpinned', async () => {
    const run = await machine().run<unknown, PinnedLazyfreeResult | null, object>(fixtureUrl('lazyfree-workloads', 'pinnedLazyfree'), {}, { seed: 26, speculationShift: -1 });
    expect(run.results[0]).toEqual({
      first: { reclaimed: 1, lazyfreed: 1, pageout: 0 },
      pinnedMapped: true,
      pinnedLazyfree: true,
      second: { reclaimed: 1, lazyfreed: 1, pageout: 0 },
      after: [0, 0],
    });
  });
});

describe('flush_tlb_batched_pending bookkeeping', () => {
  it.each(['counters', 'flag', 'cpumask'])('%s: flushes once after set_tlb_ubc_flush_pending, then not again', async (scheme) => {
    const run = await machine().run<unknown, PendingCounts | null, object>(workload('batchedPendingCounts'), {}, { seed: 24, speculationShift: -1, kernel: batchedPending(scheme) });
    expect(run.results[0]).toEqual({ before: 0, first: 1, second: 0 });
  });

  // What this proves: a set_tlb_ubc_flush_pending that runs after flush_tlb_batched_pending's
  // flush began (the caller had already flushed its own TLB) and before it records the flush as
  // done is still pending afterwards under `counters` and `cpumask`, and forgotten under `flag`,
  // where the next flush_tlb_batched_pending (mprotect, munmap, madvise) flushes nothing.
  it.each([
    ['counters', 1],
    ['cpumask', 1],
    ['flag', 0],
  ])('%s: an unmap batched during the flush is still pending after it (flushes after: %i)', async (scheme, flushedAfter) => {
    const run = await machine().run<unknown, LostPendingResult | null, object>(workload('lostPending'), {}, { seed: 25, speculationShift: -1, kernel: batchedPending(scheme as string) });
    expect(run.results[0]).toEqual({ flushedInRace: 1, flushedAfter });
  });
});

describe('set_tlb_ubc_flush_pending returns early for a PTE no TLB can hold (pte_accessible)', () => {
  it.each([
    ['a present PTE: one deferred flush, to the other CPU running the mm', 0, 1],
    ['a PROT_NONE NUMA hinting PTE, already flushed: no flush at all', 1, 0],
  ])('%s', async (_, rounds, ipis) => {
    const run = await machine().run<unknown, ReclaimHintedResult | null, object>(fixtureUrl('kernel-workloads', 'reclaimHinted'), { rounds }, { seed: 29, speculationShift: -1 });
    expect(run.results[0]).toEqual({ lazyfreed: 1, ipis });
  });
});

