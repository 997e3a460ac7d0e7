/*
 * arm64 contiguous PTEs (arch/arm64/mm/contpte.c): 16 naturally aligned PTEs that map 16
 * consecutive frames of one folio with the same attributes may carry PTE_CONT, and the TLB may
 * then hold one entry for the 64 KiB block (machine/walker-arm64.ts: the contiguous TLB). PTE_CONT
 * is private to arch code: the core kernel never sets it, the getters may return it, the setters
 * clear it (pgtable.ts). Read in linux-mm/linux-mm arch/arm64/mm/contpte.c @1ac7a0fe88f8 and seed
 * 004 (the v-series review, Mark Rutland and Ryan Roberts, Feb 2024).
 *
 *   contpteConvert              contpte_convert: clear the 16 entries with __ptep_get_and_clear,
 *                               ORing their dirty and young into the new value; __flush_tlb_range
 *                               of the block, leaf only, and its DSB; then __set_ptes of all 16.
 *                               Break-before-make: when the new descriptors become visible no CPU
 *                               holds a translation of the old size. The model's CPUs lack
 *                               BBML2_NOABORT, so the flush is never elided (83bbd6be7d17)
 *   contpteTryFoldSlow          __contpte_try_fold: one folio covers the aligned 64 KiB, and the
 *                               16 entries are valid, equal modulo old/clean, with consecutive PFNs
 *   contpteTryUnfoldSlow        __contpte_try_unfold
 *   contptePtepGet              contpte_ptep_get (PTL held): the entry with dirty and young ORed
 *                               over the block (every sub-PTE is read: the v-series form)
 *   contptePtepGetLockless      contpte_ptep_get_lockless: the same without the PTL, retried
 *                               until the 16 entries read are a consistent block (valid, CONT,
 *                               consecutive PFNs, one pgprot modulo old/clean)
 *   contpteSetPtes              contpte_set_ptes (nr >= 2, all none before): PTE_CONT on each
 *                               64 KiB chunk whose address, end and PFN are aligned
 *   contpteClearFullPtes        contpte_clear_full_ptes, contpte_get_and_clear_full_ptes: unfold a
 *   contpteGetAndClearFullPtes  block the range covers partly (contpte_try_unfold_partial), then
 *                               clear
 *   contpteWrprotectPtes        contpte_wrprotect_ptes: a whole block keeps PTE_CONT (the later
 *                               flush makes it read-only everywhere); a partly covered one unfolds
 *   contpteTestAndClearYoungPtes  contpte_test_and_clear_young_ptes: the whole block (the core mm
 *                               tracks access per folio, and a block is one folio)
 *   contptePtepSetAccessFlags   contpte_ptep_set_access_flags: nothing to do when all 16 sub-PTEs
 *                               already have the entry's PTE_RDONLY, PTE_AF, PTE_WRITE and
 *                               PTE_DIRTY (contpte_all_subptes_match_access_flags); else, when
 *                               the write bit changes, unfold and update the target only; else
 *                               __ptep_set_access_flags on all 16 (a walker without hardware A/D
 *                               would fault on any sub-PTE left behind) and, for a write fault, one
 *                               flush of the block. Switch contpteAccessFlags=gathered: the no-op
 *                               check of 4602e5757bcc until the 2026 fix "arm64: contpte: fix
 *                               set_access_flags() no-op check for SMMU/ATS faults", which compared
 *                               the gathered ptep_get with the entry. Read in linux-mm/linux-mm
 *                               @1ac7a0fe88f8 and the fix's v2 posting (mm-commits copy)
 *
 * Counters: contpte_folds and contpte_unfolds, one per contpte_convert.
 */
