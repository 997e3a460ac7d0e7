/*
 * mmu_gather: batched TLB invalidation around page-table teardown (include/asm-generic/tlb.h,
 * mm/mmu_gather.c).
 *
 * The rule everything here serves: unhook the page from the page table, invalidate the TLB, and
 * only then free the page (and the page table). Between the first step and the second, other CPUs
 * may still read and write the page through their TLBs; that is allowed only because nothing has
 * reused the page yet and, for dirty file pages, because the rmap still finds the mapping
 * (delayed rmap removal) so that writeback serializes with the flush on the PTL.
 *
 * API, in pairs:
 *   tlbGatherMmu / tlbFinishMmu        start and finish a gather (inc/dec_tlb_flush_pending)
 *   tlbGatherMmuFullmm                 the same for exit_mmap, where no CPU runs the mm any more
 *   tlbRemoveTlbEntry                  a PTE was cleared: widen the range, note cleared_ptes
 *   tlbFlushPteRange                   widen the range for a PTE change without a page to free
 *   tlbRemovePage                      a page to put after the flush (maybe with its rmap)
 *   pteFreeTlb / pmdFreeTlb / pudFreeTlb   a page table to free after the flush (freed_tables)
 *   tlbFlushMmuTlbonly                 flush the TLBs for what was gathered, keep the pages
 *   tlbFlushRmaps                      remove the delayed rmaps (after the flush, under the PTL)
 *   tlbFlushMmu                        flush the TLBs, then free pages and queue tables for RCU
 *   tlbRemoveTableSyncOne              the IPI khugepaged sends after it unhooks a table
 *
 * Fields:
 *   start, end        the virtual range gathered so far
 *   fullmm            the whole mm is being torn down (exit); flush everything
 *   needFlushAll      flush the whole mm rather than the range
 *   freedTables       page tables were freed: lazy CPUs and paging-structure caches must be
 *                     flushed too
 *   clearedPtes, clearedPmds, clearedPuds, clearedP4ds   which levels were cleared; the stride
 *                     of the flush follows the smallest
 *   pages, delayRmap  the page batch; a delayed page's rmap is removed only after the flush
 *   activeBatch, activeNr, batchCount   where the batch stands: the on-stack bundle (batch 0)
 *                     or one of the batch pages allocated so far (MAX_GATHER_BATCH_COUNT at most)
 *   tables            page-table frames unhooked and waiting for the flush
 *   rcuTables         tables handed to call_rcu after the flush, each batch with its grace period
 *
 * Page tables (MMU_GATHER_RCU_TABLE_FREE, unconditional on x86 since a37259732a7d, v6.15): the
 * flush with freed_tables drops every paging-structure cache entry that points to them, on lazy
 * CPUs too; then tlb_table_flush hands them to call_rcu (tlb_remove_table_free), and they are
 * freed after a grace period (kernel/rcu.ts), which a lockless walker with IRQs off (GUP-fast)
 * holds off. No IPI beyond the flush: tlb_remove_table_sync_one is for khugepaged, which deposits
 * the table it unhooks and frees it later with no grace period (zap_deposited_table), and for
 * __tlb_remove_table_one when no batch page can be allocated (not modelled: the batch never fails
 * here).
 *
 * tlb_start_vma / tlb_end_vma do nothing on x86, which has no flush_cache_range and selects
 * MMU_GATHER_MERGE_VMAS: the range grows over all the VMAs of a gather, and munmap's
 * unmap_region flushes once, at tlb_finish_mmu, for the pages and the tables together (or
 * earlier when the page batch runs out or a dirty file page forces it).
 *
 * Nested gathers: mm->tlb_flush_pending counts the gathers under way. Two MADV_DONTNEED on one
 * range run under the mmap_lock held for reading: the second finds the PTEs already cleared,
 * gathers nothing, and would return before the first one's flush. tlbFinishMmu sees the count
 * above one (mmTlbFlushNested) and flushes anyway (switch nestedForceFlush); what it flushes is
 * switch nestedRange: the whole mm with freed tables (mainline), or the 2019 code that reset the
 * gathered state to the caller's range and so lost freedTables and the cleared levels.
 */
import type { Cpu } from '../cpu/cpu.ts';
import { PAGE_SHIFT, PAGE_SIZE } from '../machine/phys-layout.ts';
import { freeFrame } from '../machine/frames.ts';
import { CpuMask } from '../cpu/cpumask.ts';
import { IpiFn } from '../ipi/protocol.ts';
import { TLB_FLUSH_ALL, tlbFlush, tlbTableFlushImpliesIpiBroadcast } from '../arch/tlbflush.ts';
import { Counter } from '../trace/counters.ts';
import { decTlbFlushPending, incTlbFlushPending, mmTlbFlushNested } from './mm.ts';
import { pageRemoveRmap, putPage } from './page.ts';
import { rcuSnapshot, rcuWaitGp } from './rcu.ts';
import { KernelPoint } from './points.ts';

