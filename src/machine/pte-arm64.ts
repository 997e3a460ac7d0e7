/*
 * The arm64 stage-1 descriptor (arch/arm64/include/asm/pgtable-hwdef.h, pgtable-prot.h), 4 KiB
 * granule, on the machine's 32-bit entries. The bits the walker and the oracles look at keep their
 * hardware positions; the upper attributes, which a 32-bit entry has no room for, move into the
 * AttrIndx/NS/SH field that the model does not use:
 *
 *   bit  0 VALID                      bit  6 USER   AP[1]  (EL0 access)
 *   bit  1 TABLE / PAGE               bit  7 RDONLY AP[2]
 *   bit  2 CONT    (hardware bit 52)  bit  8 PXN    (hardware bit 53)
 *   bit  3 DBM = PTE_WRITE (bit 51)   bit  9 PTE_SPECIAL (software, bit 56)
 *   bit  4 PTE_DIRTY (software, 55)   bit 10 AF     access flag
 *   bit  5 UXN     (hardware bit 54)  bit 11 nG     not global; PTE_PRESENT_INVALID when !VALID
 *   bits 12-30 PFN                    bit 31 software (spare)
 *
 * A page or table descriptor at the last level and a table descriptor above it have bits 1:0 =
 * 0b11; a block (a 2 MiB leaf at the PMD level) has 0b01. With FEAT_HAFDBS the hardware marks an
 * entry dirty by clearing RDONLY on a DBM entry, so "hardware dirty" is DBM set and RDONLY clear.
 *
 * The helpers follow arch/arm64/include/asm/pgtable.h (read in linux-mm/linux-mm @0075c5f7ce7e):
 *   pte_hw_dirty    WRITE && !RDONLY;  pte_sw_dirty PTE_DIRTY;  pte_dirty  sw || hw
 *   pte_present     VALID, or PRESENT_INVALID (nG with VALID clear): a PROT_NONE entry
 *   pte_protnone    present-invalid, not USER, UXN set
 *   pte_mkwrite_novma  sets WRITE; clears RDONLY if sw-dirty
 *   pte_mkclean     clears PTE_DIRTY, sets RDONLY
 *   pte_mkdirty     sets PTE_DIRTY; clears RDONLY if WRITE
 *   pte_wrprotect   moves hw dirty into PTE_DIRTY, clears WRITE, sets RDONLY
 *   pte_modify      keeps hw dirty as PTE_DIRTY, takes USER|PXN|UXN|RDONLY|PRESENT_INVALID|VALID|
 *                   WRITE from the new pgprot (and AttrIndx, GP, POIndex: not modelled), and makes a
 *                   sw-dirty result dirty again with pte_mkdirty
 *   pmd_leaf        present and not a table descriptor (bits 1:0 != 0b11)
 * and the protections from pgtable-prot.h: _PAGE_DEFAULT = PTE_TYPE_PAGE | PTE_AF (PTE_SHARED and
 * AttrIndx MT_NORMAL are not modelled); PAGE_NONE = (_PAGE_DEFAULT & ~VALID) | PRESENT_INVALID |
 * RDONLY | NG | PXN | UXN; PAGE_READONLY = _PAGE_DEFAULT | USER | RDONLY | NG | PXN | UXN;
 * PAGE_SHARED = PAGE_READONLY | WRITE ("shared+writable pages are clean by default, hence
 * PTE_RDONLY|PTE_WRITE"); arch/arm64/mm/mmap.c's protection_map gives private writable mappings
 * PAGE_READONLY (there is no separate PAGE_COPY). pte_needs_flush is c320dbb7c80d "arm64/mm: Elide
 * TLB flush in certain pte protection transitions" (asm/tlbflush.h __pte_flags_need_flush): no
 * flush when the old entry was not valid, nor for a change of software bits only (PTE_SWBITS_MASK,
 * bits 55-58 and 63: here PTE_DIRTY, PTE_SPECIAL and bit 31).
 *
 * Table of the dirty states (the comment above __check_safe_pte_update):
 *   clean, read-only     RDONLY
 *   clean, writable      RDONLY | WRITE        (the hardware clears RDONLY on the first write)
 *   dirty, read-only     RDONLY | PTE_DIRTY
 *   dirty, writable      WRITE                 (PTE_DIRTY either way)
 */
import { HWAD_ACCESSED, HWAD_DIRTY } from './phys-layout.ts';

export const PTE_VALID = 1 << 0;
export const PTE_TABLE_BIT = 1 << 1;
export const PTE_CONT = 1 << 2;
export const PTE_DBM = 1 << 3;
export const PTE_WRITE = PTE_DBM;
export const PTE_DIRTY = 1 << 4;
export const PTE_UXN = 1 << 5;
export const PTE_USER = 1 << 6;
export const PTE_RDONLY = 1 << 7;
export const PTE_PXN = 1 << 8;
export const PTE_SPECIAL = 1 << 9;
export const PTE_AF = 1 << 10;
export const PTE_NG = 1 << 11;
export const PTE_PRESENT_INVALID = PTE_NG;

