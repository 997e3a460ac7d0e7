/*
 * Tearing down mappings and page tables (mm/memory.c: unmap_vmas, zap_pte_range;
 * mm/memory.c: free_pgtables, free_pgd_range), always through an mmu_gather.
 *
 * zap_pte_range, per PTE table, under its PTL: flush what reclaim left pending, then for each
 * present PTE clear it (ptep_get_and_clear, or the racy read-then-clear of switch
 * ptepGetAndClear), note it in the gather, carry a dirty bit to the page, and queue the page to be
 * put after the flush. For a dirty file page the rmap removal is delayed past the flush (switch
 * delayedRmap), and the flush happens before the PTL is dropped, so writeback either sees the
 * mapping or sees a page no TLB can still write.
 *
 * A page of a large folio (switch anonMthp) is zapped as any page: its PTE, its rmap and the
 * reference that PTE held; the gather puts the page after the flush, and the folio's last put
 * frees all its frames at once (mainline batches a folio's consecutive pages in one gather entry
 * and puts them with folio_put_refs: the same references, dropped in one go). A range that covers
 * part of a folio leaves the rest mapped (mainline queues it for deferred split; not modelled).
 *
 * free_pgtables unhooks the tables no VMA needs any more and hands them to the gather; a PTE table
 * that stands for a collapsed huge PMD takes the table deposited with it along (zapDepositedTable).
 */
import type { Cpu } from '../cpu/cpu.ts';
import { META_DEPOSIT, PAGE_SIZE, PTRS_PER_TABLE } from '../machine/phys-layout.ts';
import { frameMetaIndex, freeFrame } from '../machine/frames.ts';
import { Counter } from '../trace/counters.ts';
import { PGD_LEVEL, PMD_LEVEL, PTE_LEVEL, entryOffset, entrySpan, entryWord, pmdAddrEnd, tableIndex, tracePteChange, vpnOf } from '../machine/pagetable.ts';
import { ptepGet, ptepGetAndClearFull } from '../arch/pgtable.ts';
import { PteOp } from '../trace/events.ts';
import { pmdLeaf, pteMapsPage, ptePfn, ptePresent, pteDirty } from '../machine/pte.ts';
import { addMmRss, mmPgd } from './mm.ts';
import { MmuGather, pmdFreeTlb, pteFreeTlb, pudFreeTlb, tlbFlushMmu, tlbFlushMmuTlbonly, tlbFlushRmaps, tlbRemovePage, tlbRemoveTlbEntry } from './mmu-gather.ts';
import { folioMarkDirty, pageIsAnon, pageRemoveRmap } from './page.ts';
import { pteLock, pteUnlock } from './ptl.ts';
import { flushTlbBatchedPending } from './tlb-batch.ts';
import { vmaEnd, vmaStart, type Vma } from './vma.ts';
import { KernelPoint } from './points.ts';

/**
 * zap_pte_range for [start, end) within one PTE table. `fromMadvise` selects switch
 * madviseBatchedPending for the flush of reclaim's pending batch. Returns the address reached.
 */
function zapPteRange(cpu: Cpu, tlb: MmuGather, mm: number, table: number, start: number, end: number, fromMadvise: boolean): number {
  const v = cpu.v;
  const first = entryWord(table, tableIndex(vpnOf(start), 1));
  pteLock(cpu, first);
  if (!fromMadvise || cpu.config.madviseBatchedPending === 'on') flushTlbBatchedPending(cpu, mm);
  let forceFlush = false;
  let rss = 0;
  let addr = start;
  for (; addr < end; addr += PAGE_SIZE) {
    const ptep = entryWord(table, tableIndex(vpnOf(addr), 1));
    if (ptepGet(cpu, ptep) === 0) continue;
    const pte = ptepGetAndClearFull(cpu, mm, addr, ptep, tlb.fullmm);
    // a PROT_NONE (NUMA hinting) entry still maps its page
    if (!pteMapsPage(pte)) continue;
    // race window: the PTE is gone, the TLB entries of other CPUs are not
    cpu.raceWindow(KernelPoint.ZapPteCleared);
    tlbRemoveTlbEntry(tlb, addr);
    const pfn = ptePfn(pte);
    let delayRmap = false;
    if (!pageIsAnon(v, pfn) && pteDirty(pte)) {
      folioMarkDirty(v, pfn);
      // the flush must precede the PTL release, so writeback cannot miss a dirty TLB entry
      forceFlush = true;
      delayRmap = cpu.config.delayedRmap === 'on';
    }
    rss--;
    if (!delayRmap) pageRemoveRmap(v, pfn);
    if (tlbRemovePage(tlb, pfn, delayRmap)) {
      forceFlush = true;
      addr += PAGE_SIZE;
      break;
    }
  }
  addMmRss(v, mm, rss);
  if (forceFlush) {
    tlbFlushMmuTlbonly(cpu, tlb);
    tlbFlushRmaps(cpu, tlb);
  }
  pteUnlock(cpu, first);
  if (forceFlush) tlbFlushMmu(cpu, tlb);
  return addr;
}

