/*
 * mm_struct in shared memory (layout in mm-layout.ts): the page-table root, context.ctx_id,
 * context.tlb_gen and mm_cpumask. Kernel objects hang off the mm by its id (its slot number).
 */
import { schedPoint } from '../schedule/baton.ts';
import { Point } from '../schedule/layout.ts';
import type { MachineViews } from '../machine/memory.ts';
import { pgdAlloc } from '../machine/pagetable.ts';
import { G_NEXT_CTX_ID } from '../machine/globals-layout.ts';
import { CpuMask } from '../cpu/cpumask.ts';
import {
  INIT_MM, MAX_MMS, MM_ANON_VMA_ROOT, MM_ASID_TRANSITION, MM_CONTEXT_ID, MM_CPUMASK, MM_CTX_ID, MM_GLOBAL_ASID, MM_LOCK_SEQ, MM_MMAP_LOCK, MM_PGD, MM_PROMISE_COUNT, MM_RSS, MM_TLB_FLUSH_PENDING,
  MM_TLB_GEN, MM_TLB_GEN_COMPLETED, MM_USERS, MM_WORDS, promiseCountSeed,
} from './mm-layout.ts';
import { MAX_VMAS, VMA_RMAP, vmaIndex } from './vma-layout.ts';
import { vmaLinkedToAnonVma } from './vma.ts';
import { downRead, downWrite, downgradeWrite, upRead, upWrite } from './locks.ts';
import type { Cpu } from '../cpu/cpu.ts';
import { Ev, LockKind, traceEvent } from '../trace/events.ts';
import { Counter } from '../trace/counters.ts';

export const mmBase = (mm: number): number => mm * MM_WORDS;

/** Sets up init_mm: the kernel's own mm, with a PGD that maps no user address. */
export function initInitMm(v: MachineViews, cpu: number): void {
  const b = mmBase(INIT_MM);
  v.mm[b + MM_PGD] = pgdAlloc(v, cpu, INIT_MM);
  v.mm[b + MM_CTX_ID] = Atomics.add(v.globals, G_NEXT_CTX_ID, 1) + 1;
  Atomics.store(v.mm, b + MM_USERS, 1);
}

/**
 * Is the slot of an exited mm still an anon_vma someone uses? Its anonymous pages live on in the
 * children that share them, found by the rmap through the slot's bit in their VMAs'
 * anon_vma_chain; and its MM_ANON_VMA_LOCK is the lock of every mm whose anon_vma root it is.
 * Such a slot is not reused until they are gone, as the kernel keeps an anon_vma while a VMA
 * links it.
 */
function anonVmaInUse(v: MachineViews, mm: number): boolean {
  for (let other = 1; other < MAX_MMS; other++) {
    const b = mmBase(other);
    if (other !== mm && Atomics.load(v.mm, b + MM_USERS) !== 0 && v.mm[b + MM_ANON_VMA_ROOT] === mm) return true;
    for (let slot = 0; slot < MAX_VMAS; slot++) {
      const vma = vmaIndex(other, slot);
      if (Atomics.load(v.vmas, vma + VMA_RMAP) !== 0 && vmaLinkedToAnonVma(v, vma, mm)) return true;
    }
  }
  return false;
}

/** mm_alloc + init_new_context: a fresh mm with its own PGD and a never-used ctx_id. */
export function mmAlloc(v: MachineViews, cpu: number): number {
  for (let mm = 1; mm < MAX_MMS; mm++) {
    const b = mmBase(mm);
    if (Atomics.compareExchange(v.mm, b + MM_USERS, 0, 1) !== 0) continue;
    if (anonVmaInUse(v, mm)) {
      Atomics.store(v.mm, b + MM_USERS, 0);
      continue;
    }
    const pgd = pgdAlloc(v, cpu, mm);
    if (pgd === 0) {
      Atomics.store(v.mm, b + MM_USERS, 0);
      throw new RangeError('out of memory allocating a PGD');
    }
    v.mm[b + MM_PGD] = pgd;
    v.mm[b + MM_CTX_ID] = Atomics.add(v.globals, G_NEXT_CTX_ID, 1) + 1;
    v.mm[b + MM_GLOBAL_ASID] = 0;
    v.mm[b + MM_ASID_TRANSITION] = 0;
    // init_new_context on arm64: no ASID until the mm first runs (arch/arm64/context.ts)
    v.mm[b + MM_CONTEXT_ID] = 0;
    // its own anon_vma root until fork says otherwise (sysFork)
    v.mm[b + MM_ANON_VMA_ROOT] = mm;
    // no promises yet, under a tag no earlier allocation of the slot had (check/promises.ts)
    const seed = promiseCountSeed(mm, v.mm[b + MM_PROMISE_COUNT]);
    v.mm.fill(0, b + MM_TLB_GEN, b + MM_WORDS);
    v.mm[b + MM_PROMISE_COUNT] = seed;
    return mm;
  }
  throw new RangeError(`no free mm slot (at most ${MAX_MMS - 1} mms)`);
}