import type { Cpu } from '../../cpu/cpu.ts';
import type { MachineViews } from '../../machine/memory.ts';
import { PAGE_SHIFT, PAGE_SIZE } from '../../machine/phys-layout.ts';
import {
  ptepGet as __ptepGet, ptepGetNoSideEffects, ptepGetAndClear as __ptepGetAndClear, ptepSetWrprotect as __ptepSetWrprotect,
  ptepTestAndClearYoung as __ptepTestAndClearYoung, setPtes as __setPtes,
} from '../../machine/pagetable.ts';
import {
  CONT_PTES, PTE_AF, PTE_CONT, PTE_DIRTY, PTE_RDONLY, PTE_VALID, PTE_WRITE, pfnPte, pteDirty, pteMkclean, pteMkcont, pteMkdirty,
  pteMknoncont, pteMkold, pteMkyoung, ptePfn, ptePgprot, pteWrite, pteYoung,
} from '../../machine/pte-arm64.ts';
import { folioHead, folioNrPages } from '../../kernel/page.ts';
import { INIT_MM } from '../../kernel/mm-layout.ts';
import { schedPoint } from '../../schedule/baton.ts';
import { Point } from '../../schedule/layout.ts';
import { Counter } from '../../trace/counters.ts';
import { ptepSetAccessFlagsArm64 as __ptepSetAccessFlags } from './fault.ts';
import { flushTlbRangeArm64 } from './tlbflush.ts';

/** CONT_PTE_SIZE: the bytes one block maps. */
export const CONT_PTE_SIZE = CONT_PTES * PAGE_SIZE;

/** pte_valid_cont */
export const pteValidCont = (pte: number): boolean => (pte & (PTE_VALID | PTE_CONT)) === (PTE_VALID | PTE_CONT);

/** contpte_align_down: the first entry of `ptep`'s block (a table's entries start 16-aligned). */
export const contpteAlignDown = (ptep: number): number => ptep - (ptep & (CONT_PTES - 1));

const alignDownVa = (va: number): number => Math.floor(va / CONT_PTE_SIZE) * CONT_PTE_SIZE;

/** mm_is_user: never fold or unfold init_mm's entries (a kernel mapping cannot take the faults). */
const mmIsUser = (mm: number): boolean => mm !== INIT_MM;

/** The value fold and the lockless read compare: pte_pgprot(pte_mkold(pte_mkclean(pte))). */
const protModuloOldClean = (pte: number): number => ptePgprot(pteMkold(pteMkclean(pte)));

/**
 * contpte_convert: rewrites the block of `ptep` as `pte` (PTE_CONT set for a fold, clear for an
 * unfold), its PFN aligned down to the block's, with break-before-make.
 */
// models arch/arm64/mm/contpte.c:contpte_convert
function contpteConvert(cpu: Cpu, mm: number, va: number, ptep: number, pte: number): void {
  const v = cpu.v;
  const startPtep = contpteAlignDown(ptep);
  const startVa = alignDownVa(va);
  pte = pfnPte(ptePfn(pte) & ~(CONT_PTES - 1), ptePgprot(pte));
  for (let i = 0; i < CONT_PTES; i++) {
    const ptent = __ptepGetAndClear(v, startPtep + i);
    if (pteDirty(ptent)) pte = pteMkdirty(pte);
    if (pteYoung(ptent)) pte = pteMkyoung(pte);
  }
  // !system_supports_bbml2_noabort(): __flush_tlb_range(&vma, start, end, PAGE_SIZE, true, 3)
  flushTlbRangeArm64(cpu, mm, startVa, startVa + CONT_PTE_SIZE, PAGE_SHIFT, true);
  __setPtes(v, startPtep, pte, CONT_PTES);
}

/**
 * __contpte_try_fold: `pte` was just written at `ptep` (the last entry of its block, VA and PFN
 * aligned, valid, not CONT, not special: contpte_try_fold checked). Folds the block if one folio
 * covers it and the 16 entries agree modulo old/clean, with consecutive PFNs.
 */
