/*
 * NUMA hinting and page migration (mm/mempolicy.c:change_prot_numa, kernel/sched/fair.c:
 * task_numa_work, mm/memory.c:do_numa_page, mm/migrate.c; arch/x86 pte_protnone, pte_accessible).
 *
 * The rule: a page is copied to its new frame only when no CPU can still write the old frame
 * through its TLB. The unmap before the copy (ptep_clear_flush) flushes whenever pte_accessible()
 * says a TLB may hold the translation: when the PTE is present, and also when it is PROT_NONE
 * while a deferred flush of the mm is pending, because the PTE that change_prot_numa (or mprotect)
 * made PROT_NONE stays cached on other CPUs until that flush:
 *
 *   CPU A (change_prot_numa)       CPU B (hinting fault)              CPU C
 *                                                                      TLB: X writable, dirty
 *   inc_tlb_flush_pending
 *   X = PROT_NONE, flush deferred
 *                                  load X faults: do_numa_page
 *                                  ptep_get_and_clear(X)
 *                                  pte_accessible: PROT_NONE and
 *                                    flush pending -> flush X  ------>  (C's entry for X goes)
 *                                  copy X to X', map X', free X
 *                                                                      store X faults, finds X'
 *   flush, dec_tlb_flush_pending
 *
 * Without the pending check (switch pteAccessibleChecksPending=off, the bug that mainline
 * 20841405940e fixed) B does not flush, and C's store lands in X after the copy: the write is
 * lost, into a frame already freed.
 *
 * The PROT_NONE entry is the codec's (pte_protnone, machine/pte.ts: x86 _PAGE_PROTNONE, arm64
 * PTE_PRESENT_INVALID): the walker sees a non-present entry and never caches it, while the
 * kernel still counts it as a mapping.
 *
 * API:
 *   pteAccessible
 *   changeProtNuma(cpu, mm, addr, len)   anonymous present PTEs of the range become PROT_NONE,
 *                                        through mprotect.ts's change_protection (deferred flush)
 *   numaScan(cpu, mm, { filterByPid })   task_numa_work: changeProtNuma over the mm's VMAs
 *   doNumaPage                           the hinting fault (fault.ts calls it, PTL held)
 *   migratePage(cpu, mm, va)             move one anonymous page to a new frame
 *
 * PID bits (seed 003, NUMA scanning filtered by the PIDs that touched a VMA): each hinting fault
 * sets bit (cpu.id % 32) of the VMA's VMA_NUMAB_PIDS; a filtered scan skips VMAs without the
 * scanning CPU's bit. As in the kernel, the first two scans of an mm look at every VMA (switch
 * numaPidFilter=on; off scans every VMA always); the kernel also resets the bits periodically,
 * here they only accumulate. A caller may force the filter either way (filterByPid).
 *
 * Migration policy (deliberately simple, not mpol_misplaced): a hinting fault migrates the page
 * when the VMA's PID bits already name another CPU, pulling memory another CPU faulted on toward
 * the CPU faulting now. The first CPU to take a hinting fault in a VMA never migrates there.
 */
