/*
 * The baton: a controlled schedule over the CPUs' real threads (DESIGN 3b).
 *
 * Invariant: in a controlled run at most K CPUs (H_PARALLEL, --parallel) are between scheduling
 * points at any moment; every other CPU of the run is parked, on its own thread, at a scheduling
 * point or in a wait. Who runs next is decided at every scheduling point, under H_LOCK, by the CPU
 * that reached it, from the strategy's seeded stream (H_RNG) or a replayed log; with K = 1 nothing
 * else runs meanwhile, so the same scenario, kernel, CPUs and seed give the same decisions, and so
 * the same run, byte for byte.
 *
 * Scheduling points (Point in layout.ts): the interrupt point, the race windows the kernel marks,
 * every step another CPU can observe (a PTE write or a walk that sets A/D, a lock taken or dropped,
 * a tlb_gen bump, a frame freed, an IPI posted, an IPI acknowledged) and every wait.
 *
 * A CPU that waits (fabric.ts sleepUnless: a CSD wait, a contended lock, the idle loop, a barrier)
 * blocks: it gives its slot away and is not a candidate again until something kicks it (the
 * IPI_WAKE word every kick bumps, ipi/fabric.ts kickCpu), or until TIMEOUT_STEPS steps have
 * passed, the controlled counterpart of a sleep's time slice: a wait whose waker does not kick
 * (an RCU grace period polled on the other CPUs' IRQ state) still looks again. When no CPU can
 * run, the one blocked longest is woken, as its slice would have ended first. Nothing ever spins
 * while it holds a slot.
 *
 *   cpu A (holds the slot)                  cpu B (parked: state Ready or Blocked)
 *   point(): lock, choose B,
 *     state[A] = Ready, state[B] = Running   Atomics.wait(state[B], Ready) returns
 *     notify B if parked, unlock
 *   Atomics.wait(state[A], Ready)           runs to its next scheduling point
 *
 * The default choice, which the log does not record: the CPU at the point goes on if it can, for at
 * most QUANTUM points in a row; one that blocks, exits or used up its quantum hands over to the
 * next candidate after it, round robin. The log records
 * every other choice (a deviation) with its step and the rolling hash of every (CPU, point) so
 * far: a replay follows the deviations and checks the hash where each was made, so a run that
 * took another path is caught at the first recorded step where it shows (H_DIVERGED).
 *
 * An abort (cpu/smp.ts abortRun) voids the baton (H_RELEASED): every parked CPU is woken and runs
 * free to its next check of the abort word.
 */
import { tlbQuiesce, tlbResume } from '../machine/tlbi-broadcast.ts';
import type { MachineViews } from '../machine/memory.ts';
import { rawSpinLock, rawSpinUnlock } from '../machine/raw-spinlock.ts';
import { IPI_WAKE, PERCPU_WORDS } from '../cpu/percpu-layout.ts';
import { G_STOP } from '../machine/globals-layout.ts';
import { Ev, traceEvent } from '../trace/events.ts';
import { xorshift32 } from '../cpu/xorshift.ts';
import {
  C_BLOCKED_AT, C_PARKED, C_PRIORITY, C_SEEN_WAKE, C_STATE, CHANGE_BASE, CpuState, DEV_WORDS, H_CHANGE_LEN, H_CHANGE_POS,
  H_DIVERGED, H_DIVERGED_CPU, H_HASH, H_HORIZON, H_LAST, H_LOCK, H_LOG_LEN, H_LOG_OVERFLOW, H_PARALLEL, H_PREEMPTIONS,
  H_RELEASED, H_REPLAY_LEN, H_REPLAY_POS, H_RNG, H_RUNNING, H_STEP, H_STRATEGY, LOG_BASE, MAX_STEPS, TIMEOUT_STEPS, LOG_CAP, Point, REPLAY_BASE,
  Strategy, cpuWord, H_ARRIVED, H_SWITCHES, H_WARM, H_WARMERS, C_DEFERRED, C_HELD, QUANTUM, C_LATE_IRQ, DEFER_IRQ, MAX_DEFERRED,
} from './layout.ts';

/** How long one sleep of a parked CPU lasts before it looks at the release word again. */
const PARK_SLICE_MS = 100;

