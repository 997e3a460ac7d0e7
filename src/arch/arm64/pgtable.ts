/*
 * arm64's public PTE API (arch/arm64/include/asm/pgtable.h, CONFIG_ARM64_CONTPTE): each entry the
 * kernel calls looks at the entry first and takes the contpte path (arch/arm64/contpte.ts) when it
 * is valid and CONT, the plain primitive (__ptep_*, machine/pagetable.ts) otherwise. A change of
 * one PTE inside a block unfolds the block first (contpte_try_unfold), since a CONT block whose
 * entries disagree is misprogrammed; a setter clears PTE_CONT from what it is given (the bit leaks
 * out of the getters, seed 004), and set_ptes of one entry tries to fold its block after it
 * (contpte_try_fold). Read in linux-mm/linux-mm arch/arm64/include/asm/pgtable.h @0075c5f7ce7e.
 *
 *   ptepGet                 ptep_get: __ptep_get, or contpte_ptep_get
 *   ptepGetLockless         ptep_get_lockless: READ_ONCE, or contpte_ptep_get_lockless
 *   setPte                  set_pte_at, i.e. set_ptes(nr = 1): contpte_try_unfold, __set_ptes,
 *                           contpte_try_fold; mm and address come from the table frame
 *   setPtes                 set_ptes: nr = 1 as above, else contpte_set_ptes
 *   ptepGetAndClear         ptep_get_and_clear: contpte_try_unfold, __ptep_get_and_clear
 *   getAndClearFullPtes     get_and_clear_full_ptes: nr = 1 as above, else
 *                           contpte_get_and_clear_full_ptes (ptep_get_and_clear_full is nr = 1)
 *   clearFullPtes           clear_full_ptes
 *   wrprotectPtes           wrprotect_ptes: nr = 1 unfolds, else contpte_wrprotect_ptes
 *                           (ptep_set_wrprotect is nr = 1)
 *   ptepTestAndClearYoung   ptep_test_and_clear_young: __ptep_test_and_clear_young, or the whole
 *                           block (contpte_test_and_clear_young_ptes)
 *   ptepSetAccessFlags      ptep_set_access_flags: __ptep_set_access_flags (arch/arm64/fault.ts), or
 *                           contpte_ptep_set_access_flags; PTE_CONT cleared from the entry
 *
 * The wrappers' own looks at an entry (is it valid and CONT?) are __ptep_get in the kernel; here
 * they mark nothing seen for the lost-bit oracle (check/lost-bits.ts), which they would otherwise
 * blind: only what a getter returns to the kernel counts as seen.
 *
 * Switch contpteUnfold=no-bbm: contpte_try_unfold of the nr = 1 wrappers does nothing (the batched
 * helpers' unfold of a partly covered block is kept), and a single-PTE change is written
 * straight over the valid block, with no clear and no TLBI. arm64's set_pte does exactly that
 * (seed 004 quotes it from the v-series; linux-mm @0075c5f7ce7e still has it), having no mm or
 * address to unfold with: "set_pte() is not used in core code, so this should never even be
 * called. Regardless do our best to service any call and emit a warning if there is any attempt to
 * set a pte on top of an existing contig range": WARN_ON_ONCE(pte_valid_cont()), then
 * __set_pte(ptep, pte_mknoncont(pte)). The calls modelled here (set_pte_at, ptep_get_and_clear,
 * ptep_set_wrprotect) all unfold first in every merged kernel: no-bbm is not a bug that shipped,
 * it asks what the unfold's break-before-make protects.
 */
import type { Cpu } from '../../cpu/cpu.ts';
import { ptepGetAndClear as archPtepGetAndClear } from '../ptep-get-and-clear.ts';
import { PAGE_SIZE } from '../../machine/phys-layout.ts';
import {
  ptepGet as __ptepGet, ptepGetNoSideEffects as __ptepPeek, ptepSetWrprotect as __ptepSetWrprotect,
  ptepTestAndClearYoung as __ptepTestAndClearYoung, ptepOwner, ptepVpn, setPte as __setPte,
} from '../../machine/pagetable.ts';
import { CONT_PTES, PTE_SPECIAL, ptePfn, ptePresent, pteCont, pteMknoncont } from '../../machine/pte-arm64.ts';
import {
  contpteClearFullPtes, contpteGetAndClearFullPtes, contptePtepGet, contptePtepGetLockless, contpteSetPtes, contpteTestAndClearYoungPtes,
  contptePtepSetAccessFlags, contpteTryFoldSlow, contpteTryUnfold as contpteTryUnfoldBbm, contpteWrprotectPtes, pteValidCont,
} from './contpte.ts';
import { ptepSetAccessFlagsArm64 as __ptepSetAccessFlags } from './fault.ts';

/** contpte_try_unfold, or nothing under contpteUnfold=no-bbm (see the header). */
function contpteTryUnfold(cpu: Cpu, mm: number, va: number, ptep: number, pte: number): void {
  if (cpu.config.contpteUnfold === 'no-bbm') return; // WARN_ON_ONCE(pte_valid_cont(orig_pte)), written anyway
  contpteTryUnfoldBbm(cpu, mm, va, ptep, pte);
}

