/*
 * Per-VMA locks (include/linux/mmap_lock.h, include/linux/mm.h: vma_start_read, vma_end_read,
 * vma_start_write, vma_assert_write_locked, vma_end_write_all; mm/memory.c: lock_vma_under_rcu).
 *
 * A page fault needs one VMA to stay as it is while the fault runs, not the whole address space:
 * with switch perVmaLock=on it read-locks that VMA alone and leaves the mmap_lock to mmap, munmap
 * and mprotect, which therefore no longer stall every fault of the process.
 *
 * Readers (the fault path) never wait: vma_start_read is a trylock that fails when the VMA is
 * write-locked, and the fault then falls back to the mmap_lock. A writer holds the mmap_lock for
 * writing and marks each VMA it is about to change with vma_start_write: it takes the VMA's
 * semaphore for writing, which waits for the faults inside the VMA to leave, sets vm_lock_seq to
 * the mm's mm_lock_seq and drops the semaphore again. The VMA stays write-locked with no lock
 * held: a reader that compares vm_lock_seq with mm_lock_seq, before and after its trylock, sees
 * them equal and backs off. There is no vma_end_write: when the writer drops (or downgrades) the
 * mmap_lock, vma_end_write_all (kernel/mm.ts) bumps mm_lock_seq, and every VMA it marked is
 * unlocked at once.
 *
 *   fault (vma_start_read)                    writer (mmap_lock held for writing)
 *   seq == mm_lock_seq? fail                  vma_start_write: down_write(vm_lock)   waits for readers
 *   down_read_trylock(vm_lock) or fail                          vm_lock_seq = mm_lock_seq
 *   seq == mm_lock_seq? up_read, fail                           up_write(vm_lock)
 *   detached? up_read, fail                   change the VMA; vma_mark_detached (munmap)
 *   ... fault under the VMA lock ...          mmap_write_unlock: mm_lock_seq++  (all unlocked)
 *   vma_end_read: up_read(vm_lock)
 *
 * Who write-locks: munmap each VMA before it is detached, mprotect each VMA it changes, the
 * splits and inserts below them (splitVmasAt, mm/mmap: "write-lock VMAs before merging, splitting
 * or expanding them", c46000458d57), khugepaged's collapse (the VMA whose page table it
 * replaces), mremap and fork. exit_mmap needs none: no task of the mm is left to fault.
 *
 * lock_vma_under_rcu finds the VMA without the mmap_lock. The kernel relies on RCU (with
 * SLAB_TYPESAFE_BY_RCU, on the checks after the lock) so that the VMA it found may be freed or
 * reused but is still a VMA; here the table's slots are never freed, and a slot detached or
 * reused between the lookup and the lock is caught by the same checks: detached (vma_start_read
 * fails, VMA_LOCK_MISS, look again), or no longer covering the address (abort). A new VMA is
 * inserted write-locked (vma.ts vmaInsert), into a slot no stale reader holds.
 *
 * Simplified: no anon_vma per VMA (mainline falls back to the mmap_lock for the first fault of
 * an anonymous VMA, vmf_anon_prepare), no userfaultfd, no VM_FAULT_RETRY from inside the fault;
 * the lock is the 6.4 rw_semaphore with vm_lock_seq, not the later vm_refcnt.
 *
 * API:
 *   vmaStartRead(cpu, vma)           vma_start_read: true with the VMA read-locked
 *   vmaEndRead(cpu, vma)             vma_end_read
 *   vmaStartWrite(cpu, mm, vma)      vma_start_write; the caller holds the mmap_lock for writing
 *   vmaIsWriteLocked(v, vma)         whether the holder of the mmap_lock has write-locked it
 *   vmaAssertWriteLocked(v, vma)     vma_assert_write_locked
 *   lockVmaUnderRcu(cpu, mm, va)     lock_vma_under_rcu: the VMA covering `va`, read-locked, or -1
 */
import type { Cpu } from '../cpu/cpu.ts';
import type { MachineViews } from '../machine/memory.ts';
import { PAGE_SIZE } from '../machine/phys-layout.ts';
import { Counter } from '../trace/counters.ts';
import { MM_MMAP_LOCK } from './mm-layout.ts';
import { mmBase, mmLockSeq } from './mm.ts';
import { downReadTrylock, downWrite, rwsemIsWriteLocked, upRead, upWrite } from './locks.ts';
import { VMA_END, VMA_IN_USE, VMA_LOCK, VMA_LOCK_SEQ, VMA_START, vmaMm } from './vma-layout.ts';
import { findVma, type Vma } from './vma.ts';

/** What an attempt at the read lock found. */
const enum ReadLock {
  Locked,
  /** write-locked, or the semaphore held for writing: the fault takes the mmap_lock */
  Busy,
  /** out of the tree: the address may be covered by another VMA by now */
  Detached,
}