/** The scheduler of this thread's CPU in a controlled run; null when it runs free. */
let baton: Baton | null = null;

/** Makes `b` this thread's baton (null: free running). */
export function bindBaton(b: Baton | null): void {
  baton = b;
}

/** The baton of this thread's CPU, or null when it runs free. */
export function currentBaton(): Baton | null {
  return baton;
}

/**
 * A scheduling point: in a controlled run the scheduler may hand this CPU's slot to another CPU
 * here, and this thread then sleeps until it is chosen again. Nothing in a free run.
 */
export function schedPoint(point: Point, arg = 0): void {
  if (baton !== null) baton.point(point, arg);
}

export class Baton {
  private readonly s: Int32Array;
  private readonly p: Int32Array;
  private readonly nrCpus: number;
  /** scratch for the candidates of one decision: no allocation at a scheduling point */
  private readonly candidates: Int32Array;

  constructor(private readonly v: MachineViews, readonly cpu: number) {
    this.s = v.sched;
    this.p = v.percpu;
    this.nrCpus = v.nrCpus;
    this.candidates = new Int32Array(v.nrCpus);
  }

  private released(): boolean {
    return Atomics.load(this.s, H_RELEASED) !== 0;
  }

  /**
   * The start of the run's schedule: this CPU is a candidate from now on. The last CPU to arrive
   * makes the first choice, from all of them, so the choice does not depend on arrival order.
   */
  enter(): void {
    const s = this.s;
    rawSpinLock(s, H_LOCK);
    s[cpuWord(this.cpu, C_STATE)] = CpuState.Ready;
    if (++s[H_ARRIVED] === this.nrCpus) {
      s[H_LAST] = this.nrCpus - 1;
      this.fill(Point.Start);
      // the host's other cores kept busy while the CPUs take turns (machine/machine.ts)
      Atomics.store(s, H_WARM, s[H_WARMERS]);
      Atomics.notify(s, H_WARM);
    }
    rawSpinUnlock(s, H_LOCK);
    this.waitTurn();
  }

  /**
   * A scheduling point of the CPU holding a slot (schedPoint); `arg` is traced with a hand-over
   * (the kernel point + 1 of a race window).
   */
  point(point: Point, arg: number): void {
    if (this.released()) return;
    const s = this.s;
    rawSpinLock(s, H_LOCK);
    const next = this.decide(point, true);
    if (next !== this.cpu) {
      // before the grant: the next CPU's events come after it
      traceEvent(this.v, this.cpu, Ev.SchedSwitch, next, point, arg);
      s[cpuWord(this.cpu, C_STATE)] = CpuState.Ready;
      s[H_RUNNING]--;
      this.grant(next);
    }
    // with K > 1 a slot left free (a CPU that blocked with no one to run) is filled here
    this.fill(point);
    rawSpinUnlock(s, H_LOCK);
    this.waitTurn();
  }

  /**
   * Whether this CPU, at an interrupt point with IRQs on and an IPI pending, leaves it pending to
   * its next interrupt point: in hardware the interrupt lands at whichever instruction boundary
   * it reaches first, so when it lands is a scheduling decision too. The default (not logged) is
   * to take it now; at most MAX_DEFERRED points in a row leave it.
   */
  deferInterrupt(): boolean {
    if (this.released()) return false;
    const s = this.s;
    rawSpinLock(s, H_LOCK);
    const hash = this.countStep(this.cpu, Point.IrqDelivery);
    const step = s[H_STEP];
    const at = cpuWord(this.cpu, C_DEFERRED);
    let defer = false;
    if (s[at] < MAX_DEFERRED) {
      switch (s[H_STRATEGY]) {
        case Strategy.Random:
          defer = (this.random() & 1) !== 0;
          break;
        case Strategy.Pct:
          defer = s[cpuWord(this.cpu, C_LATE_IRQ)] !== 0;
          break;
        case Strategy.Replay:
        case Strategy.ReplayLenient:
          defer = this.replayChoice(1, step, hash, this.cpu, true) === DEFER_IRQ;
          break;
      }
    }
    if (defer) this.log(step, DEFER_IRQ, hash);
    s[at] = defer ? s[at] + 1 : 0;
    rawSpinUnlock(s, H_LOCK);
    return defer;
  }

