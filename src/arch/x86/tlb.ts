/*
 * x86's tlb_flush (arch/x86/include/asm/tlb.h): what an mmu_gather gathered becomes one
 * flush_tlb_mm_range, with the stride of the smallest level cleared and freed_tables passed on so
 * that lazy CPUs and paging-structure caches are flushed too. A fullmm or need_flush_all gather
 * flushes the whole mm.
 */
import type { Cpu } from '../../cpu/cpu.ts';
import { tlbGetUnmapShift, type MmuGather } from '../../kernel/mmu-gather.ts';
import { TLB_FLUSH_ALL, flushTlbMmRange } from './flush.ts';

// models arch/x86/include/asm/tlb.h:tlb_flush
export function tlbFlush(cpu: Cpu, tlb: MmuGather): void {
  const all = tlb.fullmm || tlb.needFlushAll;
  const start = all ? 0 : tlb.start;
  const end = all ? TLB_FLUSH_ALL : tlb.end;
  flushTlbMmRange(cpu, tlb.mm, start, end, tlbGetUnmapShift(tlb), tlb.freedTables);
}
