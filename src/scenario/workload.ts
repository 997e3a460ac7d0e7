/*
 * The workload API: what every CPU of a run executes. A workload module exports (by default) the
 * result of defineWorkload; the CPU worker imports it by URL, so a user's own file works the same
 * as the built-in ones.
 *
 *   setup(machine)   runs once on the control plane (the main thread) before the CPUs start:
 *                    create mms, populate memory; returns the parameters the CPUs receive
 *   run(cpu, params) runs on every CPU at once, after a barrier; returns that CPU's result
 */
import type { Cpu } from '../cpu/cpu.ts';
import type { MachineViews } from '../machine/memory.ts';

export interface Workload<P = unknown, R = unknown, O = unknown> {
  setup(v: MachineViews, options: O): P;
  run(cpu: Cpu, params: P): R;
}

export function defineWorkload<P, R, O = unknown>(w: Workload<P, R, O>): Workload<P, R, O> {
  return w;
}

/** Where a worker finds a workload: a module URL and the export holding it. */
export interface WorkloadRef {
  url: string;
  exportName?: string;
}
