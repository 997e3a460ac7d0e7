/*
 * Run control shared by all CPUs of a run: the barrier, the end-of-program rendezvous and the
 * abort that tears a failed run down. Waiting CPUs sleep in the idle loop and keep taking IPIs,
 * so a CPU at a barrier never blocks another CPU's flush.
 */
import type { MachineViews } from '../machine/memory.ts';
import { G_ABORT, G_ABORT_CPU, G_BARRIER_COUNT, G_BARRIER_GEN, G_DONE, G_STOP } from '../machine/globals-layout.ts';
import { kickCpu } from '../ipi/fabric.ts';
import { IPI_PENDING, PERCPU_WORDS } from './percpu-layout.ts';
import type { Cpu } from './cpu.ts';

/** Wakes every CPU that sleeps on its wake word. */
export function kickAll(v: MachineViews): void {
  for (let c = 0; c < v.nrCpus; c++) kickCpu(v.percpu, c);
}

/** Waits until every CPU of the machine has arrived, taking IPIs meanwhile. */
export function smpBarrier(cpu: Cpu): void {
  const g = cpu.v.globals;
  const gen = Atomics.load(g, G_BARRIER_GEN);
  if (Atomics.add(g, G_BARRIER_COUNT, 1) + 1 === cpu.v.nrCpus) {
    Atomics.store(g, G_BARRIER_COUNT, 0);
    // the count is reset before anyone can pass and arrive at the next barrier
    Atomics.add(g, G_BARRIER_GEN, 1);
    kickAll(cpu.v);
    return;
  }
  cpu.idleUntil(() => Atomics.load(g, G_BARRIER_GEN) !== gen);
}

/** Asks every CPU's program to wind down (workloads poll cpu.shouldStop()). */
export function stopAll(v: MachineViews): void {
  Atomics.store(v.globals, G_STOP, 1);
  kickAll(v);
}

/** Marks this CPU's program finished; the CPU stays online, taking IPIs, until all are. */
export function finishAndWaitForAll(cpu: Cpu): void {
  const g = cpu.v.globals;
  if (Atomics.add(g, G_DONE, 1) + 1 === cpu.v.nrCpus) kickAll(cpu.v);
  cpu.idleUntil(() => Atomics.load(g, G_DONE) === cpu.v.nrCpus);
}

/**
 * A CPU failed (or, with CONTROL_CPU, the control plane lost one): every other CPU stops at its
 * next check of the abort word. The first to abort is the one reports name. Every doorbell is
 * raised too: a busy CPU's interrupt point looks at nothing else (cpu.ts interruptPoint).
 */
export function abortRun(v: MachineViews, cpu: number): void {
  if (Atomics.compareExchange(v.globals, G_ABORT, 0, 1) === 0) Atomics.store(v.globals, G_ABORT_CPU, cpu);
  for (let c = 0; c < v.nrCpus; c++) Atomics.store(v.percpu, c * PERCPU_WORDS + IPI_PENDING, 1);
  kickAll(v);
}
