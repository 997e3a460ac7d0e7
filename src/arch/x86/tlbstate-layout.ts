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

/** x86 PCIDs: kern_pcid(asid) = asid + 1, so PCID 0 is never used by a dynamic ASID. */
export function kernPcid(asid: number): number {
  return asid + 1;
}
