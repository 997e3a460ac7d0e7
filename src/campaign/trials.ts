/*
 * Trials of a scenario on one machine: the same workload run again and again, trial i (counted
 * over the whole campaign) with seed seed + i, on CPU threads that stay up, until the budget (trials or time) is spent or,
 * with stopOnFirst, the scenario's forbidden outcome is seen, or an interrupt (interrupt.ts) stops the
 * trial under way and the loop: what was found so far is the result. Every report of every kind is counted
 * and the first of each kind kept; a trial's programs stop at a report of the forbidden kind only
 * (RunOptions.stopOnKind), so that a report of another kind cannot hide it.
 *
 * A shard of a campaign (shard.ts) runs the trial indices i with i mod N = I only, each with the
 * seed it has in the whole campaign: N shards of T trials run the T trials one run would.
 *
 * What fails a run depends on the preset's expectation: under 'never' (a fixed or mainline kernel,
 * every measurement) a report of any kind is a failure, and the first report is the one traced;
 * otherwise the forbidden outcome is what counts, and the first forbidden report is traced.
 */
import { Machine, type RunOptions, type RunResult } from '../machine/machine.ts';
import { defaultKernelConfig, type KernelConfig } from '../config/kernel-config.ts';
import { Arch, DEFAULT_HARDWARE, archName, type ArchName, type Hardware } from '../arch/arch.ts';
import { fullHardware } from '../config/hardware.ts';
import { UsageError } from '../errors.ts';
import { addCounters, zeroCounters, type Counters } from '../trace/counters.ts';
import { readFirstReports, readReportCounts, type Violation } from '../check/oracle.ts';
import { addWaits, zeroWaits, type Waits } from '../trace/waits.ts';
import { checkScenarioArch, configFor, forbiddenKind, presetRunsOn, isForbidden, type RunConfig, type Scenario } from '../scenario/scenario.ts';
import { readEvents, seqDiff, type TraceRecord } from '../trace/events.ts';
import { abortRun, stopAll } from '../cpu/smp.ts';
import { CONTROL_CPU } from '../machine/frames.ts';
import { FIRST_HORIZON, type Deviation, type ScheduleMode, type ScheduleOutcome, type ScheduleSpec } from '../schedule/control.ts';
import { Strategy } from '../schedule/layout.ts';
import { WHOLE, shardTrials, trialIndex, type Shard } from './shard.ts';

/** Events of the interleaving kept with a first report. */
const EVENTS_KEPT = 256;

export interface TrialsRequest {
  /** the module URL the scenario is the default export of */
  url: string;
  scenario: Scenario;
  preset: string;
  /** the kernel to run, when it is not the preset's (compare's switch lists) */
  kernel?: KernelConfig;
  /** the architecture the trials run on (x86 when absent); one the scenario lists */
  arch?: Arch;
  /** CPU features given on top of the scenario's (--hardware) */
  hardware?: Partial<Hardware>;
  /** switches set on top of the preset's: the kernel's, or the scenario's own */
  set?: string[];
  /** the campaign's seed: trial i runs with seed + i */
  seed: number;
  /** the campaign's trials; a shard runs its part of them */
  trials?: number;
  durationMs?: number;
  /** the part of the campaign's trial indices to run (shard.ts); all of them when absent */
  shard?: Shard;
  noiseShift?: number;
  stopOnFirst?: boolean;
  /** what setup receives, instead of the scenario's trialOptions (a variant's) */
  options?: unknown;
  /** called after every trial, e.g. for a progress line */
  onTrial?: (done: TrialsResult) => void;
  /** ends the trials early (interrupt.ts): the trial under way is stopped, no other starts */
  signal?: AbortSignal;
  /** how the trials are scheduled (schedule/control.ts); free running when absent */
  schedule?: ScheduleMode;
  /** PCT's horizon; when absent, the steps of a first trial under random (pctHorizon) */
  horizon?: number;
  /** recorded choices to follow: strictly (replay) or where they still apply (shrink's candidates) */
  replay?: { deviations: readonly Deviation[]; strict: boolean };
}

/** How one controlled trial was scheduled, and what its scheduler did: what a schedule file keeps. */
export interface TrialSchedule {
  mode: ScheduleMode;
  /** the trial's seed, which seeds the strategy's stream too */
  seed: number;
  horizon: number;
  outcome: ScheduleOutcome;
}

