/*
 * arm64's entry of ArchOps (arch/ops.ts).
 *
 *   TLBI/DSB flushing, tlb_flush, reclaim's batch   arch/arm64/tlbflush.ts
 *   switch_mm: the ASID allocator                   arch/arm64/context.ts
 *   the checkers' flush postcondition               arch/arm64/flush-postcondition.ts
 *   ptep_*, set_pte_at, set_ptes                    arch/arm64/pgtable.ts: the contpte path for a
 *                                                   valid CONT entry (arch/arm64/contpte.ts), else
 *                                                   machine/pagetable.ts's primitives (arm64's
 *                                                   __ptep_get_and_clear is an xchg,
 *                                                   arch/ptep-get-and-clear.ts as x86's; its
 *                                                   __ptep_set_wrprotect and
 *                                                   __ptep_test_and_clear_young cmpxchg loops)
 *   ptep_set_access_flags                           arch/arm64/pgtable.ts: contpte_ptep_set_access_flags
 *                                                   for a valid CONT entry, else __ptep_set_access_flags
 *                                                   (arch/arm64/fault.ts)
 *
 * enter_lazy_tlb and destroy_context do nothing on arm64: no flush is aimed at a CPU, so a lazy
 * CPU needs no bookkeeping, and an ASID is not freed but left to the next rollover. struct
 * arch_tlbflush_unmap_batch is empty: the TLBIs are posted when a page is added, and the batch's
 * flush is the DSB that waits for them.
 */
import { PAGE_SHIFT, PAGE_SIZE } from '../../machine/phys-layout.ts';
import { INIT_MM } from '../../kernel/mm-layout.ts';
import { tlbGetUnmapShift } from '../../kernel/mmu-gather.ts';
import { Arch } from '../arch.ts';
import type { ArchOps, ArchTlbflushUnmapBatch } from '../ops.ts';
import { checkAndSwitchContext } from './context.ts';
import { arm64FlushPostcondition } from './flush-postcondition.ts';
import {
  ptepGet, ptepGetAndClear, ptepGetLockless, ptepSetAccessFlags, ptepTestAndClearYoung, setPte, setPtes, wrprotectPtes,
} from './pgtable.ts';
import {
  archFlushTlbBatchedPending, archTlbbatchAddPending, archTlbbatchFlush, flushTlbMm, flushTlbMmRange, flushTlbRangeArm64, tlbFlushArm64,
} from './tlbflush.ts';

const EMPTY_BATCH = Object.freeze({}) as ArchTlbflushUnmapBatch;

export const ARM64_OPS: ArchOps = {
  arch: Arch.Arm64,

  initTlbState: (cpu) => checkAndSwitchContext(cpu, INIT_MM),
  switchMm: checkAndSwitchContext,
  enterLazyTlb: () => {},
  destroyContext: () => {},

  flushTlbMmRange,
  // flush_tlb_range never asks for last level only: its caller may be freeing or collapsing tables
  flushTlbRange: (cpu, mm, start, end) => flushTlbRangeArm64(cpu, mm, start, end, PAGE_SHIFT, false),
  flushTlbPage: (cpu, mm, va) => flushTlbRangeArm64(cpu, mm, va, va + PAGE_SIZE, PAGE_SHIFT, true),
  flushTlbMm,
  tlbFlush: (cpu, tlb) => tlbFlushArm64(cpu, tlb.mm, tlb.fullmm, tlb.freedTables, tlb.start, tlb.end, tlbGetUnmapShift(tlb)),
  tlbTableFlushImpliesIpiBroadcast: () => false,

  // arch/arm64/include/asm/tlbflush.h: always, whichever CPUs ran the mm (false only with the
  // ARM64_WORKAROUND_REPEAT_TLBI erratum, which no CPU of the model has)
  archTlbbatchShouldDefer: () => true,
  archTlbbatchAlloc: () => EMPTY_BATCH,
  archTlbbatchAddPending: (cpu, _batch, mm, start, end) => {
    archTlbbatchAddPending(cpu, mm, start, end);
    return 0;
  },
  archTlbbatchFlush: (cpu) => archTlbbatchFlush(cpu),
  archTlbbatchClear: () => {},
  archFlushTlbBatchedPending,

  ptepGet,
  ptepGetLockless,
  setPte,
  setPtes,
  ptepGetAndClear,
  // ptep_get_and_clear_full: get_and_clear_full_ptes of one entry
  ptepGetAndClearFull: (cpu, mm, va, ptep) => ptepGetAndClear(cpu, mm, va, ptep),
  // ptep_set_wrprotect: wrprotect_ptes of one entry
  ptepSetWrprotect: (cpu, mm, va, ptep) => wrprotectPtes(cpu, mm, va, ptep, 1),
  ptepTestAndClearYoung: (cpu, _mm, _va, ptep) => ptepTestAndClearYoung(cpu, ptep),
  ptepSetAccessFlags,

  flushPostcondition: arm64FlushPostcondition,
};
