/*
 * khugepaged's collapse of one PMD range of anonymous memory (mm/khugepaged.c: collapse_huge_page,
 * __collapse_huge_page_isolate, __collapse_huge_page_copy), which MADV_COLLAPSE runs too.
 *
 * The rule: the PTE table being replaced is first unhooked and flushed (pmdp_collapse_flush), then
 * tlb_remove_table_sync_one waits until no CPU can still be walking it with IRQs off (GUP-fast);
 * only after that are its pages checked for references beyond their mapping, copied and freed.
 * A GUP-fast walker that read the PMD before it was cleared has by then either finished, and its
 * pin shows in the refcount check (the collapse backs off), or it re-read the PMD after pinning,
 * found it changed and dropped the pin; a later walker finds no PMD. The table is not freed: it
 * is deposited (pgtable_trans_huge_deposit) for a later split of the huge PMD. This is no grace
 * period, which is why the sync IPI is needed here and not in munmap (mmu-gather.ts).
 *
 *   collapse_huge_page                           GUP-fast on another CPU (IRQs off)
 *   mmap_write_lock, vma_start_write, anon_vma_lock_write
 *   pmd_lock; old = xchg(*pmd, 0)                pmd = READ_ONCE(*pmdp): old, or none
 *   flush_tlb_range, freed_tables  ---IPI--->    taken only once the walk is over
 *   pmd_unlock
 *   tlb_remove_table_sync_one  ------IPI--->     every CPU
 *   pte_lock; isolate: every PTE present, its page mapped once, locked, one reference (no pin)
 *   copy; clear the old PTEs, free the old pages; deposit the old table; install
 *   ...
 *   munmap: zap_deposited_table frees the old table at once
 *
 * A walker still in the old table after the collapse is not harmed by the collapse itself: it finds
 * the old PTEs cleared, or a page it pinned no longer mapped, and drops the pin. What it must not
 * be in is the table's next life: the deposited table is freed with pte_free when the huge PMD is
 * zapped (munmap, exit), and is handed out again at once.
 *
 * Switch syncIpi decides the second IPI: always (mainline); skipped after a native IPI flush,
 * which every CPU that can run GUP-fast on the mm took (seed 001); skipped after any flush; never.
 * The flush interrupts every such walker only when it is an IPI flush (x86TlbFlush=ipi): an
 * INVLPGB interrupts no one, and a paravirt flush skips a preempted vCPU.
 *
 * What the collapse produces: this kernel has no transparent huge pages yet (the machine walks a
 * PSE PMD and caches it in its 2 MiB TLB, but the fault path, zap and free_pgtables know none),
 * so the 512 pages are copied into 512 fresh 4 KiB frames, mapped by a fresh PTE table that stands
 * for the huge PMD mainline installs; the old table is deposited with it, as mainline deposits it
 * with the huge PMD, and freed with it. As in mainline no table is freed at collapse. Every step
 * the race depends on is mainline's. khugepaged's scan (hpage_collapse_scan_pmd) is not modelled: the caller names
 * the range; max_ptes_none and max_ptes_shared are 0 (every PTE present, every page mapped once).
 * Pages of PTE-mapped large folios (switch anonMthp) are collapsed too, each folio locked and its
 * count checked once, as __collapse_huge_page_isolate's compound_pagelist does.
 *
 * API:
 *   collapseHugePage(cpu, mm, addr)   collapse the 2 MiB-aligned range at `addr`; a ScanResult
 *   pmdpCollapseFlush(cpu, mm, haddr, pmdp)   unhook a PTE table and flush its range, as the
 *                                     collapse does before it installs what replaces the table
 */
