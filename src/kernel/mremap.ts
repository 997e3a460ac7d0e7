/*
 * mremap (mm/mremap.c: the mremap system call, mremap_to, vma_to_resize, move_vma,
 * move_page_tables, move_normal_pmd, move_ptes; mm/vma.c: copy_vma).
 *
 * The rule: mremap moves pages from one page-table place to another without a free list of its
 * own, so no mmu_gather delays anyone's free until after its flush. A moved page stays alive only
 * as long as someone holds a reference: at the new place, that is the new PTE, which truncate or
 * reclaim can take away the moment they find it through the rmap (under the new PTE's PTL), zap,
 * flush at the new address only, and free. So the old address's TLB entries must be flushed
 * before the PTL that guards the new PTE is dropped (eb66ae030829, CVE-2018-18281):
 *
 *   CPU A (mremap, move_ptes)        CPU B (truncate)                  CPU C
 *                                                                      TLB: old -> P (clean)
 *   lock old PTL, new PTL
 *   old PTE -> new PTE
 *   [under-ptl: flush old range]
 *   unlock both PTLs, rmap locks
 *                                    rmap finds P at new, takes PTL,
 *                                    clears it, flushes new only,
 *                                    frees P
 *                                                                      load old: TLB hit on a
 *                                                                      freed frame
 *   [after-unlock: flush old range]
 *
 * Which flush moves where is switch mremapFlush: under-ptl (mainline) flushes the old range under
 * both PTLs whenever a present PTE moved; after-unlock is the code before eb66ae030829, which
 * flushed under the PTL only for a dirty PTE (5d1904204c99, so that writeback's folio_mkclean
 * cannot miss a dirty TLB entry) and left clean ones to one flush after the whole loop. On x86 a
 * clean TLB entry cannot write (a store through it re-walks to set D and faults on the cleared
 * PTE), so what CPU C can still do there is read the freed frame, which the use-after-free oracle
 * sees on the TLB hit (check/oracle.ts).
 *
 * The rmap locks (take_rmap_locks: the file's i_mmap_rwsem, the anon_vma lock) are held for
 * writing across each move_ptes and each PMD move, so an rmap walk sees every page either at its
 * old place or at its new one, never in neither. (Mainline skips them for move_ptes when the new
 * VMA is known to come later in the rmap's order; here they are always taken.)
 *
 * The system call, with the mmap_lock held for writing throughout:
 *   shrink in place          munmap the tail (do_vmi_munmap)
 *   expand in place          when the VMA ends at the range's end and nothing follows it
 *   move (MREMAP_MAYMOVE, or MREMAP_FIXED to a given place, first unmapped): move_vma
 *     vma_start_write        the VMA moved is write-locked (vma-lock.ts): a fault that holds its
 *                            per-VMA lock alone (no mmap_lock) is out of it before a PTE moves
 *     copy_vma               a new VMA at the new place, with the same vm_pgoff for each page:
 *                            a file page keeps its index, an anonymous page the linear index its
 *                            rmap knows it by (mmap.ts gives an anonymous VMA its first VPN)
 *     move_page_tables       per PMD-sized extent: when the extent is a whole PMD at both ends,
 *                            move the PTE table itself (move_normal_pmd: both PMD locks, the old
 *                            PMD cleared, the new one populated, the old range flushed under the
 *                            locks); otherwise move_ptes under the old PTL and the new one nested
 *     do_vmi_munmap          the old range: no PTE is left there, its page tables go
 * When mremap returns, no CPU translates an address of the old range (the promise oracle holds
 * every CPU to that, check/promises.ts).
 *
 * Not modelled: MREMAP_DONTUNMAP, old_len 0 (duplicating a shared mapping), VMA merging, huge
 * PMDs (no path here maps one), the PUD-level move, userfaultfd, soft-dirty, accounting.
 */
