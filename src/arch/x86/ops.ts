/*
 * x86's entry of ArchOps (arch/ops.ts): today's x86 code, unchanged, behind the arch contract.
 *
 *   TLB flushing, tlb_gen, lazy TLB, switch_mm     arch/x86/flush.ts
 *   tlb_flush of an mmu_gather                     arch/x86/tlb.ts
 *   global ASIDs (destroy_context frees one)       arch/x86/broadcast.ts
 *   ptep_*                                         arch/x86/pgtable.ts over machine/pagetable.ts
 *   the checkers' flush postcondition              arch/x86/flush-postcondition.ts
 *
 * The batch of deferred reclaim flushes is x86's struct arch_tlbflush_unmap_batch (a cpumask and
 * whether any page was unmapped); switch batchedPending=cpumask (seed 000 patch 20) widens it at
 * flush time to every CPU that may still hold any batched unmap.
 */
import type { Cpu } from '../../cpu/cpu.ts';
import { CpuMask } from '../../cpu/cpumask.ts';
import { PAGE_SHIFT, PAGE_SIZE } from '../../machine/phys-layout.ts';
import { G_TLB_FLUSH_BATCHED_CPUMASK } from '../../machine/globals-layout.ts';
import { ptepGet, ptepSetWrprotect, ptepTestAndClearYoung, setPte, setPtes } from '../../machine/pagetable.ts';
import { mmCpumask } from '../../kernel/mm.ts';
import { Arch } from '../arch.ts';
import type { ArchOps, ArchTlbflushUnmapBatch as OpaqueBatch } from '../ops.ts';
import { destroyContextFreeGlobalAsid } from './broadcast.ts';
import {
  ArchTlbflushUnmapBatch, TLB_FLUSH_ALL, archTlbbatchAddPending, archTlbbatchFlush, enterLazyTlb, flushTlbMmRange, initTlbState, switchMm,
  tlbTableFlushImpliesIpiBroadcast,
} from './flush.ts';
import { x86FlushPostcondition } from './flush-postcondition.ts';
import { ptepGetAndClear, ptepSetAccessFlags } from './pgtable.ts';
import { tlbFlush } from './tlb.ts';

const batchOf = (b: OpaqueBatch): ArchTlbflushUnmapBatch => b as unknown as ArchTlbflushUnmapBatch;

export const X86_OPS: ArchOps = {
  arch: Arch.X86,

  initTlbState,
  switchMm,
  enterLazyTlb,
  destroyContext: destroyContextFreeGlobalAsid,

  flushTlbMmRange,
  flushTlbRange: (cpu, mm, start, end) => void flushTlbMmRange(cpu, mm, start, end, PAGE_SHIFT, false),
  flushTlbPage: (cpu, mm, va) => void flushTlbMmRange(cpu, mm, va, va + PAGE_SIZE, PAGE_SHIFT, false),
  flushTlbMm: (cpu, mm) => void flushTlbMmRange(cpu, mm, 0, TLB_FLUSH_ALL, PAGE_SHIFT, false),
  tlbFlush,
  tlbTableFlushImpliesIpiBroadcast,

  // arch/x86/include/asm/tlbflush.h: batch when a CPU other than this one may cache the mm; a
  // flush of this CPU alone is cheap enough to do at once
  archTlbbatchShouldDefer: (cpu, mm) => mmCpumask(cpu.v, mm).anyBut(cpu.id),
  archTlbbatchAlloc: () => new ArchTlbflushUnmapBatch() as unknown as OpaqueBatch,
  archTlbbatchAddPending: (cpu, batch, mm) => archTlbbatchAddPending(cpu, batchOf(batch), mm),
  archTlbbatchFlush(cpu: Cpu, batch: OpaqueBatch): void {
    const b = batchOf(batch);
    // the patch flushes every CPU that may hold any batched unmap, not just this task's
    if (cpu.config.batchedPending === 'cpumask') b.cpumask.or(CpuMask.load(cpu.v.globals, G_TLB_FLUSH_BATCHED_CPUMASK));
    archTlbbatchFlush(cpu, b);
  },
  archTlbbatchClear: (_cpu, batch) => batchOf(batch).cpumask.clearAll(),
  // arch/x86/include/asm/tlbflush.h: arch_flush_tlb_batched_pending is flush_tlb_mm
  archFlushTlbBatchedPending: (cpu, mm) => void flushTlbMmRange(cpu, mm, 0, TLB_FLUSH_ALL, PAGE_SHIFT, false),

  ptepGet: (cpu, ptep) => ptepGet(cpu.v, ptep),
  // READ_ONCE, as GUP-fast reads: the lockless copy marks no A or D bit seen
  ptepGetLockless: (cpu, ptep) => Atomics.load(cpu.v.phys, ptep),
  setPte: (cpu, ptep, pte) => setPte(cpu.v, ptep, pte),
  setPtes: (cpu, _mm, _va, ptep, pte, nr) => setPtes(cpu.v, ptep, pte, nr),
  ptepGetAndClear: (cpu, _mm, _va, ptep) => ptepGetAndClear(cpu, ptep),
  ptepGetAndClearFull: (cpu, _mm, _va, ptep) => ptepGetAndClear(cpu, ptep),
  ptepSetWrprotect: (cpu, _mm, _va, ptep) => ptepSetWrprotect(cpu.v, ptep),
  ptepTestAndClearYoung: (cpu, _mm, _va, ptep) => ptepTestAndClearYoung(cpu.v, ptep),
  ptepSetAccessFlags: (cpu, _mm, _va, ptep, entry, dirty) => ptepSetAccessFlags(cpu, ptep, entry, dirty),

  flushPostcondition: x86FlushPostcondition,
};