import type { Cpu } from '../cpu/cpu.ts';
import { Activity } from '../cpu/percpu-layout.ts';
import { allocFrame, frameMetaIndex, freeFrame } from '../machine/frames.ts';
import { FrameKind, META_DEPOSIT, META_TABLE_VPN, PAGE_SHIFT, PTRS_PER_TABLE } from '../machine/phys-layout.ts';
import {
  PGD_LEVEL, PMD_LEVEL, PMD_SIZE, PTE_LEVEL, USER_VA_LIMIT, entryWord, ptepGet, ptepGetAndClear, setPte,
  tableIndex, tablesOnPathNoSideEffects, vpnOf,
} from '../machine/pagetable.ts';
import { PAGE_READONLY, pfnPte, pmdLeaf, pmdTableEntry, pteMkdirty, pteMkwrite, pteMkyoung, pteNone, ptePfn, ptePresent } from '../machine/pte.ts';
import { flushTlbMmRange } from '../arch/tlbflush.ts';
import { MM_MMAP_LOCK } from './mm-layout.ts';
import { mmAnonVmaRoot, mmBase, mmPgd, mmapWriteLock, mmapWriteUnlock } from './mm.ts';
import { anonVmaLockWrite, anonVmaUnlockWrite } from './rmap.ts';
import { rwsemIsWriteLocked } from './locks.ts';
import { tlbRemoveTableSyncOne } from './mmu-gather.ts';
import { zapDepositedTable } from './zap.ts';
import { copyHighpage, folioHead, folioMapcount, folioTestLarge, folioTrylock, folioUnlock, getPage, pageAddRmap, pageIsAnon, pageMapcount, pageRefCount, pageRemoveRmap, putPage } from './page.ts';
import { pteLock, pteUnlock } from './ptl.ts';
import { VM_WRITE } from './vma-layout.ts';
import { findVma, vmaEnd, vmaFlags, vmaIsAnon } from './vma.ts';
import { vmaStartWrite } from './vma-lock.ts';
import { KPath, traceKernelEnter, traceKernelExit, traceVpn } from '../trace/events.ts';

/** enum scan_result, the values this collapse can return. */
export type ScanResult =
  | 'SCAN_SUCCEED'
  | 'SCAN_VMA_CHECK' // no anonymous VMA covers the whole range
  | 'SCAN_PMD_NULL' // no PTE table there
  | 'SCAN_PMD_MAPPED' // a huge PMD there already
  | 'SCAN_EXCEED_NONE_PTE' // a PTE is none
  | 'SCAN_PTE_NON_PRESENT' // a PTE is not present but not none (PROT_NONE for NUMA hinting)
  | 'SCAN_EXCEED_SHARED_PTE' // a page is mapped more than once, or not anonymous
  | 'SCAN_PAGE_LOCK' // a page is locked by someone else
  | 'SCAN_PAGE_COUNT' // a page has references beyond its mapping: a GUP pin, say
  | 'SCAN_ALLOC_HUGE_PAGE_FAIL'; // out of memory for the copy

const HPAGE_PMD_NR = PTRS_PER_TABLE;

/** What the collapse puts in place of the old table: the copies, and the table that maps them. */
interface CollapseTarget {
  pages: number[];
  /** the PTE table standing for the huge PMD (0 until allocated) */
  table: number;
}

/**
 * alloc_charge_folio: one frame per page of the range starting at VPN `hvpn`, and the table that
 * will map them, allocated before any lock; null when memory is out.
 */
function allocCollapseTarget(cpu: Cpu, mm: number, hvpn: number): CollapseTarget | null {
  const target: CollapseTarget = { pages: [], table: 0 };
  for (let i = 0; i < HPAGE_PMD_NR; i++) {
    // not zeroed: every word is copied over
    const pfn = allocFrame(cpu.v, cpu.id, FrameKind.Anon, mm, hvpn + i, false);
    if (pfn === 0) {
      freeCollapseTarget(cpu, target);
      return null;
    }
    target.pages.push(pfn);
  }
  target.table = allocFrame(cpu.v, cpu.id, FrameKind.PageTable, mm, PTE_LEVEL, true);
  if (target.table === 0) {
    freeCollapseTarget(cpu, target);
    return null;
  }
  cpu.v.frameMeta[frameMetaIndex(target.table, META_TABLE_VPN)] = hvpn;
  return target;
}

function freeCollapseTarget(cpu: Cpu, target: CollapseTarget): void {
  for (const pfn of target.pages) putPage(cpu.v, cpu.id, pfn);
  if (target.table !== 0) freeFrame(cpu.v, cpu.id, target.table);
}