import type { Cpu } from '../cpu/cpu.ts';
import { Activity } from '../cpu/percpu-layout.ts';
import { frameMetaIndex } from '../machine/frames.ts';
import { META_TABLE_VPN, PAGE_SIZE } from '../machine/phys-layout.ts';
import {
  PMD_LEVEL, PMD_SIZE, PTE_LEVEL, USER_VA_LIMIT, entryOffset, pmdAddrEnd, pmdAlloc, pteAlloc, tracePteChange, vpnOf,
} from '../machine/pagetable.ts';
import { pmdLeaf, pteDirty, pteMapsPage, ptePfn, ptePresent } from '../machine/pte.ts';
import { flushTlbMmRange } from '../arch/tlbflush.ts';
import { schedPoint } from '../schedule/baton.ts';
import { Point } from '../schedule/layout.ts';
import { PromiseKind, makePromise, promiseStart } from '../check/promises.ts';
import { Counter } from '../trace/counters.ts';
import { KPath, PteOp, traceKernelEnter, traceKernelExit, tracePages, traceVpn } from '../trace/events.ts';
import { mmPgd, mmapWriteLock, mmapWriteUnlock } from './mm.ts';
import { MMAP_BASE, doVmiMunmap, isUserPageAddr } from './mmap.ts';
import { VMA_END } from './vma-layout.ts';
import { findVma, getUnmappedArea, vmaEnd, vmaFile, vmaFlags, vmaInsert, vmaPgoff, vmaStart, vmasIn, type Vma } from './vma.ts';
import { dropRmapLocks, takeRmapLocks } from './rmap.ts';
import { vmaStartWrite } from './vma-lock.ts';
import { pteLock, pteLockptr, pteUnlock } from './ptl.ts';
import { flushTlbBatchedPending } from './tlb-batch.ts';
import { ptepGet, ptepGetAndClear, setPte } from '../arch/pgtable.ts';
import { KernelPoint } from './points.ts';

/** mremap's flags (include/uapi/linux/mman.h) */
export const MREMAP_MAYMOVE = 1;
export const MREMAP_FIXED = 2;

const ENOMEM = -12;
const EFAULT = -14;
const EINVAL = -22;

/**
 * mremap(oldAddr, oldLen, newLen, flags, newAddr): returns the mapping's address after the call,
 * or a negative errno: -EINVAL (-22) for bad flags, addresses or lengths, -EFAULT (-14) when
 * [oldAddr, oldAddr + oldLen) is not inside one VMA, -ENOMEM (-12) when the mapping cannot grow
 * in place and may not move, or memory is out. `newAddr` counts only with MREMAP_FIXED. Entry
 * and return are traced.
 */
export function sysMremap(cpu: Cpu, mm: number, oldAddr: number, oldLen: number, newLen: number, flags: number, newAddr = 0): number {
  traceKernelEnter(cpu, KPath.Mremap, mm, traceVpn(oldAddr), tracePages(oldLen), tracePages(newLen));
  const ret = rawSysMremap(cpu, mm, oldAddr, oldLen, newLen, flags, newAddr);
  traceKernelExit(cpu, KPath.Mremap, ret < 0 ? ret : traceVpn(ret));
  return ret;
}

const pageAlign = (len: number): number => Math.ceil(len / PAGE_SIZE) * PAGE_SIZE;

function rawSysMremap(cpu: Cpu, mm: number, addr: number, oldLenIn: number, newLenIn: number, flags: number, newAddr: number): number {
  if ((flags & ~(MREMAP_MAYMOVE | MREMAP_FIXED)) !== 0) return EINVAL;
  if ((flags & MREMAP_FIXED) !== 0 && (flags & MREMAP_MAYMOVE) === 0) return EINVAL;
  if (!isUserPageAddr(addr) || !Number.isInteger(oldLenIn) || !Number.isInteger(newLenIn) || oldLenIn <= 0 || newLenIn <= 0) return EINVAL;
  const oldLen = pageAlign(oldLenIn);
  const newLen = pageAlign(newLenIn);
  if (addr + oldLen > USER_VA_LIMIT) return EINVAL;
  if ((flags & MREMAP_FIXED) !== 0) {
    if (!isUserPageAddr(newAddr) || newAddr + newLen > USER_VA_LIMIT) return EINVAL;
    // the ranges may not overlap
    if (addr + oldLen > newAddr && newAddr + newLen > addr) return EINVAL;
  }
  const v = cpu.v;
  cpu.setActivity(Activity.Kernel);
  cpu.passPoint(KernelPoint.MremapEnter);
  const since = promiseStart(v);
  mmapWriteLock(cpu, mm);
  try {
    if ((flags & MREMAP_FIXED) !== 0) return mremapTo(cpu, mm, addr, oldLen, newLen, newAddr, since);
    // shrinking always stays in place: munmap the tail
    if (oldLen >= newLen) {
      if (oldLen > newLen) unmapPromised(cpu, mm, addr + newLen, addr + oldLen, since);
      return addr;
    }
    const vma = vmaToResize(cpu, mm, addr, oldLen);
    if (vma < 0) return vma;
    if (vmaExpandable(cpu, mm, vma, addr + oldLen, addr + newLen)) {
      // vma_expand: the VMA grows over free space (write-locked: no fault under its lock alone
      // sees it change); its new pages fault in later
      vmaStartWrite(cpu, mm, vma);
      v.vmas[vma + VMA_END] = (addr + newLen) / PAGE_SIZE;
      return addr;
    }
    if ((flags & MREMAP_MAYMOVE) === 0) return ENOMEM;
    const to = getUnmappedArea(v, mm, MMAP_BASE / PAGE_SIZE, newLen / PAGE_SIZE);
    if (to < 0) return ENOMEM;
    return moveVma(cpu, mm, vma, addr, oldLen, newLen, to * PAGE_SIZE, since);
  } finally {
    mmapWriteUnlock(cpu, mm);
    cpu.passPoint(KernelPoint.MremapReturn);
    cpu.setActivity(Activity.User);
  }
}

