import { describe, expect, it } from 'vitest';
import { fixtureUrl, useMachine } from '../fixtures/machine.ts';
import { page, type LifeResult, type UnfoldResult } from '../fixtures/contpte-workloads.ts';
import { applySwitches, defaultKernelConfig } from '../../src/config/kernel-config.ts';
import { Arch } from '../../src/arch/arch.ts';

const machine = useMachine({ cpus: 2 });
const workload = (name: string) => fixtureUrl('contpte-workloads', name);
const kernel = (...set: string[]) => applySwitches(defaultKernelConfig(), ['anonMthp=64k', ...set], Arch.Arm64);
const ALL = 0xffff;

describe('arm64 contiguous PTEs (arch/arm64/contpte.ts) over 64 KiB anonymous folios', () => {
  it('the fault maps a folded block; ptep_get gathers dirty; a one-page mprotect unfolds; the last page refolds', async () => {
    const run = await machine().run<unknown, LifeResult | null, object>(workload('contpteLife'), {}, { seed: 1, kernel: kernel(), arch: Arch.Arm64 });
    expect(run.violations).toEqual([]);
    const r = run.results[0]!;
    expect(r.contAfterFault).toBe(ALL);
    expect(r.pfnsConsecutive).toBe(true);
    // page 5 was written: its sub-PTE is dirty, page 0's is not, but the block is
    expect(r.rawDirty0).toBe(false);
    expect(r.getDirty0).toBe(true);
    expect(r.locklessDirty0).toBe(true);
    // contpte_try_unfold before the change of page 9: no PTE of the block keeps PTE_CONT
    expect(r.contAfterMprotect).toBe(0);
    expect(r.rdonlyAfterMprotect).toBe(1 << 9);
    expect(r.contAfterRestore).toBe(0);
    expect(r.contAfterRefold).toBe(ALL);
    expect(r.data).toEqual(Array.from({ length: 16 }, (_, i) => 0x100 + i));
    expect(run.counters.contpte_unfolds).toBeGreaterThanOrEqual(1);
    expect(run.counters.contpte_folds).toBe(1);
  });
});

describe('contpteUnfold: a one-page mprotect inside a folded block while CPU 1 caches the block', () => {
  const forced = (set: string[]) => machine().run<unknown, UnfoldResult | null, object>(workload('unfoldForced'), {}, { seed: 3, speculationShift: -1, kernel: kernel(...set), arch: Arch.Arm64 });

  it('bbm (mainline): the block is unfolded first, CPU 1 fills 4 KiB entries only, no report', async () => {
    const run = await forced([]);
    expect(run.violations).toEqual([]);
    expect(run.results[0]!.contAfterMprotect).toBe(0);
    expect(run.results[1]).toMatchObject({ read9: 0x109, read3: 0x103 });
  });

  it('no-bbm: page 9 is written over the block, which keeps PTE_CONT elsewhere; CPU 1 caches both sizes for page 9', async () => {
    const run = await forced(['contpteUnfold=no-bbm']);
    expect(run.results[0]!.contAfterMprotect).toBe(ALL & ~(1 << 9));
    expect(run.violations).toEqual([expect.objectContaining({ kind: 'tlb-conflict', cpu: 1, va: page(9) })]);
  });
});

describe('the batched contpte helpers over whole and partial blocks', () => {
  it('get_and_clear_full, set_ptes and wrprotect of a whole block keep it folded; young clears the whole block; a partial wrprotect unfolds', async () => {
    const run = await machine().run<unknown, unknown, object>(workload('contpteBatches'), {}, { seed: 2, kernel: kernel(), arch: Arch.Arm64 });
    expect(run.violations).toEqual([]);
    expect(run.results[0]).toEqual({
      clearedAll: true,
      gatheredDirty: true,
      contAfterSet: ALL,
      contAfterWrprotectAll: ALL,
      rdonlyAfterWrprotectAll: ALL,
      young3: true,
      afAfterYoung: 0,
      contAfterWrprotectPart: 0,
      rdonlyAfterWrprotectPart: 0x0ff0,
    });
    // the whole-block calls unfold nothing: the partial wrprotect unfolds block 1, and exit_mmap's
    // zap block 0 (zap_pte_range clears one entry at a time here, the nr = 1 path of
    // get_and_clear_full_ptes; mainline's zap_present_ptes batches a folio and would not unfold)
    expect(run.counters.contpte_unfolds).toBe(2);
  });
});