import type { Cpu } from '../cpu/cpu.ts';
import type { MachineViews } from '../machine/memory.ts';
import { allocFrame, frameMetaIndex, freeFrame } from '../machine/frames.ts';
import { FrameKind, META_FLAGS, PAGE_SIZE } from '../machine/phys-layout.ts';
import { vpnOf } from '../machine/pagetable.ts';
import { ptepGet, ptepGetAndClear, setPte } from '../arch/pgtable.ts';
import { pfnPte, pteMkyoung, ptePfn, ptePgprot, ptePresent, pteProtnone } from '../machine/pte.ts';
import { flushTlbMmRange } from '../arch/tlbflush.ts';
import { Activity } from '../cpu/percpu-layout.ts';
import { mmBase, mmPgd, mmTlbFlushPending, mmapReadLock, mmapReadUnlock } from './mm.ts';
import { MM_NUMA_SCAN_SEQ } from './mm-layout.ts';
import { Counter } from '../trace/counters.ts';
import { VMA_NUMAB_PIDS, VM_EXEC, VM_READ, VM_WRITE } from './vma-layout.ts';
import { allVmas, findVma, vmaEnd, vmaFlags, vmaIsAnon, vmaStart, vmasIn, type Vma } from './vma.ts';
import {
  copyHighpage, folioAlloc, folioHead, folioMapcount, folioNrPages, folioRefAdd, folioRefFreeze, folioTestLarge, freeFrozenFolio, pageAddRmap,
  pageIndex, pageIsAnon, pageMapcount, pageRemoveRmap, putPage,
} from './page.ts';
import { pteOffsetMapLock, pteUnlock } from './ptl.ts';
import { MM_CP_PROT_NUMA, changeProtection, protectionBatchFinish, protectionBatchStart, pteModifyForVma, vmGetPageProt } from './mprotect.ts';
import { KPath, traceKernelEnter, traceKernelExit } from '../trace/events.ts';

/**
 * x86 pte_accessible: may some TLB still translate through `pte`? A present PTE, yes; a PROT_NONE
 * one while a deferred flush of `mm` is pending (switch pteAccessibleChecksPending), since the
 * change to PROT_NONE may not have been flushed yet.
 */
export function pteAccessible(cpu: Cpu, mm: number, pte: number): boolean {
  if (ptePresent(pte)) return true;
  return cpu.config.pteAccessibleChecksPending === 'on' && pteProtnone(pte) && mmTlbFlushPending(cpu.v, mm);
}

/** models mm/pgtable-generic.c:ptep_clear_flush: clear, and flush_tlb_page if a TLB may hold it. */
export function ptepClearFlush(cpu: Cpu, mm: number, va: number, ptep: number): number {
  const pte = ptepGetAndClear(cpu, mm, va, ptep);
  if (pteAccessible(cpu, mm, pte)) flushTlbMmRange(cpu, mm, va, va + PAGE_SIZE);
  return pte;
}

const pidBit = (cpu: Cpu): number => 1 << (cpu.id % 32);

/** vma_set_access_pid_bit: returns the bits as they were before. */
function vmaSetAccessPidBit(cpu: Cpu, vma: Vma): number {
  // hinting faults on other CPUs set their bits in the same word, under the mmap_lock held for reading
  return Atomics.or(cpu.v.vmas, vma + VMA_NUMAB_PIDS, pidBit(cpu));
}

/** vma_is_accessed: has this CPU taken a hinting fault in the VMA? */
function vmaIsAccessed(cpu: Cpu, vma: Vma): boolean {
  return (Atomics.load(cpu.v.vmas, vma + VMA_NUMAB_PIDS) & pidBit(cpu)) !== 0;
}

/** What task_numa_work scans here: anonymous VMAs that allow some access (vma_is_accessible). */
function vmaNumaScannable(v: MachineViews, vma: Vma): boolean {
  return vmaIsAnon(v, vma) && (vmaFlags(v, vma) & (VM_READ | VM_WRITE | VM_EXEC)) !== 0;
}

/** change_prot_numa for [start, end) (bytes) of one VMA; the caller holds the mmap_lock for reading. */
function changeProtNumaVma(cpu: Cpu, mm: number, vma: Vma, start: number, end: number): number {
  const batch = protectionBatchStart(cpu, mm, start, end);
  const pages = changeProtection(cpu, batch, vma, start, end, vmGetPageProt(0), MM_CP_PROT_NUMA);
  protectionBatchFinish(cpu, batch);
  cpu.count(Counter.NumaPteUpdates, pages);
  return pages;
}

/**
 * change_prot_numa over [addr, addr + len) of `mm`: every present PTE of an anonymous, accessible
 * VMA becomes PROT_NONE, so that the next access takes a hinting fault. Takes the mmap_lock for
 * reading. Returns how many PTEs changed.
 */
