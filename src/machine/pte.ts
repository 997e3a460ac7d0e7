/*
 * The page-table entry API the kernel and the checkers use (include/linux/pgtable.h, the arch
 * asm/pgtable.h helpers), for the run's architecture: x86-64 (pte-x86.ts) or arm64 (pte-arm64.ts).
 *
 * Each name is an ES live binding to the codec bindPteArch chose. Every thread binds once per run
 * before any kernel or checker code runs: each CPU thread in cpu.configure, next to bindPteCpu,
 * and the control plane when it starts a run. A thread that never binds uses x86. Call sites stay
 * monomorphic per thread, and the hot path (cpu.ts TLB-hit load/store) reads no PTE at all.
 *
 * Entries are plain 32-bit numbers, the PFN in bits 12-30 on both architectures; the flag bits
 * mean different things per architecture, so nothing outside the codecs names a bit: kernel code
 * builds an entry with pfnPte(pfn, prot) from a protection (PAGE_READONLY...) and the modifiers.
 *
 *   pfnPte, ptePfn, ptePgprot      pfn_pte, pte_pfn, pte_pgprot
 *   pteNone                        pte_none
 *   ptePresent                     the hardware's view: the walker may cache it (x86 P, arm64 VALID)
 *   pteMapsPage                    the kernel's pte_present (x86 P|PROTNONE, arm64 VALID|PRESENT_INVALID)
 *   pteProtnone                    pte_protnone
 *   pteWrite, pteDirty, pteYoung, pteUser, pteCont
 *   pteMkwrite (pte_mkwrite_novma), pteWrprotect, pteMkclean, pteMkdirty, pteMkold, pteMkyoung,
 *   pteMkcont, pteMknoncont
 *   pmdLeaf, pmdTableEntry         pmd_leaf, the entry pmd_populate writes for a table
 *   PAGE_NONE, PAGE_READONLY, PAGE_COPY, PAGE_SHARED   protection_map's values
 *   pteModify, PAGE_CHG_MASK       pte_modify, and what it keeps of the old PTE
 *   pteNeedsFlush                  the arch's pte_needs_flush
 *   hwAdState                      HWAD_ACCESSED | HWAD_DIRTY: what the lost-bit oracle tracks
 *   pteFlagNames, formatPte        for traces, reports and dumps
 */
import { Arch } from '../arch/arch.ts';
import * as x86 from './pte-x86.ts';
import * as arm64 from './pte-arm64.ts';

export let pfnPte = x86.pfnPte;
export let ptePfn = x86.ptePfn;
export let ptePgprot = x86.ptePgprot;
export let pteNone = x86.pteNone;
export let ptePresent = x86.ptePresent;
export let pteMapsPage = x86.pteMapsPage;
export let pteProtnone = x86.pteProtnone;
export let pteWrite = x86.pteWrite;
export let pteDirty = x86.pteDirty;
export let pteYoung = x86.pteYoung;
export let pteUser = x86.pteUser;
export let pteCont = x86.pteCont;
export let pteMkwrite = x86.pteMkwrite;
export let pteWrprotect = x86.pteWrprotect;
export let pteMkclean = x86.pteMkclean;
export let pteMkdirty = x86.pteMkdirty;
export let pteMkold = x86.pteMkold;
export let pteMkyoung = x86.pteMkyoung;
export let pteMkcont = x86.pteMkcont;
export let pteMknoncont = x86.pteMknoncont;
export let pmdLeaf = x86.pmdLeaf;
export let pmdTableEntry = x86.pmdTableEntry;
export let PAGE_NONE = x86.PAGE_NONE;
export let PAGE_READONLY = x86.PAGE_READONLY;
export let PAGE_COPY = x86.PAGE_COPY;
export let PAGE_SHARED = x86.PAGE_SHARED;
export let PAGE_CHG_MASK = x86.PAGE_CHG_MASK;
export let pteModify = x86.pteModify;
export let pteNeedsFlush = x86.pteNeedsFlush;
export let hwAdState = x86.hwAdState;
export let pteFlagNames = x86.pteFlagNames;
export let formatPte = x86.formatPte;

let bound: Arch = Arch.X86;

/** The architecture this thread's bindings name. */
export function pteArch(): Arch {
  return bound;
}

/** Binds every name above to the codec of `a`, for this thread. */
export function bindPteArch(a: Arch): void {
  const c = a === Arch.Arm64 ? arm64 : x86;
  bound = a;
  pfnPte = c.pfnPte;
  ptePfn = c.ptePfn;
  ptePgprot = c.ptePgprot;
  pteNone = c.pteNone;
  ptePresent = c.ptePresent;
  pteMapsPage = c.pteMapsPage;
  pteProtnone = c.pteProtnone;
  pteWrite = c.pteWrite;
  pteDirty = c.pteDirty;
  pteYoung = c.pteYoung;
  pteUser = c.pteUser;
  pteCont = c.pteCont;
  pteMkwrite = c.pteMkwrite;
  pteWrprotect = c.pteWrprotect;
  pteMkclean = c.pteMkclean;
  pteMkdirty = c.pteMkdirty;
  pteMkold = c.pteMkold;
  pteMkyoung = c.pteMkyoung;
  pteMkcont = c.pteMkcont;
  pteMknoncont = c.pteMknoncont;
  pmdLeaf = c.pmdLeaf;
  pmdTableEntry = c.pmdTableEntry;
  PAGE_NONE = c.PAGE_NONE;
  PAGE_READONLY = c.PAGE_READONLY;
  PAGE_COPY = c.PAGE_COPY;
  PAGE_SHARED = c.PAGE_SHARED;
  PAGE_CHG_MASK = c.PAGE_CHG_MASK;
  pteModify = c.pteModify;
  pteNeedsFlush = c.pteNeedsFlush;
  hwAdState = c.hwAdState;
  pteFlagNames = c.pteFlagNames;
  formatPte = c.formatPte;
}
