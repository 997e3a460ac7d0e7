/*
 * Layout of the call_single_data region: per CPU, one 64-byte line with the flush_tlb_info of the
 * call it is making (in the kernel, the sender's per-CPU flush_tlb_info that its CSDs point to)
 * and the mask of targets that have not yet run it (the CSDs' CSD_FLAG_LOCK bits). The sender
 * writes both before it posts and keeps the info until every target has acknowledged, so targets
 * read it in place and an IPI carries only its function id. One line for both: the sender's
 * writes and a target's read and acknowledgement move one line between the caches, not two.
 *
 * The info is in Float64 words (v.csd: addresses reach 2^47); the mask is two Int32 words in the
 * line's last Float64 word, through the Int32 view of the same buffer (v.csdMask), for Atomics.
 */
export const CSD_MM = 0;
export const CSD_START = 1;
export const CSD_END = 2;
export const CSD_STRIDE_SHIFT = 3;
export const CSD_FREED_TABLES = 4;
export const CSD_NEW_TLB_GEN = 5;
export const CSD_INITIATING_CPU = 6;
/** one 64-byte line per CPU */
export const CSD_WORDS = 8;
/** the line in Int32 words, and where the pending mask starts in it */
export const CSD_MASK_WORDS = CSD_WORDS * 2;
export const CSD_PENDING = CSD_MASK_WORDS - 2;