/**
 * pmdp_collapse_flush: unhooks the PTE table and flushes the range from every CPU running the mm,
 * freed_tables set as x86 flush_tlb_range sets it (lazy CPUs and paging-structure caches too).
 * Returns the old PMD.
 */
// models mm/pgtable-generic.c:pmdp_collapse_flush (x86 has no override of its own)
export function pmdpCollapseFlush(cpu: Cpu, mm: number, haddr: number, pmdp: number): number {
  // xchg, as pmdp_huge_get_and_clear: a walker's compareExchange setting A on the old entry fails
  // from here on, and its reload finds the PMD gone
  const pmd = ptepGetAndClear(cpu.v, pmdp);
  flushTlbMmRange(cpu, mm, haddr, haddr + PMD_SIZE, PAGE_SHIFT, true);
  return pmd;
}

/**
 * Undoes the isolation of the first `n` PTEs of `table`: unlocks their order-0 pages, and unlocks
 * and puts each large folio in `folios`.
 */
function unlockIsolated(cpu: Cpu, table: number, n: number, folios: readonly number[]): void {
  for (let i = 0; i < n; i++) {
    const pfn = ptePfn(ptepGet(cpu.v, entryWord(table, i)));
    if (!folioTestLarge(cpu.v, pfn)) folioUnlock(cpu, pfn);
  }
  releaseLargeFolios(cpu, folios);
}

/** The end of a large folio's isolation (the compound_pagelist's folio_unlock and putback): unlocked, isolation's reference dropped. */
function releaseLargeFolios(cpu: Cpu, folios: readonly number[]): void {
  for (const head of folios) {
    folioUnlock(cpu, head);
    putPage(cpu.v, cpu.id, head);
  }
}

/**
 * __collapse_huge_page_isolate, under the old table's PTL, after the sync IPI: every PTE present,
 * its page anonymous, mapped once, locked by us, and referenced by its mappings only. A large
 * folio (switch anonMthp; mainline since "mm/khugepaged: allow to collapse PTE-mapped compound
 * pages", v5.8) is locked and checked once, at its first page, its count against its map count
 * (one reference per PTE), and then held with a reference of the isolation's: its heads go to
 * `folios` (the compound_pagelist). On failure nothing stays locked or held.
 */
function collapseHugePageIsolate(cpu: Cpu, table: number, folios: number[]): ScanResult {
  const v = cpu.v;
  for (let i = 0; i < HPAGE_PMD_NR; i++) {
    const pte = ptepGet(v, entryWord(table, i));
    const pfn = ptePfn(pte);
    let result: ScanResult = 'SCAN_SUCCEED';
    if (pteNone(pte)) result = 'SCAN_EXCEED_NONE_PTE';
    else if (!ptePresent(pte)) result = 'SCAN_PTE_NON_PRESENT';
    else if (!pageIsAnon(v, pfn) || pageMapcount(v, pfn) !== 1) result = 'SCAN_EXCEED_SHARED_PTE';
    // a large folio met at an earlier page: dealt with already
    else if (folioTestLarge(v, pfn) && folios.includes(folioHead(v, pfn))) continue;
    else if (!folioTrylock(v, pfn)) result = 'SCAN_PAGE_LOCK';
    else if (pageRefCount(v, pfn) !== folioMapcount(v, pfn)) {
      // is_refcount_suitable: a pin taken by a GUP-fast walker that finished before the flush
      // IPI shows here; the page may be under DMA and must not be copied away
      folioUnlock(cpu, pfn);
      result = 'SCAN_PAGE_COUNT';
    } else if (folioTestLarge(v, pfn)) {
      getPage(v, pfn);
      folios.push(folioHead(v, pfn));
    }
    if (result !== 'SCAN_SUCCEED') {
      unlockIsolated(cpu, table, i, folios);
      return result;
    }
  }
  return 'SCAN_SUCCEED';
}