  /**
   * A wait that found its condition false (ipi/fabric.ts sleepUnless): blocks until a kick moves
   * IPI_WAKE past `seenWake`, or the wait's slice of steps ends, and this CPU is chosen again.
   * Returns false, having waited for nothing, when the baton is void (the caller sleeps itself).
   */
  block(seenWake: number): boolean {
    if (this.released()) return false;
    const s = this.s;
    rawSpinLock(s, H_LOCK);
    s[cpuWord(this.cpu, C_STATE)] = CpuState.Blocked;
    s[cpuWord(this.cpu, C_SEEN_WAKE)] = seenWake;
    s[cpuWord(this.cpu, C_BLOCKED_AT)] = s[H_STEP];
    s[H_RUNNING]--;
    const next = this.decide(Point.Block, false);
    if (next !== this.cpu) traceEvent(this.v, this.cpu, Ev.SchedSwitch, next, Point.Block, 0);
    if (next >= 0) this.grant(next);
    this.fill(Point.Block);
    rawSpinUnlock(s, H_LOCK);
    this.waitTurn();
    return true;
  }

  /** The end of this CPU's run: its slot goes to another CPU, and it is never chosen again. */
  exit(): void {
    const s = this.s;
    // the CPUs are finishing, at once: the warmers go back to sleep
    Atomics.store(s, H_WARM, 0);
    if (this.released()) return;
    rawSpinLock(s, H_LOCK);
    s[cpuWord(this.cpu, C_STATE)] = CpuState.Exited;
    s[H_RUNNING]--;
    const next = this.decide(Point.Exit, false);
    if (next >= 0) this.grant(next);
    this.fill(Point.Exit);
    rawSpinUnlock(s, H_LOCK);
  }

  /**
   * Returns when this CPU holds a slot (or the baton is void), sleeping until then. No spinning first: measured on a
   * 2-core host, a spinning CPU slowed trials down (it holds the core the woken CPU needs), and a
   * hand-over through the futex costs 40-70 us there, most of it waking an idle host core.
   */
  private waitTurn(): void {
    const s = this.s;
    const at = cpuWord(this.cpu, C_STATE);
    if (Atomics.load(s, at) === CpuState.Running) return;
    // parked, the CPU runs no instruction: its TLB is left to INVLPGB issuers (machine/tlbi-broadcast.ts)
    tlbQuiesce(this.v, this.cpu);
    for (;;) {
      // the granter stores Running, then notifies if it sees C_PARKED: one of the two sees the other
      Atomics.store(s, cpuWord(this.cpu, C_PARKED), 1);
      const state = Atomics.load(s, at);
      if (state === CpuState.Running || this.released()) break;
      Atomics.wait(s, at, state, PARK_SLICE_MS);
    }
    Atomics.store(s, cpuWord(this.cpu, C_PARKED), 0);
    tlbResume(this.v, this.cpu);
  }

  /** Gives `c` a slot (under H_LOCK) and wakes it if it sleeps. */
  private grant(c: number): void {
    const s = this.s;
    s[H_RUNNING]++;
    s[H_LAST] = c;
    s[cpuWord(c, C_HELD)] = 0;
    Atomics.store(s, cpuWord(c, C_STATE), CpuState.Running);
    if (c !== this.cpu) s[H_SWITCHES]++;
    if (c !== this.cpu && Atomics.load(s, cpuWord(c, C_PARKED)) !== 0) Atomics.notify(s, cpuWord(c, C_STATE));
  }

  /**
   * With K > 1: fills the slots left free with more candidates, by the strategy (a CPU that just
   * gave its slot away may get one back). Under H_LOCK. With K = 1 no slot is left free after a
   * decision, but at the start and when no CPU can run.
   */
  private fill(point: Point): void {
    const s = this.s;
    while (s[H_RUNNING] < s[H_PARALLEL]) {
      const next = this.decide(point, false);
      if (next < 0) return;
      this.grant(next);
    }
  }

