/*
 * TLB maintenance as the kernel calls it (asm/tlbflush.h, and tlb_flush of asm/tlb.h): each
 * function forwards to the run's arch code (cpu.archOps, arch/ops.ts says what each promises).
 * Kernel files import these, never an arch's own.
 *
 *   flushTlbMmRange       flush_tlb_mm_range: [start, end) of an mm, at a stride, maybe with
 *                         page tables freed; returns the CPUs it interrupted
 *   flushTlbRange         flush_tlb_range(vma, start, end)
 *   flushTlbPage          flush_tlb_page(vma, va)
 *   flushTlbMm            flush_tlb_mm
 *   tlbFlush              tlb_flush(tlb): the flush of what an mmu_gather gathered
 *   tlbTableFlushImpliesIpiBroadcast   whether that flush interrupted every CPU that may walk
 *   archTlbbatchShouldDefer   whether reclaim batches the flush of a PTE it clears (should_defer_flush)
 *   archTlbbatchAlloc / archTlbbatchAddPending / archTlbbatchFlush / archTlbbatchClear
 *                         reclaim's deferred flush (struct arch_tlbflush_unmap_batch)
 *   archFlushTlbBatchedPending   the arch part of flush_tlb_batched_pending
 */
import type { Cpu } from '../cpu/cpu.ts';
import type { MmuGather } from '../kernel/mmu-gather.ts';
import { PAGE_SHIFT } from '../machine/phys-layout.ts';
import type { ArchTlbflushUnmapBatch } from './ops.ts';

export type { ArchTlbflushUnmapBatch } from './ops.ts';

/** end of a flush of the whole mm */
export const TLB_FLUSH_ALL = -1;

export function flushTlbMmRange(cpu: Cpu, mm: number, start: number, end: number, strideShift = PAGE_SHIFT, freedTables = false): number {
  return cpu.archOps.flushTlbMmRange(cpu, mm, start, end, strideShift, freedTables);
}

export function flushTlbRange(cpu: Cpu, mm: number, start: number, end: number): void {
  cpu.archOps.flushTlbRange(cpu, mm, start, end);
}

export function flushTlbPage(cpu: Cpu, mm: number, va: number): void {
  cpu.archOps.flushTlbPage(cpu, mm, va);
}

export function flushTlbMm(cpu: Cpu, mm: number): void {
  cpu.archOps.flushTlbMm(cpu, mm);
}

export function tlbFlush(cpu: Cpu, tlb: MmuGather): void {
  cpu.archOps.tlbFlush(cpu, tlb);
}

export function tlbTableFlushImpliesIpiBroadcast(cpu: Cpu): boolean {
  return cpu.archOps.tlbTableFlushImpliesIpiBroadcast(cpu);
}

export function archTlbbatchShouldDefer(cpu: Cpu, mm: number): boolean {
  return cpu.archOps.archTlbbatchShouldDefer(cpu, mm);
}

export function archTlbbatchAlloc(cpu: Cpu): ArchTlbflushUnmapBatch {
  return cpu.archOps.archTlbbatchAlloc();
}

export function archTlbbatchAddPending(cpu: Cpu, batch: ArchTlbflushUnmapBatch, mm: number, start: number, end: number): number {
  return cpu.archOps.archTlbbatchAddPending(cpu, batch, mm, start, end);
}

export function archTlbbatchFlush(cpu: Cpu, batch: ArchTlbflushUnmapBatch): void {
  cpu.archOps.archTlbbatchFlush(cpu, batch);
}

export function archTlbbatchClear(cpu: Cpu, batch: ArchTlbflushUnmapBatch): void {
  cpu.archOps.archTlbbatchClear(cpu, batch);
}

export function archFlushTlbBatchedPending(cpu: Cpu, mm: number): void {
  cpu.archOps.archFlushTlbBatchedPending(cpu, mm);
}