/**
 * __collapse_huge_page_copy and __collapse_huge_page_copy_succeeded: copies every page into its
 * new frame, then under the old table's PTL clears each old PTE, removes its rmap, unlocks the
 * page and puts it (freeing it: isolation saw no other reference). The pages of a large folio
 * are put one by one; the folio is unlocked and its isolation reference dropped after the last,
 * which frees it whole.
 */
function collapseHugePageCopy(cpu: Cpu, oldTable: number, target: number[], folios: readonly number[]): void {
  const v = cpu.v;
  for (let i = 0; i < HPAGE_PMD_NR; i++) {
    const src = ptePfn(ptepGet(v, entryWord(oldTable, i)));
    // no CPU can reach the old page any more (unhooked, flushed, synced, unpinned): a plain copy
    // reads its final contents
    copyHighpage(v, target[i], src);
  }
  const first = entryWord(oldTable, 0);
  pteLock(cpu, first);
  for (let i = 0; i < HPAGE_PMD_NR; i++) {
    const pfn = ptePfn(ptepGetAndClear(v, entryWord(oldTable, i)));
    pageRemoveRmap(v, pfn);
    // a large folio stays locked, and held by the isolation, until all its pages are done
    if (!folioTestLarge(v, pfn)) folioUnlock(cpu, pfn);
    putPage(v, cpu.id, pfn);
  }
  pteUnlock(cpu, first);
  releaseLargeFolios(cpu, folios);
}

/**
 * collapse_huge_page from the VMA revalidation on; the caller holds the mmap_lock for writing,
 * which keeps munmap, madvise and faults under the mmap_lock out of the range throughout, and
 * write-locks the VMA, which keeps out the faults under its VMA lock.
 */
function collapseHugePageLocked(cpu: Cpu, mm: number, haddr: number, target: CollapseTarget): ScanResult {
  const v = cpu.v;
  if (!rwsemIsWriteLocked(v.mm, mmBase(mm) + MM_MMAP_LOCK)) throw new Error(`collapse of mm ${mm} without its mmap_lock held for writing`);
  const hvpn = vpnOf(haddr);
  // hugepage_vma_revalidate
  const vma = findVma(v, mm, hvpn);
  if (vma < 0 || !vmaIsAnon(v, vma) || vmaEnd(v, vma) < hvpn + HPAGE_PMD_NR) return 'SCAN_VMA_CHECK';
  // vma_start_write: faults under the VMA lock alone (switch perVmaLock) are out of the range
  // from here, as the mmap_lock keeps the others out
  vmaStartWrite(cpu, mm, vma);
  // find_pmd_or_thp_or_none
  const path = new Int32Array(PGD_LEVEL + 1);
  tablesOnPathNoSideEffects(v, mmPgd(v, mm), haddr, path);
  if (path[PMD_LEVEL] === 0) return 'SCAN_PMD_NULL';
  const pmdp = entryWord(path[PMD_LEVEL], tableIndex(hvpn, PMD_LEVEL));
  const cur = ptepGet(v, pmdp);
  if (!ptePresent(cur)) return 'SCAN_PMD_NULL';
  if (pmdLeaf(cur)) return 'SCAN_PMD_MAPPED';
  // A range collapsed before: its table stands for a huge PMD, which mainline would split before
  // collapsing the range again, withdrawing the deposited table (pgtable_trans_huge_withdraw) to
  // map the pages. Here the table that maps them is in place already: the deposit goes.
  zapDepositedTable(cpu, ptePfn(cur));

  // anon_vma_lock_write (the fork family's root lock, which every anon rmap walk of the mm's pages
  // takes): no rmap walk (reclaim, migration) is in the table from here
  const anonVmaRoot = mmAnonVmaRoot(v, mm);
  anonVmaLockWrite(cpu, anonVmaRoot);
  // pmd_lock: with split PMD locks, the lock of the PMD table, which ptl.ts keys by the table an
  // entry lives in
  pteLock(cpu, pmdp);
  const pmd = pmdpCollapseFlush(cpu, mm, haddr, pmdp);
  pteUnlock(cpu, pmdp);
  // After the flush no CPU running the mm is still walking the old table with IRQs off; after
  // this, no CPU at all (unless switch syncIpi leaves it out).
  tlbRemoveTableSyncOne(cpu);

  const oldTable = ptePfn(pmd);
  const first = entryWord(oldTable, 0);
  pteLock(cpu, first);
  const folios: number[] = [];
  const result = collapseHugePageIsolate(cpu, oldTable, folios);
  pteUnlock(cpu, first);
  if (result !== 'SCAN_SUCCEED') {
    // pmd_populate: the old table goes back as it was; faults waiting on the mmap_lock find it
    pteLock(cpu, pmdp);
    setPte(v, pmdp, pmd);
    pteUnlock(cpu, pmdp);
    anonVmaUnlockWrite(cpu, anonVmaRoot);
    return result;
  }
  // every page is locked: an rmap walk that finds none of them mapped leaves them alone
  anonVmaUnlockWrite(cpu, anonVmaRoot);

  collapseHugePageCopy(cpu, oldTable, target.pages, folios);
  // The new table stands for the huge PMD: what maybe_pmd_mkwrite(pmd_mkdirty(folio_mk_pmd()))
  // gives that PMD (vm_page_prot, young), each of its PTEs gets. No walker reaches it before
  // set_pmd_at.
  let prot = pteMkdirty(pteMkyoung(PAGE_READONLY));
  if ((vmaFlags(v, vma) & VM_WRITE) !== 0) prot = pteMkwrite(prot);
  for (let i = 0; i < HPAGE_PMD_NR; i++) {
    pageAddRmap(v, target.pages[i]);
    setPte(v, entryWord(target.table, i), pfnPte(target.pages[i], prot));
  }
  pteLock(cpu, pmdp);
  // pgtable_trans_huge_deposit: the old table, empty now, is kept with the huge PMD for a later
  // split, and freed when the PMD is zapped (zap.ts zapDepositedTable)
  v.frameMeta[frameMetaIndex(target.table, META_DEPOSIT)] = oldTable;
  // set_pmd_at: publishes the copies and their PTEs to any walker that reads the new PMD
  setPte(v, pmdp, pmdTableEntry(target.table));
  pteUnlock(cpu, pmdp);
  return 'SCAN_SUCCEED';
}

