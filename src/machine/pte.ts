/*
 * The x86-64 page-table entry codec (arch/x86/include/asm/pgtable_types.h), on 32-bit entries:
 *
 *   bit  0 P    present            bit  6 D    dirty (leaf only)
 *   bit  1 RW   writable           bit  7 PS   page size (a 2 MiB leaf at the PMD level)
 *   bit  2 US   user               bit  8 G    global
 *   bit  3 PWT                     bits 9-11   software bits
 *   bit  4 PCD                     bits 12-30  PFN
 *   bit  5 A    accessed           bit 31 NX   no execute
 *
 * Every other module reads and writes entries through these names only, so that an arm64 codec
 * (valid, AF, DBM, CONT, AP) can sit beside this one later. Entries are plain numbers; the live
 * copies in page tables are read and written with Atomics (machine/pagetable.ts).
 */

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

export function mkPte(pfn: number, flags: number): number {
  return (((pfn & PTE_PFN_MASK) << PTE_PFN_SHIFT) | (flags & PTE_FLAGS_MASK)) | 0;
}

export function ptePfn(pte: number): number {
  return (pte >>> PTE_PFN_SHIFT) & PTE_PFN_MASK;
}

export function pteFlags(pte: number): number {
  return pte & PTE_FLAGS_MASK;
}

/*
 * PROT_NONE: x86 marks a PROT_NONE PTE (NUMA hinting, mprotect(PROT_NONE)) by clearing
 * _PAGE_PRESENT and setting _PAGE_PROTNONE, which is _PAGE_GLOBAL reused. This codec keeps G for
 * global entries, so _PAGE_PROTNONE is software bit 1 standing in for x86's. The walker sees such
 * an entry as not present and never caches it; the kernel (x86 pte_present) still counts it as a
 * mapping of the page.
 */
export const _PAGE_PROTNONE = _PAGE_SOFTW1;

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
export const pteHuge = (pte: number): boolean => (pte & _PAGE_PSE) !== 0;

export const pteWrprotect = (pte: number): number => pte & ~_PAGE_RW;
export const pteMkwrite = (pte: number): number => pte | _PAGE_RW;
export const pteMkclean = (pte: number): number => pte & ~_PAGE_DIRTY;
export const pteMkdirty = (pte: number): number => pte | _PAGE_DIRTY;
export const pteMkold = (pte: number): number => pte & ~_PAGE_ACCESSED;
export const pteMkyoung = (pte: number): number => pte | _PAGE_ACCESSED;

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

// placeholder: the codec binding
export function bindPteArch(_a: import('../arch/arch.ts').Arch): void {}