/** Descriptor type bits: a table (above the last level) or a page (at it). */
/** PTE_TYPE_MASK: a descriptor's type bits 1:0 (0b01 block, 0b11 table or page). */
export const PTE_TYPE_MASK = PTE_VALID | PTE_TABLE_BIT;
export const PTE_TYPE_PAGE = PTE_VALID | PTE_TABLE_BIT;
export const PMD_TYPE_TABLE = PTE_VALID | PTE_TABLE_BIT;
export const PMD_TYPE_SECT = PTE_VALID;

/** CONT_PTES: a contiguous block is 16 naturally aligned pages (64 KiB with 4 KiB pages). */
export const CONT_PTE_SHIFT = 4;
export const CONT_PTES = 1 << CONT_PTE_SHIFT;

/** Bit 31: software, spare (PTE_UFFD_WP's place, bit 58, were uffd-wp modelled). */
export const PTE_SW_SPARE = 1 << 31;
/** PTE_SWBITS_MASK (pgtable-hwdef.h): the software bits, whose change needs no TLB flush. */
export const PTE_SWBITS_MASK = PTE_DIRTY | PTE_SPECIAL | PTE_SW_SPARE;

export const PTE_PFN_SHIFT = 12;
export const PTE_PFN_MASK = 0x7ffff;
export const PTE_FLAGS_MASK = 0xfff | PTE_SW_SPARE;

/** pfn_pte: the descriptor mapping `pfn` with attributes `prot`. */
export function pfnPte(pfn: number, prot: number): number {
  return (((pfn & PTE_PFN_MASK) << PTE_PFN_SHIFT) | (prot & PTE_FLAGS_MASK)) | 0;
}

export function ptePfn(pte: number): number {
  return (pte >>> PTE_PFN_SHIFT) & PTE_PFN_MASK;
}

/** pte_pgprot: everything but the output address. */
export function ptePgprot(pte: number): number {
  return pte & PTE_FLAGS_MASK;
}

const hwDirty = (pte: number): boolean => (pte & (PTE_WRITE | PTE_RDONLY)) === PTE_WRITE;
const swDirty = (pte: number): boolean => (pte & PTE_DIRTY) !== 0;

export const pteNone = (pte: number): boolean => pte === 0;
/** pte_valid, the hardware's view: the walker may cache this entry. */
export const ptePresent = (pte: number): boolean => (pte & PTE_VALID) !== 0;
/** pte_protnone: present-invalid, neither USER nor user-executable. */
export const pteProtnone = (pte: number): boolean =>
  (pte & (PTE_VALID | PTE_PRESENT_INVALID | PTE_USER | PTE_UXN)) === (PTE_PRESENT_INVALID | PTE_UXN);
/** pte_present, the kernel's view: valid, or present-invalid (PROT_NONE). */
export const pteMapsPage = (pte: number): boolean => (pte & (PTE_VALID | PTE_PRESENT_INVALID)) !== 0;
export const pteWrite = (pte: number): boolean => (pte & PTE_WRITE) !== 0;
/** pte_dirty: software PTE_DIRTY, or hardware dirty (DBM set, RDONLY clear). */
export const pteDirty = (pte: number): boolean => swDirty(pte) || hwDirty(pte);
export const pteYoung = (pte: number): boolean => (pte & PTE_AF) !== 0;
export const pteUser = (pte: number): boolean => (pte & PTE_USER) !== 0;
export const pteCont = (pte: number): boolean => (pte & PTE_CONT) !== 0;
/** pmd_leaf: present and not a table descriptor: a block. */
export const pmdLeaf = (pmd: number): boolean =>
  (pmd & (PTE_VALID | PTE_PRESENT_INVALID)) !== 0 && (pmd & PMD_TYPE_TABLE) !== PMD_TYPE_TABLE;
/** pmd_populate: the table descriptor pointing at the table frame `pfn`. */
export const pmdTableEntry = (pfn: number): number => pfnPte(pfn, PMD_TYPE_TABLE);