/**
 * collapse_huge_page for the 2 MiB-aligned range at `addr` of `mm`: on SCAN_SUCCEED the range maps
 * fresh copies of its pages and the old pages are freed; on any other result the range is as it
 * was. Runs on `cpu` as khugepaged (any loaded mm) or as MADV_COLLAPSE (`mm` loaded).
 */
// models mm/khugepaged.c:collapse_huge_page
export function collapseHugePage(cpu: Cpu, mm: number, addr: number): ScanResult {
  traceKernelEnter(cpu, KPath.KhugepagedCollapse, mm, traceVpn(addr));
  const result = rawCollapseHugePage(cpu, mm, addr);
  traceKernelExit(cpu, KPath.KhugepagedCollapse, result === 'SCAN_SUCCEED' ? 1 : 0);
  return result;
}

/** collapseHugePage's body, untraced. */
function rawCollapseHugePage(cpu: Cpu, mm: number, addr: number): ScanResult {
  if (!Number.isInteger(addr) || addr < 0 || addr % PMD_SIZE !== 0 || addr + PMD_SIZE > USER_VA_LIMIT) {
    throw new RangeError(`collapse address 0x${addr.toString(16)} is not a 2 MiB-aligned user address`);
  }
  cpu.setActivity(Activity.Kernel);
  try {
    const target = allocCollapseTarget(cpu, mm, vpnOf(addr));
    if (target === null) return 'SCAN_ALLOC_HUGE_PAGE_FAIL';
    let result: ScanResult;
    mmapWriteLock(cpu, mm);
    try {
      result = collapseHugePageLocked(cpu, mm, addr, target);
    } finally {
      mmapWriteUnlock(cpu, mm);
    }
    if (result !== 'SCAN_SUCCEED') freeCollapseTarget(cpu, target);
    return result;
  } finally {
    cpu.setActivity(Activity.User);
  }
}
