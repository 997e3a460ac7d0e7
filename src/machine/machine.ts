/*
 * The machine as the control plane sees it: shared memory, a piscina pool with one thread per
 * CPU (started once, reused by every run), the IPI ports between every pair of CPUs, and a
 * comlink handle on each CPU for inspection between runs.
 *
 * A run: the memory is reset to power-on state, the workload's setup runs here, then every CPU
 * runs the workload's program at once. When one CPU fails, the others are aborted and the run
 * rejects with that CPU's error; a run never leaves the pool hung.
 *
 * The run watchdog, here on the control plane, ends a run that hangs. Once every CPU has passed
 * the start barrier it looks at the CPUs' heartbeats (cpu/percpu-layout.ts ST_BEAT, bumped at
 * every interrupt point) every WATCHDOG_TICK_MS. A run in which no CPU passed an interrupt point
 * for RunOptions.watchdogMs, or that has a deadline (RunOptions.deadline: it is asked to stop
 * there, G_STOP) and is still going WATCHDOG_GRACE_MS after it, is aborted, and the run rejects
 * with a RunStuckError naming every CPU still in its program and what each waits for
 * (cpu/status.ts).
 *
 * Warmers: while the CPUs of a controlled run take turns (schedule/baton.ts: from the first choice
 * to the first CPU leaving, K at a time), the host's other cores are kept busy by threads that
 * spin and do nothing else (no CPU of the machine; they read one word of it, H_WARM). A hand-over
 * of the baton wakes a CPU thread with a futex; on a host whose cores halt when idle that waits
 * for a halted core to wake: 34-61 us a hand-over on the 2-core development VM, 19-45 us with its
 * other core kept busy. They sleep the rest of the time, the start and the end of a run included,
 * when every CPU thread runs at once.
 */
import { MessageChannel, Worker, type MessagePort } from 'node:worker_threads';
import { Piscina } from 'piscina';
import * as Comlink from 'comlink';
import { clearMachineMemory, createMachineMemory, MAX_CPUS, viewsOf, type MachineMemory, type MachineViews } from './memory.ts';
import { CONTROL_CPU, initFrames, nrFreeFrames } from './frames.ts';
import { initInitMm } from '../kernel/mm.ts';
import { initGlobalAsids } from '../arch/x86/broadcast.ts';
import { initAsidAllocator } from '../arch/arm64/context.ts';
import { abortRun, stopAll } from '../cpu/smp.ts';
import { G_ARCH, G_BARRIER_GEN, G_HW_ASID_BITS, G_HW_HAFDBS, G_HW_TLB_RANGE, G_STOP_ON_KIND } from './globals-layout.ts';
import { Arch, type Hardware } from '../arch/arch.ts';
import { fullHardware } from '../config/hardware.ts';
import { bindPteArch } from './pte.ts';
import { PERCPU_WORDS, ST_BEAT, WAIT_NAMES, Wait } from '../cpu/percpu-layout.ts';
import { formatCpuStatus, readCpuStatus, type CpuStatus } from '../cpu/status.ts';
import { readEvents } from '../trace/events.ts';
import { readViolations, violationCount, type Violation } from '../check/oracle.ts';
import { readWaits, type Waits } from '../trace/waits.ts';
import { sumCounters, COUNTER_NAMES, COUNTER_STRIDE, type Counters } from '../trace/counters.ts';
import { CpuFailedError, UsageError } from '../errors.ts';
import type { Workload, WorkloadRef } from '../scenario/workload.ts';
import { defaultKernelConfig, type KernelConfig } from '../config/kernel-config.ts';
import type { BootTask, CpuControlApi, RunTask, RunTaskResult } from '../../workers/cpu.ts';
import { prepareSchedule, readSchedule, warmersFor, type ScheduleOutcome, type ScheduleSpec } from '../schedule/control.ts';
import { H_WARM } from '../schedule/layout.ts';

export interface MachineOptions {
  cpus: number;
  /** physical memory in 4 KiB frames */
  frames?: number;
}

