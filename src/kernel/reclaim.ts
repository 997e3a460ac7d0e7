/*
 * Page reclaim (mm/vmscan.c: shrink_folio_list, __remove_mapping; mm/rmap.c: try_to_unmap,
 * try_to_unmap_one, should_defer_flush), run by a kernel thread such as kswapd on any CPU.
 *
 * The invariant: a frame reclaim takes is freed only after every TLB that may still translate to
 * it has been flushed, and a page whose data a TLB may still be changing is written to disk only
 * after that TLB has been flushed. Between a PTE's clear and its flush other CPUs keep reading
 * and writing the page through their TLBs; that is allowed because nothing reuses the frame yet,
 * and because a dirty bit they may still act on was carried to the page.
 *
 * For each page, in the kernel's order:
 *   1. isolate it (a reference) and lock it (PG_locked, trylock: a page someone else holds is
 *      skipped). The lock stands in for LRU isolation as well: it is held until the page is put
 *      back, after the final flush, so no second reclaimer can free a page whose unmap is still
 *      in this one's unflushed batch;
 *   2. try_to_unmap: through the rmap, under each PTE's lock, ptep_get_and_clear; when the arch
 *      says so (should_defer_flush: x86 when another CPU may cache the mm, arm64 always) the
 *      flush is batched with set_tlb_ubc_flush_pending (tlb-batch.ts), otherwise done at once
 *      (ptep_clear_flush). The PTE's dirty bit goes to the page; the rmap and the mapping's
 *      reference go;
 *   3. a dirty file page: try_to_unmap_flush_dirty (a CPU may still write through a batched
 *      dirty entry), then write it out (writeback.ts);
 *   4. a clean file page leaves the page cache if only the cache and reclaim hold it
 *      (__remove_mapping freezes the reference count); a lazily freed anonymous page (MADV_FREE)
 *      that nobody wrote since and nobody else holds is discarded: try_to_unmap_one clears the
 *      PTE, then reads the reference count, then the dirty state, and puts the PTE back if the
 *      page was written or has a GUP reference (switch lazyfreeCheck); the flush may be batched
 *      all the same, since a TLB entry that does not cache D must walk to the cleared PTE to
 *      write (x86 sets D with a locked update of a present PTE: the "clear->dirty transition ...
 *      traps if the PTE is unmapped" of try_to_unmap_one's comment), and one that caches D had
 *      it set in the PTE that the exchange returned (unless MADV_FREE cleaned the PTE and has not
 *      flushed yet: a store racing with madvise(MADV_FREE) may go either way). Anonymous swap is
 *      not modelled, so any other anonymous page is kept;
 * and after the whole list: try_to_unmap_flush, and only then the frames are freed and the kept
 * pages unlocked and put back.
 *
 * A large folio (switch anonMthp) is reclaimed whole, as mainline's shrink_folio_list takes a
 * lazyfree large folio without splitting it (no swap space is needed to drop it): it is isolated
 * and locked through its head, try_to_unmap walks the rmap of each of its pages, the lazyfree
 * check compares the folio's reference count with 1 + folio_mapcount, and the folio is freed
 * whole (all its frames) after the flush. A written page stops the unmap and the folio is kept,
 * partly unmapped; what it unmapped was clean since MADV_FREE, and reads as zeros. Other
 * anonymous folios are kept, large or not, since there is no swap.
 *
 * Anyone else who changes PTEs of an mm under the PTL must first flush what reclaim left pending
 * (flush_tlb_batched_pending in zap, madvise, mprotect): a PTE reclaim cleared looks gone, yet
 * other TLBs may still map it.
 */
import type { Cpu } from '../cpu/cpu.ts';
import { Activity } from '../cpu/percpu-layout.ts';
import { FrameKind, PAGE_SIZE } from '../machine/phys-layout.ts';
import { ptepGetAndClear, setPte } from '../arch/pgtable.ts';
import { pteDirty } from '../machine/pte.ts';
import { archTlbbatchShouldDefer, flushTlbMmRange } from '../arch/tlbflush.ts';
import { addMmRss } from './mm.ts';
import { filemapGetFolio, filemapRemove } from './filemap.ts';
import {
  folioHead, folioMapcount, folioMapped, folioMarkDirty, folioNrPages, folioRefFreeze, folioSetSwapbacked, folioTestDirty, folioTestLazyfree,
  folioTryGet, folioTrylock, folioUnlock, freeFrozenFolio, pageIndex, pageIsAnon, pageKind, pageOwner, pageRefCount, pageRemoveRmap, putPage,
} from './page.ts';
import { pteUnlock } from './ptl.ts';
import { pageVmaMappedPte, rmapWalk } from './rmap.ts';
import { setTlbUbcFlushPending, tryToUnmapFlush, tryToUnmapFlushDirty } from './tlb-batch.ts';
import { pteAccessible } from './numa.ts';
import { writeoutFolioLocked } from './writeback.ts';
import { KernelPoint } from './points.ts';
import { KPath, traceKernelEnter, traceKernelExit } from '../trace/events.ts';

