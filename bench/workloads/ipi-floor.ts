/*
 * bench/ipi-floor.ts's program: CPU 0 alternates an IPI that does nothing (smp_call_function_many
 * of a no-op to CPU 1) with a one-page flushTlbMmRange that IPIs CPU 1, timing each on its own
 * thread; CPU 1 keeps loading from the flushed page, taking the IPIs at its interrupt points.
 * Alternating puts both under the same host conditions, so their difference is what the flush
 * itself costs: tlb_gen, the flush_tlb_info, flush_tlb_func on both CPUs, and their trace events.
 */
import type { Cpu } from '../../src/cpu/cpu.ts';
import type { MachineViews } from '../../src/machine/memory.ts';
import { CONTROL_CPU } from '../../src/machine/frames.ts';
import { PAGE_SIZE } from '../../src/machine/phys-layout.ts';
import { flushTlbMmRange, switchMmIrqsOff } from '../../src/arch/x86/flush.ts';
import { CpuMask } from '../../src/cpu/cpumask.ts';
import { smpBarrier, stopAll } from '../../src/cpu/smp.ts';
import { IpiFn } from '../../src/ipi/protocol.ts';
import { mmAlloc } from '../../src/kernel/mm.ts';
import { mapAnonPages } from '../../src/scenario/populate.ts';
import { defineWorkload } from '../../src/scenario/workload.ts';
import { BENCH_BASE, busyTarget } from './ipi-fanout.ts';

export interface FloorOptions {
  /** untimed pairs first, so that both paths are optimized */
  warmup: number;
  pairs: number;
  /** the initiator runs on between two calls, taking interrupts */
  gapUs: number;
}

export interface FloorResult {
  /** CPU 0's timings in microseconds; empty on CPU 1 */
  nopUs: number[];
  flushUs: number[];
}

export default defineWorkload<FloorOptions & { mm: number }, FloorResult, FloorOptions>({
  setup(v: MachineViews, o: FloorOptions) {
    const mm = mmAlloc(v, CONTROL_CPU);
    mapAnonPages(v, CONTROL_CPU, mm, BENCH_BASE, 1);
    return { ...o, mm };
  },

  run(cpu: Cpu, p): FloorResult {
    cpu.localIrqDisable();
    switchMmIrqsOff(cpu, p.mm);
    cpu.localIrqEnable();
    smpBarrier(cpu);
    const out: FloorResult = { nopUs: [], flushUs: [] };
    if (cpu.id !== 0) {
      busyTarget(cpu);
      return out;
    }
    const target = CpuMask.of(1);
    const pause = (): void => {
      const until = performance.now() + p.gapUs / 1000;
      while (performance.now() < until) cpu.interruptPoint();
    };
    for (let i = 0; i < p.warmup + p.pairs; i++) {
      let t0 = performance.now();
      cpu.fabric.smpCallFunctionMany(cpu, target, IpiFn.Nop, false);
      const nop = performance.now() - t0;
      pause();
      t0 = performance.now();
      flushTlbMmRange(cpu, p.mm, BENCH_BASE, BENCH_BASE + PAGE_SIZE);
      const flush = performance.now() - t0;
      pause();
      if (i >= p.warmup) {
        out.nopUs.push(nop * 1000);
        out.flushUs.push(flush * 1000);
      }
    }
    stopAll(cpu.v);
    return out;
  },
});