/** The first report of one kind over the trials. */
export interface FirstReport extends Violation {
  /** the trial's number in the campaign (from 1: trial n runs with seed + n - 1), the same in a shard as in one whole run */
  trial: number;
  seed: number;
  elapsedMs: number;
  /** the trial's schedule, in a controlled run */
  schedule?: TrialSchedule;
}

/** A first report kept with its interleaving, for a trace. */
export interface FirstViolation extends FirstReport {
  /** the merged interleaving of every CPU's last events, read right after the trial */
  events: TraceRecord[];
}

export interface TrialsResult {
  trials: number;
  /** trials in which the forbidden outcome was seen */
  violations: number;
  /** trials with an oracle report of any kind */
  trialsWithReports: number;
  /** all oracle reports, of any kind */
  reports: number;
  /** every kind reported, with its count over all trials */
  reportsByKind: Record<string, number>;
  /** the first report of each kind reported */
  firstByKind: Record<string, FirstReport>;
  /** the first report of the forbidden kind */
  firstViolation: FirstViolation | null;
  /** the first report of any kind (the earliest in the first trial with one) */
  firstReport: FirstViolation | null;
  elapsedMs: number;
  counters: Counters;
  /** the initiators' IPI waits over every trial */
  waits: Waits;
  kernel: KernelConfig;
  /** the scenario's own switches the trials ran with (ScenarioSpec.switches) */
  scenarioSwitches: Readonly<Record<string, string>>;
  /** the architecture and CPU features the trials ran on */
  arch: ArchName;
  hardware: Readonly<Hardware>;
  lastRun: RunResult<unknown> | null;
  /** the last trial's schedule, in a controlled run */
  lastSchedule: TrialSchedule | null;
}

/** Whether the trials fail under `expected`: any report under 'never', the forbidden outcome otherwise. */
export function trialsFailed(r: TrialsResult, expected: string | null): boolean {
  return expected === 'never' ? r.trialsWithReports > 0 : r.violations > 0;
}

/** The report a run's trace shows: the first of any kind under 'never', else the first forbidden one. */
export function tracedReport(r: TrialsResult, expected: string | null): FirstViolation | null {
  return expected === 'never' ? r.firstReport : r.firstViolation;
}

/** A seed for a run the user gave none for (printed with its result, so it can be rerun). */
export function randomSeed(): number {
  return (Math.random() * 2 ** 32) >>> 0;
}

/**
 * The kernel and the scenario's own switches a preset (plus extra switches) stands for; unknown
 * presets name the valid ones.
 */
export function runConfigFor(scenario: Scenario, preset: string, set: string[] = [], arch: Arch = Arch.X86): RunConfig {
  const switches = scenario.presets[preset];
  if (!switches) throw new UsageError(`scenario ${scenario.name} has no preset '${preset}'; presets: ${Object.keys(scenario.presets).join(', ')}`);
  if (!presetRunsOn(scenario, preset, arch)) throw new UsageError(`scenario ${scenario.name}: preset '${preset}' runs on ${scenario.presetArches![preset].join(', ')} only, not on ${archName(arch)}`);
  return configFor(scenario, [...switches, ...set], defaultKernelConfig(), arch);
}

/** The kernel a preset (plus extra switches) stands for. */
export function kernelFor(scenario: Scenario, preset: string, set: string[] = [], arch: Arch = Arch.X86): KernelConfig {
  return runConfigFor(scenario, preset, set, arch).kernel;
}

/** The CPU features a scenario's runs get: its own, with `given` (--hardware) on top, over DEFAULT_HARDWARE. */
export function hardwareFor(scenario: Pick<Scenario, 'name' | 'hardware'>, given: Partial<Hardware> = {}): Readonly<Hardware> {
  return fullHardware({ ...scenario.hardware, ...given }, `scenario ${scenario.name}`);
}

/** The result of no trial yet (or of none at all: a run interrupted while its machine booted). */
export function noTrials(kernel: KernelConfig, scenarioSwitches: Readonly<Record<string, string>> = {}, arch: Arch = Arch.X86, hardware: Readonly<Hardware> = DEFAULT_HARDWARE): TrialsResult {
  return {
    trials: 0, violations: 0, trialsWithReports: 0, reports: 0, reportsByKind: {}, firstByKind: {}, firstViolation: null, firstReport: null,
    elapsedMs: 0, counters: zeroCounters(), waits: zeroWaits(), kernel, scenarioSwitches, arch: archName(arch), hardware, lastRun: null, lastSchedule: null,
  };
}

