/*
 * arm64 TLB maintenance (arch/arm64/include/asm/tlbflush.h, asm/tlb.h).
 *
 * No IPI anywhere: every invalidation is a broadcast TLBI ...IS, which the interconnect delivers
 * to every PE's TLB and walk cache, followed by DSB ISH, which waits until the TLBIs *this* PE
 * issued are complete everywhere. Until the DSB returns, any CPU may still translate through the
 * old entry (machine/tlbi-broadcast.ts: a posted TLBI reaches a running CPU at its next interrupt
 * point). The template of every flush below is
 *
 *   dsb(ishst)        the PTE stores before the TLBIs (Atomics stores here: ordered already)
 *   tlbi ...is        one per page, one range op, or one per ASID
 *   dsb(ish)          wait for this PE's TLBIs
 *
 * The rule: when a flush returns, no CPU translates an address of the range of the mm through an
 * entry filled before the call, running the mm or not, since the TLBI is by ASID, not by CPU.
 *
 * __flush_tlb_range falls back to flush_tlb_mm (one TLBI ASIDE1IS) above MAX_TLBI_RANGE_PAGES with
 * FEAT_TLBIRANGE, or at MAX_DVM_OPS strides without it; with it, a range is covered by range ops
 * from scale 3 down to 0 (__flush_tlb_range_op). last_level picks VALE1IS (leaf entries only)
 * over VAE1IS (leaf and walk-cache entries for the VA): flush_tlb_range never asks for last level,
 * since a caller may be freeing or collapsing tables; tlb_flush does when no table was freed.
 *
 * Batched reclaim (43b3dfdd0455): arch_tlbbatch_add_pending issues the TLBIs and no DSB;
 * arch_tlbbatch_flush is the one DSB. flush_tlb_batched_pending is flush_tlb_mm since 4b634918384c:
 * a DSB completes only the issuing PE's TLBIs, so a DSB on the CPU that finds the batch pending
 * waits for nothing reclaim posted. Switch arm64BatchedPending keeps the bare DSB for comparison.
 */
import type { Cpu } from '../../cpu/cpu.ts';
import { PAGE_SHIFT } from '../../machine/phys-layout.ts';
import { PTRS_PER_TABLE } from '../../machine/phys-layout.ts';
import { TlbiKind, dsbIsh, tlbiIs } from '../../machine/tlbi-broadcast.ts';
import { KernelPoint } from '../../kernel/points.ts';
import { asidOfMm } from './context.ts';

export const TLB_FLUSH_ALL = -1;

/** MAX_DVM_OPS: without range TLBIs, this many strides or more is a flush of the whole ASID. */
export const MAX_DVM_OPS = PTRS_PER_TABLE;
/** __TLBI_RANGE_PAGES(num, scale): what one range op covers. */
const tlbiRangePages = (num: number, scale: number): number => (num + 1) * 2 ** (5 * scale + 1);
/** MAX_TLBI_RANGE_PAGES: the most one range op can cover, __TLBI_RANGE_PAGES(31, 3). */
export const MAX_TLBI_RANGE_PAGES = tlbiRangePages(31, 3);

/** flush_tlb_mm: every entry of the mm's ASID, on every CPU. */
// models arch/arm64/include/asm/tlbflush.h:flush_tlb_mm
export function flushTlbMm(cpu: Cpu, mm: number): void {
  tlbiIs(cpu, TlbiKind.Asid, asidOfMm(cpu.v, mm), 0, 0, 0);
  tlbiSync(cpu);
}

/** The DSB ISH that ends a flush, behind the race window in which the TLBIs are still in flight. */
function tlbiSync(cpu: Cpu): void {
  cpu.raceWindow(KernelPoint.TlbiIssuedNotSynced); // race window: TLBIs posted, other CPUs may still translate through the old entries
  dsbIsh(cpu);
}

// models arch/arm64/include/asm/tlbflush.h:__flush_tlb_range_limit_excess
function flushTlbRangeLimitExcess(cpu: Cpu, pages: number, strideShift: number): boolean {
  if (cpu.hw.tlbRange) return pages > MAX_TLBI_RANGE_PAGES;
  return pages >= (MAX_DVM_OPS << strideShift) >> PAGE_SHIFT;
}

/**
 * __flush_tlb_range_op: one TLBI per stride without FEAT_TLBIRANGE, or for a last odd page; else
 * range ops, the biggest scale first, each covering an even number of pages.
 */