  /**
   * One decision, under H_LOCK: counts the step, folds it into the hash, applies PCT's change
   * points, picks the CPU to run from the candidates and logs the pick if it is not the default.
   * `selfRunnable`: this CPU holds a slot and may go on. Returns -1 when no CPU can run.
   */
  private decide(point: Point, selfRunnable: boolean): number {
    const s = this.s;
    // the start's decision is made by whichever CPU arrived last: it is not part of the run
    const hashBefore = this.countStep(point === Point.Start ? 0xff : this.cpu, point);
    const step = s[H_STEP];
    if (step === MAX_STEPS) this.askToStop();
    const n = this.gatherCandidates(selfRunnable, step);
    if (n === 0) return -1;
    const def = this.defaultChoice(n, selfRunnable);
    let next = def;
    switch (s[H_STRATEGY]) {
      case Strategy.Random:
        next = this.candidates[this.random() % n];
        break;
      case Strategy.Pct:
        next = this.pctChoice(n, step, selfRunnable);
        break;
      case Strategy.Replay:
      case Strategy.ReplayLenient:
        next = this.replayChoice(n, step, hashBefore, def, false);
        break;
    }
    if (next !== def) {
      this.log(step, next, hashBefore);
      // a recorded choice that took the slot from a CPU that could have gone on
      if (selfRunnable && next !== this.cpu) s[H_PREEMPTIONS]++;
    }
    if (selfRunnable && next === this.cpu) s[cpuWord(this.cpu, C_HELD)]++;
    return next;
  }

  /**
   * Counts one step (under H_LOCK) and folds (`who`, `point`) into the rolling hash a replay
   * checks. Returns the hash before the step, which a logged choice keeps.
   */
  private countStep(who: number, point: Point): number {
    const s = this.s;
    s[H_STEP]++;
    const before = s[H_HASH];
    s[H_HASH] = Math.imul(before ^ (who | (point << 8)), 0x01000193);
    return before;
  }

  /**
   * Fills `candidates` with the CPUs that may run now, in CPU order: this one if it may go on,
   * the Ready ones, and the Blocked ones kicked since they blocked or whose slice of steps is over
   * (made Ready here). When there is none, the CPU blocked longest is woken.
   */
  private gatherCandidates(selfRunnable: boolean, step: number): number {
    const s = this.s;
    let n = 0;
    let longest = -1;
    for (let c = 0; c < this.nrCpus; c++) {
      // this CPU holds its slot (Running) when it may go on
      if (c === this.cpu && selfRunnable) {
        this.candidates[n++] = c;
        continue;
      }
      const at = cpuWord(c, C_STATE);
      // a CPU that blocked, this one too (it may have been kicked while it blocked)
      if (s[at] === CpuState.Blocked) {
        const kicked = Atomics.load(this.p, c * PERCPU_WORDS + IPI_WAKE) !== s[cpuWord(c, C_SEEN_WAKE)];
        if (kicked || step - s[cpuWord(c, C_BLOCKED_AT)] >= TIMEOUT_STEPS) {
          s[at] = CpuState.Ready;
        } else if (longest < 0 || s[cpuWord(c, C_BLOCKED_AT)] < s[cpuWord(longest, C_BLOCKED_AT)]) {
          longest = c;
        }
      }
      if (s[at] === CpuState.Ready) this.candidates[n++] = c;
    }
    if (n === 0 && longest >= 0) {
      s[cpuWord(longest, C_STATE)] = CpuState.Ready;
      this.candidates[n++] = longest;
    }
    return n;
  }

  /**
   * This CPU if it may go on and has not used up its QUANTUM, else the first candidate after the
   * CPU that ran last (this one, when it goes on), round robin.
   */
  private defaultChoice(n: number, selfRunnable: boolean): number {
    if (selfRunnable && this.s[cpuWord(this.cpu, C_HELD)] < QUANTUM) return this.cpu;
    const last = selfRunnable ? this.cpu : this.s[H_LAST];
    for (let i = 0; i < n; i++) if (this.candidates[i] > last) return this.candidates[i];
    return this.candidates[0];
  }

