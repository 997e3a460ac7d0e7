/*
 * The page fault (mm/memory.c: handle_mm_fault, handle_pte_fault, do_anonymous_page,
 * do_shared_fault, do_cow_fault, do_wp_page, wp_page_reuse, wp_page_copy).
 *
 * Runs on the faulting CPU with the faulting VMA read-locked (vma-lock.ts, switch perVmaLock) or,
 * failing that, the mmap_lock held for reading, and the PTE table's lock held while the PTE is
 * examined and set. Shared writable file mappings are write-notified: a read fault maps
 * the page read-only, so that the first write faults, marks the page dirty and only then makes the
 * PTE writable. That is what lets writeback trust "clean page, no dirty PTE".
 *
 * Copy-on-write. A write to a read-only PTE of a private mapping (fork shared the page, or it is
 * a page-cache page of a private file mapping) either keeps the page (wp_page_reuse: it is
 * PageAnonExclusive, or mapped once with no other reference) or copies it (wp_page_copy):
 *   1. with the PTL dropped, a new anonymous page, and the old one's contents copied into it;
 *   2. the PTL again, the PTE unchanged (pte_same), else start over;
 *   3. ptep_clear_flush: the old PTE cleared and flushed from every CPU of the mm, BEFORE
 *   4. set_pte_at of the new, writable PTE, then the old page's rmap and reference dropped.
 * The copy in 1 is the page's last word only because no TLB can write the old page: its PTE is
 * read-only and was flushed when it became so (fork's flush_tlb_mm, mprotect's flush). A write
 * through a stale writable entry after the copy lands in the old page, which now belongs to the
 * process the page was shared with (scenarios cow-stale-writable and fork-vma-lock).
 *
 * A fault on a present PTE that allows the access is handle_pte_fault's end (handlePtePresent):
 * ptep_set_access_flags with the PTE made young, and dirty for a write. On x86 the hardware sets
 * A and D itself, so only a fault that raced with a change of the PTE gets there; on arm64
 * without FEAT_HAFDBS every first access to an old PTE (AF clear: an access-flag fault) and every
 * first write to a writable-clean one (PTE_RDONLY|PTE_WRITE: a permission fault) does.
 *
 * A file page is looked up and locked before the PTL is taken (filemap_fault returns it locked,
 * finish_fault maps it under the PTL, do_read_fault unlocks it), and under its lock the fault
 * checks that the page is still in the page cache and still inside i_size: truncate takes each
 * page's lock to remove it from the cache, after it lowered i_size, so a fault either mapped the
 * page before truncate looked at it (and truncate unmaps it) or finds it gone: it looks the page
 * up again, and past i_size it fails with SIGBUS (VM_FAULT_SIGBUS).
 *
 * Multi-size THP (switch anonMthp=64k; alloc_anon_folio, thp_vma_suitable_order, pte_range_none):
 * an anonymous fault whose naturally aligned 64 KiB block lies inside the VMA, with all 16 PTEs of
 * the block none under the PTL, allocates one order-4 folio (kernel/page.ts), zeroed, and maps
 * all of it with one set_ptes of 16 entries, one reference and one rmap per page; any other
 * fault, and one that finds no aligned block of frames free, maps one 4 KiB page. As the order-0
 * page here, the folio is allocated with the PTL held (mainline allocates first and checks
 * pte_range_none again under the lock). A write fault on a read-only page of a large folio
 * (fork shared it) copies that page alone unless it is PageAnonExclusive: large folios are never
 * reused on a shared page (wp_can_reuse_anon_folio).
 *
 * Returns true when the access may be retried, false for SIGSEGV / SIGBUS (the latter told to the
 * CPU with forceSig, as do_sigbus does).
 */
