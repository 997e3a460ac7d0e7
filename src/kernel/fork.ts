/*
 * fork's copy of the address space (kernel/fork.c: dup_mm, dup_mmap; mm/memory.c:
 * copy_page_range, copy_pte_range, copy_present_pte; mm/rmap.c: anon_vma_fork).
 *
 * The invariant fork keeps: once it returns, neither process can write a page the other maps.
 * Every present PTE of a private mapping is shared with the child read-only, and the parent's
 * writable ones are write-protected (ptep_set_wrprotect); the first write on either side faults
 * and copies (kernel/fault.ts wp_page_copy). Write-protecting the PTE is not enough: a thread of
 * the parent on another CPU may still hold a writable TLB entry for the page. So dup_mmap ends
 * with flush_tlb_mm(oldmm), before it releases the parent's mmap_lock, which kept every fault of
 * the parent out meanwhile; under per-VMA locks, so does vma_start_write on each VMA as it is
 * copied (switch forkVmaLock, fb49c455323f):
 *
 *   CPU 0 (fork)                         CPU 1 (a thread of the parent)
 *   mmap_write_lock(parent)
 *   copy_present_pte: wrprotect P        store to P through a cached writable entry (lands in P,
 *                                        before the child exists for anyone: harmless)
 *   flush_tlb_mm(parent)  ------------>  entry gone
 *   mmap_write_unlock(parent)
 *                                        store to P: write fault, wp_page_copy, a page of its own
 *
 * Without the flush (switch forkFlush=none), CPU 1's stores after fork returned go to the page
 * the child shares: the child reads data it never wrote, and when CPU 1 or another thread
 * copies the page for the parent, the stores that follow the copy stay behind in the child's page.
 * What fork promises (check/promises.ts): the write-protected ranges keep no writable
 * translation filled before it returned.
 *
 * Without vma_start_write (forkVmaLock=off) a thread of the parent faults under the VMA lock
 * while fork runs, before its flush: wp_page_copy copies a page fork just shared while another
 * thread still writes it through its old writable entry, and what that thread writes between the
 * copy and wp_page_copy's ptep_clear_flush stays in the child's page, lost to the parent
 * (scenario fork-vma-lock). fb49c455323f's message also names the anon_vma that such a fault
 * may create under fork (anon_vma_prepare after anon_vma_clone): anon_vmas are made with the VMA
 * here, so that half is not modelled.
 *
 * The anon rmap (kernel/rmap.ts): each child VMA of a private mapping is linked to every anon_vma
 * its parent VMA is (anon_vma_clone) and to the child's own (anon_vma_fork), under the family's
 * anon_vma lock, before any PTE is copied into it: an rmap walk of a shared page finds the child's
 * mapping as soon as it exists. Shared file mappings are not copied; the child faults them in.
 * A page that may be pinned by GUP is copied for the child at once (copy_present_page), so that
 * the pin keeps seeing what the parent writes.
 *
 * The child's page tables are allocated on the forking CPU, and its mm slot is one of MAX_MMS:
 * a program that forks in a loop must exit its children (mmap.ts exitMmap).
 */
import type { Cpu } from '../cpu/cpu.ts';
import { allocFrame } from '../machine/frames.ts';
import { FrameKind, PAGE_SIZE } from '../machine/phys-layout.ts';
import { pmdAddrEnd, pteAlloc, pteOffset } from '../machine/pagetable.ts';
import { ptepGet, ptepSetWrprotect, setPte } from '../arch/pgtable.ts';
import { pfnPte, pteMapsPage, pteMkdirty, pteMkold, pteMkwrite, ptePfn, ptePgprot, pteWrite, pteWrprotect } from '../machine/pte.ts';
import { flushTlbMmRange, TLB_FLUSH_ALL } from '../arch/tlbflush.ts';
import { Activity } from '../cpu/percpu-layout.ts';
import { addMmRss, mmAlloc, mmAnonVmaRoot, mmPgd, mmSetAnonVmaRoot, mmapWriteLock, mmapWriteUnlock } from './mm.ts';
import { VM_SHARED, VM_WRITE } from './vma-layout.ts';
import { allVmas, anonVmaBit, linearPageIndex, vmaAnonVmas, vmaEnd, vmaFlags, vmaInfo, vmaInsert, vmaStart, type Vma } from './vma.ts';
import { clearPageAnonExclusive, copyHighpage, getPage, pageAddRmap, pageAnonExclusive, pageIsAnon, pagePinCount } from './page.ts';
import { pteLock, pteUnlock } from './ptl.ts';
import { anonVmaLockWrite, anonVmaUnlockWrite } from './rmap.ts';
import { exitMmap } from './mmap.ts';
import { vmaStartWrite } from './vma-lock.ts';
import { PromiseKind, makePromise, promiseStart } from '../check/promises.ts';
import { KernelPoint } from './points.ts';
import { KPath, traceKernelEnter, traceKernelExit } from '../trace/events.ts';