  /**
   * PCT (Burckhardt et al., ASPLOS 2010): the candidate of highest priority runs; at each change
   * point the CPU holding the slot drops below every priority given at the start. Past the
   * horizon the choice is uniform, so that a CPU that polls without blocking cannot starve the
   * one it waits for.
   */
  private pctChoice(n: number, step: number, selfRunnable: boolean): number {
    const s = this.s;
    let pos = s[H_CHANGE_POS];
    const len = s[H_CHANGE_LEN];
    while (pos < len && s[CHANGE_BASE + pos] <= step) {
      // the i-th change point gives priority d - 1 - i: below the initial ones (d and up)
      if (selfRunnable) s[cpuWord(this.cpu, C_PRIORITY)] = len - pos;
      pos++;
    }
    s[H_CHANGE_POS] = pos;
    if (step > s[H_HORIZON]) return this.candidates[this.random() % n];
    let best = this.candidates[0];
    for (let i = 1; i < n; i++) {
      const c = this.candidates[i];
      if (s[cpuWord(c, C_PRIORITY)] > s[cpuWord(best, C_PRIORITY)]) best = c;
    }
    return best;
  }

  /**
   * The next recorded deviation if it is for this step, else the default. A recorded CPU that
   * cannot run, or a hash that differs from the recorded one, is a divergence: a strict replay
   * voids the baton and asks the run to stop (the control plane reports where); a lenient one
   * takes the default.
   */
  private replayChoice(n: number, step: number, hash: number, def: number, irq: boolean): number {
    const s = this.s;
    const pos = s[H_REPLAY_POS];
    if (pos >= s[H_REPLAY_LEN]) return def;
    const at = REPLAY_BASE + pos * DEV_WORDS;
    const strict = s[H_STRATEGY] === Strategy.Replay;
    if (s[at] > step) return def;
    if (s[at] < step && !strict) {
      // a lenient replay skips deviations of steps it went past (a shorter path)
      while (s[H_REPLAY_POS] < s[H_REPLAY_LEN] && s[REPLAY_BASE + s[H_REPLAY_POS] * DEV_WORDS] < step) s[H_REPLAY_POS]++;
      return this.replayChoice(n, step, hash, def, irq);
    }
    s[H_REPLAY_POS] = pos + 1;
    const want = s[at + 1];
    // an IPI decision takes DEFER_IRQ only, a CPU decision one of the candidates
    let runnable = irq ? want === DEFER_IRQ : false;
    if (!irq) for (let i = 0; i < n; i++) if (this.candidates[i] === want) runnable = true;
    if (strict && (s[at] !== step || !runnable || s[at + 2] !== hash)) {
      this.diverge(Math.min(s[at], step), want);
      return def;
    }
    return runnable ? want : def;
  }

  private diverge(step: number, want: number): void {
    const s = this.s;
    if (s[H_DIVERGED] === 0) {
      s[H_DIVERGED] = step + 1;
      s[H_DIVERGED_CPU] = want;
    }
    this.askToStop();
    releaseBaton(this.v);
  }

  private log(step: number, cpu: number, hash: number): void {
    const s = this.s;
    const i = s[H_LOG_LEN];
    if (i >= LOG_CAP) {
      s[H_LOG_OVERFLOW] = 1;
      return;
    }
    const at = LOG_BASE + i * DEV_WORDS;
    s[at] = step;
    s[at + 1] = cpu;
    s[at + 2] = hash;
    s[H_LOG_LEN] = i + 1;
  }

  /** The strategy's xorshift32 stream (H_RNG), under H_LOCK. */
  private random(): number {
    const x = xorshift32(this.s[H_RNG]);
    this.s[H_RNG] = x;
    return x >>> 0;
  }

  /** The step budget is spent (or a replay diverged): the programs are asked to wind down. */
  private askToStop(): void {
    Atomics.store(this.v.globals, G_STOP, 1);
    // every kick bumps a sleeper's IPI_WAKE; the blocked CPUs look again at their next turn
    for (let c = 0; c < this.nrCpus; c++) Atomics.add(this.p, c * PERCPU_WORDS + IPI_WAKE, 1);
  }
}

/**
 * Voids the baton of a controlled run (an abort, a divergence): every CPU parked at a
 * scheduling point or blocked in a wait is woken and runs free from now on.
 */
export function releaseBaton(v: MachineViews): void {
  const s = v.sched;
  if (Atomics.load(s, H_STRATEGY) === 0) return;
  Atomics.store(s, H_RELEASED, 1);
  for (let c = 0; c < v.nrCpus; c++) Atomics.notify(s, cpuWord(c, C_STATE));
}

/** Whether this run is controlled: set by the control plane before the CPUs start. */
export function isControlled(v: MachineViews): boolean {
  return Atomics.load(v.sched, H_STRATEGY) !== 0;
}