// models arch/arm64/mm/contpte.c:__contpte_try_fold
export function contpteTryFoldSlow(cpu: Cpu, mm: number, va: number, ptep: number, pte: number): void {
  if (!mmIsUser(mm)) return;
  const v = cpu.v;
  const pfn = ptePfn(pte);
  const head = folioHead(v, pfn);
  const folioStart = va - (pfn - head) * PAGE_SIZE;
  const folioEnd = folioStart + folioNrPages(v, head) * PAGE_SIZE;
  const contStart = alignDownVa(va);
  if (folioStart > contStart || folioEnd < contStart + CONT_PTE_SIZE) return;
  const basePfn = pfn & ~(CONT_PTES - 1);
  const prot = protModuloOldClean(pte);
  const first = contpteAlignDown(ptep);
  for (let i = 0; i < CONT_PTES; i++) {
    const sub = pteMkold(pteMkclean(ptepGetNoSideEffects(v, first + i)));
    if (sub !== pfnPte(basePfn + i, prot)) return;
  }
  cpu.count(Counter.ContpteFolds);
  contpteConvert(cpu, mm, va, ptep, pteMkcont(pte));
}

/** __contpte_try_unfold: the block of `ptep` (valid and CONT: contpte_try_unfold checked) as 16 PTEs. */
// models arch/arm64/mm/contpte.c:__contpte_try_unfold
export function contpteTryUnfoldSlow(cpu: Cpu, mm: number, va: number, ptep: number, pte: number): void {
  if (!mmIsUser(mm)) return;
  cpu.count(Counter.ContpteUnfolds);
  contpteConvert(cpu, mm, va, ptep, pteMknoncont(pte));
}

/**
 * contpte_ptep_get: the entry at `ptep` (valid and CONT when read) with dirty and young gathered
 * over its block. The target is read last, so that it is the entry this thread last looked at
 * (check/lost-bits.ts), as when the kernel reads one entry.
 */
// models arch/arm64/mm/contpte.c:contpte_ptep_get
export function contptePtepGet(v: MachineViews, ptep: number): number {
  const first = contpteAlignDown(ptep);
  let dirty = false;
  let young = false;
  for (let i = 0; i < CONT_PTES; i++) {
    if (first + i === ptep) continue;
    const pte = __ptepGet(v, first + i);
    dirty ||= pteDirty(pte);
    young ||= pteYoung(pte);
  }
  let pte = __ptepGet(v, ptep);
  if (dirty) pte = pteMkdirty(pte);
  if (young) pte = pteMkyoung(pte);
  return pte;
}

/**
 * contpte_ptep_get_lockless: the entry at `ptep` with dirty and young gathered over a block read
 * consistent; a block found changing under the read (unfolded, refolded, half written) is read
 * again. An entry that is not valid and CONT is consistent on its own.
 */
// models arch/arm64/mm/contpte.c:contpte_ptep_get_lockless
export function contptePtepGetLockless(v: MachineViews, origPtep: number): number {
  for (;;) {
    let origPte = Atomics.load(v.phys, origPtep);
    if (!pteValidCont(origPte)) return origPte;
    const origProt = protModuloOldClean(origPte);
    const first = contpteAlignDown(origPtep);
    const basePfn = ptePfn(origPte) - (origPtep - first);
    let consistent = true;
    for (let i = 0; i < CONT_PTES; i++) {
      const pte = Atomics.load(v.phys, first + i);
      if (!pteValidCont(pte) || ptePfn(pte) !== basePfn + i || protModuloOldClean(pte) !== origProt) {
        consistent = false;
        break;
      }
      if (pteDirty(pte)) origPte = pteMkdirty(origPte);
      if (pteYoung(pte)) origPte = pteMkyoung(origPte);
    }
    if (consistent) return origPte;
    // racing with a convert under the PTL: let the writer on (a controlled run's turn)
    schedPoint(Point.Walk);
  }
}

/**
 * contpte_set_ptes: maps `nr` (>= 2) consecutive frames from `pte`'s at `va`, over entries that
 * are all none: each 64 KiB chunk whose start, end and PFN are aligned gets PTE_CONT.
 */
