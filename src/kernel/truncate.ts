/*
 * Truncating a file (fs/open.c: do_sys_ftruncate; mm/truncate.c: truncate_setsize,
 * truncate_pagecache, truncate_inode_pages_range, truncate_inode_folio; mm/memory.c:
 * unmap_mapping_range, unmap_mapping_range_tree, unmap_mapping_folio, zap_page_range_single), for
 * the files of filemap.ts, whose size counts pages.
 *
 * ftruncate holds the inode's i_rwsem for writing throughout (do_truncate), so truncates of one
 * file do not interleave. Shrinking, in the kernel's order:
 *   1. i_size_write (truncate_setsize): from here a fault past the new size fails with SIGBUS
 *      (fault.ts filemapFault), and no page is added to the cache past it (filemapGetPage);
 *   2. unmap_mapping_range: under i_mmap_rwsem held for reading (mainline 2c8659951654), every
 *      VMA of every mm that maps the file past the new size is zapped there through an
 *      mmu_gather of its own (zap_page_range_single), which flushes before it returns;
 *   3. truncate_inode_pages: each cached page past the size is locked, and if it is still the
 *      cache's, unmapped once more if a fault mapped it since step 2 (truncate_cleanup_folio), its
 *      dirty state dropped, and taken out of the cache with the cache's reference;
 *   4. unmap_mapping_range again, as truncate_pagecache does: the first call is there so that
 *      step 3 has few single pages to unmap; the second is the one correctness rests on (in the
 *      kernel, for private COW copies that a fault made meanwhile, which step 3 does not see).
 * Then the blocks past the size are freed: the disk reads as zeros there when the file grows.
 *
 * The fault side (fault.ts filemapFault) locks the page and checks, under the lock, that it is
 * still in the cache and inside i_size, before finish_fault maps it: step 3's page lock is what
 * orders the two. A fault either maps the page before step 3 locks it (step 3 or 4 unmaps it) or
 * finds it gone and fails with SIGBUS.
 *
 * When ftruncate returns, no CPU translates a page of the file past the new size in any mm: the
 * promise oracle holds every mm that mapped it to that (check/promises.ts, PromiseKind.Truncated).
 *
 * Growing only sets the size: the new pages read as zeros (the disk was cleared at the shrink).
 */
import type { Cpu } from '../cpu/cpu.ts';
import { Activity } from '../cpu/percpu-layout.ts';
import { PAGE_SIZE, WORDS_PER_FRAME } from '../machine/phys-layout.ts';
import { DISK_WORDS, FILE_PAGES, F_IN_USE, F_I_RWSEM, MAX_FILES, diskIndex, fileIndex } from './file-layout.ts';
import { downWrite, upWrite } from './locks.ts';
import { fileSetSize, fileSize, filemapDeleteFolio, filemapGetFolio, filemapLookup, iMmapLockRead, iMmapUnlockRead } from './filemap.ts';
import { vmaEnd, vmaPgoff, vmaStart, type Vma } from './vma.ts';
import { forEachIMmapVma } from './rmap.ts';
import { tlbFinishMmu, tlbGatherMmu } from './mmu-gather.ts';
import { unmapSingleVma } from './zap.ts';
import { folioLock, folioMapped, folioTestClearDirty, folioUnlock, putPage } from './page.ts';
import { PromiseKind, makePromise, promiseStart } from '../check/promises.ts';
import { KernelPoint } from './points.ts';
import { KPath, traceKernelEnter, traceKernelExit } from '../trace/events.ts';

const EINVAL = -22;

/** Called for each VMA range zapped: the mm and the byte range [start, end). */
type ZappedRange = (mm: number, start: number, end: number) => void;

/**
 * zap_page_range_single for the part of `vma` (of `mm`) that maps file pages [first, last]:
 * one mmu_gather, flushed before it returns. Returns the byte range, or null if none.
 */
function unmapMappingRangeVma(cpu: Cpu, mm: number, vma: Vma, first: number, last: number): [number, number] | null {
  const v = cpu.v;
  const pgoff = vmaPgoff(v, vma);
  const start = vmaStart(v, vma);
  const pages = vmaEnd(v, vma) - start;
  // the VMA maps file pages [pgoff, pgoff + pages)
  const from = Math.max(first, pgoff);
  const to = Math.min(last, pgoff + pages - 1);
  if (from > to) return null;
  const s = (start + from - pgoff) * PAGE_SIZE;
  const e = (start + to - pgoff + 1) * PAGE_SIZE;
  const tlb = tlbGatherMmu(cpu, mm, s, e);
  unmapSingleVma(cpu, tlb, mm, vma, s, e, false);
  tlbFinishMmu(cpu, tlb);
  return [s, e];
}

