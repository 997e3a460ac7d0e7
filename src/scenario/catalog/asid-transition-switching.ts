/*
 * asid-transition-switching: can a CPU that was in the middle of switch_mm when its mm got a global
 * ASID go on running the mm on its per-CPU ASID, out of reach of every later broadcast flush?
 *
 * Source: mainline 4afeb0ed1753 "x86/mm: Enable broadcast TLB invalidation for multi-threaded
 * processes" (Rik van Riel, v6.15), arch/x86/mm/tlb.c:finish_asid_transition, whose loop over
 * mm_cpumask first waits while the remote CPU's loaded_mm is LOADED_MM_SWITCHING, "to catch the
 * unlikely case of it switching to the target mm with an out of date ASID". The buggy preset is
 * that loop without the wait (switch asidTransition=no-switching-wait). It is not a version that
 * was posted: every version of the series found (v4 to the merge) has the wait; the preset takes
 * away what that comment says the wait is for.
 *
 * The mechanism (x86TlbFlush=invlpgb, arch/x86/broadcast.ts and flush.ts): an mm that four CPUs
 * run gets a global ASID in consider_global_asid, after an IPI flush (one flush in 32 looks). From
 * then on its flushes are INVLPGBs naming the global PCID only; while mm->context.asid_transition
 * is set, each of them also looks at every CPU of mm_cpumask and IPIs them all if one runs the mm
 * on a per-CPU ASID (the IPI moves it over). A CPU in switch_mm that read mm_global_asid() == 0
 * chooses a per-CPU ASID and loads it a moment later. A flusher that does not wait for it sees
 * neither the mm nor a per-CPU ASID there, finds every other CPU on the global ASID, and ends the
 * transition: that CPU now runs the mm on a PCID no flush will name again until it switches.
 *
 * The programs (a process of five threads, one per CPU, sharing one page):
 *   CPU 0      (the flusher) madvise(MADV_DONTNEED) of the page, wakes CPUs 1-3 and waits until
 *              they ran (a futex), is rescheduled (out and back in), again and again
 *   CPU 1-3    wake once a round, are rescheduled, read the page, sleep in the mm: with CPU 0,
 *              the four CPUs consider_global_asid counts, and each comes back from a reschedule
 *              on the global ASID once there is one
 *   CPU 4      switched in and out all the time; while in, `burst` reads of the page and a store
 *
 *   CPU 0                                       CPU 4
 *   madvise: IPI flush; consider_global_asid    switch_mm(mm): loaded_mm = SWITCHING,
 *     assigns the global ASID                     mm_global_asid() == 0: a per-CPU ASID
 *   wake CPUs 1-3: they take the global ASID      [window: switch-mm:asid-chosen]
 *   rescheduled: takes it too
 *   madvise: INVLPGB, finish_asid_transition:
 *     CPU 4 switching: skipped (buggy), and
 *     the transition ends; TLBSYNC; freed       CR3 loaded with the per-CPU PCID
 *   madvise: INVLPGB; the page freed again      reads the page through an entry that no
 *                                                 INVLPGB names: use-after-free
 *
 * Forbidden: use-after-free (a read or write through CPU 4's entry for a page MADV_DONTNEED freed
 * after its broadcast flush returned; access-after-return sees the same access).
 *   buggy (x86TlbFlush=invlpgb, asidTransition=no-switching-wait)   sometimes
 *   fixed (x86TlbFlush=invlpgb)                                     never: the flusher waits for
 *     the switch to finish, sees the per-CPU ASID and IPIs the mask, which moves CPU 4 over
 *
 * Race window stretched by noise: switch-mm:asid-chosen (switch_mm between choose_new_asid and the
 * CR3 load; on a host with fewer cores than CPUs, also the host's own preemption of CPU 4 there).
 * A trial has one transition: the driver stops TAIL madvises after the mm got its global ASID (or
 * after `rounds` without one). The interleaving is forced with handshakes in
 * test/fixtures/asid-transition-workloads.ts (test/scenarios/asid-transition-switching.test.ts).
 *
 * Measured (2-core VM shared with other jobs, 5 CPUs, noise low): stress --kernel buggy --duration
 * 20s --stop-on-first found it in each of 8 runs, after 0.6-12.8 s (2-279 trials); at noise high
 * in 2 of 2 (8.7 s, 11.7 s). The fixed preset ran 3239 trials in 200 s with no report of any kind.
 */