// models arch/arm64/mm/contpte.c:contpte_set_ptes
export function contpteSetPtes(cpu: Cpu, mm: number, va: number, ptep: number, pte: number, nr: number): void {
  const v = cpu.v;
  if (!mmIsUser(mm)) {
    __setPtes(v, ptep, pte, nr);
    return;
  }
  const end = va + nr * PAGE_SIZE;
  let pfn = ptePfn(pte);
  const prot = ptePgprot(pte);
  while (va !== end) {
    // pte_cont_addr_end
    const next = Math.min(alignDownVa(va) + CONT_PTE_SIZE, end);
    const n = (next - va) / PAGE_SIZE;
    const aligned = va % CONT_PTE_SIZE === 0 && next % CONT_PTE_SIZE === 0 && (pfn & (CONT_PTES - 1)) === 0;
    const chunk = aligned ? pteMkcont(pfnPte(pfn, prot)) : pteMknoncont(pfnPte(pfn, prot));
    __setPtes(v, ptep, chunk, n);
    va = next;
    ptep += n;
    pfn += n;
  }
}

/** contpte_try_unfold (pgtable.h): unfold the block of `ptep` if `pte`, read there, is valid and CONT. */
export function contpteTryUnfold(cpu: Cpu, mm: number, va: number, ptep: number, pte: number): void {
  if (pteValidCont(pte)) contpteTryUnfoldSlow(cpu, mm, va, ptep, pte);
}

/** contpte_try_unfold_partial: unfold the first and the last block of the range if it covers them partly. */
// models arch/arm64/mm/contpte.c:contpte_try_unfold_partial
function contpteTryUnfoldPartial(cpu: Cpu, mm: number, va: number, ptep: number, nr: number): void {
  if (ptep !== contpteAlignDown(ptep) || nr < CONT_PTES) contpteTryUnfold(cpu, mm, va, ptep, ptepGetNoSideEffects(cpu.v, ptep));
  if (ptep + nr !== contpteAlignDown(ptep + nr)) {
    const last = ptep + nr - 1;
    contpteTryUnfold(cpu, mm, va + (nr - 1) * PAGE_SIZE, last, ptepGetNoSideEffects(cpu.v, last));
  }
}

/** contpte_clear_full_ptes: clears `nr` entries, unfolding a block the range covers partly first. */
// models arch/arm64/mm/contpte.c:contpte_clear_full_ptes
export function contpteClearFullPtes(cpu: Cpu, mm: number, va: number, ptep: number, nr: number): void {
  contpteTryUnfoldPartial(cpu, mm, va, ptep, nr);
  for (let i = 0; i < nr; i++) __ptepGetAndClear(cpu.v, ptep + i);
}

/**
 * contpte_get_and_clear_full_ptes: clears `nr` entries (a partly covered block unfolded first)
 * and returns the first, with dirty and young ORed over all (__get_and_clear_full_ptes).
 */
// models arch/arm64/mm/contpte.c:contpte_get_and_clear_full_ptes
export function contpteGetAndClearFullPtes(cpu: Cpu, mm: number, va: number, ptep: number, nr: number): number {
  contpteTryUnfoldPartial(cpu, mm, va, ptep, nr);
  let pte = __ptepGetAndClear(cpu.v, ptep);
  for (let i = 1; i < nr; i++) {
    const tail = __ptepGetAndClear(cpu.v, ptep + i);
    if (pteDirty(tail)) pte = pteMkdirty(pte);
    if (pteYoung(tail)) pte = pteMkyoung(pte);
  }
  return pte;
}

/**
 * contpte_wrprotect_ptes: write-protects `nr` entries. A whole block keeps PTE_CONT: until the
 * caller's flush a CPU may still write through its contiguous entry, after it none can. A block
 * covered partly is unfolded first, since a CONT block whose entries disagree on permissions
 * would stay unpredictable after the flush.
 */
// models arch/arm64/mm/contpte.c:contpte_wrprotect_ptes
export function contpteWrprotectPtes(cpu: Cpu, mm: number, va: number, ptep: number, nr: number): void {
  contpteTryUnfoldPartial(cpu, mm, va, ptep, nr);
  for (let i = 0; i < nr; i++) __ptepSetWrprotect(cpu.v, ptep + i);
}