/** Whether vm_lock_seq says the holder of the mmap_lock write-locked this VMA (racy outside it). */
export function vmaIsWriteLocked(v: MachineViews, vma: Vma): boolean {
  return Atomics.load(v.vmas, vma + VMA_LOCK_SEQ) === mmLockSeq(v, vmaMm(vma));
}

function vmaTryStartRead(cpu: Cpu, vma: Vma): ReadLock {
  const v = cpu.v;
  // an early, lockless look: a VMA write-locked in this write section fails without touching the
  // semaphore (a stale answer costs a fallback, never a wrong lock: the check is made again)
  if (vmaIsWriteLocked(v, vma)) return ReadLock.Busy;
  if (!downReadTrylock(v.vmas, vma + VMA_LOCK)) return ReadLock.Busy;
  // under the semaphore vm_lock_seq cannot change, and mm_lock_seq only moves on: equal now means
  // a writer marked the VMA after our first look
  if (vmaIsWriteLocked(v, vma)) {
    upRead(cpu, v.vmas, vma + VMA_LOCK);
    return ReadLock.Busy;
  }
  // detached under the write lock and still out of the tree (vma_mark_detached)
  if (Atomics.load(v.vmas, vma + VMA_IN_USE) === 0) {
    upRead(cpu, v.vmas, vma + VMA_LOCK);
    return ReadLock.Detached;
  }
  return ReadLock.Locked;
}

/** vma_start_read: true with the VMA read-locked; false when it is write-locked or detached. */
export function vmaStartRead(cpu: Cpu, vma: Vma): boolean {
  return vmaTryStartRead(cpu, vma) === ReadLock.Locked;
}

/** vma_end_read: a writer waiting in vma_start_write for this fault goes on. */
export function vmaEndRead(cpu: Cpu, vma: Vma): void {
  upRead(cpu, cpu.v.vmas, vma + VMA_LOCK);
}

/**
 * vma_start_write: no fault runs in `vma` from here until the caller drops the mmap_lock, which
 * it must hold for writing. Waits (through the fabric, taking IPIs) for the faults inside it.
 */
export function vmaStartWrite(cpu: Cpu, mm: number, vma: Vma): void {
  const v = cpu.v;
  if (!rwsemIsWriteLocked(v.mm, mmBase(mm) + MM_MMAP_LOCK)) throw new Error(`vma_start_write on mm ${mm} without its mmap_lock held for writing`);
  if (vmaMm(vma) !== mm) throw new Error(`vma_start_write: VMA ${vma} is not one of mm ${mm}'s`);
  const seq = mmLockSeq(v, mm);
  if (v.vmas[vma + VMA_LOCK_SEQ] === seq) return;
  if (downWrite(cpu, v.vmas, vma + VMA_LOCK)) cpu.count(Counter.VmaLockWriteWaits);
  Atomics.store(v.vmas, vma + VMA_LOCK_SEQ, seq);
  upWrite(cpu, v.vmas, vma + VMA_LOCK);
}

/** vma_assert_write_locked: throws unless the mmap_lock's writer has write-locked `vma`. */
export function vmaAssertWriteLocked(v: MachineViews, vma: Vma): void {
  const mm = vmaMm(vma);
  if (!rwsemIsWriteLocked(v.mm, mmBase(mm) + MM_MMAP_LOCK) || !vmaIsWriteLocked(v, vma)) {
    throw new Error(`VMA ${vma} of mm ${mm} is not write-locked`);
  }
}

/**
 * lock_vma_under_rcu: the VMA of `mm` covering user address `va`, read-locked, or -1 when there is
 * none, it is write-locked, or it stopped covering `va` before the lock was taken; the caller then
 * takes the mmap_lock. Counts VMA_LOCK_ABORT and VMA_LOCK_MISS as the kernel does; the caller
 * counts VMA_LOCK_SUCCESS once the fault is handled.
 */
export function lockVmaUnderRcu(cpu: Cpu, mm: number, va: number): Vma {
  const v = cpu.v;
  const vpn = Math.floor(va / PAGE_SIZE);
  for (;;) {
    const vma = findVma(v, mm, vpn);
    if (vma < 0) break;
    const got = vmaTryStartRead(cpu, vma);
    if (got === ReadLock.Detached) {
      // the area was replaced (munmap, mremap) after we found it: look again
      cpu.count(Counter.VmaLockMiss);
      continue;
    }
    if (got === ReadLock.Busy) break;
    // vm_start and vm_end may have changed (or the slot been reused) before we took the lock
    if (vpn < Atomics.load(v.vmas, vma + VMA_START) || vpn >= Atomics.load(v.vmas, vma + VMA_END)) {
      vmaEndRead(cpu, vma);
      break;
    }
    return vma;
  }
  cpu.count(Counter.VmaLockAbort);
  return -1;
}
