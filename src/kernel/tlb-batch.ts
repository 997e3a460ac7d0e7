/*
 * Reclaim's batched TLB flush (mm/rmap.c: set_tlb_ubc_flush_pending, try_to_unmap_flush,
 * flush_tlb_batched_pending).
 *
 * try_to_unmap_one clears a PTE and, instead of flushing, adds the mm's CPUs to the task's batch;
 * one flush at the end covers every page reclaim unmapped. Until then other CPUs may still use
 * the cleared translations, so anyone else who changes PTEs of that mm under the PTL and relies on
 * what the PTE says (munmap, mprotect, madvise) must first flush what reclaim left pending:
 * flush_tlb_batched_pending, called with the PTL held.
 *
 * How "pending" is recorded is switch batchedPending:
 *   flag      mm->tlb_flush_batched is a boolean, cleared after the flush. A reclaimer that sets
 *             it after the flush began and before the clear is lost (seed 000 patch 20):
 *
 *               CPU A (madvise)                    CPU B (reclaim)
 *               sees flag set
 *               flush_tlb_mm(mm)
 *                                                  clear PTE of page P, batch it
 *                                                  flag = true
 *               flag = false          <- B's pending flush forgotten
 *               (later) mprotect sees no flag, returns with P still cached elsewhere
 *
 *   counters  mainline: pending and flushed counts in one word; the flusher only records
 *             "flushed up to pending" if nobody added a pending flush meanwhile (cmpxchg).
 *   cpumask   seed 000 patch 20: a global mask of CPUs that may cache a batched unmap; each CPU
 *             clears its bit when it does a full flush; pending = the mask meets mm_cpumask.
 */
import type { Cpu } from '../cpu/cpu.ts';
import { CpuMask } from '../cpu/cpumask.ts';
import { G_TLB_FLUSH_BATCHED_CPUMASK } from '../machine/globals-layout.ts';
import { ArchTlbflushUnmapBatch, TLB_FLUSH_ALL, archTlbbatchAddPending, archTlbbatchFlush, flushTlbMmRange } from '../arch/x86/flush.ts';
import { MM_TLB_FLUSH_BATCHED } from './mm-layout.ts';
import { mmBase, mmCpumask } from './mm.ts';

/** struct tlbflush_unmap_batch, one per task: here, per CPU (a reclaim run is one task). */
export class TlbflushUnmapBatch {
  readonly arch = new ArchTlbflushUnmapBatch();
  flushRequired = false;
  writable = false;
}

const batches = new WeakMap<Cpu, TlbflushUnmapBatch>();

/** A new run starts with no batch pending: the Cpu object outlives runs on its worker. */
export function resetTlbUbc(cpu: Cpu): void {
  batches.delete(cpu);
}

/** current->tlb_ubc */
export function currentTlbUbc(cpu: Cpu): TlbflushUnmapBatch {
  let b = batches.get(cpu);
  if (!b) batches.set(cpu, (b = new TlbflushUnmapBatch()));
  return b;
}

const FLUSHED_SHIFT = 16;
const PENDING_MASK = (1 << (FLUSHED_SHIFT - 1)) - 1;
const PENDING_LARGE = PENDING_MASK >> 1;

/** set_tlb_ubc_flush_pending: the PTE of `mm` just cleared is flushed later, in a batch. */
export function setTlbUbcFlushPending(cpu: Cpu, mm: number, writable: boolean): void {
  const v = cpu.v;
  const ubc = currentTlbUbc(cpu);
  archTlbbatchAddPending(cpu, ubc.arch, mm);
  ubc.flushRequired = true;
  const word = mmBase(mm) + MM_TLB_FLUSH_BATCHED;
  switch (cpu.config.batchedPending) {
    case 'flag':
      Atomics.store(v.mm, word, 1);
      break;
    case 'counters':
      for (;;) {
        const batch = Atomics.load(v.mm, word);
        // keep pending from overflowing into flushed: restart both at 1 and 0
        const next = (batch & PENDING_MASK) > PENDING_LARGE ? 1 : batch + 1;
        if (Atomics.compareExchange(v.mm, word, batch, next) === batch) break;
      }
      break;
    case 'cpumask': {
      const cpus = mmCpumask(v, mm);
      Atomics.or(v.globals, G_TLB_FLUSH_BATCHED_CPUMASK, cpus.words[0]);
      Atomics.or(v.globals, G_TLB_FLUSH_BATCHED_CPUMASK + 1, cpus.words[1]);
      break;
    }
  }
  if (writable) ubc.writable = true;
}

/** try_to_unmap_flush: the one flush that covers every page this task's reclaim unmapped. */
export function tryToUnmapFlush(cpu: Cpu): void {
  const ubc = currentTlbUbc(cpu);
  if (!ubc.flushRequired) return;
  if (cpu.config.batchedPending === 'cpumask') {
    // the patch flushes every CPU that may hold any batched unmap, not just this task's
    const pending = CpuMask.load(cpu.v.globals, G_TLB_FLUSH_BATCHED_CPUMASK);
    ubc.arch.cpumask.or(pending);
  }
  archTlbbatchFlush(cpu, ubc.arch);
  ubc.flushRequired = false;
  ubc.writable = false;
}

/** try_to_unmap_flush_dirty: flush before I/O if a dirty (maybe writable) PTE was batched. */
export function tryToUnmapFlushDirty(cpu: Cpu): void {
  if (currentTlbUbc(cpu).writable) tryToUnmapFlush(cpu);
}

/** flush_tlb_mm */
function flushTlbMm(cpu: Cpu, mm: number): void {
  flushTlbMmRange(cpu, mm, 0, TLB_FLUSH_ALL);
}

/**
 * flush_tlb_batched_pending: called with the PTL held before changing PTEs of `mm`; flushes
 * whatever reclaim cleared in this mm and has not flushed yet.
 */
export function flushTlbBatchedPending(cpu: Cpu, mm: number): void {
  const v = cpu.v;
  const word = mmBase(mm) + MM_TLB_FLUSH_BATCHED;
  switch (cpu.config.batchedPending) {
    case 'flag':
      if (Atomics.load(v.mm, word) !== 0) {
        flushTlbMm(cpu, mm);
        cpu.raceWindow(); // race window: flushed, flag not yet cleared; a new set_tlb_ubc_flush_pending is lost
        // the race of seed 000 patch 20: a flag set since the flush began is cleared too
        Atomics.store(v.mm, word, 0);
      }
      return;
    case 'counters': {
      const batch = Atomics.load(v.mm, word);
      const pending = batch & PENDING_MASK;
      const flushed = batch >>> FLUSHED_SHIFT;
      if (pending !== flushed) {
        flushTlbMm(cpu, mm);
        // only if no new pending flush arrived during ours: otherwise leave it for the next caller
        Atomics.compareExchange(v.mm, word, batch, pending | (pending << FLUSHED_SHIFT));
      }
      return;
    }
    case 'cpumask': {
      const pending = CpuMask.load(v.globals, G_TLB_FLUSH_BATCHED_CPUMASK);
      const cpus = mmCpumask(v, mm);
      if ((pending.words[0] & cpus.words[0]) !== 0 || (pending.words[1] & cpus.words[1]) !== 0) flushTlbMm(cpu, mm);
      return;
    }
  }
}
