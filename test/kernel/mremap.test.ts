import { describe, expect, it } from 'vitest';
import { fixtureUrl, useMachine } from '../fixtures/machine.ts';
import type { MoveOptions, MoveResult } from '../fixtures/mremap-workloads.ts';
import { PAGE_SIZE } from '../../src/machine/phys-layout.ts';
import { PMD_SIZE } from '../../src/machine/pagetable.ts';
import { applySwitches, defaultKernelConfig } from '../../src/config/kernel-config.ts';

const CPUS = 2;
const machine = useMachine({ cpus: CPUS });
const moveAndCheck = fixtureUrl('mremap-workloads', 'moveAndCheck');

/** 2 MiB aligned places, far apart */
const A = 2 ** 38;
const B = 2 ** 38 + 16 * PMD_SIZE;

async function move(o: MoveOptions, kernel = defaultKernelConfig()) {
  const run = await machine().run<unknown, MoveResult, MoveOptions>(moveAndCheck, o, { seed: 7, kernel });
  // every oracle is on in a machine run: none may report anything
  expect(run.violations).toEqual([]);
  return { cpu0: run.results[0], all: run.results, counters: run.counters };
}

describe('mremap', () => {
  it.each([
    ['anonymous', false],
    ['shared file', true],
  ])('moves %s memory PTE by PTE and keeps its data; the old place faults on every CPU', async (_what, file) => {
    const { cpu0, all, counters } = await move({ pages: 24, from: A + 8 * PAGE_SIZE, to: B + 3 * PAGE_SIZE, file });
    expect(cpu0.ret).toBe(B + 3 * PAGE_SIZE);
    expect(counters.mremap_ptes_moved).toBe(24);
    expect(counters.mremap_pmds_moved).toBe(0);
    // not PMD aligned: the PTEs moved into another table
    expect(cpu0.tableAfter).not.toBe(cpu0.tableBefore);
    for (const r of all) {
      expect(r.kept).toBe(24);
      expect(r.wrong).toBe(0);
      expect(r.oldFaulted).toBe(24);
      expect(r.oldLoaded).toBe(0);
    }
  });

  // (a file has at most 128 pages here: too few to fill a PMD)
  it('moves a whole PMD by moving its PTE table (move_normal_pmd), and the rest PTE by PTE', async () => {
    const pages = 512 + 16;
    const { cpu0, all, counters } = await move({ pages, from: A, to: B });
    expect(cpu0.ret).toBe(B);
    expect(counters.mremap_pmds_moved).toBe(1);
    expect(counters.mremap_ptes_moved).toBe(16);
    expect(cpu0.tableAfter).toBe(cpu0.tableBefore);
    for (const r of all) {
      expect(r.kept).toBe(pages);
      expect(r.oldFaulted).toBe(pages);
    }
  });

  it('moves with the flush after the PTL dropped (mremapFlush=after-unlock) and keeps the data too', async () => {
    const { all } = await move({ pages: 24, from: A + 8 * PAGE_SIZE, to: B, file: true }, applySwitches(defaultKernelConfig(), ['mremapFlush=after-unlock']));
    for (const r of all) {
      expect(r.kept).toBe(24);
      expect(r.oldFaulted).toBe(24);
    }
  });

  it('replaces what was mapped at the MREMAP_FIXED address, on every CPU', async () => {
    const { cpu0, all } = await move({ pages: 6, from: A + 2 * PAGE_SIZE, to: B + 40 * PAGE_SIZE, occupyTo: true });
    expect(cpu0.ret).toBe(B + 40 * PAGE_SIZE);
    for (const r of all) {
      expect(r.kept).toBe(6);
      expect(r.wrong).toBe(0);
    }
  });

  it('refuses bad flags, addresses and lengths (-EINVAL), a range no VMA holds (-EFAULT), a growth that may not move or a full VMA table (-ENOMEM)', async () => {
    const run = await machine().run<unknown, Record<string, number>, object>(fixtureUrl('mremap-workloads', 'mremapRefusals'), {}, { seed: 7 });
    expect(run.violations).toEqual([]);
    expect(run.results[0]).toEqual({
      unknownFlag: -22,
      fixedWithoutMaymove: -22,
      unaligned: -22,
      zeroLength: -22,
      overlapping: -22,
      notMapped: -14,
      pastTheVma: -14,
      growWithoutMaymove: -12,
      // no slot for the new VMA: nothing moved, the data is where it was
      vmaTableFull: -12,
      keptAfterRefusal: 42,
    });
  });

  it('grows in place when nothing follows', async () => {
    const { cpu0 } = await move({ pages: 8, from: A, to: null, newPages: 20 });
    expect(cpu0.ret).toBe(A);
    expect(cpu0.kept).toBe(8);
  });

  it('moves to a place of its choosing to grow when a mapping follows (MREMAP_MAYMOVE)', async () => {
    const { cpu0, all } = await move({ pages: 8, from: A, to: null, newPages: 20, blockAfter: true });
    expect(cpu0.ret).toBeGreaterThan(0);
    expect(cpu0.ret).not.toBe(A);
    for (const r of all) {
      expect(r.kept).toBe(8);
      expect(r.oldFaulted).toBe(8);
    }
  });

  it('shrinks in place: the tail is unmapped', async () => {
    const { cpu0 } = await move({ pages: 8, from: A, to: null, newPages: 3 });
    expect(cpu0.ret).toBe(A);
    expect(cpu0.kept).toBe(3);
  });

  it.each([
    ['anonymous (MADV_FREE, then reclaim discards it)', false, 0, 16],
    ['file (reclaim writes it out and frees it; a fault reads it back)', true, 16, 0],
  ])('leaves the moved %s page where the rmap finds it', async (_what, file, kept, zero) => {
    const pages = 16;
    const { cpu0, all } = await move({ pages, from: A + 4 * PAGE_SIZE, to: B + 100 * PAGE_SIZE, file, reclaim: true });
    expect(cpu0.reclaimed).toBe(pages);
    expect(cpu0.mappedAfterReclaim).toBe(0);
    for (const r of all) {
      expect(r.afterReclaimKept).toBe(kept);
      expect(r.afterReclaimZero).toBe(zero);
    }
  });
});
