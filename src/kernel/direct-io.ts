/*
 * A direct IO read into user memory (block/fops.c: __blkdev_direct_IO_simple; block/bio.c:
 * bio_iov_iter_get_pages, bio_release_pages; mm/gup.c: the slow path's faultin_page), the
 * device being the caller's function.
 *
 *   1. the user pages are pinned for writing (pin_user_pages_fast with FOLL_WRITE): GUP-fast, and
 *      for a page it cannot pin locklessly (not present, not writable) the slow path: a write
 *      fault (handle_mm_fault) and GUP-fast again;
 *   2. the device writes the data into the pinned frames (DMA): no TLB, no PTE, no dirty bit;
 *   3. the completion marks each page dirty (folio_mark_dirty_lock, under the page lock) and
 *      unpins it.
 * Between 2 and 3 a page holds data that nothing but the pin says is there: its PTE and its
 * flags may still say clean. Reclaim of a lazily freed page (reclaim.ts, switch lazyfreeCheck)
 * must see the pin, or the process loses the data with the mapping.
 *
 * The CPU must be running `mm` (GUP-fast walks current->mm).
 */
import type { Cpu } from '../cpu/cpu.ts';
import { Activity } from '../cpu/percpu-layout.ts';
import { PAGE_SIZE } from '../machine/phys-layout.ts';
import { getUserPagesFast, unpinUserPages } from './gup.ts';
import { handleMmFault } from './fault.ts';
import { folioLock, folioMarkDirty, folioUnlock } from './page.ts';
import { KernelPoint } from './points.ts';

/** How often the slow path faults a page in before the read gives up on it (a short read). */
const FAULTIN_TRIES = 8;

/**
 * bio_iov_iter_get_pages: pins `pages` pages from `addr` for writing, faulting in what GUP-fast
 * cannot pin. Returns the frames pinned, in order; fewer when a page could not be faulted in.
 */
function pinForRead(cpu: Cpu, mm: number, addr: number, pages: number): number[] {
  const pfns: number[] = [];
  let tries = 0;
  while (pfns.length < pages) {
    const va = addr + pfns.length * PAGE_SIZE;
    const got = getUserPagesFast(cpu, mm, va, pages - pfns.length, true).pfns;
    pfns.push(...got);
    if (got.length > 0) tries = 0;
    if (pfns.length === pages) break;
    // the slow path: fault the page in for writing, then try the lockless pin again
    if (++tries > FAULTIN_TRIES || !handleMmFault(cpu, addr + pfns.length * PAGE_SIZE, true)) break;
    cpu.setActivity(Activity.Kernel);
  }
  return pfns;
}

/**
 * read(2) of `pages` pages with O_DIRECT into the buffer at `addr` of `mm` (this CPU's mm):
 * `device(pfn, page)` is the device writing page `page` of the data into frame `pfn`. Returns the
 * pages read.
 */
export function directIoRead(cpu: Cpu, mm: number, addr: number, pages: number, device: (pfn: number, page: number) => void): number {
  cpu.setActivity(Activity.Kernel);
  try {
    const pfns = pinForRead(cpu, mm, addr, pages);
    for (let i = 0; i < pfns.length; i++) device(pfns[i], i);
    cpu.raceWindow(KernelPoint.DirectIoBeforeCompletion); // race window: the data is in the pages, which are pinned and may still look clean
    // bio_release_pages(bio, mark_dirty): dirty, then unpinned
    for (const pfn of pfns) {
      folioLock(cpu, pfn);
      folioMarkDirty(cpu.v, pfn);
      folioUnlock(cpu, pfn);
    }
    unpinUserPages(cpu, pfns);
    return pfns.length;
  } finally {
    cpu.setActivity(Activity.User);
  }
}