import { SIGBUS, type Cpu } from '../cpu/cpu.ts';
import { allocFrame } from '../machine/frames.ts';
import { FrameKind } from '../machine/phys-layout.ts';
import { pteAlloc, vpnOf } from '../machine/pagetable.ts';
import { ptepGet, ptepSetAccessFlags, setPte, setPtes } from '../arch/pgtable.ts';
import { PAGE_SIZE } from '../machine/phys-layout.ts';
import { PAGE_READONLY, pfnPte, pteMkdirty, pteMkwrite, pteMkyoung, ptePfn, ptePresent, pteProtnone, pteWrite } from '../machine/pte.ts';
import { INIT_MM } from './mm-layout.ts';
import { addMmRss, mmapReadLock, mmapReadUnlock, mmPgd } from './mm.ts';
import { VM_READ, VM_SHARED, VM_WRITE } from './vma-layout.ts';
import { findVma, linearPageIndex, vmaEnd, vmaFile, vmaFlags, vmaIsAnon, vmaStart, type Vma } from './vma.ts';
import { fileSize, filemapGetPage, filemapLookup } from './filemap.ts';
import {
  copyHighpage, folioAlloc, folioLock, folioMarkDirty, folioRefAdd, folioTestLarge, folioUnlock, getPage, pageAddRmap, pageAnonExclusive,
  pageIsAnon, pageMapcount, pageRefCount, pageRemoveRmap, pageReuseAnon, putPage,
} from './page.ts';
import { pteLock, pteUnlock } from './ptl.ts';
import { Activity } from '../cpu/percpu-layout.ts';
import { doNumaPage, ptepClearFlush } from './numa.ts';
import { KernelPoint } from './points.ts';
import { lockVmaUnderRcu, vmaEndRead } from './vma-lock.ts';
import { Counter } from '../trace/counters.ts';
import { KPath, traceKernelEnter, traceKernelExit, traceVpn } from '../trace/events.ts';

/**
 * The protection a fault maps a page with: the VMA's vm_page_prot (PAGE_READONLY: private memory
 * is copy-on-write, shared memory write-notified), young (pte_sw_mkyoung), and for a write that
 * may be granted, maybe_mkwrite(pte_mkdirty()): `writable` only is writable and clean (arm64:
 * WRITE|RDONLY, the hardware dirties it on the first store), `dirty` too is writable and dirty.
 * Protections are entries without a PFN, so the PTE modifiers apply to them.
 */
function faultProt(writable: boolean, dirty: boolean): number {
  let prot = pteMkyoung(PAGE_READONLY);
  if (dirty) prot = pteMkdirty(prot);
  if (writable) prot = pteMkwrite(prot);
  return prot;
}

/** maybe_mkwrite(pte_mkdirty(pte_mkyoung(pte))): wp_page_reuse's and a write promotion's entry. */
function mkWritableDirtyYoung(pte: number): number {
  return pteMkwrite(pteMkdirty(pteMkyoung(pte)));
}

/**
 * set_pte_range for one page, the PTL held: the page's rmap and the mm's RSS count the new
 * mapping, then the PTE with protection `prot` maps it. Publishes the page: a walker that reads
 * the new PTE reads the frame's contents after it.
 */
function setPteRange(cpu: Cpu, mm: number, ptep: number, pfn: number, prot: number): void {
  pageAddRmap(cpu.v, pfn);
  addMmRss(cpu.v, mm, 1);
  setPte(cpu, ptep, pfnPte(pfn, prot));
}

/**
 * finish_fault: maps `pfn` with `prot` under the PTL if the PTE is still none; false when another
 * fault got there first, and the caller's reference on the page is still its own to drop.
 */
function finishFault(cpu: Cpu, mm: number, ptep: number, pfn: number, prot: number): boolean {
  pteLock(cpu, ptep);
  const mapped = ptepGet(cpu, ptep) === 0;
  if (mapped) setPteRange(cpu, mm, ptep, pfn, prot);
  pteUnlock(cpu, ptep);
  return mapped;
}

/** Pages in the folio of switch anonMthp=64k: order 4. */
const MTHP_NR = 16;
const MTHP_SIZE = MTHP_NR * PAGE_SIZE;