/** anon_vma->root of `mm`'s anon_vma: the mm whose anon_vma lock its fork family shares. */
export function mmAnonVmaRoot(v: MachineViews, mm: number): number {
  return v.mm[mmBase(mm) + MM_ANON_VMA_ROOT];
}

/** anon_vma_fork's link of a child to its parent's family: the child's anon_vma has the parent's root. */
export function mmSetAnonVmaRoot(v: MachineViews, mm: number, root: number): void {
  v.mm[mmBase(mm) + MM_ANON_VMA_ROOT] = root;
}

export function mmPgd(v: MachineViews, mm: number): number {
  return v.mm[mmBase(mm) + MM_PGD];
}

export function mmCtxId(v: MachineViews, mm: number): number {
  return v.mm[mmBase(mm) + MM_CTX_ID];
}

/** atomic64_read(&mm->context.tlb_gen) */
export function mmTlbGen(v: MachineViews, mm: number): number {
  return Atomics.load(v.mm, mmBase(mm) + MM_TLB_GEN);
}

/**
 * inc_mm_tlb_gen: a full barrier that orders the caller's page-table changes before any CPU that
 * reads the new generation (switch_mm, flush_tlb_func) decides it is up to date.
 */
export function incMmTlbGen(v: MachineViews, mm: number): number {
  schedPoint(Point.TlbGen);
  return Atomics.add(v.mm, mmBase(mm) + MM_TLB_GEN, 1) + 1;
}

/** atomic64_read(&mm->tlb_gen_completed): every flush up to this generation has finished. */
export function mmTlbGenCompleted(v: MachineViews, mm: number): number {
  return Atomics.load(v.mm, mmBase(mm) + MM_TLB_GEN_COMPLETED);
}

/**
 * tlb_update_generation: raises the generation word at `index` to `gen` unless it is already
 * there or beyond; no write when it is (seed 000 patch 17: the cmpxchg only when needed).
 */
export function raiseGeneration(v: MachineViews, index: number, gen: number): void {
  for (let cur = Atomics.load(v.mm, index); cur < gen; ) {
    const old = Atomics.compareExchange(v.mm, index, cur, gen);
    if (old === cur) return;
    cur = old;
  }
}

/** mark_mm_tlb_gen_done: a flush of generation `gen` finished on every CPU that needed it. */
export function markMmTlbGenDone(v: MachineViews, mm: number, gen: number): void {
  raiseGeneration(v, mmBase(mm) + MM_TLB_GEN_COMPLETED, gen);
}

/** A snapshot of mm_cpumask(mm). */
export function mmCpumask(v: MachineViews, mm: number): CpuMask {
  return CpuMask.load(v.mm, mmBase(mm) + MM_CPUMASK);
}

export function mmCpumaskIndex(mm: number): number {
  return mmBase(mm) + MM_CPUMASK;
}

