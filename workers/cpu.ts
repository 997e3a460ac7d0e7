/*
 * A simulated CPU's worker thread. Piscina runs two kinds of task here:
 *
 *   boot   binds this thread to one CPU for the pool's life: its ports to and from every other
 *          CPU and its control-plane port (comlink) arrive with the task.
 *   run    one run of a workload: configure, meet the other CPUs at the start barrier, run the
 *          workload's program, then stay online taking IPIs until every CPU has finished. In a
 *          controlled run (schedule/baton.ts) the CPU takes its turns from the barrier on, and
 *          leaves the schedule when it has finished or failed.
 *
 * console.log and the like, from a program, reach the terminal's stderr prefixed "[cpu N] ".
 *
 * Every CPU of a run gets one run task, and a task waits at the barrier until all have started,
 * so the tasks of one run land on distinct threads: each runs the CPU it was booted as.
 */
import type { MessagePort } from 'node:worker_threads';
import { writeSync } from 'node:fs';
import { format } from 'node:util';
import * as Comlink from 'comlink';
import { Cpu } from '../src/cpu/cpu.ts';
import { viewsOf, type MachineMemory } from '../src/machine/memory.ts';
import { dispatchIpi } from '../src/ipi/dispatch.ts';
import { abortRun, finishAndWaitForAll, smpBarrier } from '../src/cpu/smp.ts';
import { kvmGuestInit } from '../src/arch/x86/kvm.ts';
import { handleMmFault } from '../src/kernel/fault.ts';
import { resetTlbUbc } from '../src/kernel/tlb-batch.ts';
import { serializeError, type SerializedError } from '../src/ipi/protocol.ts';
import { RunAbortedError } from '../src/errors.ts';
import { Activity } from '../src/cpu/percpu-layout.ts';
import { readCpuStatus } from '../src/cpu/status.ts';
import { dumpPsc, dumpTlb } from '../src/machine/tlb.ts';
import type { Workload } from '../src/scenario/workload.ts';
import type { KernelConfig } from '../src/config/kernel-config.ts';
import type { Arch, Hardware } from '../src/arch/arch.ts';
import { Baton, bindBaton, isControlled } from '../src/schedule/baton.ts';

export interface BootTask {
  kind: 'boot';
  cpu: number;
  memory: MachineMemory;
  tx: (MessagePort | null)[];
  rx: (MessagePort | null)[];
  control: MessagePort;
  /** every boot task waits here for the others, so that each lands on its own thread */
  bootBarrier: SharedArrayBuffer;
  timeoutMs: number;
}

export interface RunTask {
  kind: 'run';
  url: string;
  exportName: string;
  params: unknown;
  seed: number;
  csdLockTimeoutMs: number;
  speculationShift: number;
  noiseShift: number;
  config: KernelConfig;
  scenarioSwitches: Readonly<Record<string, string>>;
  /** the run's architecture and CPU features (machine.ts RunOptions.arch, .hardware) */
  arch: Arch;
  hardware: Readonly<Hardware>;
}

export interface RunTaskResult {
  cpu: number;
  result: unknown;
  error: SerializedError | null;
}

let self: Cpu | null = null;

/** What the control plane may ask a CPU between runs (comlink, never on the hot path). */
function controlApi(cpu: Cpu) {
  return {
    status: () => readCpuStatus(cpu.v, cpu.id),
    tlb: () => dumpTlb(cpu.v.tlb, cpu.id),
    pagingStructureCaches: () => dumpPsc(cpu.v.tlb, cpu.id),
  };
}
export type CpuControlApi = ReturnType<typeof controlApi>;

/**
 * A program's console output goes to the terminal's stderr at once, each line prefixed with its
 * CPU ("[cpu 2] ..."): written synchronously from this thread, so that nothing is lost when the
 * process exits, and kept off stdout, which --json keeps for its one object.
 */
function prefixConsole(id: number): void {
  const write = (...args: unknown[]) => {
    const text = format(...args).replace(/\n/g, `\n[cpu ${id}] `);
    writeSync(2, `[cpu ${id}] ${text}\n`);
  };
  for (const name of ['log', 'info', 'warn', 'error', 'debug'] as const) console[name] = write;
}

async function boot(task: BootTask): Promise<number> {
  if (self !== null) throw new Error(`thread already runs CPU ${self.id}`);
  const arrived = new Int32Array(task.bootBarrier);
  const n = task.tx.length;
  Atomics.add(arrived, 0, 1);
  Atomics.notify(arrived, 0);
  const deadline = performance.now() + task.timeoutMs;
  for (let seen = Atomics.load(arrived, 0); seen < n; seen = Atomics.load(arrived, 0)) {
    if (performance.now() > deadline) throw new Error(`boot: only ${seen} of ${n} CPUs came up`);
    Atomics.wait(arrived, 0, seen, 100);
  }
  const v = viewsOf(task.memory);
  self = new Cpu(v, task.cpu, task.tx, task.rx, dispatchIpi);
  prefixConsole(task.cpu);
  Comlink.expose(controlApi(self), task.control);
  return task.cpu;
}

async function run(task: RunTask): Promise<RunTaskResult> {
  const cpu = self;
  if (cpu === null) throw new Error('run before boot');
  const mod = (await import(task.url)) as Record<string, Workload>;
  const workload = mod[task.exportName];
  if (!workload || typeof workload.run !== 'function') throw new Error(`${task.url} has no workload export '${task.exportName}'`);
  const controlled = isControlled(cpu.v);
  cpu.configure({
    seed: task.seed, csdLockTimeoutMs: task.csdLockTimeoutMs, speculationShift: task.speculationShift, noiseShift: task.noiseShift, config: task.config,
    scenarioSwitches: task.scenarioSwitches, controlled, arch: task.arch, hardware: task.hardware,
  });
  cpu.pageFaultHandler = handleMmFault;
  resetTlbUbc(cpu);
  cpu.fabric.discardStaleMessages();
  cpu.archOps.initTlbState(cpu);
  kvmGuestInit(cpu);
  let result: unknown = null;
  let error: SerializedError | null = null;
  const baton = controlled ? new Baton(cpu.v, cpu.id) : null;
  bindBaton(baton);
  try {
    baton?.enter();
    smpBarrier(cpu);
    result = workload.run(cpu, task.params);
    finishAndWaitForAll(cpu);
  } catch (err) {
    if (!(err instanceof RunAbortedError)) {
      error = serializeError(err);
      abortRun(cpu.v, cpu.id);
    }
  } finally {
    baton?.exit();
    bindBaton(null);
  }
  cpu.setActivity(Activity.Done);
  return { cpu: cpu.id, result, error };
}

export default function cpuTask(task: BootTask | RunTask): Promise<number | RunTaskResult> {
  return task.kind === 'boot' ? boot(task) : run(task);
}
