/*
 * Writeback of file pages (mm/page-writeback.c: write_cache_pages, folio_clear_dirty_for_io;
 * mm/rmap.c: folio_mkclean, page_vma_mkclean_one).
 *
 * The invariant writeback keeps, and that lost-write detection checks: a file page whose data
 * differs from the disk has PG_dirty set or is mapped by a dirty PTE. Shared writable file
 * mappings are write-notified (fault.ts): a PTE becomes writable only in a write fault, which
 * marks the page dirty first. So to clean a page for I/O, folio_clear_dirty_for_io first takes
 * away every PTE's write permission and dirty bit (folio_mkclean), carrying each dirty bit to
 * PG_dirty, and only then tests and clears PG_dirty and copies the frame to the disk. A CPU that
 * writes afterwards faults, marks the page dirty again, and the next writeback copies it again.
 *
 * Each PTE is cleaned as ptep_clear_flush does it, under the PTL: get-and-clear, flush that page
 * from every TLB of the mm, then set the clean read-only entry. The flush comes before the PTL is
 * dropped and before PG_dirty is tested: until it completes another CPU may still write through
 * a TLB entry that caches D, and those writes land before the copy.
 *
 * folio_mkclean finds the PTEs through the rmap, and only if the page is mapped at all
 * (folio_mapped): a page whose rmap was removed while a TLB still writes through a stale dirty
 * entry is cleaned without any walk or flush. That is the lost write of seed 003, which zap's
 * delayed rmap removal (switch delayedRmap) exists to prevent; this code keeps the check so that
 * the race stays reproducible.
 *
 * The I/O is synchronous and runs with the page locked (PG_locked), so that two writebacks of one
 * page, or a writeback and reclaim, never copy it at once; PG_writeback is therefore never needed
 * beyond the lock.
 *
 * API:
 *   folioMkclean             write-protect and clean every PTE mapping a page
 *   writeoutFolioLocked      folio_clear_dirty_for_io and the write, page already locked (reclaim's pageout)
 *   writebackFilePage        one cached page of a file (lock, write out, unlock)
 *   writebackFile            every cached page of a file (write_cache_pages)
 */
import type { Cpu } from '../cpu/cpu.ts';
import { Activity } from '../cpu/percpu-layout.ts';
import { PAGE_SIZE } from '../machine/phys-layout.ts';
import { ptepGet, ptepGetAndClear, setPte } from '../arch/pgtable.ts';
import { pteDirty, pteMkclean, pteWrite, pteWrprotect } from '../machine/pte.ts';
import { flushTlbMmRange } from '../arch/tlbflush.ts';
import { fileSize, filemapGetFolio, filemapLookup, writePageToDisk } from './filemap.ts';
import { folioLock, folioMapped, folioMarkDirty, folioTestClearDirty, folioUnlock, pageIndex, pageOwner, putPage } from './page.ts';
import { pteUnlock } from './ptl.ts';
import { pageVmaMappedPte, rmapWalk } from './rmap.ts';
import { noteWrittenBack } from '../check/oracle.ts';
import { KPath, traceKernelEnter, traceKernelExit } from '../trace/events.ts';

/**
 * folio_mkclean: every PTE that maps `pfn` dirty or writable becomes clean and read-only, its
 * TLB entries flushed before its PTL is dropped. Returns how many PTEs it cleaned.
 */
export function folioMkclean(cpu: Cpu, pfn: number): number {
  const v = cpu.v;
  // no mapping, no walk: what the delayed rmap removal of seed 003 protects
  if (!folioMapped(v, pfn)) return 0;
  let cleaned = 0;
  rmapWalk(cpu, pfn, (mm, va) => {
    // models mm/rmap.c:page_vma_mkclean_one
    const ptep = pageVmaMappedPte(cpu, mm, va, pfn);
    if (ptep < 0) return;
    const pte = ptepGet(cpu, ptep);
    if (pteDirty(pte) || pteWrite(pte)) {
      // ptep_clear_flush: the exchange keeps a D bit a walker sets up to the clear, and until the
      // flush completes a CPU may still write through an entry that caches D; both are covered
      // because the folio is marked dirty below and PG_dirty is tested only after this returns
      const old = ptepGetAndClear(cpu, mm, va, ptep);
      flushTlbMmRange(cpu, mm, va, va + PAGE_SIZE);
      setPte(cpu, ptep, pteMkclean(pteWrprotect(old)));
      cleaned++;
    }
    pteUnlock(cpu, ptep);
  });
  return cleaned;
}

/**
 * folio_clear_dirty_for_io: cleans the PTEs (a cleaned one means the page may have been written
 * through it, so it is dirty), then test-and-clears PG_dirty. Returns whether the page needs I/O.
 * The caller holds the page lock.
 */
function folioClearDirtyForIo(cpu: Cpu, pfn: number): boolean {
  if (folioMkclean(cpu, pfn) > 0) folioMarkDirty(cpu.v, pfn);
  return folioTestClearDirty(cpu.v, pfn);
}

/**
 * The write-out of one locked page-cache page (folio_clear_dirty_for_io, then ->writepage, done
 * synchronously): copies the frame to its place on disk if it was dirty. Returns whether it did.
 */
export function writeoutFolioLocked(cpu: Cpu, pfn: number): boolean {
  if (!folioClearDirtyForIo(cpu, pfn)) return false;
  writePageToDisk(cpu.v, pageOwner(cpu.v, pfn), pageIndex(cpu.v, pfn), pfn);
  // the lost-write oracle's record: translations filled before now must all be gone
  noteWrittenBack(cpu.v, pfn);
  return true;
}

/** Writes page `index` of `file` back if it is cached and dirty. Returns whether it wrote it. */
export function writebackFilePage(cpu: Cpu, file: number, index: number): boolean {
  cpu.setActivity(Activity.Kernel);
  try {
    return writebackCached(cpu, file, index);
  } finally {
    cpu.setActivity(Activity.User);
  }
}

// models the per-folio body of mm/page-writeback.c:write_cache_pages
function writebackCached(cpu: Cpu, file: number, index: number): boolean {
  traceKernelEnter(cpu, KPath.Writeback, file, index);
  // our reference keeps reclaim from taking the page out of the cache: its refcount freeze fails
  const pfn = filemapGetFolio(cpu, file, index);
  let written = false;
  if (pfn !== 0) {
    folioLock(cpu, pfn);
    // truncated while we waited for the lock (folio->mapping != mapping): nothing to write
    if (filemapLookup(cpu.v, file, index) === pfn) written = writeoutFolioLocked(cpu, pfn);
    folioUnlock(cpu, pfn);
    putPage(cpu.v, cpu.id, pfn);
  }
  traceKernelExit(cpu, KPath.Writeback, written ? 1 : 0);
  return written;
}

/** write_cache_pages over the whole file (WB_SYNC_ALL): every cached dirty page. Returns how many it wrote. */
export function writebackFile(cpu: Cpu, file: number): number {
  cpu.setActivity(Activity.Kernel);
  try {
    let written = 0;
    for (let index = 0; index < fileSize(cpu.v, file); index++) if (writebackCached(cpu, file, index)) written++;
    return written;
  } finally {
    cpu.setActivity(Activity.User);
  }
}
