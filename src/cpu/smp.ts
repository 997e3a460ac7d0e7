/*
 * Run control shared by all CPUs of a run: the barrier, the end-of-program rendezvous and the
 * abort that tears a failed run down (and that the run watchdog, machine/machine.ts, uses too). Waiting CPUs sleep in the idle loop and keep taking IPIs,
 * so a CPU at a barrier never blocks another CPU's flush.
 */
import type { MachineViews } from '../machine/memory.ts';
import { G_ABORT, G_ABORT_CPU, G_BARRIER_COUNT, G_BARRIER_GEN, G_DONE, G_STOP } from '../machine/globals-layout.ts';
import { kickCpu } from '../ipi/fabric.ts';
import { IPI_PENDING, PERCPU_WORDS, Wait } from './percpu-layout.ts';
import type { Cpu } from './cpu.ts';
import { releaseBaton } from '../schedule/baton.ts';

/** Wakes every CPU that sleeps on its wake word. */
export function kickAll(v: MachineViews): void {
  for (let c = 0; c < v.nrCpus; c++) kickCpu(v.percpu, c);
}

/** smpBarrier's word (G_BARRIER_COUNT): arrivals in the low bits, CPUs that left in the high ones. */
const ARRIVED_MASK = 0xffff;
const LEFT_ONE = 0x10000;

/**
 * Adds `delta` to the barrier word (an arrival, or a CPU leaving), and when that completes the
 * barrier (every CPU of the run arrived or left) releases it: the arrivals go back to 0 in the same
 * compare-exchange, so exactly one CPU releases, and the generation moves on after the reset, so
 * that nobody passes and arrives at the next barrier before the count is 0.
 */
function barrierAdd(v: MachineViews, delta: number): void {
  const g = v.globals;
  for (;;) {
    const old = Atomics.load(g, G_BARRIER_COUNT);
    let next = old + delta;
    const arrived = next & ARRIVED_MASK;
    const complete = arrived > 0 && arrived + (next >>> 16) === v.nrCpus;
    if (complete) next &= ~ARRIVED_MASK;
    if (Atomics.compareExchange(g, G_BARRIER_COUNT, old, next) !== old) continue;
    if (complete) {
      // pairs with the waiters' load of the generation in smpBarrier
      Atomics.add(g, G_BARRIER_GEN, 1);
      kickAll(v);
    }
    return;
  }
}

/**
 * Waits until every CPU of the run that is still in its program has arrived, taking IPIs
 * meanwhile. Which CPUs that is: every CPU of the run (with --cpus N, all N, the ones beyond what
 * the scenario needs included) whose program has not returned yet; a CPU leaves the barrier for
 * good when its program returns (finishAndWaitForAll), so extra CPUs whose program returns at once
 * are not waited for. A CPU that goes on running without arriving is waited for: the run then
 * ends at the run watchdog or the deadline (machine/machine.ts).
 */
export function smpBarrier(cpu: Cpu): void {
  const g = cpu.v.globals;
  const gen = Atomics.load(g, G_BARRIER_GEN);
  barrierAdd(cpu.v, 1);
  cpu.idleUntil(() => Atomics.load(g, G_BARRIER_GEN) !== gen, Wait.Barrier, gen);
}

/** Asks every CPU's program to wind down (workloads poll cpu.shouldStop()). */
export function stopAll(v: MachineViews): void {
  Atomics.store(v.globals, G_STOP, 1);
  kickAll(v);
}

/** Marks this CPU's program finished; the CPU stays online, taking IPIs, until all are. */
export function finishAndWaitForAll(cpu: Cpu): void {
  const g = cpu.v.globals;
  // no barrier waits for this CPU any more: one that waited only for it is released now
  barrierAdd(cpu.v, LEFT_ONE);
  if (Atomics.add(g, G_DONE, 1) + 1 === cpu.v.nrCpus) kickAll(cpu.v);
  cpu.idleUntil(() => Atomics.load(g, G_DONE) === cpu.v.nrCpus, Wait.Finished);
}

/**
 * A CPU failed (or, with CONTROL_CPU, the control plane lost one): every other CPU stops at its
 * next check of the abort word. The first to abort is the one reports name. Every doorbell is
 * raised too: a busy CPU's interrupt point looks at nothing else (cpu.ts interruptPoint); and in a
 * controlled run the baton is voided (schedule/baton.ts).
 */
export function abortRun(v: MachineViews, cpu: number): void {
  if (Atomics.compareExchange(v.globals, G_ABORT, 0, 1) === 0) Atomics.store(v.globals, G_ABORT_CPU, cpu);
  for (let c = 0; c < v.nrCpus; c++) Atomics.store(v.percpu, c * PERCPU_WORDS + IPI_PENDING, 1);
  kickAll(v);
  // a controlled run's parked CPUs run free to their next look at the abort word
  releaseBaton(v);
}