export function changeProtNuma(cpu: Cpu, mm: number, addr: number, len: number): number {
  const v = cpu.v;
  const end = addr + Math.ceil(len / PAGE_SIZE) * PAGE_SIZE;
  cpu.setActivity(Activity.Kernel);
  mmapReadLock(cpu, mm);
  try {
    let pages = 0;
    for (const vma of vmasIn(v, mm, vpnOf(addr), end / PAGE_SIZE)) {
      if (!vmaNumaScannable(v, vma)) continue;
      pages += changeProtNumaVma(cpu, mm, vma, Math.max(addr, vmaStart(v, vma) * PAGE_SIZE), Math.min(end, vmaEnd(v, vma) * PAGE_SIZE));
    }
    return pages;
  } finally {
    mmapReadUnlock(cpu, mm);
    cpu.setActivity(Activity.User);
  }
}

export interface NumaScanOptions {
  /** skip VMAs in which this CPU never took a hinting fault; by default switch numaPidFilter decides */
  filterByPid?: boolean;
}

/** The first scans of an mm look at every VMA: no PID bits are set yet (vma_is_accessed). */
const NUMA_SCANS_UNFILTERED = 2;

/**
 * task_numa_work, one pass over the whole mm: changeProtNuma on each scannable VMA, skipping
 * those without this CPU's PID bit when filtering: with switch numaPidFilter=on after the mm's
 * first NUMA_SCANS_UNFILTERED scans, or as `opts` says. Returns how many PTEs changed.
 */
export function numaScan(cpu: Cpu, mm: number, opts: NumaScanOptions = {}): number {
  traceKernelEnter(cpu, KPath.NumaScan, mm);
  return traceKernelExit(cpu, KPath.NumaScan, rawNumaScan(cpu, mm, opts));
}

/** numaScan's body, untraced. */
function rawNumaScan(cpu: Cpu, mm: number, opts: NumaScanOptions): number {
  const v = cpu.v;
  const seq = Atomics.add(v.mm, mmBase(mm) + MM_NUMA_SCAN_SEQ, 1);
  const filter = opts.filterByPid ?? (cpu.config.numaPidFilter === 'on' && seq >= NUMA_SCANS_UNFILTERED);
  cpu.setActivity(Activity.Kernel);
  mmapReadLock(cpu, mm);
  try {
    let pages = 0;
    for (const vma of allVmas(v, mm)) {
      if (!vmaNumaScannable(v, vma)) continue;
      if (filter && !vmaIsAccessed(cpu, vma)) continue;
      pages += changeProtNumaVma(cpu, mm, vma, vmaStart(v, vma) * PAGE_SIZE, vmaEnd(v, vma) * PAGE_SIZE);
    }
    return pages;
  } finally {
    mmapReadUnlock(cpu, mm);
    cpu.setActivity(Activity.User);
  }
}

/** do_numa_page's PTE: the VMA's protection back, young, writable if it may be without a fault. */
function numaRestoredPte(v: MachineViews, vma: Vma, pte: number): number {
  const flags = vmaFlags(v, vma);
  return pteMkyoung(pteModifyForVma(v, vma, pte, vmGetPageProt(flags), (flags & VM_WRITE) !== 0));
}

/**
 * models mm/migrate.c:migrate_pages for the one anonymous page that the locked PTE at `ptep`
 * maps: unmap it (try_to_migrate_one: ptep_clear_flush), freeze its reference count, copy
 * contents and flags to a new frame (move_to_new_folio), map the new frame
 * (remove_migration_pte), free the old one. The PTE table stays locked throughout, where the
 * kernel installs a migration entry and drops the lock: a CPU that faults on the page meanwhile
 * waits on the PTL instead of in migration_entry_wait. Returns false, with the PTE as it was, when
 * the page cannot move now: the PTE maps nothing, the page is not anonymous and mapped once,
 * someone else holds a reference (a GUP pin comes with one), or no frame is free. A page of a
 * large folio (switch anonMthp) moves with its whole folio (migrateFolioLocked).
 */