/** do_vmi_munmap of [start, end) (bytes), the mmap_lock kept for writing, and its promise. */
function unmapPromised(cpu: Cpu, mm: number, start: number, end: number, since: number): void {
  const range = doVmiMunmap(cpu, mm, start / PAGE_SIZE, end / PAGE_SIZE, false);
  // what the caller may rely on once mremap returns: the oracle holds every CPU to it
  if (range !== null) makePromise(cpu.v, mm, range.start, range.end, PromiseKind.Unmapped, since);
}

/** vma_to_resize: the VMA holding all of [addr, addr + oldLen), or -EFAULT. */
function vmaToResize(cpu: Cpu, mm: number, addr: number, oldLen: number): Vma {
  const vma = findVma(cpu.v, mm, vpnOf(addr));
  if (vma < 0 || addr + oldLen > vmaEnd(cpu.v, vma) * PAGE_SIZE) return EFAULT;
  return vma;
}

/** vma_expandable: the range ends where `vma` does, and nothing is mapped in [end, newEnd). */
function vmaExpandable(cpu: Cpu, mm: number, vma: Vma, end: number, newEnd: number): boolean {
  if (end !== vmaEnd(cpu.v, vma) * PAGE_SIZE || newEnd > USER_VA_LIMIT) return false;
  return vmasIn(cpu.v, mm, end / PAGE_SIZE, newEnd / PAGE_SIZE).length === 0;
}

/**
 * mremap_to (MREMAP_FIXED): whatever is mapped at [newAddr, newAddr + newLen) goes first; a
 * shrinking move drops the old range's tail; then the move.
 */
function mremapTo(cpu: Cpu, mm: number, addr: number, oldLen: number, newLen: number, newAddr: number, since: number): number {
  unmapPromised(cpu, mm, newAddr, newAddr + newLen, since);
  if (oldLen > newLen) {
    unmapPromised(cpu, mm, addr + newLen, addr + oldLen, since);
    oldLen = newLen;
  }
  const vma = vmaToResize(cpu, mm, addr, oldLen);
  if (vma < 0) return vma;
  return moveVma(cpu, mm, vma, addr, oldLen, newLen, newAddr, since);
}

/**
 * move_vma: a new VMA at `newAddr` (copy_vma), the page tables of [oldAddr, oldAddr + oldLen)
 * moved under it, and the old range unmapped. Returns `newAddr`, or -ENOMEM with everything moved
 * back when a page table could not be allocated.
 */