export interface RunOptions {
  seed?: number;
  /** the CSD-lock watchdog: how long a CPU may wait for IPI acknowledgements */
  csdLockTimeoutMs?: number;
  /** a speculative walk at about one interrupt point in 2^n; -1 for none */
  speculationShift?: number;
  /** race windows stretched at about one visit in 2^n; -1 (default) for none */
  noiseShift?: number;
  /** the kernel variant; mainline defaults when absent */
  kernel?: KernelConfig;
  /**
   * the oracle kind (ViolationKind) whose report ends the trial's programs, or 0 (default) for a
   * report of any kind: what scenario.ts's forbiddenReported reads. Not kernel configuration.
   */
  stopOnKind?: number;
  /** the scenario's own switches (scenario/scenario.ts), which its programs read */
  scenarioSwitches?: Readonly<Record<string, string>>;
  /**
   * when the run should end, in performance.now() time: the CPUs are asked to stop there (G_STOP),
   * and a run still going WATCHDOG_GRACE_MS later is aborted as stuck
   */
  deadline?: number;
  /** the run watchdog: how long no CPU may pass an interrupt point (default WATCHDOG_MS; Infinity for no bound) */
  watchdogMs?: number;
  /** a controlled schedule (schedule/baton.ts); free running when absent */
  schedule?: ScheduleSpec;
  /** the architecture the run's machine implements (arch/arch.ts); x86 when absent */
  arch?: Arch;
  /** the run's CPU features, over DEFAULT_HARDWARE (config/hardware.ts fullHardware); x86 ignores them */
  hardware?: Partial<Hardware>;
}

/** The run watchdog's bound on a run without progress, by default. */
export const WATCHDOG_MS = 2000;
/** How long after its deadline a run may take to wind down. */
export const WATCHDOG_GRACE_MS = 1000;
const WATCHDOG_TICK_MS = 100;
const WAIT_FINISHED = WAIT_NAMES[Wait.Finished];

/** A run the watchdog ended: no progress, or past its deadline; `stuck` is every CPU still in its program. */
export class RunStuckError extends CpuFailedError {
  override name = 'RunStuckError';
  constructor(message: string, readonly stuck: CpuStatus[]) {
    super(message, -1, { stuck });
    // a report, not a crash: the message is all there is to print
    this.stack = `${this.name}: ${message}`;
  }
}

export interface RunResult<R> {
  seed: number;
  /** each CPU's return value, by CPU */
  results: R[];
  counters: Counters;
  perCpuCounters: Counters[];
  /** the initiators' waits for IPI acknowledgements (trace/waits.ts) */
  waits: Waits;
  /** what the oracles caught: how many, and the first ones */
  violationCount: number;
  violations: Violation[];
  elapsedMs: number;
  /** what the scheduler did, in a controlled run */
  schedule: ScheduleOutcome | null;
}

const WORKER_URL = new URL('../../workers/cpu-worker.mjs', import.meta.url);
/** A warmer's program: spin while the word at `at` is above its index, sleep on it otherwise. */
const WARMER = `
const { workerData: { buffer, at, index } } = require('node:worker_threads');
const words = new Int32Array(buffer);
for (;;) {
  const n = Atomics.load(words, at);
  if (n <= index) Atomics.wait(words, at, n);
  else while (Atomics.load(words, at) === n) {}
}`;
const BOOT_TIMEOUT_MS = 60_000;

export class Machine {
  readonly v: MachineViews;
  private running = false;
  /** a CPU worker died: its thread was replaced by one that owns no CPU, so no run can start */
  private lostCpu: string | null = null;
  /** the warmers (see the top of this file), started on first use */
  private readonly warmers: Worker[] = [];

  private constructor(
    readonly memory: MachineMemory,
    private readonly pool: Piscina,
    private readonly controls: Comlink.Remote<CpuControlApi>[],
    private readonly ports: MessagePort[],
  ) {
    this.v = viewsOf(memory);
  }

  get nrCpus(): number {
    return this.memory.nrCpus;
  }

  /** Starts one worker thread per CPU and wires the IPI ports. */
  static async boot(opts: MachineOptions): Promise<Machine> {
    const { cpus } = opts;
    if (!Number.isInteger(cpus) || cpus < 1 || cpus > MAX_CPUS) {
      throw new UsageError(`cpus must be an integer from 1 to ${MAX_CPUS}, got ${cpus}`);
    }
    const memory = createMachineMemory(cpus, opts.frames ?? 4096);
    const pool = new Piscina({ filename: WORKER_URL.href, minThreads: cpus, maxThreads: cpus, idleTimeout: Infinity, concurrentTasksPerWorker: 1 });
    // one channel per ordered pair: a port has one owner, and every CPU may IPI every other
    const tx: (MessagePort | null)[][] = Array.from({ length: cpus }, () => Array(cpus).fill(null));
    const rx: (MessagePort | null)[][] = Array.from({ length: cpus }, () => Array(cpus).fill(null));
    for (let s = 0; s < cpus; s++) {
      for (let t = 0; t < cpus; t++) {
        if (s === t) continue;
        const ch = new MessageChannel();
        tx[s][t] = ch.port1;
        rx[t][s] = ch.port2;
      }
    }
    const controls: Comlink.Remote<CpuControlApi>[] = [];
    const ports: MessagePort[] = [];
    const bootBarrier = new SharedArrayBuffer(4);
    const boots: Promise<unknown>[] = [];
    for (let cpu = 0; cpu < cpus; cpu++) {
      const control = new MessageChannel();
      controls.push(Comlink.wrap<CpuControlApi>(control.port1 as unknown as Comlink.Endpoint));
      ports.push(control.port1);
      const task: BootTask = { kind: 'boot', cpu, memory, tx: tx[cpu], rx: rx[cpu], control: control.port2, bootBarrier, timeoutMs: BOOT_TIMEOUT_MS };
      const transferList = [...tx[cpu], ...rx[cpu]].filter((p): p is MessagePort => p !== null);
      transferList.push(control.port2);
      boots.push(pool.run(task, { transferList: transferList as never }));
    }
    try {
      await Promise.all(boots);
    } catch (err) {
      await pool.destroy();
      throw err;
    }
    return new Machine(memory, pool, controls, ports);
  }

