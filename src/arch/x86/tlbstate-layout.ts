/*
 * Layout of x86's per-CPU TLB state (arch/x86/include/asm/tlbflush.h: struct tlb_state and
 * struct tlb_state_shared), one block per CPU inside the per-CPU region.
 *
 * The owner writes all of it. Remote CPUs read TS_IS_LAZY (flush_tlb_mm_range skips lazy CPUs),
 * and checkers read TS_CTX_GEN (a CPU claims to have caught up to that generation of the mm that
 * owns the ASID), so those are written with Atomics.store. TS_IS_LAZY has its own line, as
 * cpu_tlbstate_shared does in the kernel.
 */

/** TLB_NR_DYN_ASIDS: how many mms a CPU keeps PCID-tagged entries for at once. */
export const TLB_NR_DYN_ASIDS = 6;

export const TS_IS_LAZY = 0; // cpu_tlbstate_shared.is_lazy, own line
export const TS_LOADED_MM = 16; // cpu_tlbstate.loaded_mm (an mm id; 0 is init_mm)
export const TS_LOADED_ASID = 17; // cpu_tlbstate.loaded_mm_asid
export const TS_NEXT_ASID = 18; // cpu_tlbstate.next_asid
export const TS_CR3 = 19; // PFN of the loaded page-table root
export const TS_CTX_ID = 20; // ctxs[asid].ctx_id, TLB_NR_DYN_ASIDS words
export const TS_CTX_GEN = 32; // ctxs[asid].tlb_gen, TLB_NR_DYN_ASIDS words
export const TLBSTATE_WORDS = 48;

/**
 * MAX_ASID_AVAILABLE: ASIDs are 0 .. MAX_ASID_AVAILABLE - 1, one less than the 12-bit PCIDs (PCID 0
 * is for code that knows no PCIDs). PTI, which would take a bit, is not modelled. The dynamic ASIDs
 * are the first TLB_NR_DYN_ASIDS; the global ones (INVLPGB) the rest.
 */
export const MAX_ASID_AVAILABLE = (1 << 12) - 2;

// The global ASID allocator (arch/x86/mm/tlb.c), in the machine's `asids` region.
export const GA_LOCK = 0; // global_asid_lock
export const GA_LAST = 1; // last_global_asid
export const GA_AVAILABLE = 2; // global_asid_available
const GA_BITMAP_WORDS = Math.ceil(MAX_ASID_AVAILABLE / 32);
export const GA_USED = 16; // global_asid_used, a bitmap
export const GA_FREED = GA_USED + GA_BITMAP_WORDS; // global_asid_freed: reusable after the next reset
export const GLOBAL_ASID_WORDS = GA_FREED + GA_BITMAP_WORDS;

/** x86 PCIDs: kern_pcid(asid) = asid + 1, so PCID 0 is never used by a dynamic ASID. */
export function kernPcid(asid: number): number {
  return asid + 1;
}
