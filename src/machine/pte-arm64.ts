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
 */
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
export const PTE_TYPE_PAGE = PTE_VALID | PTE_TABLE_BIT;
export const PMD_TYPE_TABLE = PTE_VALID | PTE_TABLE_BIT;
export const PMD_TYPE_SECT = PTE_VALID;

/** CONT_PTES: a contiguous block is 16 naturally aligned pages (64 KiB with 4 KiB pages). */
export const CONT_PTE_SHIFT = 4;
export const CONT_PTES = 1 << CONT_PTE_SHIFT;
