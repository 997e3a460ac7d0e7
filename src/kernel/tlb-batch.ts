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
 *
 * A deferred flush may already be done by the time it is made: a later flush_tlb_mm_range of the
 * same mm finished, and its CPUs, finding generations skipped, flushed everything. Seed 000
 * (patches 08, 15, 17) records that as mm->tlb_gen_completed; each deferred flush is counted as
 * redundant when its generation is behind it, and switch completedGen=skip-completed skips it.
 * Sound only when each deferred flush took a generation of its own (deferredFlushGen=bump): a
 * reused generation may have been flushed by a partial flush of another range.
 */
import type { Cpu } from '../cpu/cpu.ts';
import { CpuMask } from '../cpu/cpumask.ts';
import { G_TLB_FLUSH_BATCHED_CPUMASK } from '../machine/globals-layout.ts';
import { TLB_FLUSH_ALL, archFlushTlbBatchedPending, archTlbbatchAddPending, archTlbbatchAlloc, archTlbbatchClear, archTlbbatchFlush, type ArchTlbflushUnmapBatch } from '../arch/tlbflush.ts';
import { Counter } from '../trace/counters.ts';
import { MM_TLB_BATCHED_GEN, MM_TLB_FLUSH_BATCHED } from './mm-layout.ts';
import { mmBase, mmCpumask, mmTlbGenCompleted, raiseGeneration } from './mm.ts';
import { KernelPoint } from './points.ts';

/** struct tlbflush_unmap_batch, one per task: here, per CPU (a reclaim run is one task). */
export class TlbflushUnmapBatch {
  flushRequired = false;
  writable = false;
  /** each mm batched, with the newest generation deferred for it (switch completedGen) */
  readonly mms: number[] = [];
  readonly gens: number[] = [];

  constructor(
    /** the arch's part (struct arch_tlbflush_unmap_batch), opaque here */
    readonly arch: ArchTlbflushUnmapBatch,
  ) {}
}

/** Notes that `mm`'s deferred flush stands for generation `gen`. */
function noteDeferredGen(ubc: TlbflushUnmapBatch, mm: number, gen: number): void {
  const i = ubc.mms.indexOf(mm);
  if (i < 0) {
    ubc.mms.push(mm);
    ubc.gens.push(gen);
  } else if (gen > ubc.gens[i]) {
    ubc.gens[i] = gen;
  }
}

/**
 * Whether a deferred flush whose changes of `mm` stand for generation `gen` is already done: a
 * flush_tlb_mm_range of a later generation finished since (seed 000 patches 08 and 15: a CPU
 * that skipped generations flushed everything to catch up).
 */
function deferredFlushCovered(cpu: Cpu, mm: number, gen: number): boolean {
  return mmTlbGenCompleted(cpu.v, mm) > gen;
}

/** What a deferred flush that is already covered comes to: counted, and skipped if the switch says so. */
function skipCovered(cpu: Cpu, covered: boolean): boolean {
  if (!covered) return false;
  cpu.count(Counter.DeferredFlushesRedundant);
  if (cpu.config.completedGen !== 'skip-completed') return false;
  cpu.count(Counter.DeferredFlushesSkipped);
  return true;
}

const batches = new WeakMap<Cpu, TlbflushUnmapBatch>();

/** A new run starts with no batch pending: the Cpu object outlives runs on its worker. */
export function resetTlbUbc(cpu: Cpu): void {
  batches.delete(cpu);
}

/** current->tlb_ubc */
export function currentTlbUbc(cpu: Cpu): TlbflushUnmapBatch {
  let b = batches.get(cpu);
  if (!b) batches.set(cpu, (b = new TlbflushUnmapBatch(archTlbbatchAlloc(cpu))));
  return b;
}

const FLUSHED_SHIFT = 16;
const PENDING_MASK = (1 << (FLUSHED_SHIFT - 1)) - 1;
const PENDING_LARGE = PENDING_MASK >> 1;

/**
 * set_tlb_ubc_flush_pending: the PTEs of `mm` in [start, end) just cleared are flushed later, in
 * a batch (no range: the whole mm). The arch returns the mm's tlb_gen the deferred flush stands
 * for (x86), or 0.
 */