function migratePteLocked(cpu: Cpu, mm: number, vma: Vma, va: number, ptep: number): boolean {
  const v = cpu.v;
  const pte = ptepGet(cpu, ptep);
  if (!ptePresent(pte) && !pteProtnone(pte)) return false;
  const oldPfn = ptePfn(pte);
  if (!pageIsAnon(v, oldPfn) || pageMapcount(v, oldPfn) !== 1) return false;
  if (folioTestLarge(v, oldPfn)) return migrateFolioLocked(cpu, mm, vma, va, ptep, oldPfn);
  const newPfn = allocFrame(v, cpu.id, FrameKind.Anon, mm, pageIndex(v, oldPfn), false);
  if (newPfn === 0) return false;
  const old = ptepClearFlush(cpu, mm, va, ptep);
  // folio_ref_freeze(1): the mapping's reference only. A GUP-fast that took one first keeps the
  // page here; one that tries after finds the count zero, or the PTE changed, and backs off
  if (!folioRefFreeze(v, oldPfn, 1)) {
    setPte(cpu, ptep, old);
    putPage(v, cpu.id, newPfn);
    return false;
  }
  // the new PTE keeps the old one's A and D as the exchange returned them; a hinting fault also
  // restores the VMA's protection (decided while the old page is still mapped once)
  const mapped = pteProtnone(old) ? numaRestoredPte(v, vma, old) : old;
  pageRemoveRmap(v, oldPfn);
  // the copy is the page's last word only if no TLB can still write the old frame: the flush
  // above saw to that whenever pte_accessible said one might
  copyHighpage(v, newPfn, oldPfn);
  // folio_migrate_flags
  Atomics.store(v.frameMeta, frameMetaIndex(newPfn, META_FLAGS), Atomics.load(v.frameMeta, frameMetaIndex(oldPfn, META_FLAGS)));
  pageAddRmap(v, newPfn);
  const newPte = pfnPte(newPfn, ptePgprot(mapped));
  // publishes the copy: a walker that reads the new PTE reads the frame's contents after it
  setPte(cpu, ptep, newPte);
  // the count is frozen at zero: nobody else can hold the old frame, it goes straight back
  freeFrame(v, cpu.id, oldPfn);
  return true;
}

/**
 * migrate_pages for the large folio (switch anonMthp) whose page `oldPfn` the locked PTE at `ptep`
 * maps, as migratePteLocked moves one page: every PTE of the folio cleared and the folio's range
 * flushed once (try_to_migrate over the folio), its count frozen at one reference per PTE, each
 * page's contents and flags copied into a new folio of the same size, each PTE set again to its
 * new page with its own A/D bits (remove_migration_ptes), the old folio freed whole. Only a folio
 * mapped whole by this PTE table, at an address aligned to its size, and by nothing else moves;
 * mainline would split any other first and give up when it cannot: here it gives up at once.
 * Returns false with every PTE as it was when the folio cannot move now.
 */