/** pte_mkwrite_novma: WRITE; a sw-dirty entry becomes hardware dirty (RDONLY cleared). */
export const pteMkwrite = (pte: number): number => (swDirty(pte) ? (pte | PTE_WRITE) & ~PTE_RDONLY : pte | PTE_WRITE);
/** pte_wrprotect: hardware dirty moves into PTE_DIRTY; WRITE cleared, RDONLY set. */
export const pteWrprotect = (pte: number): number => (((hwDirty(pte) ? pte | PTE_DIRTY : pte) & ~PTE_WRITE) | PTE_RDONLY);
/** pte_mkclean: PTE_DIRTY cleared, RDONLY set (no longer hardware dirty). */
export const pteMkclean = (pte: number): number => (pte & ~PTE_DIRTY) | PTE_RDONLY;
/** pte_mkdirty: PTE_DIRTY; a writable entry becomes hardware dirty (RDONLY cleared). */
export const pteMkdirty = (pte: number): number => ((pte & PTE_WRITE) !== 0 ? (pte | PTE_DIRTY) & ~PTE_RDONLY : pte | PTE_DIRTY);
export const pteMkold = (pte: number): number => pte & ~PTE_AF;
export const pteMkyoung = (pte: number): number => pte | PTE_AF;
export const pteMkcont = (pte: number): number => pte | PTE_CONT;
export const pteMknoncont = (pte: number): number => pte & ~PTE_CONT;

/**
 * What the lost-bit oracle tracks of the entry (check/lost-bits.ts): AF, and dirtiness. The
 * hardware marks an entry dirty by clearing RDONLY, a bit taken away, so the oracle compares
 * states (hwAdState(old) & ~hwAdState(new)), never raw bits. Dirty is pte_dirty: PTE_DIRTY keeps
 * what pte_wrprotect and pte_modify move out of the hardware encoding.
 */
export const hwAdState = (pte: number): number => (pteYoung(pte) ? HWAD_ACCESSED : 0) | (pteDirty(pte) ? HWAD_DIRTY : 0);

const _PAGE_DEFAULT = PTE_TYPE_PAGE | PTE_AF;
export const PAGE_NONE = (_PAGE_DEFAULT & ~PTE_VALID) | PTE_PRESENT_INVALID | PTE_RDONLY | PTE_NG | PTE_PXN | PTE_UXN;
export const PAGE_READONLY = _PAGE_DEFAULT | PTE_USER | PTE_RDONLY | PTE_NG | PTE_PXN | PTE_UXN;
export const PAGE_COPY = PAGE_READONLY;
export const PAGE_SHARED = PAGE_READONLY | PTE_WRITE;

/** The bits pte_modify takes from the new pgprot. */
const PTE_MODIFY_MASK = PTE_USER | PTE_PXN | PTE_UXN | PTE_RDONLY | PTE_PRESENT_INVALID | PTE_VALID | PTE_WRITE;
/** What pte_modify keeps of the old PTE (arm64 has no _PAGE_CHG_MASK; this is its mask's complement). */
export const PAGE_CHG_MASK = ~PTE_MODIFY_MASK | 0;

/** pte_modify: the old PTE with the protection of `newprot`, its dirtiness kept. */
export function pteModify(pte: number, newprot: number): number {
  // preserve the hardware dirty information
  if (hwDirty(pte)) pte |= PTE_DIRTY;
  pte = (pte & PAGE_CHG_MASK) | (newprot & PTE_MODIFY_MASK);
  // a sw-dirty PTE made writable again is hardware dirty again
  return swDirty(pte) ? pteMkdirty(pte) : pte | 0;
}

/** pte_needs_flush (__pte_flags_need_flush): any change but of software bits to a valid entry. */
export function pteNeedsFlush(oldPte: number, newPte: number): boolean {
  if ((oldPte & PTE_VALID) === 0) return false;
  return ((oldPte ^ newPte) & ~PTE_SWBITS_MASK) !== 0;
}

const FLAG_NAMES: [number, string][] = [
  [PTE_VALID, 'VALID'], [PTE_TABLE_BIT, 'TABLE'], [PTE_CONT, 'CONT'], [PTE_WRITE, 'WRITE'],
  [PTE_DIRTY, 'DIRTY'], [PTE_UXN, 'UXN'], [PTE_USER, 'USER'], [PTE_RDONLY, 'RDONLY'],
  [PTE_PXN, 'PXN'], [PTE_SPECIAL, 'SPECIAL'], [PTE_AF, 'AF'], [PTE_NG, 'nG'], [PTE_SW_SPARE, 'SW'],
];

/**
 * The names of the bits set in `pte`, low bit first: ['VALID', 'TABLE', 'WRITE', 'USER', 'AF',
 * 'nG']. nG of an entry that is not valid is PRESENT_INVALID.
 */
export function pteFlagNames(pte: number): string[] {
  return FLAG_NAMES.filter(([bit]) => (pte & bit) !== 0)
    .map(([bit, n]) => (bit === PTE_NG && (pte & PTE_VALID) === 0 ? 'PRESENT_INVALID' : n));
}

/** A readable rendering, e.g. `pfn=0x2a VALID|TABLE|WRITE|USER|AF|nG`. */
export function formatPte(pte: number): string {
  if (pte === 0) return 'none';
  return `pfn=0x${ptePfn(pte).toString(16)} ${pteFlagNames(pte).join('|') || '-'}`;
}