/**
 * contpte_try_fold: after `pte` was written at `ptep`, only when it is the last entry of its block
 * with VA and PFN aligned to it ("the core code mostly modifies ranges from low to high"), valid,
 * neither CONT nor special (a special mapping has no folio).
 */
function contpteTryFold(cpu: Cpu, mm: number, va: number, ptep: number, pte: number): void {
  const mask = CONT_PTES - 1;
  if ((Math.floor(va / PAGE_SIZE) & mask) !== mask) return;
  if ((ptePfn(pte) & mask) === mask && ptePresent(pte) && !pteCont(pte) && (pte & PTE_SPECIAL) === 0) {
    contpteTryFoldSlow(cpu, mm, va, ptep, pte);
  }
}

// models arch/arm64/include/asm/pgtable.h:ptep_get
export function ptepGet(cpu: Cpu, ptep: number): number {
  const pte = __ptepGet(cpu.v, ptep);
  return pteValidCont(pte) ? contptePtepGet(cpu.v, ptep) : pte;
}

// models arch/arm64/include/asm/pgtable.h:ptep_get_lockless
export function ptepGetLockless(cpu: Cpu, ptep: number): number {
  return contptePtepGetLockless(cpu.v, ptep);
}

// models arch/arm64/include/asm/pgtable.h:set_ptes
export function setPtes(cpu: Cpu, mm: number, va: number, ptep: number, pte: number, nr: number): void {
  pte = pteMknoncont(pte);
  if (nr === 1) {
    contpteTryUnfold(cpu, mm, va, ptep, __ptepPeek(cpu.v, ptep));
    __setPte(cpu.v, ptep, pte);
    contpteTryFold(cpu, mm, va, ptep, pte);
  } else {
    contpteSetPtes(cpu, mm, va, ptep, pte, nr);
  }
}

/** set_pte_at(mm, addr, ptep, pte): set_ptes of one entry. */
export function setPte(cpu: Cpu, ptep: number, pte: number): void {
  // set_pte_at's mm and addr, from the entry's table frame
  setPtes(cpu, ptepOwner(cpu.v, ptep), ptepVpn(cpu.v, ptep) * PAGE_SIZE, ptep, pte, 1);
}

// models arch/arm64/include/asm/pgtable.h:ptep_get_and_clear
export function ptepGetAndClear(cpu: Cpu, mm: number, va: number, ptep: number): number {
  contpteTryUnfold(cpu, mm, va, ptep, __ptepPeek(cpu.v, ptep));
  // __ptep_get_and_clear, or the read-then-clear of switch ptepGetAndClear
  return archPtepGetAndClear(cpu, ptep);
}

// models arch/arm64/include/asm/pgtable.h:get_and_clear_full_ptes
export function getAndClearFullPtes(cpu: Cpu, mm: number, va: number, ptep: number, nr: number): number {
  if (nr === 1) return ptepGetAndClear(cpu, mm, va, ptep);
  return contpteGetAndClearFullPtes(cpu, mm, va, ptep, nr);
}

// models arch/arm64/include/asm/pgtable.h:clear_full_ptes
export function clearFullPtes(cpu: Cpu, mm: number, va: number, ptep: number, nr: number): void {
  if (nr === 1) ptepGetAndClear(cpu, mm, va, ptep);
  else contpteClearFullPtes(cpu, mm, va, ptep, nr);
}

// models arch/arm64/include/asm/pgtable.h:wrprotect_ptes
export function wrprotectPtes(cpu: Cpu, mm: number, va: number, ptep: number, nr: number): void {
  if (nr === 1) {
    contpteTryUnfold(cpu, mm, va, ptep, __ptepPeek(cpu.v, ptep));
    __ptepSetWrprotect(cpu.v, ptep);
  } else {
    contpteWrprotectPtes(cpu, mm, va, ptep, nr);
  }
}

// models arch/arm64/include/asm/pgtable.h:ptep_test_and_clear_young
export function ptepTestAndClearYoung(cpu: Cpu, ptep: number): boolean {
  return pteValidCont(__ptepPeek(cpu.v, ptep)) ? contpteTestAndClearYoungPtes(cpu.v, ptep, 1) : __ptepTestAndClearYoung(cpu.v, ptep);
}

// models arch/arm64/include/asm/pgtable.h:ptep_set_access_flags
export function ptepSetAccessFlags(cpu: Cpu, mm: number, va: number, ptep: number, entry: number, dirty: boolean): boolean {
  const origPte = __ptepPeek(cpu.v, ptep);
  entry = pteMknoncont(entry);
  if (!pteValidCont(origPte)) return __ptepSetAccessFlags(cpu, mm, va, ptep, entry, dirty);
  return contptePtepSetAccessFlags(cpu, mm, va, ptep, entry, dirty);
}