/** A page to reclaim: a frame (what the LRU lists hold), or a page of a file's cache. */
export type ReclaimTarget = number | { file: number; index: number };

/** struct reclaim_stat, what one call did. */
export interface ReclaimStat {
  /** frames freed (nr_reclaimed): file pages and discarded lazyfree pages */
  reclaimed: number;
  /** lazily freed anonymous pages discarded (PGLAZYFREED) */
  lazyfreed: number;
  /** dirty file pages written out (nr_pageout) */
  pageout: number;
}

/**
 * should_defer_flush (try_to_unmap is always asked for TTU_BATCH_FLUSH here): the arch's
 * arch_tlbbatch_should_defer. x86 batches when a CPU other than this one may cache the mm; arm64
 * always does.
 */
function shouldDeferFlush(cpu: Cpu, mm: number): boolean {
  return archTlbbatchShouldDefer(cpu, mm);
}

/**
 * try_to_unmap_one for the PTE at `va` of `mm`, if it maps `pfn`. Returns false to stop the walk:
 * a lazyfree page was written again and is put back.
 */
function tryToUnmapOne(cpu: Cpu, pfn: number, mm: number, va: number): boolean {
  const v = cpu.v;
  const ptep = pageVmaMappedPte(cpu, mm, va, pfn);
  if (ptep < 0) return true;
  // the exchange returns every A/D bit a walker set up to the clear; from here a CPU whose TLB
  // entry caches D may still write until the flush, one whose entry does not faults (the walker
  // never sets D in a non-present PTE)
  const pteval = ptepGetAndClear(cpu, mm, va, ptep);
  // set_tlb_ubc_flush_pending and ptep_clear_flush both return early for a PTE that no TLB can
  // hold (x86 pte_accessible): a PROT_NONE NUMA-hinting entry with no deferred flush pending
  if (pteAccessible(cpu, mm, pteval)) {
    // a dirty PTE may be cached writable: such a page is written out only after a flush
    if (shouldDeferFlush(cpu, mm)) setTlbUbcFlushPending(cpu, mm, pteDirty(pteval), va, va + PAGE_SIZE);
    // ptep_clear_flush
    else flushTlbMmRange(cpu, mm, va, va + PAGE_SIZE);
  }
  if (pteDirty(pteval)) folioMarkDirty(v, pfn);
  if (pageIsAnon(v, pfn)) {
    // MADV_FREE (lazyfreeCheck): the PTE is gone first, then the reference count is read (the
    // smp_mb of mainline 6c8e2a256915; Atomics are sequentially consistent). GUP-fast takes its
    // reference first and reads the PTE again after it (gup.ts): either it sees the PTE cleared
    // and lets go, or its reference is counted here
    const refCount = pageRefCount(v, pfn);
    const mapCount = folioMapcount(v, pfn);
    // written since madvise cleaned it, through the page table (the D bit just carried over) or
    // through a GUP reference that marked it dirty
    const redirtied = folioTestDirty(v, pfn);
    // a reference besides reclaim's and the mappings': a GUP user, maybe a direct IO read still
    // writing, which marks the page dirty only when it completes
    const held = cpu.config.lazyfreeCheck === 'refcount-after-clear' && refCount !== 1 + mapCount;
    if (redirtied || held) {
      // the mapping goes back. A redirtied page is ordinary anonymous memory again; a held one
      // stays lazyfree, and a later pass finds it dirty, or the reference gone (faeb2831b517)
      setPte(cpu, ptep, pteval);
      if (redirtied) folioSetSwapbacked(v, pfn);
      pteUnlock(cpu, ptep);
      return false;
    }
  }
  addMmRss(v, mm, -1);
  pageRemoveRmap(v, pfn);
  pteUnlock(cpu, ptep);
  // the mapping's reference; reclaim's own keeps the frame until after the flush
  putPage(v, cpu.id, pfn);
  return true;
}

/**
 * try_to_unmap(folio, TTU_BATCH_FLUSH): every mapping of every page of a locked folio, until a
 * lazyfree page is found written again.
 */