// mmap_lock (include/linux/mmap_lock.h), each operation logged once it is done (lock_acquire
// when the lock is held, lock_release as it is dropped; a downgrade is a release of the write
// side and an acquire of the read side). An acquisition that had to wait is counted.
//
// Dropping the write side, or downgrading it, is vma_end_write_all: mm_lock_seq moves on, which
// write-unlocks at once every VMA the writer write-locked (vma-lock.ts), before any other CPU
// can take the mmap_lock.
const traceMmapLock = (cpu: Cpu, ev: Ev, mm: number, write: boolean) => traceEvent(cpu.v, cpu.id, ev, LockKind.MmapLock, mm, write ? 1 : 0);
/** mmap_read_lock; returns the time it waited for the lock (ms; 0 when it was free). */
export function mmapReadLock(cpu: Cpu, mm: number): number {
  const waited = downRead(cpu, cpu.v.mm, mmBase(mm) + MM_MMAP_LOCK);
  if (waited > 0) cpu.count(Counter.MmapLockReadContended);
  traceMmapLock(cpu, Ev.LockAcquire, mm, false);
  return waited;
}
export function mmapReadUnlock(cpu: Cpu, mm: number): void {
  traceMmapLock(cpu, Ev.LockRelease, mm, false);
  upRead(cpu, cpu.v.mm, mmBase(mm) + MM_MMAP_LOCK);
}
export function mmapWriteLock(cpu: Cpu, mm: number): void {
  if (downWrite(cpu, cpu.v.mm, mmBase(mm) + MM_MMAP_LOCK) > 0) cpu.count(Counter.MmapLockWriteContended);
  traceMmapLock(cpu, Ev.LockAcquire, mm, true);
}
export function mmapWriteUnlock(cpu: Cpu, mm: number): void {
  traceMmapLock(cpu, Ev.LockRelease, mm, true);
  vmaEndWriteAll(cpu, mm);
  upWrite(cpu, cpu.v.mm, mmBase(mm) + MM_MMAP_LOCK);
}
export function mmapWriteDowngrade(cpu: Cpu, mm: number): void {
  traceMmapLock(cpu, Ev.LockRelease, mm, true);
  vmaEndWriteAll(cpu, mm);
  downgradeWrite(cpu, cpu.v.mm, mmBase(mm) + MM_MMAP_LOCK);
  traceMmapLock(cpu, Ev.LockAcquire, mm, false);
}

/**
 * vma_end_write_all: every VMA write-locked under this hold of the mmap_lock is write-unlocked.
 * The caller holds the mmap_lock for writing; the increment is a release that orders the changes
 * made to those VMAs before any fault that sees the new mm_lock_seq and read-locks one of them.
 */
function vmaEndWriteAll(cpu: Cpu, mm: number): void {
  schedPoint(Point.Unlock);
  Atomics.add(cpu.v.mm, mmBase(mm) + MM_LOCK_SEQ, 1);
}

/** mm->mm_lock_seq */
export function mmLockSeq(v: MachineViews, mm: number): number {
  return Atomics.load(v.mm, mmBase(mm) + MM_LOCK_SEQ);
}

/**
 * inc_tlb_flush_pending: a deferred flush of this mm is under way. The increment is ordered
 * before the PTE changes it covers, so that a reader who sees a changed PTE also sees the count
 * (mm_tlb_flush_pending, pairs with the PTL in the kernel; here with the seq-cst add).
 */
export function incTlbFlushPending(v: MachineViews, mm: number): void {
  Atomics.add(v.mm, mmBase(mm) + MM_TLB_FLUSH_PENDING, 1);
}

export function decTlbFlushPending(v: MachineViews, mm: number): void {
  Atomics.sub(v.mm, mmBase(mm) + MM_TLB_FLUSH_PENDING, 1);
}

/** mm_tlb_flush_pending: some deferred flush of this mm has not completed. */
export function mmTlbFlushPending(v: MachineViews, mm: number): boolean {
  return Atomics.load(v.mm, mmBase(mm) + MM_TLB_FLUSH_PENDING) > 0;
}

/** mm_tlb_flush_nested: more than one deferred flush at once, e.g. two parallel MADV_DONTNEED. */
export function mmTlbFlushNested(v: MachineViews, mm: number): boolean {
  return Atomics.load(v.mm, mmBase(mm) + MM_TLB_FLUSH_PENDING) > 1;
}

export function addMmRss(v: MachineViews, mm: number, delta: number): void {
  Atomics.add(v.mm, mmBase(mm) + MM_RSS, delta);
}

/** Releases an mm's slot once its page tables are gone (mmdrop). */
export function mmFree(v: MachineViews, mm: number): void {
  Atomics.store(v.mm, mmBase(mm) + MM_USERS, 0);
}
