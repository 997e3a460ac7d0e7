/*
 * Layout of the call_single_data region: per CPU, the flush_tlb_info of the call it is making
 * (in the kernel, the sender's per-CPU flush_tlb_info that its CSDs point to). The sender writes
 * it before it posts and keeps it until every target has acknowledged, so targets read it in
 * place and an IPI carries only its function id. Float64 words: addresses reach 2^47.
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