function migrateFolioLocked(cpu: Cpu, mm: number, vma: Vma, va: number, ptep: number, oldPfn: number): boolean {
  const v = cpu.v;
  const head = folioHead(v, oldPfn);
  const nr = folioNrPages(v, head);
  const start = va - (oldPfn - head) * PAGE_SIZE;
  // aligned to the folio's size, its PTEs are in the locked table
  if (start % (nr * PAGE_SIZE) !== 0 || folioMapcount(v, head) !== nr) return false;
  const first = ptep - (oldPfn - head);
  for (let i = 0; i < nr; i++) {
    const pte = ptepGet(cpu, first + i);
    if ((!ptePresent(pte) && !pteProtnone(pte)) || ptePfn(pte) !== head + i) return false;
  }
  const newHead = folioAlloc(v, cpu.id, nr, FrameKind.Anon, mm, pageIndex(v, head), false);
  if (newHead === 0) return false;
  const old: number[] = [];
  let accessible = false;
  for (let i = 0; i < nr; i++) {
    old.push(ptepGetAndClear(cpu, mm, start + i * PAGE_SIZE, first + i));
    accessible ||= pteAccessible(cpu, mm, old[i]);
  }
  if (accessible) flushTlbMmRange(cpu, mm, start, start + nr * PAGE_SIZE);
  // folio_ref_freeze(nr): the mappings' references only; a GUP-fast pin keeps the folio here
  if (!folioRefFreeze(v, head, nr)) {
    for (let i = 0; i < nr; i++) setPte(cpu, first + i, old[i]);
    putPage(v, cpu.id, newHead);
    return false;
  }
  for (let i = 0; i < nr; i++) {
    pageRemoveRmap(v, head + i);
    // no TLB can write the old frames any more: the flush above saw to that
    copyHighpage(v, newHead + i, head + i);
    // folio_migrate_flags: the folio's on the head, PageAnonExclusive on each page
    Atomics.store(v.frameMeta, frameMetaIndex(newHead + i, META_FLAGS), Atomics.load(v.frameMeta, frameMetaIndex(head + i, META_FLAGS)));
  }
  folioRefAdd(v, newHead, nr - 1);
  for (let i = 0; i < nr; i++) {
    pageAddRmap(v, newHead + i);
    const mapped = pteProtnone(old[i]) ? numaRestoredPte(v, vma, old[i]) : old[i];
    // publishes the copy: a walker that reads the new PTE reads the frame's contents after it
    setPte(cpu, first + i, pfnPte(newHead + i, ptePgprot(mapped)));
  }
  // the count is frozen at zero: nobody else can hold the old folio
  freeFrozenFolio(v, cpu.id, head);
  return true;
}

/**
 * models mm/memory.c:do_numa_page. handleMmFault calls it with the mmap_lock held for reading and
 * the PTE table locked, for a PROT_NONE PTE in a VMA that allows the access. Records this CPU's
 * PID bit in the VMA, migrates the page when the policy above wants it, and otherwise restores
 * the PTE to the VMA's protection. Returns true: the access retries.
 */
export function doNumaPage(cpu: Cpu, mm: number, vma: Vma, va: number, ptep: number): boolean {
  const v = cpu.v;
  const page = Math.floor(va / PAGE_SIZE) * PAGE_SIZE;
  cpu.count(Counter.NumaHintFaults);
  const others = vmaSetAccessPidBit(cpu, vma) & ~pidBit(cpu);
  if (others !== 0 && migratePteLocked(cpu, mm, vma, page, ptep)) return true;
  // out_map: ptep_modify_prot_start / ptep_modify_prot_commit; a non-present PTE needs no flush
  const old = ptepGetAndClear(cpu, mm, page, ptep);
  const pte = numaRestoredPte(v, vma, old);
  setPte(cpu, ptep, pte);
  return true;
}

/**
 * Moves the anonymous page at `va` of `mm` to a new frame, as move_pages(2) or NUMA balancing
 * would. Takes the mmap_lock for reading and the PTE table's lock. Returns whether it moved (see
 * migratePteLocked for when it cannot). Other CPUs may read and write the page throughout.
 */
export function migratePage(cpu: Cpu, mm: number, va: number): boolean {
  const v = cpu.v;
  const page = Math.floor(va / PAGE_SIZE) * PAGE_SIZE;
  cpu.setActivity(Activity.Kernel);
  mmapReadLock(cpu, mm);
  try {
    const vma = findVma(v, mm, vpnOf(page));
    if (vma < 0 || !vmaIsAnon(v, vma)) return false;
    const ptep = pteOffsetMapLock(cpu, mmPgd(v, mm), page);
    if (ptep < 0) return false;
    try {
      return migratePteLocked(cpu, mm, vma, page, ptep);
    } finally {
      pteUnlock(cpu, ptep);
    }
  } finally {
    mmapReadUnlock(cpu, mm);
    cpu.setActivity(Activity.User);
  }
}