/*
 * The page batch as include/asm-generic/tlb.h sizes it on x86-64: the gather's on-stack bundle
 * (MMU_GATHER_BUNDLE entries), then batch pages of MAX_GATHER_BATCH entries, at most
 * MAX_GATHER_BATCH_COUNT of them. A batch counts as full one entry early (batch->nr >=
 * batch->max - 1 in __tlb_remove_folio_pages_size, room for a folio's page count). Allocating a
 * batch page never fails here (GFP_NOWAIT in the kernel), and takes no frame.
 */
export const MMU_GATHER_BUNDLE = 8;
/** (PAGE_SIZE - sizeof(struct mmu_gather_batch)) / sizeof(void *): 510 on x86-64 */
export const MAX_GATHER_BATCH = (PAGE_SIZE - 16) / 8;
/** 10000UL / MAX_GATHER_BATCH */
export const MAX_GATHER_BATCH_COUNT = Math.floor(10000 / MAX_GATHER_BATCH);
// x86-64 with 4 levels: the P4D level is folded into the PGD
const PMD_SHIFT = PAGE_SHIFT + 9;
const PUD_SHIFT = PMD_SHIFT + 9;
const P4D_SHIFT = PUD_SHIFT + 9;

export class MmuGather {
  start = Infinity;
  end = 0;
  fullmm: boolean;
  needFlushAll = false;
  freedTables = false;
  clearedPtes = false;
  clearedPmds = false;
  clearedPuds = false;
  clearedP4ds = false;
  readonly pages: number[] = [];
  readonly delayRmap: boolean[] = [];
  delayedRmapPending = false;
  /** tlb->active: 0 for the on-stack bundle, i for the i-th batch page */
  activeBatch = 0;
  /** batch->nr of the active batch */
  activeNr = 0;
  /** tlb->batch_count: batch pages allocated, kept across flushes as the kernel keeps them */
  batchCount = 0;
  readonly tables: number[] = [];
  readonly rcuTables: { tables: number[]; gp: CpuMask }[] = [];

  constructor(
    readonly mm: number,
    fullmm: boolean,
    /** the range the caller asked for, for the nestedRange=reset-range variant */
    readonly rangeStart: number,
    readonly rangeEnd: number,
  ) {
    this.fullmm = fullmm;
  }
}

/** tlb_gather_mmu: a deferred flush of `mm` is under way from here to tlbFinishMmu. */
export function tlbGatherMmu(cpu: Cpu, mm: number, start = 0, end = TLB_FLUSH_ALL): MmuGather {
  incTlbFlushPending(cpu.v, mm);
  return new MmuGather(mm, false, start, end);
}

/** tlb_gather_mmu_fullmm: tearing the whole mm down. */
export function tlbGatherMmuFullmm(cpu: Cpu, mm: number): MmuGather {
  incTlbFlushPending(cpu.v, mm);
  return new MmuGather(mm, true, 0, TLB_FLUSH_ALL);
}

/** __tlb_adjust_range */
export function tlbAdjustRange(tlb: MmuGather, address: number, size: number): void {
  tlb.start = Math.min(tlb.start, address);
  tlb.end = Math.max(tlb.end, address + size);
}

/** __tlb_reset_range: nothing gathered any more. */
function tlbResetRange(tlb: MmuGather): void {
  tlb.start = Infinity;
  tlb.end = 0;
  tlb.freedTables = false;
  tlb.clearedPtes = tlb.clearedPmds = tlb.clearedPuds = tlb.clearedP4ds = false;
}

/** tlb_remove_tlb_entry: the PTE at `va` was cleared. */
export function tlbRemoveTlbEntry(tlb: MmuGather, va: number): void {
  tlb.clearedPtes = true;
  tlbAdjustRange(tlb, va, PAGE_SIZE);
}

/** tlb_flush_pte_range: PTEs of [va, va + size) changed (mprotect), no page to free. */
export function tlbFlushPteRange(tlb: MmuGather, va: number, size: number): void {
  tlb.clearedPtes = true;
  tlbAdjustRange(tlb, va, size);
}


/**
 * tlb_next_batch: moves to the next batch page, allocating it if need be. Fails (the caller must
 * flush) at MAX_GATHER_BATCH_COUNT pages, and past the first batch page while delayed rmaps are
 * pending, which mainline limits so that tlb_flush_rmaps has little to walk under the PTL.
 */