/**
 * contpte_test_and_clear_young_ptes: clears young over every block the `nr` entries touch (the
 * whole block, not only the entries asked for); whether any was young.
 */
// models arch/arm64/mm/contpte.c:contpte_test_and_clear_young_ptes
export function contpteTestAndClearYoungPtes(v: MachineViews, ptep: number, nr: number): boolean {
  let start = ptep;
  let end = ptep + nr;
  // contpte_align_addr_ptep
  if ((Atomics.load(v.phys, end - 1) & PTE_CONT) !== 0) end = contpteAlignDown(end - 1) + CONT_PTES;
  if ((Atomics.load(v.phys, start) & PTE_CONT) !== 0) start = contpteAlignDown(start);
  let young = false;
  for (let p = start; p < end; p++) if (__ptepTestAndClearYoung(v, p)) young = true;
  return young;
}

/** The bits __ptep_set_access_flags consumes: the access flag, the dirty state and write permission. */
const ACCESS_FLAGS_MASK = PTE_RDONLY | PTE_AF | PTE_WRITE | PTE_DIRTY;

/**
 * contpte_all_subptes_match_access_flags: every sub-PTE of `ptep`'s block has the raw access
 * flags and write permission of `entry` (the PFNs differ, so they are not compared).
 */
// models arch/arm64/mm/contpte.c:contpte_all_subptes_match_access_flags
function contpteAllSubptesMatchAccessFlags(v: MachineViews, ptep: number, entry: number): boolean {
  const first = contpteAlignDown(ptep);
  const want = entry & ACCESS_FLAGS_MASK;
  for (let i = 0; i < CONT_PTES; i++) if ((ptepGetNoSideEffects(v, first + i) & ACCESS_FLAGS_MASK) !== want) return false;
  return true;
}

/**
 * contpte_ptep_set_access_flags: handle_pte_fault's update of a valid CONT entry at `ptep` to
 * `entry` (made young, and dirty for a write fault; PTE_CONT cleared by the caller). Returns
 * whether anything changed; false sends the fault path to its spurious-fault end, and the access
 * is retried on the unchanged PTE.
 */
// models arch/arm64/mm/contpte.c:contpte_ptep_set_access_flags
export function contptePtepSetAccessFlags(cpu: Cpu, mm: number, va: number, ptep: number, entry: number, dirty: boolean): boolean {
  const v = cpu.v;
  let origPte: number;
  if (cpu.config.contpteAccessFlags === 'gathered') {
    // 4602e5757bcc: "Gather the access/dirty bits for the contiguous range. If nothing has
    // changed, its a noop." A dirty or young sibling makes the target look done.
    origPte = pteMknoncont(contptePtepGet(v, ptep));
    if (origPte === entry) return false;
  } else {
    if (contpteAllSubptesMatchAccessFlags(v, ptep, entry)) return false;
    // the raw target decides the unfold, not the gathered view
    origPte = pteMknoncont(ptepGetNoSideEffects(v, ptep));
  }
  if (pteWrite(origPte) === pteWrite(entry)) {
    // the access flags change without an unfold: all 16, for walkers without hardware A/D
    const first = contpteAlignDown(ptep);
    const startVa = alignDownVa(va);
    for (let i = 0; i < CONT_PTES; i++) __ptepSetAccessFlags(cpu, mm, startVa + i * PAGE_SIZE, first + i, entry, false);
    // one flush of the block for a write fault, instead of one per page: the contpte series'
    // __flush_tlb_range, last level (Huang Ying's 2025 change made it local_flush_tlb_contpte)
    if (dirty) flushTlbRangeArm64(cpu, mm, startVa, startVa + CONT_PTE_SIZE, PAGE_SHIFT, true);
  } else {
    contpteTryUnfoldSlow(cpu, mm, va, ptep, origPte);
    __ptepSetAccessFlags(cpu, mm, va, ptep, entry, dirty);
  }
  return true;
}