function moveVma(cpu: Cpu, mm: number, vma: Vma, oldAddr: number, oldLen: number, newLen: number, newAddr: number, since: number): number {
  const v = cpu.v;
  const oldVpn = oldAddr / PAGE_SIZE;
  const newVpn = newAddr / PAGE_SIZE;
  // copy_vma write-locks the source: a fault under the VMA lock alone is out of it before any
  // PTE moves, and none gets in until mremap drops the mmap_lock (the new VMA is born write-locked)
  vmaStartWrite(cpu, mm, vma);
  let newVma: Vma;
  try {
    // copy_vma: each page keeps its linear index (file offset, or anonymous page index)
    newVma = vmaInsert(v, mm, { start: newVpn, end: newVpn + newLen / PAGE_SIZE, flags: vmaFlags(v, vma), file: vmaFile(v, vma), pgoff: vmaPgoff(v, vma) + (oldVpn - vmaStart(v, vma)) });
  } catch (err) {
    // the mm's VMA table is full: -ENOMEM, as when vm_area_alloc fails
    if (err instanceof RangeError) return ENOMEM;
    throw err;
  }
  const moved = movePageTables(cpu, mm, vma, oldAddr, newAddr, oldLen);
  if (moved < oldLen) {
    // on error, move the entries back and unmap the new VMA instead
    movePageTables(cpu, mm, newVma, newAddr, oldAddr, moved);
    doVmiMunmap(cpu, mm, newVpn, newVpn + newLen / PAGE_SIZE, false);
    return ENOMEM;
  }
  // unmap_source_vma: nothing is mapped there any more; its VMA and page tables go
  unmapPromised(cpu, mm, oldAddr, oldAddr + oldLen, since);
  return newAddr;
}

/**
 * move_page_tables: moves the entries of [oldAddr, oldAddr + len) of `vma` to `newAddr` (where
 * the new VMA already is), a PMD-sized extent at a time. Returns how many bytes it moved: less
 * than `len` when a page table could not be allocated.
 */
function movePageTables(cpu: Cpu, mm: number, vma: Vma, oldAddr: number, newAddr: number, len: number): number {
  const v = cpu.v;
  const pgd = mmPgd(v, mm);
  const start = oldAddr;
  const oldEnd = oldAddr + len;
  // after-unlock: some clean PTE moved without a flush under its PTL (need_flush)
  let needFlush = false;
  for (let extent = 0; oldAddr < oldEnd; oldAddr += extent, newAddr += extent) {
    // get_extent(NORMAL_PMD): up to the next PMD boundary of either side, within the range
    extent = Math.min(pmdAddrEnd(oldAddr, oldEnd) - oldAddr, pmdAddrEnd(newAddr, USER_VA_LIMIT) - newAddr);
    // get_old_pmd: nothing to move where no PTE table is
    const oldPmdp = entryOffset(v, pgd, oldAddr, PMD_LEVEL);
    if (oldPmdp < 0 || !ptePresent(Atomics.load(v.phys, oldPmdp))) continue;
    const newPmdp = pmdAlloc(v, cpu.id, pgd, newAddr, mm);
    if (newPmdp < 0) break;
    if (extent === PMD_SIZE && moveNormalPmd(cpu, mm, vma, oldPmdp, newPmdp, oldAddr, newAddr)) continue;
    if (pteAlloc(v, cpu.id, pgd, newAddr, mm) < 0) break;
    if (movePtes(cpu, mm, vma, oldAddr, oldAddr + extent, newAddr)) needFlush = true;
  }
  // the code before eb66ae030829: one flush for every clean PTE moved, each PTL long dropped
  if (needFlush) flushTlbMmRange(cpu, mm, start, oldAddr);
  return Math.min(oldAddr, oldEnd) - start;
}

/**
 * move_normal_pmd: the PTE table under `oldPmdp` becomes the one under `newPmdp` (both PMD
 * entries' tables locked, the old PMD cleared, the new one populated) and the old range is
 * flushed before the locks are dropped. False, with nothing changed, when the new PMD is already
 * populated.
 */
