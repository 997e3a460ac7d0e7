import { describe, expect, it } from 'vitest';
import { fixtureUrl, useMachine } from '../fixtures/machine.ts';
import type { ChurnResult, FaultResult, ForkResult, IntegrityResult } from '../fixtures/mthp-workloads.ts';
import { applySwitches, defaultKernelConfig } from '../../src/config/kernel-config.ts';

const machine = useMachine({ cpus: 3 });
const workload = (name: string) => fixtureUrl('mthp-workloads', name);
const mthp = applySwitches(defaultKernelConfig(), ['anonMthp=64k']);

describe('anonymous 64 KiB folios (anonMthp=64k): the fault', () => {
  it('maps a whole aligned block with one folio on one fault, and falls back to a page where the block is partly mapped or crosses the VMA', async () => {
    const run = await machine().run<unknown, FaultResult | null, object>(workload('faultPath'), {}, { seed: 1, kernel: mthp });
    expect(run.violations).toEqual([]);
    const r = run.results[0]!;
    // one fault, 16 PTEs, 16 consecutive frames from a 16-aligned head, one reference per PTE
    expect(r.head % 16).toBe(0);
    expect(r.pfns).toEqual(Array.from({ length: 16 }, (_, i) => r.head + i));
    expect(r.large).toBe(true);
    expect(r.nrPages).toBe(16);
    expect(r.refcount).toBe(16);
    expect(r.mapcounts).toEqual(Array(16).fill(1));
    expect(r.others).toEqual(Array(16).fill(0));
    // pages 3-4 zapped, page 3 touched again: the block is not all none, so one new page
    expect(r.refaultInFolio).toBe(false);
    expect(r.refaultLarge).toBe(false);
    // neither aligned block lies inside the VMA [64K+4K, 128K+4K)
    expect(r.edgeLarge).toEqual([false, false]);
    expect(run.counters.mthp_anon_fault_alloc).toBe(1);
    expect(run.counters.mthp_anon_fault_fallback).toBe(0);
    // every frame back, and the PGD exit_mmap freed besides
    expect(r.freeAfter).toBe(r.freeBefore + 1);
  });

  it('maps one page per fault with anonMthp=off, as before', async () => {
    const run = await machine().run<unknown, FaultResult | null, object>(workload('faultPath'), {}, { seed: 1 });
    const r = run.results[0]!;
    expect(r.large).toBe(false);
    expect(r.pfns.filter((pfn) => pfn !== 0)).toHaveLength(1);
    expect(run.counters.mthp_anon_fault_alloc).toBe(0);
    expect(r.freeAfter).toBe(r.freeBefore + 1);
  });
});

describe('anonymous 64 KiB folios: every path that meets a page of one', () => {
  it('keeps the data through munmap, MADV_DONTNEED and mprotect of part of a folio and through khugepaged and migration, frees a pinned folio at the unpin, and leaks no frame', async () => {
    const run = await machine().run<unknown, IntegrityResult | null, object>(workload('integrity'), {}, { seed: 2, kernel: mthp });
    expect(run.violations).toEqual([]);
    const r = run.results[0]!;
    expect(r.bad).toEqual({ filled: [], munmap: [], dontneed: [], mprotect: [], huge: [], collapse: [], migrate: [], reclaim: [] });
    // 12 of folio 0's PTEs left, each with its reference
    expect(r.refAfterMunmap).toBe(12);
    // the pin's reference alone keeps folio 1, and its 16 frames go together at the unpin
    expect(r.pinnedHeadRefAfterMunmap).toBe(1);
    expect(r.pinnedFreedOnUnpin).toBe(16);
    // khugepaged copies the 32 folios' pages into its 2 MiB range and frees the folios
    expect(r.collapse).toBe('SCAN_SUCCEED');
    // 512 copies and a table in, 32 folios of 16 frames out: the old table is deposited
    expect(r.collapseFreed).toBe(512 - 513);
    // migrating a page of a folio mapped whole moves all of it to a new folio, data and all
    expect(r.migrated).toBe(true);
    expect(r.migratedWhole).toBe(true);
    // MADV_FREE over a whole folio: reclaim drops all 16 pages, which read zero afterwards
    expect(r.reclaimWhole).toEqual({ reclaimed: 16, lazyfreed: 16, pageout: 0 });
    expect(r.lazyfreedZero).toBe(true);
    // over half of one: the folio is not split, not lazyfree, and reclaim keeps it
    expect(r.reclaimPart).toEqual({ reclaimed: 0, lazyfreed: 0, pageout: 0 });
    expect(run.counters.mthp_split_failed).toBe(1);
    expect(r.freeAfter).toBe(r.freeBefore + 1);
  });

  it('shares a folio across fork and copies one page per write, never reusing a shared page of a large folio', async () => {
    const run = await machine().run<unknown, ForkResult | null, object>(workload('forkCow'), {}, { seed: 3, kernel: mthp });
    expect(run.violations).toEqual([]);
    const r = run.results[0]!;
    expect(r.sharedAfterFork).toBe(true);
    expect(r.childFirst).toEqual([0x1000, 0x1000 + 15]);
    expect(r.childCopyLarge).toBe(false);
    expect(r.parentCopied).toBe(true);
    expect(r.parentBad).toEqual([]);
    expect(r.childBad).toEqual([]);
    expect(r.parentPage7InFolio).toBe(true);
    // the child's PGD and tables, the parent's, and the folio: all back, plus the parent's PGD
    expect(r.freeAfter).toBe(r.freeBefore + 1);
  });
});

describe('anonymous 64 KiB folios under concurrent stores', () => {
  it('loses no store while another CPU zaps, write-protects, forks over and reclaims parts of the folios, and leaks no frame', async () => {
    const run = await machine().run<unknown, ChurnResult | null, { rounds: number }>(workload('churn'), { rounds: 24 }, { seed: 4, kernel: mthp });
    expect(run.violations).toEqual([]);
    const r = run.results[0]!;
    expect(r.lostPages).toBe(0);
    // a folio per block to start with, and more where reclaim dropped a whole one and a store came back
    expect(run.counters.mthp_anon_fault_alloc).toBeGreaterThanOrEqual(8);
    expect(r.freeAfter).toBe(r.freeBefore + 1);
  });
});
