/*
 * asid-transition-switching: can a CPU that was in the middle of switch_mm when its mm got a global
 * ASID go on running the mm on its per-CPU ASID, out of reach of every later broadcast flush?
 *
 * Source: mainline 4afeb0ed1753 "x86/mm: Enable broadcast TLB invalidation for multi-threaded
 * processes" (Rik van Riel, v6.15), arch/x86/mm/tlb.c:finish_asid_transition, whose loop over
 * mm_cpumask first waits while the remote CPU's loaded_mm is LOADED_MM_SWITCHING, "to catch the
 * unlikely case of it switching to the target mm with an out of date ASID". The buggy preset is
 * that loop without the wait (switch asidTransition=no-switching-wait).
 *
 * The mechanism (x86TlbFlush=invlpgb, arch/x86/broadcast.ts and flush.ts): an mm that four CPUs
 * run gets a global ASID in consider_global_asid, after an IPI flush. From then on its flushes are
 * INVLPGBs naming the global PCID only; while mm->context.asid_transition is set, each of them
 * also looks at every CPU of mm_cpumask and IPIs them all if one runs the mm on a per-CPU ASID
 * (the IPI moves it over). A CPU in switch_mm that read mm_global_asid() == 0 chooses a per-CPU
 * ASID and loads it a moment later. A flusher that does not wait for it sees neither the mm nor
 * a per-CPU ASID there, finds every other CPU on the global ASID, and ends the transition: that
 * CPU now runs the mm on a PCID no flush will ever name again, until it switches once more.
 *
 *   CPU 0 (a thread of the process)         CPU 1..4 (threads, each now and then switched out)
 *   loop:                                   loop:
 *     madvise(page i, MADV_DONTNEED)          switch_mm(mm): loaded_mm = SWITCHING,
 *       flush_tlb_mm_range: IPIs, then          mm_global_asid() == 0 -> a per-CPU ASID
 *       consider_global_asid -> global ASID     [window: switch-mm:asid-chosen]
 *     context switch out and back in            ... the flusher ends the transition here
 *       (takes the global ASID)                 CR3 loaded with the per-CPU PCID
 *     next madvise: INVLPGB of the global       loads and stores all over the pages
 *       PCID, finish_asid_transition,           switch to init_mm, a little kernel work
 *       TLBSYNC; the page is freed
 *
 * Forbidden: use-after-free (a load or store through the stranded CPU's entry for a page that
 * MADV_DONTNEED freed after its broadcast flush returned).
 *   buggy (x86TlbFlush=invlpgb, asidTransition=no-switching-wait)   sometimes
 *   fixed (x86TlbFlush=invlpgb)                                     never: the flusher waits for
 *     the switch to finish, sees the per-CPU ASID and IPIs the mask, which moves that CPU over
 *
 * Race window stretched by noise: switch-mm:asid-chosen (switch_mm between choose_new_asid and the
 * CR3 load). A trial has one transition: the mm gets its global ASID once; the driver stops TAIL
 * madvises after that (or after `rounds` without one). The interleaving is forced with handshakes
 * in test/fixtures/asid-transition-workloads.ts (test/scenarios/asid-transition-switching.test.ts).
 */
import type { Cpu } from '../../cpu/cpu.ts';
import type { MachineViews } from '../../machine/memory.ts';
import { PAGE_SIZE } from '../../machine/phys-layout.ts';
import { switchMm } from '../../arch/x86/flush.ts';
import { smpBarrier } from '../../cpu/smp.ts';
import { mmBase } from '../../kernel/mm.ts';
import { INIT_MM, MM_GLOBAL_ASID } from '../../kernel/mm-layout.ts';
import { MADV_DONTNEED, sysMadvise } from '../../kernel/madvise.ts';
import { defineScenario } from '../scenario.ts';
import { driverGoesOn, flagParams, followerGoesOn, loadBurst, mapAndTouch, setFlag, storeBurst, waitFor, type FlagParams, type RoundsOptions } from './lib.ts';

const BASE = 2 ** 37;
const PAGES = 4;
/** madvises the driver makes once the mm has its global ASID: the transition is over by then */
const TAIL = 32;

export interface Options extends RoundsOptions {
  /** loads, then as many stores, a user thread makes each time it is switched in */
  burst: number;
  /** kernel work (interrupt points) while a user thread is switched out */
  away: number;
  /** the driver's own loads between two madvises */
  work: number;
}

interface Params extends FlagParams {
  burst: number;
  away: number;
  work: number;
}

// flag words: the mapping is populated
const F_MAPPED = 0;

/** The mm's global ASID, 0 while it has none (read as consider_global_asid's callers would see it). */
const globalAsid = (v: MachineViews, mm: number): number => Atomics.load(v.mm, mmBase(mm) + MM_GLOBAL_ASID);

function driver(cpu: Cpu, p: Params): void {
  mapAndTouch(cpu, p.mm, BASE, PAGES * PAGE_SIZE, PAGES);
  setFlag(cpu, p, F_MAPPED, 1);
  let end = p.rounds;
  for (let round = 0; driverGoesOn(cpu, round, end); round++) {
    sysMadvise(cpu, p.mm, BASE + (round % PAGES) * PAGE_SIZE, PAGE_SIZE, MADV_DONTNEED);
    if (end === p.rounds && globalAsid(cpu.v, p.mm) !== 0) end = Math.min(p.rounds, round + 1 + TAIL);
    // a context switch between two system calls of the thread: out and back in
    switchMm(cpu, INIT_MM);
    cpu.interruptPoint();
    switchMm(cpu, p.mm);
    loadBurst(cpu, BASE, PAGES, p.work);
  }
}

function user(cpu: Cpu, p: Params): void {
  waitFor(cpu, () => Atomics.load(p.flags, F_MAPPED) !== 0);
  for (let n = 1; followerGoesOn(cpu); n++) {
    switchMm(cpu, p.mm);
    loadBurst(cpu, BASE, PAGES, p.burst);
    storeBurst(cpu, BASE, PAGES, p.burst, n);
    switchMm(cpu, INIT_MM);
    for (let i = 0; i < p.away; i++) cpu.interruptPoint();
  }
}

export default defineScenario<Params, Options>({
  name: 'asid-transition-switching',
  question: 'Can a CPU that chose a per-CPU ASID just before its mm got a global one be left out of the transition, so that later broadcast flushes never reach its TLB?',
  forbidden: 'use-after-free',
  cpus: 5,
  presets: { buggy: ['x86TlbFlush=invlpgb', 'asidTransition=no-switching-wait'], fixed: ['x86TlbFlush=invlpgb'] },
  expected: { buggy: 'sometimes', fixed: 'never' },
  trialOptions: { rounds: 400, burst: 128, away: 8, work: 256 },
  noise: 'high',
  setup: (v, o) => ({ ...flagParams(v, o), burst: o.burst, away: o.away, work: o.work }),
  run(cpu: Cpu, p: Params): null {
    switchMm(cpu, p.mm);
    smpBarrier(cpu);
    if (cpu.id === 0) driver(cpu, p);
    else user(cpu, p);
    return null;
  },
});
