/*
 * The x86-64 page-table entry codec (arch/x86/include/asm/pgtable_types.h, pgtable.h), on 32-bit
 * entries:
 *
 *   bit  0 P    present            bit  6 D    dirty (leaf only)
 *   bit  1 RW   writable           bit  7 PS   page size (a 2 MiB leaf at the PMD level)
 *   bit  2 US   user               bit  8 G    global
 *   bit  3 PWT                     bits 9-11   software bits
 *   bit  4 PCD                     bits 12-30  PFN
 *   bit  5 A    accessed           bit 31 NX   no execute
 *
 * The kernel reaches these through machine/pte.ts, whose bindings name this codec or the arm64 one
 * (pte-arm64.ts) for the run's architecture. The x86 hardware (machine/walker.ts), the x86 arch
 * code and x86-only kernel variants import this module directly. Entries are plain numbers; the
 * live copies in page tables are read and written with Atomics (machine/pagetable.ts).
 */
import { HWAD_ACCESSED, HWAD_DIRTY } from './phys-layout.ts';

export const _PAGE_PRESENT = 1 << 0;
export const _PAGE_RW = 1 << 1;
export const _PAGE_USER = 1 << 2;
export const _PAGE_PWT = 1 << 3;
export const _PAGE_PCD = 1 << 4;
export const _PAGE_ACCESSED = 1 << 5;
export const _PAGE_DIRTY = 1 << 6;
export const _PAGE_PSE = 1 << 7;
export const _PAGE_GLOBAL = 1 << 8;
export const _PAGE_SOFTW1 = 1 << 9;
export const _PAGE_SOFTW2 = 1 << 10;
export const _PAGE_SOFTW3 = 1 << 11;
export const _PAGE_NX = 1 << 31;

export const PTE_PFN_SHIFT = 12;
export const PTE_PFN_MASK = 0x7ffff;
export const PTE_FLAGS_MASK = 0xfff | _PAGE_NX;

/** What a table entry above the leaves holds: present, writable, user, accessed. */
export const _PAGE_TABLE = _PAGE_PRESENT | _PAGE_RW | _PAGE_USER | _PAGE_ACCESSED;

/*
 * PROT_NONE: x86 marks a PROT_NONE PTE (NUMA hinting, mprotect(PROT_NONE)) by clearing
 * _PAGE_PRESENT and setting _PAGE_PROTNONE, which is _PAGE_GLOBAL reused. This codec keeps G for
 * global entries, so _PAGE_PROTNONE is software bit 1 standing in for x86's. The walker sees such
 * an entry as not present and never caches it; the kernel (x86 pte_present) still counts it as a
 * mapping of the page.
 */
export const _PAGE_PROTNONE = _PAGE_SOFTW1;

/** pfn_pte: the entry mapping `pfn` with protection (flag bits) `prot`. */
export function pfnPte(pfn: number, prot: number): number {
  return (((pfn & PTE_PFN_MASK) << PTE_PFN_SHIFT) | (prot & PTE_FLAGS_MASK)) | 0;
}

/** pfn_pte under the name x86 tests and fixtures build raw entries with. */
export const mkPte = pfnPte;

export function ptePfn(pte: number): number {
  return (pte >>> PTE_PFN_SHIFT) & PTE_PFN_MASK;
}

/** pte_pgprot (x86 pte_flags): everything but the PFN. */
export function ptePgprot(pte: number): number {
  return pte & PTE_FLAGS_MASK;
}

/** pte_flags, the x86 name of ptePgprot. */
export const pteFlags = ptePgprot;

export const pteNone = (pte: number): boolean => pte === 0;
/** The hardware's view: the walker may cache this entry. */
export const ptePresent = (pte: number): boolean => (pte & _PAGE_PRESENT) !== 0;
/** pte_protnone: a PROT_NONE entry, not present to the walker. */
export const pteProtnone = (pte: number): boolean => (pte & (_PAGE_PROTNONE | _PAGE_PRESENT)) === _PAGE_PROTNONE;
/** x86 pte_present, the kernel's view: the entry maps a page, maybe PROT_NONE. */
export const pteMapsPage = (pte: number): boolean => (pte & (_PAGE_PRESENT | _PAGE_PROTNONE)) !== 0;
export const pteWrite = (pte: number): boolean => (pte & _PAGE_RW) !== 0;
export const pteDirty = (pte: number): boolean => (pte & _PAGE_DIRTY) !== 0;
export const pteYoung = (pte: number): boolean => (pte & _PAGE_ACCESSED) !== 0;
export const pteUser = (pte: number): boolean => (pte & _PAGE_USER) !== 0;
/** x86 has no contiguous bit. */
export const pteCont = (_pte: number): boolean => false;
/** pmd_leaf (pmd_large): PS, a 2 MiB (or 1 GiB) leaf above the PTE level. */
export const pmdLeaf = (pmd: number): boolean => (pmd & _PAGE_PSE) !== 0;
/** pteHuge, the name x86 tests use for pmdLeaf. */
export const pteHuge = pmdLeaf;
/** pmd_populate: the entry pointing at the table frame `pfn` (_PAGE_TABLE). */
export const pmdTableEntry = (pfn: number): number => pfnPte(pfn, _PAGE_TABLE);

