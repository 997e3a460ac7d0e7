/*
 * The page-table entry accessors the kernel calls (asm/pgtable.h, include/linux/pgtable.h): each
 * forwards to the run's arch code (cpu.archOps), so that an arch can put more behind one entry
 * than a load or a store (arm64's contiguous PTEs). Kernel files use these for leaf entries;
 * walks and table allocation stay in machine/pagetable.ts.
 *
 *   ptepGet               ptep_get: the kernel's look at an entry; the A and D bits it returns
 *                         count as seen (check/lost-bits.ts)
 *   ptepGetLockless       ptep_get_lockless: GUP-fast's one copy, seen by no one
 *   setPte / setPtes      set_pte, set_ptes(mm, va, ptep, pte, nr)
 *   ptepGetAndClear       ptep_get_and_clear: no A or D bit set meanwhile is lost
 *   ptepGetAndClearFull   ptep_get_and_clear_full: the same during a teardown (`full`: fullmm)
 *   ptepSetWrprotect      ptep_set_wrprotect: write access removed, D kept
 *   ptepTestAndClearYoung ptep_test_and_clear_young: A cleared; whether it was set
 *   ptepSetAccessFlags    ptep_set_access_flags(vma, va, ptep, entry, dirty): the fault's young
 *                         (and dirty) entry applied, only widening; whether the PTE changed
 */
import type { Cpu } from '../cpu/cpu.ts';

export function ptepGet(cpu: Cpu, ptep: number): number {
  return cpu.archOps.ptepGet(cpu, ptep);
}

export function ptepGetLockless(cpu: Cpu, ptep: number): number {
  return cpu.archOps.ptepGetLockless(cpu, ptep);
}

export function setPte(cpu: Cpu, ptep: number, pte: number): void {
  cpu.archOps.setPte(cpu, ptep, pte);
}

export function setPtes(cpu: Cpu, mm: number, va: number, ptep: number, pte: number, nr: number): void {
  cpu.archOps.setPtes(cpu, mm, va, ptep, pte, nr);
}

export function ptepGetAndClear(cpu: Cpu, mm: number, va: number, ptep: number): number {
  return cpu.archOps.ptepGetAndClear(cpu, mm, va, ptep);
}

export function ptepGetAndClearFull(cpu: Cpu, mm: number, va: number, ptep: number, full: boolean): number {
  return cpu.archOps.ptepGetAndClearFull(cpu, mm, va, ptep, full);
}

export function ptepSetWrprotect(cpu: Cpu, mm: number, va: number, ptep: number): void {
  cpu.archOps.ptepSetWrprotect(cpu, mm, va, ptep);
}

export function ptepTestAndClearYoung(cpu: Cpu, mm: number, va: number, ptep: number): boolean {
  return cpu.archOps.ptepTestAndClearYoung(cpu, mm, va, ptep);
}

export function ptepSetAccessFlags(cpu: Cpu, mm: number, va: number, ptep: number, entry: number, dirty: boolean): boolean {
  return cpu.archOps.ptepSetAccessFlags(cpu, mm, va, ptep, entry, dirty);
}
