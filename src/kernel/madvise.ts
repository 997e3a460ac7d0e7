/*
 * madvise(MADV_DONTNEED) and madvise(MADV_FREE) (mm/madvise.c), under the mmap_lock held for
 * reading, so that two of them, or one and a munmap after its downgrade, run in parallel on one
 * mm: the case the nested-gather check of tlb_finish_mmu exists for.
 *
 * MADV_DONTNEED zaps the range through an mmu_gather per VMA (zap_page_range_single): when it
 * returns, the range reads as zero-fill. MADV_FREE marks clean anonymous pages lazily freeable:
 * it clears D and A in their PTEs (flushed through the gather) so that reclaim may drop them,
 * unless they are written again first.
 */
import type { Cpu } from '../cpu/cpu.ts';
import { PAGE_SIZE } from '../machine/phys-layout.ts';
import { USER_VA_LIMIT, pteOffset } from '../machine/pagetable.ts';
import { ptepGet, ptepGetAndClear, setPte } from '../arch/pgtable.ts';
import { frameMetaIndex } from '../machine/frames.ts';
import { META_FLAGS, PG_DIRTY, PG_LAZYFREE } from '../machine/phys-layout.ts';
import { pteDirty, pteMkclean, pteMkold, ptePfn, ptePresent, pteYoung } from '../machine/pte.ts';
import { Activity } from '../cpu/percpu-layout.ts';
import { mmPgd, mmapReadLock, mmapReadUnlock } from './mm.ts';
import { vmaEnd, vmaIsAnon, vmaStart, vmasIn } from './vma.ts';
import { tlbFinishMmu, tlbGatherMmu, tlbRemoveTlbEntry } from './mmu-gather.ts';
import { unmapSingleVma } from './zap.ts';
import { pageIsAnon, pageMapcount } from './page.ts';
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
    if (ptePresent(pte) && pageIsAnon(v, pfn) && pageMapcount(v, pfn) === 1) {
      if (pteDirty(pte) || pteYoung(pte)) {
        const old = ptepGetAndClear(cpu, mm, addr, ptep);
        setPte(cpu, ptep, pteMkold(pteMkclean(old)));
        tlbRemoveTlbEntry(tlb, addr);
      }
      // folio_clear_dirty + mark_page_lazyfree
      Atomics.and(v.frameMeta, frameMetaIndex(pfn, META_FLAGS), ~PG_DIRTY);
      Atomics.or(v.frameMeta, frameMetaIndex(pfn, META_FLAGS), PG_LAZYFREE);
    }
    pteUnlock(cpu, ptep);
  }
}
