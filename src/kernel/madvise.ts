/*
 * madvise(MADV_DONTNEED) and madvise(MADV_FREE) (mm/madvise.c), under the mmap_lock held for
 * reading, so that two of them, or one and a munmap after its downgrade, run in parallel on one
 * mm: the case the nested-gather check of tlb_finish_mmu exists for.
 *
 * MADV_DONTNEED zaps the range through an mmu_gather per VMA (zap_page_range_single): when it
 * returns, the range reads as zero-fill. MADV_FREE marks clean anonymous pages lazily freeable:
 * it clears D and A in their PTEs (flushed through the gather) so that reclaim may drop them,
 * unless they are written again first.
 *
 * A large folio (switch anonMthp) is marked lazyfree only when the range covers all of it and
 * this mm alone maps it, by consecutive PTEs: PG_lazyfree is the folio's, and reclaim would drop
 * pages the call did not name. Over part of one, mainline tries split_folio and skips the folio
 * when the split fails; this model has no split, and skips it (counted in mthp_split_failed):
 * MADV_FREE is advice, and the pages stay as they were.
 */
import type { Cpu } from '../cpu/cpu.ts';
import { PAGE_SIZE } from '../machine/phys-layout.ts';
import { USER_VA_LIMIT, pteOffset } from '../machine/pagetable.ts';
import { ptepGet, ptepGetAndClear, setPte } from '../arch/pgtable.ts';
import { pteDirty, pteMkclean, pteMkold, ptePfn, ptePresent, pteYoung } from '../machine/pte.ts';
import { Activity } from '../cpu/percpu-layout.ts';
import { mmPgd, mmapReadLock, mmapReadUnlock } from './mm.ts';
import { vmaEnd, vmaIsAnon, vmaStart, vmasIn } from './vma.ts';
import { tlbFinishMmu, tlbGatherMmu, tlbRemoveTlbEntry } from './mmu-gather.ts';
import { unmapSingleVma } from './zap.ts';
import { folioHead, folioMapcount, folioMarkLazyfree, folioNrPages, folioTestLarge, pageIsAnon, pageMapcount } from './page.ts';
import { Counter } from '../trace/counters.ts';
import { pteLock, pteUnlock } from './ptl.ts';
import { flushTlbBatchedPending } from './tlb-batch.ts';
import { PromiseKind, makePromise, promiseStart } from '../check/promises.ts';
import { KernelPoint } from './points.ts';
import { KPath, traceKernelEnter, traceKernelExit, tracePages, traceVpn } from '../trace/events.ts';

export const MADV_DONTNEED = 4;
export const MADV_FREE = 8;

/** madvise: returns 0, or -EINVAL (-22) for an unknown advice or a bad range. Entry and return are traced. */
export function sysMadvise(cpu: Cpu, mm: number, addr: number, length: number, advice: number): number {
  traceKernelEnter(cpu, KPath.Madvise, mm, traceVpn(addr), tracePages(length), advice);
  return traceKernelExit(cpu, KPath.Madvise, rawSysMadvise(cpu, mm, addr, length, advice));
}

function rawSysMadvise(cpu: Cpu, mm: number, addr: number, length: number, advice: number): number {
  if (addr % PAGE_SIZE !== 0 || length <= 0 || addr + length > USER_VA_LIMIT) return -22;
  if (advice !== MADV_DONTNEED && advice !== MADV_FREE) return -22;
  const v = cpu.v;
  const end = addr + Math.ceil(length / PAGE_SIZE) * PAGE_SIZE;
  cpu.setActivity(Activity.Kernel);
  cpu.passPoint(KernelPoint.MadviseEnter);
  const since = promiseStart(v);
  mmapReadLock(cpu, mm);
  try {
    for (const vma of vmasIn(v, mm, addr / PAGE_SIZE, end / PAGE_SIZE)) {
      const s = Math.max(addr, vmaStart(v, vma) * PAGE_SIZE);
      const e = Math.min(end, vmaEnd(v, vma) * PAGE_SIZE);
      const tlb = tlbGatherMmu(cpu, mm, s, e);
      if (advice === MADV_DONTNEED) unmapSingleVma(cpu, tlb, mm, vma, s, e, true);
      else if (vmaIsAnon(v, vma)) madviseFreeRange(cpu, tlb, mm, s, e);
      tlbFinishMmu(cpu, tlb);
    }
    // what the caller may now rely on: the oracle holds every CPU to it (check/promises.ts)
    if (advice === MADV_DONTNEED) makePromise(v, mm, addr, end, PromiseKind.Zapped, since);
    return 0;
  } finally {
    mmapReadUnlock(cpu, mm);
    cpu.passPoint(KernelPoint.MadviseReturn);
    cpu.setActivity(Activity.User);
  }
}

/**
 * For the page `pfn` of a large folio mapped at `addr`: whether the whole folio is mapped, in
 * order, by this mm's PTEs inside [start, end) and by nothing else (madvise_folio_pte_batch
 * covering folio_nr_pages, !folio_likely_mapped_shared). A folio only partly in the range is
 * counted once, where the walk first meets it, as a split that failed.
 */
function madviseFreeWholeFolio(cpu: Cpu, pgd: number, start: number, end: number, addr: number, pfn: number): boolean {
  const v = cpu.v;
  const head = folioHead(v, pfn);
  const nr = folioNrPages(v, head);
  const folioVa = addr - (pfn - head) * PAGE_SIZE;
  let whole = folioVa >= start && folioVa + nr * PAGE_SIZE <= end;
  for (let i = 0; whole && i < nr; i++) {
    const ptep = pteOffset(v, pgd, folioVa + i * PAGE_SIZE);
    const pte = ptep < 0 ? 0 : ptepGet(cpu, ptep);
    whole = ptePresent(pte) && ptePfn(pte) === head + i;
  }
  if (!whole) {
    if (addr === start || pfn === head) cpu.count(Counter.MthpSplitFailed);
    return false;
  }
  return folioMapcount(v, head) === nr;
}

/** madvise_free_pte_range: clean and age exclusive anonymous pages, mark them lazyfree. */
function madviseFreeRange(cpu: Cpu, tlb: Parameters<typeof tlbRemoveTlbEntry>[0], mm: number, start: number, end: number): void {
  const v = cpu.v;
  const pgd = mmPgd(v, mm);
  for (let addr = start; addr < end; addr += PAGE_SIZE) {
    const ptep = pteOffset(v, pgd, addr);
    if (ptep < 0) continue;
    pteLock(cpu, ptep);
    if (cpu.config.madviseBatchedPending === 'on') flushTlbBatchedPending(cpu, mm);
    const pte = ptepGet(cpu, ptep);
    const pfn = ptePfn(pte);
    // folio_mapcount(folio) == 1 for a page; the whole folio, mapped here alone, for a large one
    const exclusive = ptePresent(pte) && pageIsAnon(v, pfn) && (folioTestLarge(v, pfn) ? madviseFreeWholeFolio(cpu, pgd, start, end, addr, pfn) : pageMapcount(v, pfn) === 1);
    if (exclusive) {
      if (pteDirty(pte) || pteYoung(pte)) {
        const old = ptepGetAndClear(cpu, mm, addr, ptep);
        setPte(cpu, ptep, pteMkold(pteMkclean(old)));
        tlbRemoveTlbEntry(tlb, addr);
      }
      folioMarkLazyfree(v, pfn);
    }
    pteUnlock(cpu, ptep);
  }
}