function tryToUnmap(cpu: Cpu, head: number): void {
  const nr = folioNrPages(cpu.v, head);
  let more = true;
  for (let i = 0; more && i < nr; i++) {
    rmapWalk(cpu, head + i, (mm, va) => (more = tryToUnmapOne(cpu, head + i, mm, va)));
  }
}

/** isolate_lru_folios for one target: the frame with a reference for reclaim, or 0. */
function isolate(cpu: Cpu, target: ReclaimTarget): number {
  const v = cpu.v;
  if (typeof target !== 'number') return filemapGetFolio(cpu, target.file, target.index);
  if (!folioTryGet(v, target, cpu.id)) return 0;
  // the folio: a large one through its head
  const head = folioHead(v, target);
  const kind = pageKind(v, head);
  if (kind === FrameKind.Anon || kind === FrameKind.File) return head;
  putPage(v, cpu.id, head);
  return 0;
}

/**
 * The body of shrink_folio_list for one isolated, locked page. Returns true when its reference
 * count is frozen at zero and the frame is to be freed after the flush; false to keep it.
 */
function shrinkFolio(cpu: Cpu, pfn: number, stat: ReclaimStat): boolean {
  const v = cpu.v;
  const anon = pageIsAnon(v, pfn);
  // no swap: ordinary anonymous memory cannot be reclaimed
  if (anon && !folioTestLazyfree(v, pfn)) return false;
  if (folioMapped(v, pfn)) {
    tryToUnmap(cpu, pfn);
    // mapped again by a fault meanwhile, or a lazyfree page put back
    if (folioMapped(v, pfn)) return false;
  }
  if (anon) {
    // only reclaim's reference is left; a concurrent GUP makes the freeze fail
    if (!folioRefFreeze(v, pfn, 1)) return false;
    stat.lazyfreed += folioNrPages(v, pfn);
    return true;
  }
  if (folioTestDirty(v, pfn)) {
    // no CPU may still write through a batched dirty entry while the page is copied out
    tryToUnmapFlushDirty(cpu);
    if (writeoutFolioLocked(cpu, pfn)) stat.pageout++;
    // written again meanwhile, through a mapping a fault just made
    if (folioTestDirty(v, pfn)) return false;
  }
  // __remove_mapping: the cache's reference and reclaim's, nothing else
  return filemapRemove(cpu, pageOwner(v, pfn), pageIndex(v, pfn), pfn, 2);
}

/**
 * Reclaims the given pages (shrink_folio_list over an isolated list). When this returns, every
 * frame it freed is out of every TLB, and every dirty file page it freed is on disk.
 */
export function reclaimPages(cpu: Cpu, targets: readonly ReclaimTarget[]): ReclaimStat {
  traceKernelEnter(cpu, KPath.Reclaim, targets.length);
  const stat = rawReclaimPages(cpu, targets);
  traceKernelExit(cpu, KPath.Reclaim, stat.reclaimed);
  return stat;
}

/** reclaimPages' body, untraced. */
function rawReclaimPages(cpu: Cpu, targets: readonly ReclaimTarget[]): ReclaimStat {
  const v = cpu.v;
  const stat: ReclaimStat = { reclaimed: 0, lazyfreed: 0, pageout: 0 };
  const freeFolios: number[] = [];
  const keptFolios: number[] = [];
  cpu.setActivity(Activity.Kernel);
  try {
    for (const target of targets) {
      const pfn = isolate(cpu, target);
      if (pfn === 0) continue;
      if (!folioTrylock(v, pfn)) {
        // someone else works on it (writeback, another reclaimer): nothing of ours to flush
        putPage(v, cpu.id, pfn);
        continue;
      }
      if (shrinkFolio(cpu, pfn, stat)) freeFolios.push(pfn);
      else keptFolios.push(pfn);
    }
    cpu.raceWindow(KernelPoint.ReclaimBeforeBatchedFlush); // race window: PTEs cleared, their batched flush (set_tlb_ubc_flush_pending) not yet done
    // no TLB translates to a frame below once this returns
    tryToUnmapFlush(cpu);
    let reclaimed = 0;
    for (const pfn of freeFolios) {
      folioUnlock(cpu, pfn);
      reclaimed += folioNrPages(v, pfn);
      freeFrozenFolio(v, cpu.id, pfn);
    }
    // putback_folio_list: only now may another reclaimer take these pages
    for (const pfn of keptFolios) {
      folioUnlock(cpu, pfn);
      putPage(v, cpu.id, pfn);
    }
    stat.reclaimed = reclaimed;
    return stat;
  } finally {
    cpu.setActivity(Activity.User);
  }
}