  /** A comlink handle on one CPU, for inspection between runs. */
  control(cpu: number): Comlink.Remote<CpuControlApi> {
    return this.controls[cpu];
  }

  freeFrames(): number {
    return nrFreeFrames(this.v);
  }

  /**
   * One run of a workload on every CPU. Resolves with each CPU's result and the counters; rejects
   * with CpuFailedError naming the CPU whose program failed first.
   */
  async run<P, R, O>(ref: WorkloadRef, options: O, runOpts: RunOptions = {}): Promise<RunResult<R>> {
    if (this.running) throw new Error('the machine is already running a workload');
    if (this.lostCpu !== null) throw new Error(`the machine lost a CPU worker (${this.lostCpu}); boot a new machine`);
    this.running = true;
    try {
      const exportName = ref.exportName ?? 'default';
      const mod = (await import(ref.url)) as Record<string, Workload<P, R, O>>;
      const workload = mod[exportName];
      if (!workload || typeof workload.setup !== 'function' || typeof workload.run !== 'function') {
        throw new UsageError(`${ref.url} does not export a workload as '${exportName}'`);
      }
      const v = this.v;
      const arch = runOpts.arch ?? Arch.X86;
      const hardware = fullHardware(runOpts.hardware, 'RunOptions.hardware');
      // the control plane runs setup (and, after the run, the checkers) with the run's codec
      bindPteArch(arch);
      clearMachineMemory(v);
      initFrames(v);
      initInitMm(v, CONTROL_CPU);
      if (arch === Arch.Arm64) {
        try {
          initAsidAllocator(v, hardware.asidBits);
        } catch (err) {
          // too few ASIDs for the CPUs: the run's hardware, as the command line gave it
          throw new UsageError(`hardware asidBits=${hardware.asidBits}: ${(err as Error).message}`);
        }
      } else initGlobalAsids(v.asids);
      // before any CPU starts: the pool's task handoff orders it before every CPU's first read
      Atomics.store(v.globals, G_STOP_ON_KIND, runOpts.stopOnKind ?? 0);
      Atomics.store(v.globals, G_ARCH, arch);
      Atomics.store(v.globals, G_HW_ASID_BITS, hardware.asidBits);
      Atomics.store(v.globals, G_HW_TLB_RANGE, hardware.tlbRange ? 1 : 0);
      Atomics.store(v.globals, G_HW_HAFDBS, hardware.hafdbs ? 1 : 0);
      prepareSchedule(v, runOpts.schedule ?? null);
      const params = workload.setup(v, options);
      const seed = (runOpts.seed ?? (Math.random() * 2 ** 31) >>> 0) >>> 0;
      const task: RunTask = {
        kind: 'run',
        url: ref.url,
        exportName,
        params,
        seed,
        csdLockTimeoutMs: runOpts.csdLockTimeoutMs ?? 5000,
        speculationShift: runOpts.speculationShift ?? 4,
        noiseShift: runOpts.noiseShift ?? -1,
        config: runOpts.kernel ?? defaultKernelConfig(),
        scenarioSwitches: runOpts.scenarioSwitches ?? {},
        arch,
        hardware,
      };
      const t0 = performance.now();
      if (runOpts.schedule) this.startWarmers(warmersFor(runOpts.schedule.parallel));
      const watchdog = runWatchdog(v, runOpts.watchdogMs ?? WATCHDOG_MS, runOpts.deadline);
      let settled: PromiseSettledResult<RunTaskResult>[];
      try {
        settled = await Promise.allSettled(
          Array.from({ length: this.nrCpus }, () =>
            (this.pool.run(task) as Promise<RunTaskResult>).catch((err: unknown) => {
              // a worker died: nobody will answer its IPIs, so stop the others
              abortRun(v, CONTROL_CPU);
              throw err;
            }),
          ),
        );
      } finally {
        watchdog.stop();
        // a run that ended before its CPUs left the schedule (an abort) leaves no warmer spinning
        Atomics.store(v.sched, H_WARM, 0);
      }
      const elapsedMs = performance.now() - t0;
      const results: R[] = new Array(this.nrCpus);
      const failures: CpuFailedError[] = [];
      for (const s of settled) {
        if (s.status === 'rejected') {
          this.lostCpu = (s.reason as Error)?.message ?? String(s.reason);
          failures.push(new CpuFailedError(`a CPU worker died: ${this.lostCpu}`, -1));
          continue;
        }
        const r = s.value;
        results[r.cpu] = r.result as R;
        if (r.error) {
          const report = { ...(r.error.report as object | undefined), lastEvents: readEvents(v, [r.cpu], 32) };
          const f = new CpuFailedError(`CPU ${r.cpu}: ${r.error.name}: ${r.error.message}`, r.cpu, report);
          f.stack = r.error.stack;
          failures.push(f);
        }
      }
      const stuck = watchdog.error();
      if (stuck) throw stuck;
      if (failures.length > 0) throw failures[0];
      return {
        seed,
        results,
        counters: sumCounters(v.counters, this.nrCpus),
        perCpuCounters: perCpu(v, this.nrCpus),
        waits: readWaits(v, this.nrCpus),
        violationCount: violationCount(v),
        violations: readViolations(v),
        elapsedMs,
        schedule: runOpts.schedule ? readSchedule(v) : null,
      };
    } finally {
      this.running = false;
    }
  }