/**
 * Boots a machine of `cpus` CPUs; if `signal` aborts first (interrupt.ts), resolves to null at
 * once, and the machine is closed when its boot ends: a boot takes seconds on a loaded host, and
 * an interrupt does not wait for it.
 */
export async function bootUnlessAborted(cpus: number, signal: AbortSignal | undefined): Promise<Machine | null> {
  if (signal?.aborted) return null;
  const booting = Machine.boot({ cpus });
  if (!signal) return booting;
  let onAbort = () => {};
  const aborted = new Promise<null>((resolve) => {
    onAbort = () => resolve(null);
    signal.addEventListener('abort', onAbort, { once: true });
  });
  try {
    const machine = await Promise.race([booting, aborted]);
    if (machine === null) booting.then((late) => late.close(), () => {});
    return machine;
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
}

export async function runTrials(machine: Machine, req: TrialsRequest): Promise<TrialsResult> {
  // a kernel given outright (compare's switch lists) runs the scenario's own switches of the
  // preset when it names one, else their defaults, with --set's on top
  const arch = req.arch ?? Arch.X86;
  checkScenarioArch(req.scenario, arch);
  const hardware = hardwareFor(req.scenario, req.hardware);
  const config = Object.hasOwn(req.scenario.presets, req.preset) ? runConfigFor(req.scenario, req.preset, req.set, arch) : configFor(req.scenario, req.set ?? [], defaultKernelConfig(), arch);
  const kernel = req.kernel ?? config.kernel;
  const shard = req.shard ?? WHOLE;
  const maxTrials = req.trials === undefined ? Infinity : shardTrials(shard, req.trials);
  const deadline = req.durationMs === undefined ? Infinity : performance.now() + req.durationMs;
  const t0 = performance.now();
  const out = noTrials(kernel, config.own, arch, hardware);
  // a report of another kind does not end the trial's programs: the forbidden one may follow
  const stopOnKind = forbiddenKind(req.scenario);
  const controlled = req.schedule !== undefined && req.schedule.strategy !== 'free' ? req.schedule : null;
  const horizon = req.horizon ?? (controlled?.strategy === 'pct' && !req.replay ? await pctHorizon(machine, req, { kernel, arch, hardware }, config.own, stopOnKind) : 0);
  while (out.trials < maxTrials && performance.now() < deadline && !req.signal?.aborted) {
    const index = trialIndex(shard, out.trials);
    const seed = (req.seed + index) >>> 0;
    const schedule = controlled && scheduleSpec(controlled, seed, horizon, req.replay);
    const run = await stoppable(machine, req.signal, () => machine.run({ url: req.url }, req.options ?? req.scenario.trialOptions, {
      seed, kernel, arch, hardware, noiseShift: req.noiseShift ?? -1, stopOnKind, scenarioSwitches: config.own,
      // a free trial under way at the end of the budget is asked to stop there (the run watchdog);
      // a controlled one runs to its end, which its schedule alone decides
      deadline: Number.isFinite(deadline) && !controlled ? deadline : undefined,
      schedule: schedule || undefined,
    }));
    // a program that ignored the stop was aborted: its trial has no result
    if (!run) break;
    out.trials++;
    out.lastRun = run;
    out.lastSchedule = controlled && run.schedule && { mode: controlled, seed, horizon, outcome: run.schedule };
    out.reports += run.violationCount;
    addCounters(out.counters, run.counters);
    addWaits(out.waits, run.waits);
    const hit = noteReports(machine, req.scenario, out, { trial: index + 1, seed, elapsedMs: performance.now() - t0, ...(out.lastSchedule && { schedule: out.lastSchedule }) });
    out.elapsedMs = performance.now() - t0;
    req.onTrial?.(out);
    if (hit && req.stopOnFirst) break;
  }
  out.elapsedMs = performance.now() - t0;
  return out;
}

/**
 * PCT's horizon k, measured as shuttle measures it, by a first run that PCT's priorities do not
 * skew: one trial of the scenario under the random strategy, from the campaign's seed, whose steps
 * are k; its reports are not the campaign's. PCT's own trials would not do: a CPU that polls in a
 * loop at the top priority runs until the horizon, so that each trial would take longer than the
 * last.
 */
async function pctHorizon(machine: Machine, req: TrialsRequest, run: Pick<RunOptions, 'kernel' | 'arch' | 'hardware'>, own: Readonly<Record<string, string>>, stopOnKind: number): Promise<number> {
  const first = await stoppable(machine, req.signal, () => machine.run({ url: req.url }, req.options ?? req.scenario.trialOptions, {
    ...run, seed: req.seed, stopOnKind, scenarioSwitches: own, schedule: { strategy: Strategy.Random, parallel: req.schedule!.parallel, seed: req.seed },
  }));
  return Math.max(1, first?.schedule?.steps ?? FIRST_HORIZON);
}

/** One controlled trial's schedule: the mode's strategy, seeded by the trial's seed, or a replay. */
export function scheduleSpec(mode: ScheduleMode, seed: number, horizon: number, replay: TrialsRequest['replay']): ScheduleSpec {
  const strategy = replay ? (replay.strict ? Strategy.Replay : Strategy.ReplayLenient) : mode.strategy === 'pct' ? Strategy.Pct : Strategy.Random;
  return { strategy, parallel: mode.parallel, seed, depth: mode.depth, horizon, replay: replay?.deviations };
}

/** How often an interrupted trial's stop is repeated, and when a trial that ignores it is aborted. */
const STOP_REPEAT_MS = 50;
const ABORT_AFTER_MS = 500;

/**
 * Runs one trial; once `signal` aborts, its CPUs are told to stop. The stop is repeated until the
 * trial ends, since the machine resets its memory, G_STOP included, as a trial starts; a program
 * that has not wound down within ABORT_AFTER_MS (one that never polls shouldStop) is aborted, and
 * the trial resolves to null. A failure that was not the interrupt's doing still rejects.
 */
async function stoppable<R>(machine: Machine, signal: AbortSignal | undefined, run: () => Promise<R>): Promise<R | null> {
  if (!signal) return run();
  let repeat: ReturnType<typeof setInterval> | undefined;
  let abort: ReturnType<typeof setTimeout> | undefined;
  const onAbort = () => {
    stopAll(machine.v);
    repeat = setInterval(() => stopAll(machine.v), STOP_REPEAT_MS);
    abort = setTimeout(() => abortRun(machine.v, CONTROL_CPU), ABORT_AFTER_MS);
  };
  signal.addEventListener('abort', onAbort, { once: true });
  try {
    return await run();
  } catch (err) {
    if (signal.aborted) return null;
    throw err;
  } finally {
    signal.removeEventListener('abort', onAbort);
    clearInterval(repeat);
    clearTimeout(abort);
  }
}

/**
 * Adds one trial's reports (still in the machine's memory) to `out`: the counts by kind, the
 * first of each kind, the first of any kind and the first forbidden one with the interleaving.
 * Returns whether the forbidden outcome was seen.
 */
function noteReports(machine: Machine, scenario: Scenario, out: TrialsResult, at: Pick<FirstReport, 'trial' | 'seed' | 'elapsedMs' | 'schedule'>): boolean {
  const firsts = readFirstReports(machine.v);
  if (firsts.length === 0) return false;
  out.trialsWithReports++;
  for (const [kind, n] of Object.entries(readReportCounts(machine.v))) out.reportsByKind[kind] = (out.reportsByKind[kind] ?? 0) + n;
  for (const f of firsts) out.firstByKind[f.kind] ??= { ...f, ...at };
  let events: TraceRecord[] | undefined;
  const withEvents = (f: Violation): FirstViolation => {
    events ??= readEvents(machine.v, Array.from({ length: machine.nrCpus }, (_, c) => c), EVENTS_KEPT);
    return { ...f, ...at, events };
  };
  out.firstReport ??= withEvents(firsts.reduce((a, b) => (seqDiff(b.seq, a.seq) < 0 ? b : a)));
  const hit = firsts.find((f) => isForbidden(scenario, f.kind));
  if (!hit) return false;
  out.violations++;
  out.firstViolation ??= withEvents(hit);
  return true;
}