/** zap_pmd_range .. unmap_page_range over [start, end) of one VMA. */
export function unmapPageRange(cpu: Cpu, tlb: MmuGather, mm: number, start: number, end: number, fromMadvise: boolean): void {
  const v = cpu.v;
  const pgd = mmPgd(v, mm);
  let addr = start;
  while (addr < end) {
    const next = pmdAddrEnd(addr, end);
    const pmdp = entryOffset(v, pgd, addr, PMD_LEVEL);
    const pmd = pmdp < 0 ? 0 : Atomics.load(v.phys, pmdp);
    if (!ptePresent(pmd) || pmdLeaf(pmd)) {
      addr = next;
      continue;
    }
    addr = zapPteRange(cpu, tlb, mm, ptePfn(pmd), addr, next, fromMadvise);
  }
}

/**
 * unmap_single_vma: the part of [start, end) inside the VMA. Its tlb_start_vma / tlb_end_vma do
 * nothing on x86 (MMU_GATHER_MERGE_VMAS, mmu-gather.ts): no flush at the end of each VMA.
 */
export function unmapSingleVma(cpu: Cpu, tlb: MmuGather, mm: number, vma: Vma, start: number, end: number, fromMadvise: boolean): void {
  const v = cpu.v;
  const s = Math.max(start, vmaStart(v, vma) * PAGE_SIZE);
  const e = Math.min(end, vmaEnd(v, vma) * PAGE_SIZE);
  if (s >= e) return;
  unmapPageRange(cpu, tlb, mm, s, e, fromMadvise);
}

/** Hands a table at `level`, mapping from `addr`, to the gather (pte/pmd/pud_free_tlb). */
function freeTableTlb(tlb: MmuGather, table: number, level: number, addr: number): void {
  if (level === PTE_LEVEL) pteFreeTlb(tlb, table, addr);
  else if (level === PMD_LEVEL) pmdFreeTlb(tlb, table, addr);
  else pudFreeTlb(tlb, table, addr); // the PGD itself goes with the mm, not here
}

/**
 * zap_deposited_table: the PTE table a collapse deposited with `table` (kernel/khugepaged.ts, which
 * stands a PTE table in for the huge PMD) goes when `table` does, as mainline frees it when it
 * zaps the huge PMD: with pte_free, at once, neither after the flush nor after a grace period. No
 * walker can still be in it: it was unhooked at the collapse, and tlb_remove_table_sync_one
 * waited then for every CPU that could have been walking it with IRQs off.
 */
// models mm/huge_memory.c:zap_deposited_table
export function zapDepositedTable(cpu: Cpu, table: number): void {
  const m = cpu.v.frameMeta;
  const deposited = m[frameMetaIndex(table, META_DEPOSIT)];
  if (deposited === 0) return;
  m[frameMetaIndex(table, META_DEPOSIT)] = 0;
  freeFrame(cpu.v, cpu.id, deposited);
  cpu.count(Counter.PageTablesFreed);
}

/**
 * free_pgd_range / free_p*d_range: walks the tables of `table` (at `level`, mapping from `base`)
 * that cover [start, end), and unhooks every lower table whose whole span lies within
 * [floor, ceiling), where no VMA remains; the gather frees them after the flush and a grace period.
 * The caller unlinked the VMAs from the rmap first, so no rmap walk is in these tables.
 */
function freeTables(cpu: Cpu, tlb: MmuGather, table: number, level: number, base: number, start: number, end: number, floor: number, ceiling: number): void {
  const v = cpu.v;
  const span = entrySpan(level);
  const first = Math.max(0, Math.floor((start - base) / span));
  const last = Math.min(PTRS_PER_TABLE - 1, Math.floor((end - 1 - base) / span));
  for (let i = first; i <= last; i++) {
    const slot = entryWord(table, i);
    const e = Atomics.load(v.phys, slot);
    if (!ptePresent(e) || pmdLeaf(e)) continue;
    const addr = base + i * span;
    const whole = addr >= floor && addr + span <= ceiling;
    // below a table that goes, everything goes; otherwise only what [start, end) covers
    if (level > PMD_LEVEL) freeTables(cpu, tlb, ptePfn(e), level - 1, addr, whole ? addr : Math.max(start, addr), whole ? addr + span : Math.min(end, addr + span), floor, ceiling);
    if (!whole) continue;
    // pmd_clear / pud_clear, then the table is the gather's: walkers may hold the old pointer until the flush
    Atomics.store(v.phys, slot, 0);
    tracePteChange(v, cpu.id, PteOp.ClearTable, slot, e, 0);
    if (level - 1 === PTE_LEVEL) zapDepositedTable(cpu, ptePfn(e));
    freeTableTlb(tlb, ptePfn(e), level - 1, addr);
  }
}

/** free_pgtables: the page tables of [start, end) that no VMA in [floor, ceiling) still needs. */
export function freePgdRange(cpu: Cpu, tlb: MmuGather, mm: number, start: number, end: number, floor: number, ceiling: number): void {
  freeTables(cpu, tlb, mmPgd(cpu.v, mm), PGD_LEVEL, 0, start, end, floor, ceiling);
}
