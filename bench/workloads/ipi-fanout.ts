/*
 * The shootdown fan-out benchmark's program (bench/ipi-fanout.ts runs it on machines of 2..17
 * CPUs): CPU 0 flushes one page of an mm that every CPU has loaded, again and again, and times
 * each flushTlbMmRange on its own thread; the other CPUs are the targets of its IPIs.
 *
 *   busy   targets load from a mapped page until told to stop, so they take the IPI at their
 *          next interrupt point (every INTERRUPT_INTERVAL accesses)
 *   idle   targets sleep in the idle loop (Atomics.wait on their doorbell) with the mm loaded and
 *          not lazy, so every flush IPIs them and wakes them
 *
 * Between flushes the initiator runs on for `gapUs`, taking interrupts, as a CPU in a system call
 * would, so that idle targets are back asleep when the next IPI comes (an initiator that slept
 * instead would add its own wake-up, with cold caches, to every flush it times). The warm-up and
 * the timed flushes each stop at their count or after `budgetMs`, whichever comes first; then the
 * initiator stops every CPU.
 */
import type { Cpu } from '../../src/cpu/cpu.ts';
import type { MachineViews } from '../../src/machine/memory.ts';
import { CONTROL_CPU } from '../../src/machine/frames.ts';
import { PAGE_SIZE } from '../../src/machine/phys-layout.ts';
import { flushTlbMmRange, switchMmIrqsOff } from '../../src/arch/x86/flush.ts';
import { smpBarrier, stopAll } from '../../src/cpu/smp.ts';
import { mmAlloc } from '../../src/kernel/mm.ts';
import { mapAnonPages } from '../../src/scenario/populate.ts';
import { defineWorkload } from '../../src/scenario/workload.ts';

export type TargetMode = 'busy' | 'idle';

export interface FanoutOptions {
  mode: TargetMode;
  /** untimed flushes first, so that every thread's code is optimized */
  warmupFlushes: number;
  flushes: number;
  /** for the warm-up, and again for the timed flushes */
  budgetMs: number;
  gapUs: number;
}

interface FanoutParams extends FanoutOptions {
  mm: number;
}

export interface FanoutResult {
  /** CPU 0: each timed flushTlbMmRange, in microseconds; empty on the targets */
  shootdownUs: number[];
}

/** Where the one flushed page is mapped. */
export const BENCH_BASE = 2 ** 36;

/** Accesses a busy target makes between two looks at the stop flag. */
const BURST = 256;

export default defineWorkload<FanoutParams, FanoutResult, FanoutOptions>({
  setup(v: MachineViews, o: FanoutOptions): FanoutParams {
    const mm = mmAlloc(v, CONTROL_CPU);
    mapAnonPages(v, CONTROL_CPU, mm, BENCH_BASE, 1);
    return { ...o, mm };
  },

  run(cpu: Cpu, p: FanoutParams): FanoutResult {
    cpu.localIrqDisable();
    switchMmIrqsOff(cpu, p.mm);
    cpu.localIrqEnable();
    smpBarrier(cpu);
    if (cpu.id === 0) return { shootdownUs: initiator(cpu, p) };
    if (p.mode === 'busy') busyTarget(cpu);
    else cpu.idleUntil(() => cpu.shouldStop());
    return { shootdownUs: [] };
  },
});

function initiator(cpu: Cpu, p: FanoutParams): number[] {
  let deadline = performance.now() + p.budgetMs;
  for (let f = 0; f < p.warmupFlushes && performance.now() < deadline; f++) timedFlush(cpu, p);
  const samples: number[] = [];
  deadline = performance.now() + p.budgetMs;
  while (samples.length < p.flushes && performance.now() < deadline) samples.push(timedFlush(cpu, p));
  stopAll(cpu.v);
  return samples;
}

/** One flush of the page, in microseconds, then the pause. */
function timedFlush(cpu: Cpu, p: FanoutParams): number {
  const t0 = performance.now();
  flushTlbMmRange(cpu, p.mm, BENCH_BASE, BENCH_BASE + PAGE_SIZE);
  const t1 = performance.now();
  while (performance.now() < t1 + p.gapUs / 1000) cpu.interruptPoint();
  return (t1 - t0) * 1000;
}

/** A busy CPU: loads from the flushed page until told to stop, taking IPIs at its interrupt points. */
export function busyTarget(cpu: Cpu): void {
  let sum = 0;
  while (!cpu.shouldStop()) for (let i = 0; i < BURST; i++) sum += cpu.load(BENCH_BASE);
  if (Number.isNaN(sum)) throw new Error(`CPU ${cpu.id}: a load of the mapped page faulted`);
}