/**
 * copy_present_page: the child gets its own copy of a pinned exclusive page at once, writable;
 * the parent keeps the page and its PTE as they are. Returns false when memory is out.
 */
function copyPresentPage(cpu: Cpu, child: number, dstPtep: number, pte: number, index: number): boolean {
  const v = cpu.v;
  const pfn = ptePfn(pte);
  const copy = allocFrame(v, cpu.id, FrameKind.Anon, child, index, false);
  if (copy === 0) return false;
  copyHighpage(v, copy, pfn);
  pageAddRmap(v, copy);
  addMmRss(v, child, 1);
  // publishes the copy: a walker that reads the new PTE reads the frame's contents after it
  setPte(cpu, dstPtep, pteMkwrite(pteMkdirty(pfnPte(copy, ptePgprot(pteMkold(pte))))));
  return true;
}

/**
 * copy_present_pte for the PTE `pte` at `srcPtep` of a private VMA, both PTE tables locked: the
 * child maps the same page, read-only where the parent could write, and the parent's PTE is
 * write-protected. Returns false when memory is out.
 */
function copyPresentPte(cpu: Cpu, parent: number, child: number, addr: number, srcPtep: number, dstPtep: number, pte: number, index: number): boolean {
  const v = cpu.v;
  const pfn = ptePfn(pte);
  if (pageIsAnon(v, pfn)) {
    // page_try_dup_anon_rmap fails for an exclusive page that may be pinned: copy it now
    if (pageAnonExclusive(v, pfn) && pagePinCount(v, pfn) > 0) return copyPresentPage(cpu, child, dstPtep, pte, index);
    // from here both processes map it: a write on either side must copy
    clearPageAnonExclusive(v, pfn);
  }
  getPage(v, pfn);
  pageAddRmap(v, pfn);
  addMmRss(v, child, 1);
  let childPte = pte;
  if (pteWrite(pte)) {
    // is_cow_mapping: keeps a D bit the walker sets meanwhile; other CPUs' TLBs keep the
    // writable entry until dup_mmap's flush
    ptepSetWrprotect(cpu, parent, addr, srcPtep);
    childPte = pteWrprotect(childPte);
  }
  setPte(cpu, dstPtep, pteMkold(childPte));
  return true;
}

/**
 * copy_pte_range for [start, end) of one PMD's PTE table: the child's table is allocated on this
 * CPU and locked, then the parent's (the kernel's spin_lock_nested order). Returns false when
 * memory is out.
 */
function copyPteRange(cpu: Cpu, parent: number, child: number, srcVma: Vma, start: number, end: number): boolean {
  const v = cpu.v;
  const first = pteOffset(v, mmPgd(v, parent), start);
  if (first < 0) return true;
  const dstFirst = pteAlloc(v, cpu.id, mmPgd(v, child), start, child);
  if (dstFirst < 0) return false;
  pteLock(cpu, dstFirst);
  pteLock(cpu, first);
  let ok = true;
  try {
    for (let addr = start, i = 0; addr < end && ok; addr += PAGE_SIZE, i++) {
      const pte = ptepGet(cpu, first + i);
      if (!pteMapsPage(pte)) continue;
      ok = copyPresentPte(cpu, parent, child, addr, first + i, dstFirst + i, pte, linearPageIndex(v, srcVma, addr));
    }
  } finally {
    pteUnlock(cpu, first);
    pteUnlock(cpu, dstFirst);
  }
  return ok;
}

/** copy_page_range for one private VMA, PMD by PMD. Returns false when memory is out. */
function copyPageRange(cpu: Cpu, parent: number, child: number, srcVma: Vma): boolean {
  const v = cpu.v;
  const end = vmaEnd(v, srcVma) * PAGE_SIZE;
  for (let addr = vmaStart(v, srcVma) * PAGE_SIZE; addr < end; ) {
    const next = pmdAddrEnd(addr, end);
    if (!copyPteRange(cpu, parent, child, srcVma, addr, next)) return false;
    addr = next;
  }
  return true;
}