// models arch/arm64/include/asm/tlbflush.h:__flush_tlb_range_op
function flushTlbRangeOp(cpu: Cpu, asid: number, startVpn: number, pages: number, strideShift: number, lastLevel: boolean): void {
  const strideVpns = 1 << (strideShift - PAGE_SHIFT);
  const lop = lastLevel ? TlbiKind.VaLeaf : TlbiKind.Va;
  const rop = lastLevel ? TlbiKind.RangeLeaf : TlbiKind.Range;
  let vpn = startVpn;
  let scale = 3;
  while (pages > 0) {
    if (!cpu.hw.tlbRange || pages === 1) {
      tlbiIs(cpu, lop, asid, vpn, 1, strideVpns);
      vpn += strideVpns;
      pages -= strideVpns;
      continue;
    }
    const num = Math.floor(Math.min(pages, tlbiRangePages(31, scale)) / 2 ** (5 * scale + 1)) - 1;
    if (num >= 0) {
      const covered = tlbiRangePages(num, scale);
      tlbiIs(cpu, rop, asid, vpn, covered, 1);
      vpn += covered;
      pages -= covered;
    }
    scale--;
  }
}

/** Posts the TLBIs for [start, end) of mm, or one by ASID if the range is too big; no DSB. */
function flushTlbRangeNosync(cpu: Cpu, mm: number, start: number, end: number, strideShift: number, lastLevel: boolean): void {
  const stride = 2 ** strideShift;
  start = Math.floor(start / stride) * stride;
  end = Math.ceil(end / stride) * stride;
  const pages = (end - start) / 2 ** PAGE_SHIFT;
  const asid = asidOfMm(cpu.v, mm);
  if (flushTlbRangeLimitExcess(cpu, pages, strideShift)) {
    tlbiIs(cpu, TlbiKind.Asid, asid, 0, 0, 0);
    return;
  }
  flushTlbRangeOp(cpu, asid, start / 2 ** PAGE_SHIFT, pages, strideShift, lastLevel);
}

/** __flush_tlb_range: the range everywhere, waited for. */
// models arch/arm64/include/asm/tlbflush.h:__flush_tlb_range
export function flushTlbRangeArm64(cpu: Cpu, mm: number, start: number, end: number, strideShift: number, lastLevel: boolean): void {
  flushTlbRangeNosync(cpu, mm, start, end, strideShift, lastLevel);
  tlbiSync(cpu);
}

/**
 * The generic flush_tlb_mm_range's contract on arm64: a range flush that also drops walk-cache
 * entries when tables were freed. Returns the IPIs sent: none.
 */
export function flushTlbMmRange(cpu: Cpu, mm: number, start: number, end: number, strideShift = PAGE_SHIFT, freedTables = false): number {
  if (end === TLB_FLUSH_ALL) flushTlbMm(cpu, mm);
  else flushTlbRangeArm64(cpu, mm, start, end, strideShift, !freedTables);
  return 0;
}

/**
 * tlb_flush (asm/tlb.h): last level unless tables were freed. A fullmm gather (exit) that freed no
 * tables flushes nothing: the ASID allocator will not hand the ASID out again before every TLB
 * was invalidated.
 */
// models arch/arm64/include/asm/tlb.h:tlb_flush
export function tlbFlushArm64(cpu: Cpu, mm: number, fullmm: boolean, freedTables: boolean, start: number, end: number, strideShift: number): void {
  if (fullmm) {
    if (freedTables) flushTlbMm(cpu, mm);
    return;
  }
  flushTlbRangeArm64(cpu, mm, start, end, strideShift, !freedTables);
}

/** arch_tlbbatch_add_pending: the TLBIs for reclaim's unmapped page, leaf only, no DSB. */
// models arch/arm64/include/asm/tlbflush.h:arch_tlbbatch_add_pending
export function archTlbbatchAddPending(cpu: Cpu, mm: number, start: number, end: number): void {
  cpu.raceWindow(KernelPoint.TlbbatchBeforeTlbi); // race window: the PTE is clear, no TLBI posted yet
  flushTlbRangeNosync(cpu, mm, start, end, PAGE_SHIFT, true);
}

/** arch_tlbbatch_flush: one DSB completes every TLBI this CPU posted for the batch. */
// models arch/arm64/include/asm/tlbflush.h:arch_tlbbatch_flush
export function archTlbbatchFlush(cpu: Cpu): void {
  tlbiSync(cpu);
}

/**
 * flush_tlb_batched_pending's flush: flush_tlb_mm (mainline since 4b634918384c), or a DSB on this
 * CPU (switch arm64BatchedPending=dsb), which completes only this CPU's own TLBIs, none of them
 * reclaim's on another CPU.
 */
// models mm/rmap.c:flush_tlb_batched_pending (arm64's arch_flush_tlb_batched_pending before it was removed)
export function archFlushTlbBatchedPending(cpu: Cpu, mm: number): void {
  if (cpu.config.arm64BatchedPending === 'dsb') dsbIsh(cpu);
  else flushTlbMm(cpu, mm);
}