export const pteWrprotect = (pte: number): number => pte & ~_PAGE_RW;
export const pteMkwrite = (pte: number): number => pte | _PAGE_RW;
export const pteMkclean = (pte: number): number => pte & ~_PAGE_DIRTY;
export const pteMkdirty = (pte: number): number => pte | _PAGE_DIRTY;
export const pteMkold = (pte: number): number => pte & ~_PAGE_ACCESSED;
export const pteMkyoung = (pte: number): number => pte | _PAGE_ACCESSED;
export const pteMkcont = (pte: number): number => pte;
export const pteMknoncont = (pte: number): number => pte;

/**
 * What the hardware tracks of the entry for the lost-bit oracle (check/lost-bits.ts): A, and D,
 * each a bit the walker sets.
 */
export const hwAdState = (pte: number): number =>
  ((pte & _PAGE_ACCESSED) !== 0 ? HWAD_ACCESSED : 0) | ((pte & _PAGE_DIRTY) !== 0 ? HWAD_DIRTY : 0);

/*
 * protection_map values (arch/x86/mm/pgprot.c, pgtable_types.h) as the model uses them: without
 * _PAGE_ACCESSED, which pte_modify takes from the old PTE and the fault path sets with
 * pte_mkyoung, and without _PAGE_NX, which the model never sets. PAGE_COPY is PAGE_READONLY: a
 * private writable mapping is copy-on-write, write access is granted per page.
 */
export const PAGE_NONE = _PAGE_PROTNONE;
export const PAGE_READONLY = _PAGE_PRESENT | _PAGE_USER;
export const PAGE_COPY = PAGE_READONLY;
export const PAGE_SHARED = _PAGE_PRESENT | _PAGE_RW | _PAGE_USER;

/**
 * _PAGE_CHG_MASK: what pte_modify keeps of the old PTE (the PFN, caching, A and D, the software
 * bits other than the PROT_NONE one); the protection bits come from the new pgprot.
 */
export const PAGE_CHG_MASK = (PTE_PFN_MASK << PTE_PFN_SHIFT) | _PAGE_PWT | _PAGE_PCD | _PAGE_ACCESSED | _PAGE_DIRTY | _PAGE_SOFTW2 | _PAGE_SOFTW3;

/** pte_modify: the old PTE with the protection of `newprot`. */
export function pteModify(pte: number, newprot: number): number {
  return ((pte & PAGE_CHG_MASK) | (newprot & ~PAGE_CHG_MASK)) | 0;
}

/** pte_flags_need_flush: flags whose clearing needs a flush; flags whose any change does. */
const FLUSH_ON_CLEAR = _PAGE_DIRTY | _PAGE_PRESENT | _PAGE_ACCESSED;
const FLUSH_ON_CHANGE = _PAGE_RW | _PAGE_USER | _PAGE_PWT | _PAGE_PCD | _PAGE_PSE | _PAGE_GLOBAL | _PAGE_NX;
const SOFTWARE_FLAGS = _PAGE_SOFTW1 | _PAGE_SOFTW2 | _PAGE_SOFTW3;

/**
 * pte_needs_flush (arch/x86/include/asm/tlbflush.h, c9fe66560bf2 "mm/mprotect: do not flush when
 * not required architecturally"), the access bit ignored as mprotect asks.
 */
export function pteNeedsFlush(oldPte: number, newPte: number): boolean {
  // a non-present entry is never cached
  if (!ptePresent(oldPte)) return false;
  if (ptePfn(oldPte) !== ptePfn(newPte)) return true;
  const diff = (oldPte ^ newPte) & ~SOFTWARE_FLAGS & ~_PAGE_ACCESSED;
  // clearing D or P needs a flush, setting them does not (the walker sets D itself); RW, US, NX
  // and the caching bits need one either way, so that no stale entry raises a spurious fault
  return (diff & oldPte & FLUSH_ON_CLEAR) !== 0 || (diff & FLUSH_ON_CHANGE) !== 0;
}

const FLAG_NAMES: [number, string][] = [
  [_PAGE_PRESENT, 'P'], [_PAGE_RW, 'RW'], [_PAGE_USER, 'US'], [_PAGE_PWT, 'PWT'],
  [_PAGE_PCD, 'PCD'], [_PAGE_ACCESSED, 'A'], [_PAGE_DIRTY, 'D'], [_PAGE_PSE, 'PS'],
  [_PAGE_GLOBAL, 'G'], [_PAGE_SOFTW1, 'SW1'], [_PAGE_SOFTW2, 'SW2'], [_PAGE_SOFTW3, 'SW3'],
  [_PAGE_NX, 'NX'],
];

/** The names of the flags set in `pte`, low bit first: ['P', 'RW', 'US', 'A', 'D']. */
export function pteFlagNames(pte: number): string[] {
  return FLAG_NAMES.filter(([bit]) => (pte & bit) !== 0).map(([, n]) => n);
}

/** A readable rendering, e.g. `pfn=0x2a P|RW|US|A|D`. */
export function formatPte(pte: number): string {
  if (pte === 0) return 'none';
  return `pfn=0x${ptePfn(pte).toString(16)} ${pteFlagNames(pte).join('|') || '-'}`;
}