function moveNormalPmd(cpu: Cpu, mm: number, vma: Vma, oldPmdp: number, newPmdp: number, oldAddr: number, newAddr: number): boolean {
  const v = cpu.v;
  // free_pgtables should have released it (mainline warns once and moves PTE by PTE)
  if (Atomics.load(v.phys, newPmdp) !== 0) return false;
  // should_take_rmap_locks(NORMAL_PMD): always, the whole table changes place at once
  takeRmapLocks(cpu, mm, vma);
  // pmd_lock: the PMD table's own split lock; the exclusive mmap_lock rules out an ABBA
  pteLock(cpu, oldPmdp);
  const nested = pteLockptr(newPmdp) !== pteLockptr(oldPmdp);
  if (nested) pteLock(cpu, newPmdp);
  const pmd = Atomics.load(v.phys, oldPmdp);
  const moved = ptePresent(pmd) && !pmdLeaf(pmd);
  if (moved) {
    // pmd_clear: a walker of the old address finds nothing from here, and faults (and waits for
    // the mmap_lock); one that read the pointer before may still fill from the table until the flush
    schedPoint(Point.PteWrite);
    Atomics.store(v.phys, oldPmdp, 0);
    tracePteChange(v, cpu.id, PteOp.ClearTable, oldPmdp, pmd, 0);
    // the table's entries now map the new range (for the trace: META_TABLE_VPN names their VPNs)
    v.frameMeta[frameMetaIndex(ptePfn(pmd), META_TABLE_VPN)] = vpnOf(newAddr);
    // pmd_populate: publishes the table at the new address; pairs with the walker's load of the PMD
    schedPoint(Point.PteWrite);
    Atomics.store(v.phys, newPmdp, pmd);
    tracePteChange(v, cpu.id, PteOp.Populate, newPmdp, 0, pmd);
    // 512 pages: a full flush, which also drops the paging-structure caches' pointer to the table
    flushTlbMmRange(cpu, mm, oldAddr, oldAddr + PMD_SIZE);
    cpu.count(Counter.MremapPmdsMoved);
  }
  if (nested) pteUnlock(cpu, newPmdp);
  pteUnlock(cpu, oldPmdp);
  dropRmapLocks(cpu, mm, vma);
  return moved;
}

/**
 * move_ptes: the PTEs of [oldAddr, oldEnd), within one PTE table, move to `newAddr` (whose table
 * exists), under the old PTL and the new one nested, and the rmap locks. The old range's flush as
 * switch mremapFlush says. Returns true when it left a flush to its caller (need_flush).
 */
function movePtes(cpu: Cpu, mm: number, vma: Vma, oldAddr: number, oldEnd: number, newAddr: number): boolean {
  const v = cpu.v;
  const pgd = mmPgd(v, mm);
  const afterUnlock = cpu.config.mremapFlush === 'after-unlock';
  takeRmapLocks(cpu, mm, vma);
  const oldFirst = entryOffset(v, pgd, oldAddr, PTE_LEVEL);
  const newFirst = entryOffset(v, pgd, newAddr, PTE_LEVEL);
  pteLock(cpu, oldFirst);
  const nested = pteLockptr(newFirst) !== pteLockptr(oldFirst);
  if (nested) pteLock(cpu, newFirst);
  // what reclaim cleared in this mm and has not flushed yet is flushed before the PTEs are looked at
  flushTlbBatchedPending(cpu, mm);
  let forceFlush = false;
  let deferred = false;
  // ptep++ as the kernel walks: [oldAddr, oldEnd) and its new place never cross a PTE table
  for (let addr = oldAddr, oldPtep = oldFirst, newPtep = newFirst; addr < oldEnd; addr += PAGE_SIZE, oldPtep++, newPtep++) {
    if (ptepGet(cpu, oldPtep) === 0) continue;
    // the exchange returns every A/D bit a walker set up to the clear; from here a walk of the
    // old address faults, and a CPU whose TLB still has it uses the entry until the flush
    const pte = ptepGetAndClear(cpu, mm, addr, oldPtep);
    // x86 pte_present: P, or PROT_NONE (a NUMA-hinting PTE whose change may not be flushed yet)
    if (pteMapsPage(pte)) {
      if (!afterUnlock || pteDirty(pte)) forceFlush = true;
      else deferred = true;
      cpu.count(Counter.MremapPtesMoved);
    }
    // move_pte is the identity on x86; the page keeps its reference and map count
    setPte(cpu, newPtep, pte);
  }
  // both PTLs still held: truncate or reclaim, which free the page, wait for them at the new PTE
  if (forceFlush) flushTlbMmRange(cpu, mm, oldAddr, oldEnd);
  if (nested) pteUnlock(cpu, newFirst);
  pteUnlock(cpu, oldFirst);
  dropRmapLocks(cpu, mm, vma);
  // race window: the page can be found, zapped and freed at its new place; under after-unlock a
  // CPU may still translate the old address until move_page_tables flushes it
  cpu.raceWindow(KernelPoint.MremapPtlDropped);
  return deferred && !forceFlush;
}