/**
 * unmap_mapping_range (even_cows) for file pages [first, last]: every mapping of them in every
 * mm, found through the file's i_mmap (here, every VMA of a live mm linked in the rmap with this
 * file), held for reading as unmap_mapping_range_tree holds it. A VMA that munmap took out of the
 * tree but not yet out of the rmap is zapped too: its page tables are freed only after the unlink,
 * which waits for this walk.
 */
export function unmapMappingRange(cpu: Cpu, file: number, first: number, last: number, zapped?: ZappedRange): void {
  iMmapLockRead(cpu, file);
  try {
    forEachIMmapVma(cpu.v, file, (mm, vma) => {
      const range = unmapMappingRangeVma(cpu, mm, vma, first, last);
      if (range !== null) zapped?.(mm, range[0], range[1]);
    });
  } finally {
    iMmapUnlockRead(cpu, file);
  }
}

/**
 * truncate_inode_pages_range from page `from` to the end of the cache: each page locked, checked
 * to be still the cache's, unmapped if a fault mapped it again (truncate_cleanup_folio:
 * unmap_mapping_folio), its dirty state cancelled, and deleted from the cache.
 */
export function truncateInodePages(cpu: Cpu, file: number, from: number): void {
  const v = cpu.v;
  for (let index = from; index < FILE_PAGES; index++) {
    if (filemapLookup(v, file, index) === 0) continue;
    const pfn = filemapGetFolio(cpu, file, index);
    if (pfn === 0) continue;
    folioLock(cpu, pfn);
    if (filemapLookup(v, file, index) === pfn) {
      if (folioMapped(v, pfn)) unmapMappingRange(cpu, file, index, index);
      // folio_cancel_dirty: the data past the size goes with the page
      folioTestClearDirty(v, pfn);
      filemapDeleteFolio(cpu, file, index, pfn);
    }
    folioUnlock(cpu, pfn);
    putPage(v, cpu.id, pfn);
  }
}

/**
 * truncate_pagecache for a file whose size was just lowered to `pages`: unmap, drop the cached
 * pages, unmap again. `zapped` hears of every VMA range zapped.
 */
export function truncatePagecache(cpu: Cpu, file: number, pages: number, zapped?: ZappedRange): void {
  unmapMappingRange(cpu, file, pages, FILE_PAGES - 1, zapped);
  truncateInodePages(cpu, file, pages);
  unmapMappingRange(cpu, file, pages, FILE_PAGES - 1);
}

/**
 * ftruncate(fd, pages * PAGE_SIZE): returns 0, or -EINVAL for no such file or a size outside
 * 0..FILE_PAGES pages. Entry and return are traced.
 */
export function sysFtruncate(cpu: Cpu, file: number, pages: number): number {
  traceKernelEnter(cpu, KPath.Ftruncate, file, pages);
  return traceKernelExit(cpu, KPath.Ftruncate, rawSysFtruncate(cpu, file, pages));
}

function rawSysFtruncate(cpu: Cpu, file: number, pages: number): number {
  const v = cpu.v;
  if (!Number.isInteger(file) || file < 0 || file >= MAX_FILES || Atomics.load(v.files, fileIndex(file) + F_IN_USE) === 0) return EINVAL;
  if (!Number.isInteger(pages) || pages < 0 || pages > FILE_PAGES) return EINVAL;
  cpu.setActivity(Activity.Kernel);
  cpu.passPoint(KernelPoint.FtruncateEnter);
  const since = promiseStart(v);
  // inode_lock
  downWrite(cpu, v.files, fileIndex(file) + F_I_RWSEM);
  try {
    const old = fileSize(v, file);
    fileSetSize(cpu, file, pages);
    if (pages >= old) return 0;
    const zapped: [number, number, number][] = [];
    truncatePagecache(cpu, file, pages, (mm, s, e) => zapped.push([mm, s, e]));
    // the blocks past the size are freed: a later growth reads zeros there
    v.disk.fill(0, diskIndex(file, pages), Math.min(DISK_WORDS, diskIndex(file, old - 1) + WORDS_PER_FRAME));
    // what every mm that mapped the file past the size may now rely on (check/promises.ts)
    for (const [mm, s, e] of zapped) makePromise(v, mm, s, e, PromiseKind.Truncated, since);
    return 0;
  } finally {
    upWrite(cpu, v.files, fileIndex(file) + F_I_RWSEM);
    cpu.passPoint(KernelPoint.FtruncateReturn);
    cpu.setActivity(Activity.User);
  }
}