import type { Cpu } from '../../cpu/cpu.ts';
import { PAGE_SIZE } from '../../machine/phys-layout.ts';
import { switchMm } from '../../arch/mmu-context.ts';
import { smpBarrier } from '../../cpu/smp.ts';
import { INIT_MM } from '../../kernel/mm-layout.ts';
import { mmGlobalAsid } from '../../arch/x86/broadcast.ts';
import { MADV_DONTNEED, sysMadvise } from '../../kernel/madvise.ts';
import { defineScenario } from '../scenario.ts';
import { bumpFlag, driverGoesOn, flagParams, followerGoesOn, loadBurst, mapAndTouch, setFlag, waitFor, type FlagParams, type RoundsOptions } from './lib.ts';

/** the one page the threads share */
const PAGE = 2 ** 37;
/** madvises the driver makes once the mm has its global ASID: the transition is over by then */
const TAIL = 32;

export interface Options extends RoundsOptions {
  /** reads the switching thread makes each time it is switched in */
  burst: number;
}

interface Params extends FlagParams {
  burst: number;
}

// flag words: the mapping is populated; the driver's madvises so far; the rounds the others ran
const F_MAPPED = 0;
const F_ROUND = 1;
const F_DONE = 2;
/** the thread that switches in and out all the time; the others (but CPU 0) switch once a round */
const SWITCHER = 4;

/** A context switch of the thread running `mm` on this CPU: out, and back in. */
function reschedule(cpu: Cpu, mm: number): void {
  switchMm(cpu, INIT_MM);
  cpu.interruptPoint();
  switchMm(cpu, mm);
}

function driver(cpu: Cpu, p: Params): void {
  mapAndTouch(cpu, p.mm, PAGE, PAGE_SIZE, 1);
  setFlag(cpu, p, F_MAPPED, 1);
  let end = p.rounds;
  for (let round = 0; driverGoesOn(cpu, round, end); round++) {
    sysMadvise(cpu, p.mm, PAGE, PAGE_SIZE, MADV_DONTNEED);
    if (end === p.rounds && mmGlobalAsid(cpu, p.mm) !== 0) end = Math.min(p.rounds, round + 1 + TAIL);
    bumpFlag(cpu, p, F_ROUND);
    // the thread waits for its workers to take the round (a futex), then runs on
    waitFor(cpu, () => Atomics.load(p.flags, F_DONE) >= (round + 1) * (cpu.v.nrCpus - 2));
    reschedule(cpu, p.mm);
  }
}

/** A thread woken once a round (a futex the driver wakes): it is rescheduled, reads, and sleeps again. */
function roundUser(cpu: Cpu, p: Params): void {
  let seen = 0;
  while (followerGoesOn(cpu)) {
    waitFor(cpu, () => Atomics.load(p.flags, F_ROUND) !== seen);
    seen = Atomics.load(p.flags, F_ROUND);
    reschedule(cpu, p.mm);
    cpu.load(PAGE);
    bumpFlag(cpu, p, F_DONE);
  }
}

/** A thread that is switched in and out all the time, reading and writing while it is in. */
function switchingUser(cpu: Cpu, p: Params): void {
  waitFor(cpu, () => Atomics.load(p.flags, F_MAPPED) !== 0);
  for (let n = 1; followerGoesOn(cpu); n++) {
    switchMm(cpu, p.mm);
    loadBurst(cpu, PAGE, 1, p.burst);
    cpu.store(PAGE, n);
    switchMm(cpu, INIT_MM);
    cpu.interruptPoint();
  }
}

export default defineScenario<Params, Options>({
  name: 'asid-transition-switching',
  question: 'Can a CPU that chose a per-CPU ASID just before its mm got a global one be left out of the transition, so that later broadcast flushes never reach its TLB?',
  source: 'mainline 4afeb0ed1753 "x86/mm: Enable broadcast TLB invalidation for multi-threaded processes" (v6.15), finish_asid_transition\'s wait for a CPU in switch_mm ("to catch the unlikely case of it switching to the target mm with an out of date ASID"); the preset without the wait was never posted',
  forbidden: 'use-after-free',
  cpus: 5,
  presets: { buggy: ['x86TlbFlush=invlpgb', 'asidTransition=no-switching-wait'], fixed: ['x86TlbFlush=invlpgb'] },
  expected: { buggy: 'sometimes', fixed: 'never' },
  trialOptions: { rounds: 400, burst: 64 },
  // 0.6 to 12.8 s to show on 2 cores (above): more than an equal share of the main job's budget
  rare: 'last',
  setup: (v, o) => ({ ...flagParams(v, o), burst: o.burst }),
  run(cpu: Cpu, p: Params): null {
    switchMm(cpu, p.mm);
    smpBarrier(cpu);
    if (cpu.id === 0) driver(cpu, p);
    else if (cpu.id === SWITCHER) switchingUser(cpu, p);
    else roundUser(cpu, p);
    return null;
  },
});
