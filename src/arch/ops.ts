/*
 * The contract of arch code: what the shared kernel asks of an architecture, and nothing else.
 *
 * Linux splits mm code the same way: mm/ calls flush_tlb_range, ptep_get_and_clear, set_ptes,
 * arch_tlbbatch_add_pending, tlb_flush, switch_mm, and each arch/ implements them in its
 * asm/tlbflush.h, asm/pgtable.h, asm/tlb.h and asm/mmu_context.h. Here each architecture is one
 * ArchOps table; cpu.configure picks the run's table (cpu.archOps = archOpsFor(cpu.arch)) and the
 * kernel reaches it only through the kernel-named forwarders:
 *
 *   arch/tlbflush.ts      asm/tlbflush.h and asm/tlb.h: flush_tlb_mm_range, flush_tlb_range,
 *                         flush_tlb_page, flush_tlb_mm, tlb_flush, arch_tlbbatch_*,
 *                         arch_flush_tlb_batched_pending, tlb_table_flush_implies_ipi_broadcast
 *   arch/pgtable.ts       asm/pgtable.h: ptep_get, ptep_get_lockless, set_pte, set_ptes,
 *                         ptep_get_and_clear, ptep_get_and_clear_full, ptep_set_wrprotect,
 *                         ptep_test_and_clear_young, ptep_set_access_flags
 *   arch/mmu-context.ts   asm/mmu_context.h: switch_mm, enter_lazy_tlb, destroy_context
 *
 * What an entry promises is what the kernel's function promises: flushTlbMmRange returns only when
 * no CPU running the mm translates the range through an entry filled before the call (each arch
 * states how it keeps that: IPIs and tlb_gen on x86); ptepGetAndClear loses no A or D bit a
 * walker sets meanwhile; switchMm leaves cpu.cr3, cpu.pcid and cpu.mm describing the new mm.
 *
 * Cost: one property load and a call on kernel paths. The TLB-hit load and store of cpu.ts never
 * come here.
 *
 * Arch code that is the architecture's by nature and has no counterpart elsewhere (x86's INVLPGB
 * global ASIDs, KVM paravirt flushing, the flush IPI handlers of ipi/dispatch.ts) stays reachable
 * only as arch/x86/*, for the scenarios and tests about it.
 */
import type { Cpu } from '../cpu/cpu.ts';
import type { MachineViews } from '../machine/memory.ts';
import type { MmuGather } from '../kernel/mmu-gather.ts';
import type { FlushViolation } from '../check/flush-postcondition.ts';
import { Arch } from './arch.ts';
import { X86_OPS } from './x86/ops.ts';
import { ARM64_OPS } from './arm64/ops.ts';

declare const archTlbbatchBrand: unique symbol;
/**
 * struct arch_tlbflush_unmap_batch, opaque to the kernel: the arch that allocated it
 * (ArchOps.archTlbbatchAlloc) is the only one that reads it.
 */
export interface ArchTlbflushUnmapBatch {
  readonly [archTlbbatchBrand]: true;
}

export interface ArchOps {
  readonly arch: Arch;

  /** the boot CPU state of the TLB code: init_mm loaded */
  initTlbState(cpu: Cpu): void;
  /** switch_mm: load `next` (IRQs off around it) */
  switchMm(cpu: Cpu, next: number): void;
  /** enter_lazy_tlb: a kernel thread keeps the user mm loaded */
  enterLazyTlb(cpu: Cpu): void;
  /** destroy_context: the mm's slot is about to be freed */
  destroyContext(cpu: Cpu, mm: number): void;

  /** flush_tlb_mm_range; returns the CPUs it interrupted */
  flushTlbMmRange(cpu: Cpu, mm: number, start: number, end: number, strideShift: number, freedTables: boolean): number;
  /** flush_tlb_range(vma, start, end) */
  flushTlbRange(cpu: Cpu, mm: number, start: number, end: number): void;
  /** flush_tlb_page(vma, va) */
  flushTlbPage(cpu: Cpu, mm: number, va: number): void;
  /** flush_tlb_mm */
  flushTlbMm(cpu: Cpu, mm: number): void;
  /** tlb_flush (asm/tlb.h): the flush of what an mmu_gather gathered */
  tlbFlush(cpu: Cpu, tlb: MmuGather): void;
  /** tlb_table_flush_implies_ipi_broadcast */
  tlbTableFlushImpliesIpiBroadcast(cpu: Cpu): boolean;

  /** arch_tlbbatch_should_defer: whether reclaim may batch the flush of a PTE of `mm` it clears */
  archTlbbatchShouldDefer(cpu: Cpu, mm: number): boolean;
  /** a fresh, empty arch_tlbflush_unmap_batch for a task */
  archTlbbatchAlloc(): ArchTlbflushUnmapBatch;
  /** arch_tlbbatch_add_pending; returns the mm's tlb_gen the deferred flush stands for (0 if none) */
  archTlbbatchAddPending(cpu: Cpu, batch: ArchTlbflushUnmapBatch, mm: number, start: number, end: number): number;
  /** arch_tlbbatch_flush: the one flush for every pending unmap, and the batch is empty */
  archTlbbatchFlush(cpu: Cpu, batch: ArchTlbflushUnmapBatch): void;
  /** the batch emptied without a flush (a flush known to have covered it already) */
  archTlbbatchClear(cpu: Cpu, batch: ArchTlbflushUnmapBatch): void;
  /** arch_flush_tlb_batched_pending: the arch part of flush_tlb_batched_pending */
  archFlushTlbBatchedPending(cpu: Cpu, mm: number): void;

  ptepGet(cpu: Cpu, ptep: number): number;
  ptepGetLockless(cpu: Cpu, ptep: number): number;
  setPte(cpu: Cpu, ptep: number, pte: number): void;
  setPtes(cpu: Cpu, mm: number, va: number, ptep: number, pte: number, nr: number): void;
  ptepGetAndClear(cpu: Cpu, mm: number, va: number, ptep: number): number;
  ptepGetAndClearFull(cpu: Cpu, mm: number, va: number, ptep: number, full: boolean): number;
  ptepSetWrprotect(cpu: Cpu, mm: number, va: number, ptep: number): void;
  ptepTestAndClearYoung(cpu: Cpu, mm: number, va: number, ptep: number): boolean;
  ptepSetAccessFlags(cpu: Cpu, mm: number, va: number, ptep: number, entry: number, dirty: boolean): boolean;

  /**
   * For checkers, from outside the CPUs: after a flush of [start, end) of `mm` that returned with
   * generation `flushGen` (0 where the arch has none), a CPU still translating through an entry
   * the flush had to remove, or null.
   */
  flushPostcondition(v: MachineViews, mm: number, start: number, end: number, flushGen: number): FlushViolation | null;
}

/** The arch code of `arch`. */
export function archOpsFor(arch: Arch): ArchOps {
  return arch === Arch.Arm64 ? ARM64_OPS : X86_OPS;
}