// models mm/mmu_gather.c:tlb_next_batch
function tlbNextBatch(tlb: MmuGather): boolean {
  if (tlb.delayedRmapPending && tlb.activeBatch !== 0) return false;
  if (tlb.activeBatch === tlb.batchCount) {
    if (tlb.batchCount === MAX_GATHER_BATCH_COUNT) return false;
    tlb.batchCount++;
  }
  tlb.activeBatch++;
  tlb.activeNr = 0;
  return true;
}

/**
 * __tlb_remove_folio_pages_size for one page: queues it to put after the flush; `delayRmap`
 * also keeps its rmap until then. Returns true when no batch is left and the caller must flush.
 */
// models mm/mmu_gather.c:__tlb_remove_folio_pages_size
export function tlbRemovePage(tlb: MmuGather, pfn: number, delayRmap: boolean): boolean {
  tlb.pages.push(pfn);
  tlb.delayRmap.push(delayRmap);
  if (delayRmap) tlb.delayedRmapPending = true;
  const max = tlb.activeBatch === 0 ? MMU_GATHER_BUNDLE : MAX_GATHER_BATCH;
  if (++tlb.activeNr < max - 1) return false;
  return !tlbNextBatch(tlb);
}

/*
 * The *FreeTlb functions: the table `table` whose PMD, PUD or P4D entry for `va` (the base of
 * the table's span) was cleared goes after the flush. The range grows by one page only, as
 * include/asm-generic/tlb.h does: an INVLPG of any address of the PCID drops its
 * paging-structure-cache entries, and the leaf entries were gathered when they were zapped.
 */

function rawFreeTableTlb(tlb: MmuGather, table: number, va: number): void {
  tlb.freedTables = true;
  tlbAdjustRange(tlb, va, PAGE_SIZE);
  tlb.tables.push(table);
}

/** pte_free_tlb: a PTE table (its PMD entry cleared). */
export function pteFreeTlb(tlb: MmuGather, table: number, va: number): void {
  tlb.clearedPmds = true;
  rawFreeTableTlb(tlb, table, va);
}

/** pmd_free_tlb: a PMD table (its PUD entry cleared). */
export function pmdFreeTlb(tlb: MmuGather, table: number, va: number): void {
  tlb.clearedPuds = true;
  rawFreeTableTlb(tlb, table, va);
}

/** pud_free_tlb: a PUD table (its P4D entry, the PGD entry with 4 levels, cleared). */
export function pudFreeTlb(tlb: MmuGather, table: number, va: number): void {
  tlb.clearedP4ds = true;
  rawFreeTableTlb(tlb, table, va);
}

/** tlb_get_unmap_shift: the stride of the flush follows the smallest level cleared (for the arch's tlb_flush). */
export function tlbGetUnmapShift(tlb: MmuGather): number {
  if (tlb.clearedPtes) return PAGE_SHIFT;
  if (tlb.clearedPmds) return PMD_SHIFT;
  if (tlb.clearedPuds) return PUD_SHIFT;
  if (tlb.clearedP4ds) return P4D_SHIFT;
  return PAGE_SHIFT;
}

/**
 * tlb_flush_mmu_tlbonly: flushes what was gathered, if anything, with the arch's tlb_flush (x86:
 * the gathered range, or everything for fullmm / need_flush_all); pages stay queued.
 */
export function tlbFlushMmuTlbonly(cpu: Cpu, tlb: MmuGather): void {
  if (!(tlb.freedTables || tlb.clearedPtes || tlb.clearedPmds || tlb.clearedPuds || tlb.clearedP4ds)) return;
  cpu.raceWindow(KernelPoint.MmuGatherBeforeFlush); // race window: the gathered entries are gone from the page tables, not yet from other TLBs
  tlbFlush(cpu, tlb);
  tlbResetRange(tlb);
}

/**
 * tlb_flush_rmaps: removes the rmaps that were delayed past the flush. The caller has flushed
 * and still holds the PTL: writeback's folio_mkclean, which takes the PTL, either found the
 * mapping before or finds a page whose TLB entries are gone.
 */
export function tlbFlushRmaps(cpu: Cpu, tlb: MmuGather): void {
  if (!tlb.delayedRmapPending) return;
  for (let i = 0; i < tlb.pages.length; i++) {
    if (!tlb.delayRmap[i]) continue;
    pageRemoveRmap(cpu.v, tlb.pages[i]);
    tlb.delayRmap[i] = false;
  }
  tlb.delayedRmapPending = false;
}