/**
 * alloc_anon_folio for order 4 and the nr_pages > 1 half of do_anonymous_page, the PTL held:
 * maps a zeroed 64 KiB folio over the aligned block around `va` with PTE flags `flags`. False,
 * with nothing done, when the block is not wholly inside the VMA (thp_vma_suitable_order), a PTE
 * of it is not none (pte_range_none), or no aligned block of frames is free: the caller falls
 * back to one page.
 */
function doAnonymousFolio(cpu: Cpu, mm: number, vma: Vma, va: number, ptep: number, prot: number): boolean {
  const v = cpu.v;
  const haddr = Math.floor(va / MTHP_SIZE) * MTHP_SIZE;
  if ((vmaFlags(v, vma) & VM_SHARED) !== 0) return false;
  if (haddr < vmaStart(v, vma) * PAGE_SIZE || haddr + MTHP_SIZE > vmaEnd(v, vma) * PAGE_SIZE) return false;
  // the block's 16 PTEs sit in `ptep`'s table: 64 KiB-aligned blocks never straddle 2 MiB
  const first = ptep - Math.floor((va - haddr) / PAGE_SIZE);
  for (let i = 0; i < MTHP_NR; i++) if (ptepGet(cpu, first + i) !== 0) return false;
  const pfn = folioAlloc(v, cpu.id, MTHP_NR, FrameKind.Anon, mm, linearPageIndex(v, vma, haddr), true);
  if (pfn === 0) {
    cpu.count(Counter.MthpAnonFaultFallback);
    return false;
  }
  // one reference per PTE, as folio_ref_add(folio, nr_pages - 1) makes them
  folioRefAdd(v, pfn, MTHP_NR - 1);
  addMmRss(v, mm, MTHP_NR);
  for (let i = 0; i < MTHP_NR; i++) pageAddRmap(v, pfn + i);
  // publishes the folio: a walker that reads one of the new PTEs reads the frames' contents after it
  setPtes(cpu, mm, haddr, first, pfnPte(pfn, prot), MTHP_NR);
  cpu.count(Counter.MthpAnonFaultAlloc);
  return true;
}

/** do_anonymous_page: a zeroed page of this mm (or a 64 KiB folio, switch anonMthp), writable if the VMA is. */
function doAnonymousPage(cpu: Cpu, mm: number, vma: Vma, va: number, ptep: number, write: boolean): boolean {
  const v = cpu.v;
  const writable = (vmaFlags(v, vma) & VM_WRITE) !== 0;
  if (cpu.config.anonMthp === '64k' && doAnonymousFolio(cpu, mm, vma, va, ptep, faultProt(writable, writable && write))) return true;
  const pfn = allocFrame(v, cpu.id, FrameKind.Anon, mm, linearPageIndex(v, vma, va), true);
  if (pfn === 0) return false;
  setPteRange(cpu, mm, ptep, pfn, faultProt(writable, writable && write));
  return true;
}

/**
 * filemap_fault: the page-cache page `va` maps in a file VMA, locked and with a reference; 0 when
 * the offset is past i_size (SIGBUS, told to the CPU) or memory is out. Under the page lock the
 * page is checked to be still the cache's (folio->mapping) and i_size read again: a truncate that
 * removed it, or shrank the file, since the lookup makes the fault look again or fail.
 *
 * `lock` false is the read fault of switch filemapFaultLock=unlocked: the page as the lookup
 * found it, neither locked nor looked at again (do_no_page before d00806b18315).
 */
function filemapFault(cpu: Cpu, vma: Vma, va: number, lock = true): number {
  const v = cpu.v;
  const file = vmaFile(v, vma);
  const index = linearPageIndex(v, vma, va);
  for (;;) {
    if (index >= fileSize(v, file)) {
      cpu.forceSig(SIGBUS);
      return 0;
    }
    const pfn = filemapGetPage(cpu, file, index);
    // past i_size since the check above (the next turn says SIGBUS), or no memory
    if (pfn === 0) {
      if (index < fileSize(v, file)) return 0;
      continue;
    }
    cpu.raceWindow(KernelPoint.FilemapFaultPageFound); // race window: the page found, not yet locked; a truncate may take it out of the cache
    if (!lock) return pfn;
    folioLock(cpu, pfn);
    // truncated meanwhile: the page left the cache (or i_size went below it) before we locked it
    if (filemapLookup(v, file, index) === pfn && index < fileSize(v, file)) return pfn;
    folioUnlock(cpu, pfn);
    putPage(v, cpu.id, pfn);
  }
}

