/*
 * Layout of the per-CPU TLBs and paging-structure caches.
 *
 * They live in shared memory, not in the worker that owns them, so that checkers can look into
 * any CPU's TLB and so that broadcast invalidation (arm64 TLBI IS, AMD INVLPGB) can reach a TLB
 * without an interrupt. On x86 only the owning CPU fills or invalidates its TLB.
 *
 * The TLB is set-associative: TLB_SETS sets of TLB_WAYS entries, indexed by the low bits of the
 * virtual page number and tagged with the VPN and the PCID.
 *
 * Beside it, as on x86 parts since Nehalem, a smaller TLB for 2 MiB pages: HTLB_SETS sets of
 * HTLB_WAYS entries of the same format, indexed by the low bits of VPN >>> 9; an entry's VPN is
 * the 2 MiB-aligned base, its PFN the first of the 512 frames, its generation the first frame's.
 * The CPU probes it only when the 4 KiB TLB misses, and then installs in the 4 KiB TLB the piece
 * that translates the missing page, marked TLBF_HUGE, so that the next access hits the fast path.
 * A piece stands for its 2 MiB entry: whatever invalidates the 2 MiB entry (INVLPG of any address
 * in it, a fault there, a PCID or full flush) invalidates its pieces too. TLB_HUGE_PIECES is set
 * while pieces may be cached, so that INVLPG looks for them only then.
 *
 * arm64's contiguous hint (PTE_CONT) has its own small TLB, the contiguous TLB (CTLB):
 * CTLB_SETS sets of CTLB_WAYS entries of the same format, indexed by the low bits of VPN >>> 4; an
 * entry translates one naturally aligned block of CONT_VPNS pages (64 KiB): its VPN is the
 * block's first, its PFN the frame of the block's first page, as the walked descriptor implies
 * (pfn - (vpn & 15)); its permissions and dirty state are the walked descriptor's (any sub-PTE
 * may become the block's translation), its generation the walked frame's, whose offset in the
 * block TLBF_CONT_WALKED records. It serves a 4 KiB miss as the 2 MiB TLB does, installing a
 * piece flagged TLBF_CONT; TLB_CONT_PIECES is set while pieces may be cached. An invalidation by
 * VA of any page of the block drops the entry and its pieces. The x86 walker never fills it.
 *
 * An entry is written by the owner with plain stores between two Atomics.store of its sequence
 * word (odd while the entry is being filled), so a checker on another CPU reads a consistent
 * entry by reading the sequence before and after. The owner itself reads with plain loads.
 *
 * The paging-structure caches are x86's PML4E, PDPTE and PDE caches: direct-mapped, each entry
 * maps the part of a virtual address that selects a table to the frame of that table, with the
 * table frame's allocation generation at fill.
 */

export const TLB_SETS = 64;
export const TLB_WAYS = 4;
export const TLB_ENTRIES = TLB_SETS * TLB_WAYS;

// one TLB entry
export const TLBE_VPN = 0;
export const TLBE_PCID = 1;
export const TLBE_PFN = 2;
export const TLBE_FLAGS = 3;
export const TLBE_GEN = 4; // frame generation at fill
export const TLBE_SEQ = 5; // fill sequence, odd while a fill is in progress
export const TLBE_EPOCH = 6; // the mm's promise count when last checked (check/promises.ts)
export const TLBE_FILL_SEQ = 7; // the global trace sequence at fill
export const TLBE_WORDS = 8;

// TLBE_FLAGS bits
export const TLBF_VALID = 1 << 0;
export const TLBF_WRITE = 1 << 1;
export const TLBF_USER = 1 << 2;
export const TLBF_DIRTY = 1 << 3; // the dirty bit as it was when the entry was filled
export const TLBF_GLOBAL = 1 << 4;
export const TLBF_NX = 1 << 5;
export const TLBF_HUGE = 1 << 6; // a 4 KiB piece of a 2 MiB entry
export const TLBF_FILE = 1 << 7; // the frame was a page-cache page at fill: stores are checked for lost writes
export const TLBF_CONT = 1 << 8; // a 4 KiB piece of a contiguous (64 KiB) entry
/** in a contiguous entry only: the offset in its block of the page whose descriptor was walked */
export const TLBF_CONT_WALKED_SHIFT = 12;
export const TLBF_CONT_WALKED = 15 << TLBF_CONT_WALKED_SHIFT;

// paging-structure caches: level 3 caches PML4 entries (-> PUD table), level 2 PDPT entries
// (-> PMD table), level 1 PD entries (-> PTE table).
export const PSC_LEVELS = 3;
export const PSC_SLOTS = 16;
export const PSCE_KEY = 0; // the VPN shifted right by 9 * level
export const PSCE_PCID = 1;
export const PSCE_TABLE = 2; // PFN of the table the cached entry points to
export const PSCE_GEN = 3; // that table frame's generation at fill
export const PSCE_VALID = 4;
export const PSCE_WORDS = 8;

export const PSC_BASE = TLB_ENTRIES * TLBE_WORDS;

// the 2 MiB TLB, entries laid out as TLBE_*
export const HTLB_SETS = 8;
export const HTLB_WAYS = 4;
export const HTLB_ENTRIES = HTLB_SETS * HTLB_WAYS;
export const HTLB_BASE = PSC_BASE + PSC_LEVELS * PSC_SLOTS * PSCE_WORDS;
/** 4 KiB pages per 2 MiB entry */
export const HPAGE_VPNS = 512;

/** word: nonzero while the 4 KiB TLB may hold TLBF_HUGE pieces (the owner's, plain reads) */
export const TLB_HUGE_PIECES = HTLB_BASE + HTLB_ENTRIES * TLBE_WORDS;

/** word: nonzero while the 4 KiB TLB may hold TLBF_CONT pieces (the owner's, plain reads) */
export const TLB_CONT_PIECES = TLB_HUGE_PIECES + 1;

// the contiguous TLB (arm64 PTE_CONT), entries laid out as TLBE_*
export const CTLB_SETS = 8;
export const CTLB_WAYS = 4;
export const CTLB_ENTRIES = CTLB_SETS * CTLB_WAYS;
export const CTLB_BASE = TLB_HUGE_PIECES + 16;
/** 4 KiB pages per contiguous entry (CONT_PTES) */
export const CONT_VPNS = 16;

export const TLB_WORDS_PER_CPU = CTLB_BASE + CTLB_ENTRIES * TLBE_WORDS;

/** Word offset of level `level` (1..3), slot `slot` of a CPU's paging-structure cache. */
export function pscOffset(cpu: number, level: number, slot: number): number {
  return cpu * TLB_WORDS_PER_CPU + PSC_BASE + ((level - 1) * PSC_SLOTS + slot) * PSCE_WORDS;
}