/**
 * dup_mmap: copies every VMA of `parent` into `child` and the PTEs of its private ones, with
 * both mmap_locks held for writing; flushes the parent (switch forkFlush) before releasing its
 * lock. Returns the ranges it write-protected, for fork's promise.
 */
function dupMmap(cpu: Cpu, parent: number, child: number): Array<[number, number]> {
  const v = cpu.v;
  const root = mmAnonVmaRoot(v, parent);
  const protectedRanges: Array<[number, number]> = [];
  mmapWriteLock(cpu, child);
  try {
    for (const vma of allVmas(v, parent)) {
      // fb49c455323f: no fault of the parent under the VMA lock alone while its PTEs are copied,
      // nor until the flush below has removed every writable entry of it (the lock holds until
      // the mmap_lock is released)
      if (cpu.config.forkVmaLock === 'on') vmaStartWrite(cpu, parent, vma);
      const info = vmaInfo(v, vma);
      const shared = (info.flags & VM_SHARED) !== 0;
      // anon_vma_fork: the parent's chain and the child's own anon_vma, under the family's lock
      const [lo, hi] = vmaAnonVmas(v, vma);
      const [ownLo, ownHi] = anonVmaBit(child);
      anonVmaLockWrite(cpu, root);
      vmaInsert(v, child, { ...info, anonVmas: shared ? [0, 0] : [lo | ownLo, hi | ownHi] });
      anonVmaUnlockWrite(cpu, root);
      // vma_needs_copy: a shared mapping is faulted in again by the child
      if (shared) continue;
      if (!copyPageRange(cpu, parent, child, vma)) throw new RangeError('fork: out of memory copying page tables');
      if ((vmaFlags(v, vma) & VM_WRITE) !== 0) protectedRanges.push([vmaStart(v, vma) * PAGE_SIZE, vmaEnd(v, vma) * PAGE_SIZE]);
    }
  } finally {
    // out: also when a copy failed, since what was write-protected so far must be flushed
    mmapWriteUnlock(cpu, child);
    // race window: the parent's PTEs are read-only, other CPUs' TLBs may still write through them
    cpu.raceWindow(KernelPoint.ForkWrprotectedBeforeFlush);
    if (cpu.config.forkFlush === 'flush-tlb-mm') flushTlbMmRange(cpu, parent, 0, TLB_FLUSH_ALL);
  }
  return protectedRanges;
}

/**
 * fork (the mm half of copy_process: dup_mm): a new mm for the child, a copy of `mm`'s address
 * space, its private pages shared copy-on-write. Returns the child's mm, which no CPU runs yet
 * (a program switches a CPU to it). Entry and return are traced.
 */
export function sysFork(cpu: Cpu, mm: number): number {
  traceKernelEnter(cpu, KPath.Fork, mm);
  const child = rawSysFork(cpu, mm);
  traceKernelExit(cpu, KPath.Fork, child);
  return child;
}

function rawSysFork(cpu: Cpu, mm: number): number {
  const v = cpu.v;
  cpu.setActivity(Activity.Kernel);
  cpu.passPoint(KernelPoint.ForkEnter);
  const child = mmAlloc(v, cpu.id);
  mmSetAnonVmaRoot(v, child, mmAnonVmaRoot(v, mm));
  const since = promiseStart(v);
  mmapWriteLock(cpu, mm);
  let forked = false;
  try {
    const ranges = dupMmap(cpu, mm, child);
    forked = true;
    // what the parent may now rely on, made under its mmap_lock as mprotect makes its own: no
    // fault of the parent ran in a VMA since fork write-protected it (the mmap_lock, and under
    // per-VMA locks the VMA's lock, keeps them out), so an entry filled since is read-only
    // (check/promises.ts)
    for (const [start, end] of ranges) makePromise(v, mm, start, end, PromiseKind.ForkWriteProtected, since);
  } finally {
    mmapWriteUnlock(cpu, mm);
    // a failed fork (no memory) tears the half-made child down (mmput), its pages' references with it
    if (!forked) exitMmap(cpu, child);
    cpu.passPoint(KernelPoint.ForkReturn);
    cpu.setActivity(Activity.User);
  }
  return child;
}