/**
 * A write fault on a shared file mapping (do_shared_fault / wp_page_shared): the page is locked
 * before the PTL and stays locked until it is marked dirty, as do_page_mkwrite and
 * fault_dirty_shared_page keep it, so that writeback, which cleans under the page lock, never
 * sees a writable dirty PTE over a clean page.
 */
function doSharedWriteFault(cpu: Cpu, mm: number, vma: Vma, va: number, ptep: number): boolean {
  const v = cpu.v;
  const pfn = filemapFault(cpu, vma, va);
  if (pfn === 0) return false;
  pteLock(cpu, ptep);
  const pte = ptepGet(cpu, ptep);
  let mapped = false;
  let writable = false;
  if (pte === 0) {
    setPteRange(cpu, mm, ptep, pfn, faultProt(true, true));
    mapped = writable = true;
  } else if (ptePresent(pte) && ptePfn(pte) === pfn && !pteWrite(pte)) {
    // a promotion: no flush, a CPU with the old read-only entry faults and finds this one
    setPte(cpu, ptep, mkWritableDirtyYoung(pte));
    writable = true;
  } else if (ptePresent(pte) && pteWrite(pte)) {
    // writable already: handle_pte_fault's end makes it young and dirty if it is not
    handlePtePresent(cpu, mm, va, ptep, pte, true);
  }
  pteUnlock(cpu, ptep);
  if (writable) folioMarkDirty(v, pfn);
  folioUnlock(cpu, pfn);
  // the new mapping keeps the reference; otherwise someone else resolved the fault: retry
  if (!mapped) putPage(v, cpu.id, pfn);
  return true;
}

/**
 * do_read_fault: the page-cache page, read-only (write-notify: the first write faults again),
 * mapped by finish_fault under the PTL if the PTE is still none, then unlocked.
 */
function doReadFault(cpu: Cpu, vma: Vma, va: number, ptep: number, mm: number): boolean {
  const v = cpu.v;
  const locked = cpu.config.filemapFaultLock === 'locked';
  const pfn = filemapFault(cpu, vma, va, locked);
  if (pfn === 0) return false;
  const mapped = finishFault(cpu, mm, ptep, pfn, faultProt(false, false));
  if (locked) folioUnlock(cpu, pfn);
  // the new mapping keeps the reference; otherwise someone else mapped it: retry
  if (!mapped) putPage(v, cpu.id, pfn);
  return true;
}

/**
 * do_cow_fault: a write to a page of a private file mapping that no PTE maps yet: the page-cache
 * page, found and locked as a read fault finds it (filemap_fault), is copied into a new anonymous
 * page of this mapping, which finish_fault maps writable under the PTL if the PTE is still none;
 * the file never sees the write.
 */
function doCowFault(cpu: Cpu, mm: number, vma: Vma, va: number, ptep: number): boolean {
  const v = cpu.v;
  const filePfn = filemapFault(cpu, vma, va);
  if (filePfn === 0) return false;
  const pfn = allocFrame(v, cpu.id, FrameKind.Anon, mm, linearPageIndex(v, vma, va), false);
  if (pfn !== 0) {
    copyHighpage(v, pfn, filePfn);
    // someone else resolved the fault meanwhile: the copy goes, the access retries
    if (!finishFault(cpu, mm, ptep, pfn, faultProt(true, true))) putPage(v, cpu.id, pfn);
  }
  folioUnlock(cpu, filePfn);
  putPage(v, cpu.id, filePfn);
  return pfn !== 0;
}

/** wp_page_reuse: the page stays; a promotion, no flush: a CPU with the old read-only entry faults and finds this one. */
function wpPageReuse(cpu: Cpu, ptep: number, pte: number): boolean {
  setPte(cpu, ptep, mkWritableDirtyYoung(pte));
  return true;
}