  /** Starts warmers up to `n`, asleep until a controlled run's first choice sets H_WARM. */
  private startWarmers(n: number): void {
    while (this.warmers.length < n) {
      const w = new Worker(WARMER, { eval: true, workerData: { buffer: this.memory.buffer, at: this.v.sched.byteOffset / 4 + H_WARM, index: this.warmers.length } });
      w.unref();
      this.warmers.push(w);
    }
  }

  async close(): Promise<void> {
    await Promise.all(this.warmers.map((w) => w.terminate()));
    for (const c of this.controls) c[Comlink.releaseProxy]();
    for (const p of this.ports) p.close();
    await this.pool.destroy();
  }
}

/**
 * The run watchdog (see the top of this file): a timer on the control plane while the CPUs run.
 * `error()` is the RunStuckError it ended the run with, if it did.
 */
function runWatchdog(v: MachineViews, noProgressMs: number, deadline: number | undefined) {
  let startedAt = -1;
  let lastBeats = NaN;
  let lastChange = 0;
  let stopAsked = false;
  let fired: RunStuckError | null = null;
  const timer = setInterval(() => {
    const now = performance.now();
    if (startedAt < 0) {
      // armed once the start barrier released every CPU into its program (workers/cpu.ts)
      if (Atomics.load(v.globals, G_BARRIER_GEN) === 0) return;
      startedAt = lastChange = now;
    }
    let beats = 0;
    for (let c = 0; c < v.nrCpus; c++) beats += Atomics.load(v.percpu, c * PERCPU_WORDS + ST_BEAT);
    if (beats !== lastBeats) {
      lastBeats = beats;
      lastChange = now;
    }
    if (deadline !== undefined && now >= deadline && !stopAsked) {
      stopAsked = true;
      stopAll(v);
    }
    const overdue = deadline !== undefined && now >= Math.max(deadline, startedAt) + WATCHDOG_GRACE_MS;
    if (now - lastChange < noProgressMs && !overdue) return;
    const stuck = Array.from({ length: v.nrCpus }, (_, c) => readCpuStatus(v, c)).filter((s) => s.activity !== 'done' && s.waitingFor !== WAIT_FINISHED);
    const why = overdue
      ? `the run did not end within ${WATCHDOG_GRACE_MS} ms of its deadline`
      : `no CPU passed an interrupt point for ${Math.round(now - lastChange)} ms`;
    fired = new RunStuckError(`run watchdog: ${why}; stuck: ${stuck.map((s) => `CPU ${s.cpu}`).join(', ') || 'none'}\n  ${stuck.map(formatCpuStatus).join('\n  ')}`, stuck);
    clearInterval(timer);
    abortRun(v, CONTROL_CPU);
  }, WATCHDOG_TICK_MS);
  return {
    stop: () => clearInterval(timer),
    error: (): RunStuckError | null => fired,
  };
}

function perCpu(v: MachineViews, nrCpus: number): Counters[] {
  return Array.from({ length: nrCpus }, (_, cpu) => {
    const out = {} as Counters;
    COUNTER_NAMES.forEach((name, i) => (out[name] = v.counters[cpu * COUNTER_STRIDE + i]));
    return out;
  });
}