/**
 * tlb_remove_table_sync_one: an IPI to every other CPU, waited for. A CPU in GUP-fast has IRQs
 * off, so when this returns no CPU is still walking a table unhooked before the call. This is
 * not a grace period; mainline calls it where a table is reused or freed without one
 * (khugepaged's collapse; __tlb_remove_table_one). Switch syncIpi: always (mainline); skipped
 * when the flush before it was a native IPI flush, which every CPU that can run GUP-fast on the
 * mm took with IRQs on (seed 001, tlb_table_flush_implies_ipi_broadcast); skipped after any
 * flush, the seed's skip without its condition on the kind of flush; or never. A vCPU that a
 * paravirt flush left to the host still gets this IPI: it is taken once the vCPU runs again and
 * turns its IRQs on, which is what makes this wait for a GUP-fast walk the host preempted.
 */
// models mm/mmu_gather.c:tlb_remove_table_sync_one
export function tlbRemoveTableSyncOne(cpu: Cpu): void {
  const mode = cpu.config.syncIpi;
  if (mode === 'never' || mode === 'skip-after-any-flush' || (mode === 'skip-after-ipi-flush' && tlbTableFlushImpliesIpiBroadcast(cpu))) return;
  const all = new CpuMask();
  for (let c = 0; c < cpu.v.nrCpus; c++) all.set(c);
  cpu.count(Counter.TlbRemoveTableSyncOne);
  cpu.fabric.smpCallFunctionMany(cpu, all, IpiFn.TlbRemoveTableSmpSync, false);
}

/**
 * tlb_table_flush with MMU_GATHER_RCU_TABLE_FREE: the tables unhooked so far go to call_rcu
 * (tlb_remove_table_free). The caller has flushed them from every TLB and paging-structure cache.
 */
// models mm/mmu_gather.c:tlb_table_flush
function tlbTableFlush(cpu: Cpu, tlb: MmuGather): void {
  if (tlb.tables.length === 0) return;
  tlb.rcuTables.push({ tables: tlb.tables.splice(0), gp: rcuSnapshot(cpu) });
}

/**
 * tlb_remove_table_rcu, the callback: each batch of tables is freed once its grace period is
 * over. Run by the gathering CPU at the end of tlb_finish_mmu (kernel/rcu.ts says why).
 */
// models mm/mmu_gather.c:tlb_remove_table_rcu
function tlbRemoveTableRcu(cpu: Cpu, tlb: MmuGather): void {
  for (const { tables, gp } of tlb.rcuTables) {
    rcuWaitGp(cpu, gp);
    for (const table of tables) freeFrame(cpu.v, cpu.id, table);
    cpu.count(Counter.PageTablesFreed, tables.length);
  }
  tlb.rcuTables.length = 0;
}

/** tlb_flush_mmu: flush, then put the batched pages and hand the batched tables to RCU. */
// models mm/mmu_gather.c:tlb_flush_mmu
export function tlbFlushMmu(cpu: Cpu, tlb: MmuGather): void {
  tlbFlushMmuTlbonly(cpu, tlb);
  tlbTableFlush(cpu, tlb);
  tlbFlushRmaps(cpu, tlb); // none should remain delayed here; removing them keeps the counts right
  for (const pfn of tlb.pages) putPage(cpu.v, cpu.id, pfn);
  tlb.pages.length = 0;
  tlb.delayRmap.length = 0;
  // tlb_batch_pages_flush: back to the bundle; the batch pages stay for reuse
  tlb.activeBatch = 0;
  tlb.activeNr = 0;
}

/** tlb_finish_mmu: the nested-gather check, the last flush and frees, then the pending count drops. */
export function tlbFinishMmu(cpu: Cpu, tlb: MmuGather): void {
  if (cpu.config.nestedForceFlush === 'on' && mmTlbFlushNested(cpu.v, tlb.mm)) {
    if (cpu.config.nestedRange === 'flush-all') {
      // another gather runs on this mm: we cannot know what it cleared, flush everything
      tlb.fullmm = true;
      tlbResetRange(tlb);
      tlb.freedTables = true;
    } else {
      // the 2019 code: the caller's range, with freedTables and the cleared levels lost
      tlbResetRange(tlb);
      tlbAdjustRange(tlb, tlb.rangeStart, tlb.rangeEnd - tlb.rangeStart);
      tlb.clearedPtes = true;
    }
  }
  tlbFlushMmu(cpu, tlb);
  decTlbFlushPending(cpu.v, tlb.mm);
  tlbRemoveTableRcu(cpu, tlb);
}