/**
 * wp_page_copy for the present, read-only PTE `pte` at `ptep`, locked by the caller (and locked
 * again when this returns): the order of the header's steps 1-4. Returns true: the access retries.
 */
function wpPageCopy(cpu: Cpu, mm: number, vma: Vma, va: number, ptep: number, pte: number): boolean {
  const v = cpu.v;
  const oldPfn = ptePfn(pte);
  const page = Math.floor(va / PAGE_SIZE) * PAGE_SIZE;
  // the fault's reference on the old page keeps it while the PTL is dropped
  getPage(v, oldPfn);
  pteUnlock(cpu, ptep);
  const newPfn = allocFrame(v, cpu.id, FrameKind.Anon, mm, linearPageIndex(v, vma, va), false);
  if (newPfn !== 0) {
    // __wp_page_copy_user
    copyHighpage(v, newPfn, oldPfn);
    // race window: copied, the old PTE still in place: a store through a stale writable entry now is lost to this mm
    cpu.raceWindow(KernelPoint.WpPageCopied);
  }
  pteLock(cpu, ptep);
  if (newPfn === 0 || ptepGet(cpu, ptep) !== pte) {
    // out of memory, or someone changed the PTE meanwhile (another CPU's fault resolved it): retry
    if (newPfn !== 0) putPage(v, cpu.id, newPfn);
    putPage(v, cpu.id, oldPfn);
    return newPfn !== 0;
  }
  ptepClearFlush(cpu, mm, page, ptep);
  pageAddRmap(v, newPfn);
  // publishes the copy: a walker that reads the new PTE reads the frame's contents after it
  setPte(cpu, ptep, pfnPte(newPfn, faultProt(true, true)));
  pageRemoveRmap(v, oldPfn);
  // the old mapping's reference, then the fault's own
  putPage(v, cpu.id, oldPfn);
  putPage(v, cpu.id, oldPfn);
  return true;
}

/**
 * do_wp_page: a write to the present, read-only PTE `pte` of a VMA that allows writing, PTL held.
 * An anonymous page that is PageAnonExclusive is reused; one fork shared is reused only when it is
 * found mapped once with no reference but that mapping's (wp_can_reuse_anon_folio), and then is
 * exclusive again; anything else, a page-cache page of a private file mapping included, is
 * copied.
 */
function doWpPage(cpu: Cpu, mm: number, vma: Vma, va: number, ptep: number, pte: number): boolean {
  const v = cpu.v;
  const pfn = ptePfn(pte);
  if (pageIsAnon(v, pfn)) {
    if (pageAnonExclusive(v, pfn)) return wpPageReuse(cpu, ptep, pte);
    // wp_can_reuse_anon_folio: never a page of a large folio, whose other pages may be mapped
    if (!folioTestLarge(v, pfn) && pageMapcount(v, pfn) === 1 && pageRefCount(v, pfn) === 1) {
      pageReuseAnon(v, pfn, mm);
      return wpPageReuse(cpu, ptep, pte);
    }
  }
  return wpPageCopy(cpu, mm, vma, va, ptep, pte);
}

/**
 * The end of handle_pte_fault, the PTL held: a fault on the present PTE `pte` that allows the
 * access (a write fault found it writable). The entry the access needs, pte_mkyoung and for a
 * write pte_mkdirty, goes in with ptep_set_access_flags, which only widens the PTE. That is how a
 * CPU without hardware A/D management gets past its access-flag faults and its permission faults
 * on writable-clean PTEs (arm64 without FEAT_HAFDBS: AF clear, or PTE_RDONLY on a PTE_WRITE
 * entry). When it reports no change the fault was spurious: our TLB entry, or our walk, was older
 * than the PTE (flush_tlb_fix_spurious_fault does nothing on x86 and arm64; the fault already
 * dropped this CPU's entry), and the retry walks again. Returns true: the access retries.
 */
