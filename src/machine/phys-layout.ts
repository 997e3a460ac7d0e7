/*
 * Layout of physical memory and of the frame metadata (the kernel's struct page).
 *
 * Physical memory is one SharedArrayBuffer of 4 KiB frames, viewed as 32-bit words: word
 * `pfn * WORDS_PER_FRAME + i` is word i of frame pfn. A page-table frame uses its first
 * PTRS_PER_TABLE words as entries; a data frame is read and written a word at a time.
 *
 * Every frame has FRAME_META_WORDS words of metadata (one line, since the PTL and the counts are
 * written by many CPUs) in a parallel Int32Array. The allocation
 * generation (META_GEN) changes every time a frame is freed: a TLB entry or paging-structure
 * cache entry that remembers the generation it was filled under can tell that the frame it points
 * at has since been freed and perhaps handed to someone else.
 *
 * Frame 0 is never allocated: PFN 0 is the null frame.
 */

export const PAGE_SHIFT = 12;
export const PAGE_SIZE = 1 << PAGE_SHIFT;
export const WORDS_PER_FRAME = PAGE_SIZE >> 2;
export const PTRS_PER_TABLE = 512;

/** Most frames a machine may have: the PTE codec keeps 19 bits of PFN. */
export const MAX_FRAMES = 1 << 19;

// struct page, one FRAME_META_WORDS-word record per frame.
export const META_REFCOUNT = 0; // page_ref_count
export const META_MAPCOUNT = 1; // page_mapcount
export const META_FLAGS = 2; // PG_* bits below
export const META_KIND = 3; // FrameKind
export const META_INDEX = 4; // file page: index in its file; page table: its level
export const META_GEN = 5; // allocation generation, bumped on every free
export const META_OWNER = 6; // owning mm or file id, 0 when none
export const META_NEXT = 7; // free-list link (global free list only)
export const META_PTL = 8; // page table: its split page-table lock (ptdesc->ptl)
export const META_PINCOUNT = 9; // pins taken by GUP (folio pincount)
// The lost-bit oracle's record (check/lost-bits.ts), not kernel state: A and D bits the page
// walker set in a leaf PTE mapping this frame that no kernel primitive has returned yet, as
// (word index of the PTE << HWAD_PTEP_SHIFT) | HWAD_* bits; 0 for none. One PTE at a time: a
// walker setting bits in another PTE of the same frame takes the record over (a missed report at
// worst). The PTE's VPN beside it, for the report.
export const META_HW_AD = 10;
export const META_HW_AD_VPN = 11;
// The lost-write oracle's record (check/oracle.ts), not kernel state: the global trace sequence
// just after writeback last copied this page-cache frame to the disk, or at the frame's allocation.
// A TLB entry filled before it has outlived a writeback.
export const META_WRITTEN_SEQ = 12;
// page table: the first VPN it maps, for the trace of its entries' changes (trace/events.ts)
export const META_TABLE_VPN = 13;
// page table: a PTE table deposited with it (pgtable_trans_huge_deposit), freed when it is; 0 for none
export const META_DEPOSIT = 14;
// large folio (kernel/page.ts): 0 for an order-0 page; on the head page, the folio's page count
// (folio_nr_pages); on a tail page, minus its offset from the head (compound_head)
export const META_FOLIO = 15;
export const HWAD_ACCESSED = 1 << 0;
export const HWAD_DIRTY = 1 << 1;
export const HWAD_PTEP_SHIFT = 2; // a PTE's word index is below MAX_FRAMES * WORDS_PER_FRAME = 2^29
export const FRAME_META_WORDS = 16; // one 64-byte line per frame

// PG_* flags (META_FLAGS)
export const PG_LOCKED = 1 << 0;
export const PG_DIRTY = 1 << 1;
export const PG_LAZYFREE = 1 << 4; // MADV_FREE: clean anonymous memory reclaim may drop
export const PG_WAITERS = 1 << 5; // someone sleeps in folio_lock: folio_unlock must wake them
export const PG_ANON_SHARED = 1 << 6; // !PageAnonExclusive: fork shared this anonymous page; a write fault copies it unless it is found mapped once

export const enum FrameKind {
  Free = 0,
  Anon = 1,
  File = 2,
  PageTable = 3,
  Kernel = 4,
}

/*
 * The allocator: a global free list under the zone lock, and per-CPU LIFO lists (the kernel's
 * per_cpu_pages) that only their owner touches. A frame freed on a CPU is the next one that CPU
 * allocates, which is what turns a stale translation into an access to someone else's data.
 */
export const PCP_HIGH = 32; // most frames a per-CPU list holds before draining
export const PCP_BATCH = 8; // frames moved between a per-CPU list and the global list at once
export const PCP_COUNT = 0; // word 0 of a CPU's list: how many frames it holds
export const PCP_FRAMES = 1; // words 1..PCP_HIGH: the frames, top of stack last
export const PCP_STRIDE = 48; // words per CPU list, a multiple of 16 so lists do not share lines

// The zone: its own 64-byte line.
export const ZONE_LOCK = 0;
export const ZONE_FREE_HEAD = 1; // first free frame, 0 when empty
export const ZONE_NR_FREE = 2;
export const ZONE_WORDS = 16;