export function setTlbUbcFlushPending(cpu: Cpu, mm: number, writable: boolean, start = 0, end = TLB_FLUSH_ALL): void {
  const v = cpu.v;
  const ubc = currentTlbUbc(cpu);
  const gen = archTlbbatchAddPending(cpu, ubc.arch, mm, start, end);
  noteDeferredGen(ubc, mm, gen);
  // before the pending count: whoever sees the count sees a generation at least this new
  raiseGeneration(v, mmBase(mm) + MM_TLB_BATCHED_GEN, gen);
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
      Atomics.or(v.globals, G_TLB_FLUSH_BATCHED_CPUMASK, cpus.w0);
      Atomics.or(v.globals, G_TLB_FLUSH_BATCHED_CPUMASK + 1, cpus.w1);
      break;
    }
  }
  if (writable) ubc.writable = true;
}

/** try_to_unmap_flush: the one flush that covers every page this task's reclaim unmapped. */
export function tryToUnmapFlush(cpu: Cpu): void {
  const ubc = currentTlbUbc(cpu);
  if (!ubc.flushRequired) return;
  // (batchedPending=cpumask: x86's arch_tlbbatch_flush widens the batch to every CPU that may
  // hold any batched unmap, not just this task's)
  const covered = ubc.mms.every((mm, i) => deferredFlushCovered(cpu, mm, ubc.gens[i]));
  if (skipCovered(cpu, covered)) archTlbbatchClear(cpu, ubc.arch);
  else archTlbbatchFlush(cpu, ubc.arch);
  ubc.flushRequired = false;
  ubc.writable = false;
  ubc.mms.length = 0;
  ubc.gens.length = 0;
}

/** try_to_unmap_flush_dirty: flush before I/O if a dirty (maybe writable) PTE was batched. */
export function tryToUnmapFlushDirty(cpu: Cpu): void {
  if (currentTlbUbc(cpu).writable) tryToUnmapFlush(cpu);
}

/** Whether every batched unmap of `mm` counted so far is covered by a completed flush. */
function batchedFlushCovered(cpu: Cpu, mm: number): boolean {
  return deferredFlushCovered(cpu, mm, Atomics.load(cpu.v.mm, mmBase(mm) + MM_TLB_BATCHED_GEN));
}

/**
 * flush_tlb_batched_pending: called with the PTL held before changing PTEs of `mm`; flushes
 * whatever reclaim cleared in this mm and has not flushed yet (arch_flush_tlb_batched_pending:
 * flush_tlb_mm on x86).
 */
export function flushTlbBatchedPending(cpu: Cpu, mm: number): void {
  const v = cpu.v;
  const word = mmBase(mm) + MM_TLB_FLUSH_BATCHED;
  switch (cpu.config.batchedPending) {
    case 'flag':
      if (Atomics.load(v.mm, word) !== 0) {
        if (!skipCovered(cpu, batchedFlushCovered(cpu, mm))) archFlushTlbBatchedPending(cpu, mm);
        cpu.raceWindow(KernelPoint.BatchedPendingFlushedBeforeClear); // race window: flushed, flag not yet cleared; a new set_tlb_ubc_flush_pending is lost
        // the race of seed 000 patch 20: a flag set since the flush began is cleared too
        Atomics.store(v.mm, word, 0);
      }
      return;
    case 'counters': {
      const batch = Atomics.load(v.mm, word);
      const pending = batch & PENDING_MASK;
      const flushed = batch >>> FLUSHED_SHIFT;
      if (pending !== flushed) {
        if (!skipCovered(cpu, batchedFlushCovered(cpu, mm))) archFlushTlbBatchedPending(cpu, mm);
        // only if no new pending flush arrived during ours: otherwise leave it for the next caller
        Atomics.compareExchange(v.mm, word, batch, pending | (pending << FLUSHED_SHIFT));
      }
      return;
    }
    case 'cpumask': {
      const pending = CpuMask.load(v.globals, G_TLB_FLUSH_BATCHED_CPUMASK);
      const cpus = mmCpumask(v, mm);
      if ((pending.w0 & cpus.w0) !== 0 || (pending.w1 & cpus.w1) !== 0) archFlushTlbBatchedPending(cpu, mm);
      return;
    }
  }
}