function handlePtePresent(cpu: Cpu, mm: number, va: number, ptep: number, pte: number, write: boolean): boolean {
  let entry = pte;
  if (write) entry = pteMkdirty(entry);
  entry = pteMkyoung(entry);
  const page = Math.floor(va / PAGE_SIZE) * PAGE_SIZE;
  if (ptepSetAccessFlags(cpu, mm, page, ptep, entry, write)) cpu.count(write ? Counter.PteSetAccessFlagsDirty : Counter.PteSetAccessFlagsYoung);
  return true;
}

/** handle_mm_fault for a user access at `va` on this CPU's loaded mm. Entry and return are traced. */
export function handleMmFault(cpu: Cpu, va: number, write: boolean): boolean {
  // current->mm: the mm this CPU's last switch_mm loaded
  const mm = cpu.mm;
  traceKernelEnter(cpu, KPath.HandleMmFault, mm, traceVpn(va), write ? 1 : 0);
  const handled = mm !== INIT_MM && rawHandleMmFault(cpu, mm, va, write);
  traceKernelExit(cpu, KPath.HandleMmFault, handled ? 1 : 0);
  return handled;
}

/**
 * handleMmFault's body, untraced, for a user mm: as do_user_addr_fault, under the VMA's lock
 * alone when lock_vma_under_rcu gets it (switch perVmaLock), else under the mmap_lock.
 */
function rawHandleMmFault(cpu: Cpu, mm: number, va: number, write: boolean): boolean {
  cpu.setActivity(Activity.Kernel);
  try {
    if (cpu.config.perVmaLock === 'on') {
      const vma = lockVmaUnderRcu(cpu, mm, va);
      if (vma >= 0) {
        try {
          return handleVmaFault(cpu, mm, vma, va, write);
        } finally {
          vmaEndRead(cpu, vma);
          cpu.count(Counter.VmaLockSuccess);
        }
      }
    }
    const waited = mmapReadLock(cpu, mm);
    if (waited > 0) {
      cpu.count(Counter.MmapLockFaultWaits);
      cpu.count(Counter.MmapLockFaultWaitUs, waited * 1000);
    }
    try {
      const vma = findVma(cpu.v, mm, vpnOf(va));
      return vma >= 0 && handleVmaFault(cpu, mm, vma, va, write);
    } finally {
      mmapReadUnlock(cpu, mm);
    }
  } finally {
    cpu.setActivity(Activity.User);
  }
}

/** The fault in `vma`, which the caller keeps stable: its VMA lock or the mmap_lock held. */
function handleVmaFault(cpu: Cpu, mm: number, vma: Vma, va: number, write: boolean): boolean {
  const v = cpu.v;
  const flags = vmaFlags(v, vma);
  if ((flags & (write ? VM_WRITE : VM_READ)) === 0) return false;
  const ptep = pteAlloc(v, cpu.id, mmPgd(v, mm), va, mm);
  if (ptep < 0) return false;
  const anon = vmaIsAnon(v, vma);
  if (write && (flags & VM_SHARED) !== 0) return doSharedWriteFault(cpu, mm, vma, va, ptep);
  // do_pte_missing on a file VMA: the page is looked up and locked before the PTL (a lockless
  // look at the PTE, as handle_pte_fault's; finish_fault checks it again under the PTL)
  if (!anon && ptepGet(cpu, ptep) === 0) return write ? doCowFault(cpu, mm, vma, va, ptep) : doReadFault(cpu, vma, va, ptep, mm);
  pteLock(cpu, ptep);
  try {
    const pte = ptepGet(cpu, ptep);
    // a file PTE cleared since the look above: retry, the next fault takes the path above
    if (pte === 0) return anon ? doAnonymousPage(cpu, mm, vma, va, ptep, write) : true;
    // a NUMA hinting fault: the VMA allows the access (checked above), the PTE is PROT_NONE
    if (pteProtnone(pte)) return doNumaPage(cpu, mm, vma, va, ptep);
    if (!ptePresent(pte)) return false;
    if (write && !pteWrite(pte)) return doWpPage(cpu, mm, vma, va, ptep, pte);
    return handlePtePresent(cpu, mm, va, ptep, pte, write);
  } finally {
    pteUnlock(cpu, ptep);
  }
}
