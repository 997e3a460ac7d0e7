/*
 * dontneed-nested-flush (DESIGN 4, seed 002; mainline 99baac21e458)
 *
 * Question: can MADV_DONTNEED return while another CPU still reaches the zapped pages through its
 * TLB, because a concurrent MADV_DONTNEED of the same range cleared the PTEs and has not flushed?
 *
 *   CPU 0 and CPU 1 (users of one buffer)        CPU 2 (reader)
 *   each round:                                  each round:
 *     fill the buffer with stores                  load random words of the buffer
 *     -- checkpoint: everyone has used the buffer --
 *     madvise(buffer, MADV_DONTNEED)               wait until a madvise has returned
 *     count the return                             load random words of the buffer
 *     read the buffer back (zero-fill expected)
 *     -- checkpoint: the round is over --
 *
 * The checkpoints only make the rounds: inside the madvise phase nothing orders the two zappers,
 * the reader or the flush IPIs. They also keep the promise oracle exact: no TLB entry is filled
 * while one madvise has zapped and not yet returned and another is about to clear the PTEs again
 * (an entry filled in that gap would be judged by the first promise against the second clear).
 *
 * The race, as it happens: both CPUs zap the range under the mmap_lock held for reading; the one
 * that comes second finds every PTE already clear, gathers nothing, and (buggy) flushes nothing, so
 * its madvise returns while the first one's flush has not reached the other CPUs. The caller's own
 * read-back, or a reader, then completes through the stale entry.
 *
 * Forbidden: access-after-return (check/promises.ts: the madvise's promise, checked on the access).
 *
 * Presets and expected results:
 *   buggy  nestedForceFlush=off   sometimes
 *   fixed  (mainline)             never: tlb_finish_mmu sees mm_tlb_flush_nested() and flushes
 *
 * Race windows stretched by noise: after each PTE clear (zap.ts) and before the gather's flush
 * (mmu-gather.ts tlbFlushMmuTlbonly).
 *
 * Measured (3 CPUs on 2 cores, noise high, 50 rounds a trial): buggy, the first trial for each of
 * seeds 11-20; fixed, no report in 200 trials of 200 rounds.
 */
import type { Cpu } from '../../cpu/cpu.ts';
import type { MachineViews } from '../../machine/memory.ts';
import { CONTROL_CPU } from '../../machine/frames.ts';
import { PAGE_SIZE } from '../../machine/phys-layout.ts';
import { switchMm } from '../../arch/mmu-context.ts';
import { kickAll, smpBarrier } from '../../cpu/smp.ts';
import { mmAlloc } from '../../kernel/mm.ts';
import { PROT_READ, PROT_WRITE, sysMmap } from '../../kernel/mmap.ts';
import { MADV_DONTNEED, sysMadvise } from '../../kernel/madvise.ts';
import { defineScenario, keepGoing } from '../scenario.ts';
import { SCENARIO_BASE, loadBurst, storeBurst, type RoundsOptions } from './lib.ts';

const PAGES = 4;
const BURST = 64;

interface Params {
  mm: number;
  rounds: number;
  /** madvise calls that have returned, bumped by their callers */
  returned: Int32Array;
}

/** A user's round: fill the buffer, give it back, read it again. */
function userRound(cpu: Cpu, p: Params, round: number): void {
  storeBurst(cpu, SCENARIO_BASE, PAGES, BURST, round + 1);
  smpBarrier(cpu);
  sysMadvise(cpu, p.mm, SCENARIO_BASE, PAGES * PAGE_SIZE, MADV_DONTNEED);
  Atomics.add(p.returned, 0, 1);
  kickAll(cpu.v);
  loadBurst(cpu, SCENARIO_BASE, PAGES, BURST);
  smpBarrier(cpu);
}

/** The reader's round: read the buffer, then again once a madvise has returned. */
function readerRound(cpu: Cpu, p: Params, round: number): void {
  loadBurst(cpu, SCENARIO_BASE, PAGES, BURST);
  smpBarrier(cpu);
  // users bump the count twice a round: this round's first return makes it odd
  cpu.idleUntil(() => Atomics.load(p.returned, 0) > 2 * round || cpu.shouldStop());
  loadBurst(cpu, SCENARIO_BASE, PAGES, BURST);
  smpBarrier(cpu);
}

export default defineScenario<Params, RoundsOptions>({
  name: 'dontneed-nested-flush',
  question: 'Can MADV_DONTNEED return before the TLB entries of the range are gone, when another MADV_DONTNEED zapped it first?',
  source: 'seed 002; mainline 99baac21e458 "mm: fix MADV_[FREE|DONTNEED] TLB flush miss problem"',
  arches: ['x86', 'arm64'],
  forbidden: 'access-after-return',
  cpus: 3,
  presets: { buggy: ['nestedForceFlush=off'], fixed: [] },
  expected: { buggy: 'sometimes', fixed: 'never' },
  trialOptions: { rounds: 50 },

  setup(v: MachineViews, { rounds }: RoundsOptions): Params {
    return { mm: mmAlloc(v, CONTROL_CPU), rounds, returned: new Int32Array(new SharedArrayBuffer(4)) };
  },

  run(cpu: Cpu, p: Params): void {
    switchMm(cpu, p.mm);
    if (cpu.id === 0) sysMmap(cpu, p.mm, { addr: SCENARIO_BASE, length: PAGES * PAGE_SIZE, prot: PROT_READ | PROT_WRITE });
    smpBarrier(cpu);
    // every CPU makes the same rounds, so that the checkpoints match; a violation ends them all
    for (let round = 0; keepGoing(cpu, round, p.rounds); round++) {
      if (cpu.id < 2) userRound(cpu, p, round);
      else readerRound(cpu, p, round);
    }
  },
});
