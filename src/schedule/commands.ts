/*
 * What schedule files are for: `stress --save-schedule` writes one (scheduleFileFor), `replay`
 * runs it again and says whether it is the same run, `shrink` makes it smaller, and
 * `stress --reproduce` turns a free run's violation into one by searching under PCT.
 *
 * A replay is exact or it says so: the scenario's file must hash as it did, the preset and its
 * switches must make the recorded kernel, and the run must make every recorded choice at the
 * recorded step with the recorded rolling hash, and end at the recorded step count and hash. The
 * first difference is a divergence, with the step where it showed (exit 2).
 *
 * Shrinking (delta debugging, Zeller and Hildebrandt's ddmin) runs candidate schedules that keep
 * a part of the recorded choices, followed where they still apply (Strategy.ReplayLenient): every
 * choice left out is the default, the CPU at the point going on. A candidate is kept when its
 * trial reports the same kind, on the same CPU, at the same address; its own log then becomes the
 * schedule, so that what is written replays strictly.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { UsageError } from '../errors.ts';
import { isScenarioPath, resolveScenario, runStress, type ResolvedScenario, type StressRequest, type StressSummary } from '../campaign/stress.ts';
import { bootUnlessAborted, runConfigFor, runTrials, tracedReport, type FirstViolation, type TrialSchedule } from '../campaign/trials.ts';
import { runsOn, scenarioArches, withParams } from '../scenario/scenario.ts';
import { hex } from '../check/describe.ts';
import { describeMode, parseScheduleMode, type Deviation, type ScheduleMode } from './control.ts';
import { decodeChoices, emulatorCodeHash, encodeChoices, fileSha256, readScheduleFile, SCHEDULE_FORMAT, SCHEDULE_VERSION, writeScheduleFile, type ScheduleFile } from './file.ts';
import { toInterleavingTable } from '../trace/export.ts';
import type { KernelConfig } from '../config/kernel-config.ts';
import { archName, parseArch, type Arch, type ArchName, type Hardware } from '../arch/arch.ts';
import type { Progress } from '../campaign/progress.ts';

/** The file of a resolved scenario, for its hash. */
function scenarioPath(resolved: ResolvedScenario): string {
  return fileURLToPath(resolved.url);
}

/** What a schedule file says of the run a trial was part of: what it was asked, and what it ran. */
export type ScheduleSource = Pick<StressRequest, 'resolved' | 'preset' | 'set' | 'params' | 'cpus'>;
export interface RanWith {
  kernel: KernelConfig;
  scenarioSwitches: Readonly<Record<string, string>>;
  arch: ArchName;
  hardware: Readonly<Hardware>;
  reportsByKind: Record<string, number>;
}

/** The schedule file of one controlled trial (of stress, run-all or a --reproduce search). */
export function scheduleFileFor(req: ScheduleSource, ran: RanWith, schedule: TrialSchedule, traced: FirstViolation | null): ScheduleFile {
  const { outcome } = schedule;
  const verdict = traced && { kind: traced.kind, cpu: traced.cpu, address: hex(traced.va), step: outcome.stepByKind[traced.kind] ?? 0 };
  const file = scenarioPath(req.resolved);
  return {
    format: SCHEDULE_FORMAT,
    version: SCHEDULE_VERSION,
    scenario: { name: req.resolved.scenario.name, arg: req.resolved.arg, file, sha256: fileSha256(file) },
    preset: req.preset,
    set: req.set,
    params: req.params ?? [],
    kernel: ran.kernel,
    scenarioSwitches: { ...ran.scenarioSwitches },
    arch: ran.arch,
    hardware: { ...ran.hardware },
    cpus: req.cpus,
    parallel: schedule.mode.parallel,
    strategy: describeMode({ ...schedule.mode, parallel: 1 }),
    seed: schedule.seed,
    horizon: schedule.horizon,
    code: emulatorCodeHash(),
    steps: outcome.steps,
    hash: outcome.hash,
    preemptions: outcome.preemptions,
    choices: encodeChoices(outcome.deviations),
    verdict,
    reportsByKind: traced ? ran.reportsByKind : {},
  };
}

/** What a stress summary ran with, for scheduleFileFor. */
export function ranWith(s: StressSummary): RanWith {
  return { kernel: s.switches, scenarioSwitches: s.scenarioSwitches, arch: s.arch, hardware: s.hardware, reportsByKind: s.reportsByKind };
}

/** Why runs of `mode` cannot be saved as schedules, or null when they can. */
export function unsavableMode(mode: ScheduleMode): string | null {
  if (mode.strategy === 'free') return 'a free run records no schedule: give --schedule random or pct (or --reproduce)';
  if (mode.parallel > 1) return `with --parallel ${mode.parallel} the interleaving between scheduling points is not recorded: a schedule file needs --parallel 1`;
  return null;
}

/** Why a run's schedule cannot be written, or null when it can. */
export function unsavable(mode: ScheduleMode, schedule: TrialSchedule | null): string | null {
  const why = unsavableMode(mode);
  if (why !== null) return why;
  if (!schedule) return 'no trial ran';
  if (schedule.outcome.overflow) return `the trial made more recorded choices than a schedule can hold`;
  return null;
}

/** What a file's run needs, checked against the code and the scenario as they are now. */
interface Prepared {
  file: ScheduleFile;
  resolved: ResolvedScenario;
  mode: ScheduleMode;
  deviations: Deviation[];
  codeChanged: boolean;
}

/** The differences between two kernel configurations (or two sets of a scenario's switches). */
function switchChanges(recorded: Record<string, unknown>, now: Record<string, unknown>): string[] {
  const names = [...new Set([...Object.keys(recorded), ...Object.keys(now)])];
  return names.filter((n) => recorded[n] !== now[n]).map((n) => `${n}: ${String(recorded[n] ?? '(none)')} then, ${String(now[n] ?? '(none)')} now`);
}

async function prepare(path: string): Promise<Prepared> {
  const file = readScheduleFile(path);
  // a user's file where it was saved, if it is still there; a catalog scenario by its name
  const { arg } = file.scenario;
  const resolved = await resolveScenario(isScenarioPath(arg) && existsSync(file.scenario.file) ? file.scenario.file : arg);
  const sha = fileSha256(scenarioPath(resolved));
  if (sha !== file.scenario.sha256) throw new UsageError(`${path}: scenario ${file.scenario.name} changed since the schedule was saved (${scenarioPath(resolved)}: sha256 ${file.scenario.sha256.slice(0, 12)} then, ${sha.slice(0, 12)} now)`);
  const arch = parseArch(file.arch);
  if (!runsOn(resolved.scenario, arch)) throw new UsageError(`${path}: recorded on ${file.arch}, but scenario ${file.scenario.name} runs on ${scenarioArches(resolved.scenario).join(', ')} now`);
  const config = runConfigFor(resolved.scenario, file.preset, file.set, arch);
  const changes = [...switchChanges(file.kernel as unknown as Record<string, unknown>, config.kernel as unknown as Record<string, unknown>), ...switchChanges(file.scenarioSwitches, config.own)];
  if (changes.length > 0) throw new UsageError(`${path}: preset '${file.preset}'${file.set.length > 0 ? ` with ${file.set.join(' ')}` : ''} no longer makes the recorded kernel: ${changes.join('; ')}`);
  if (file.cpus < resolved.scenario.cpus) throw new UsageError(`${path}: ${file.cpus} CPUs, but scenario ${file.scenario.name} needs ${resolved.scenario.cpus} now`);
  const mode = parseScheduleMode(file.strategy, '1', file.cpus);
  return { file, resolved, mode, deviations: decodeChoices(file.choices), codeChanged: file.code !== emulatorCodeHash() };
}

function stressRequestOf(p: Prepared, replay: StressRequest['replay'], progress?: Progress, signal?: AbortSignal): StressRequest {
  const f = p.file;
  return {
    resolved: p.resolved, preset: f.preset, set: f.set, params: f.params, cpus: f.cpus, seed: f.seed, noise: 'off', noiseShift: -1,
    trials: 1, stopOnFirst: false, schedule: p.mode, horizon: f.horizon, replay, progress, signal, arch: parseArch(f.arch), hardware: f.hardware,
  };
}

const CODE_NOTE = "; the emulator's code changed since the file was saved";

/** The first difference between the recorded run and `schedule`'s, in one line, or null. */
function divergence(p: Prepared, schedule: TrialSchedule | null, traced: FirstViolation | null): string | null {
  const f = p.file;
  const code = p.codeChanged ? CODE_NOTE : '';
  if (!schedule) return null;
  const o = schedule.outcome;
  if (o.diverged) return `schedule diverged at step ${o.diverged.step}: the recorded choice there, CPU ${o.diverged.cpu}, is not what the run came to${code}`;
  if (o.steps !== f.steps || o.hash !== f.hash) {
    const last = p.deviations.length > 0 ? p.deviations[p.deviations.length - 1].step : 0;
    return `schedule diverged after step ${last}: the run took ${o.steps} steps (hash ${o.hash.toString(16)}), the recorded one ${f.steps} (hash ${f.hash.toString(16)})${code}`;
  }
  const now = traced && `${traced.kind} on CPU ${traced.cpu} at ${hex(traced.va)}`;
  const then = f.verdict && `${f.verdict.kind} on CPU ${f.verdict.cpu} at ${f.verdict.address}`;
  if (now !== then) return `schedule diverged in its verdict: ${then ?? 'clean'} recorded, ${now ?? 'clean'} now${code}`;
  return null;
}

export interface Reproduced {
  /** the strategy searched with */
  schedule: string;
  trials: number;
  elapsedMs: number;
  /** the schedule file written, or null when the search found nothing */
  file: string | null;
}

/**
 * `stress --reproduce`: searches the free run's scenario, preset and CPUs under PCT, from the same
 * seed and with the same budget, for the report kind the free run traced; writes the first such
 * trial's schedule to `out`.
 */
export async function reproduceUnderPct(req: StressRequest, kind: string, out: string): Promise<Reproduced> {
  const mode = parseScheduleMode('pct', undefined, req.cpus);
  const search: StressRequest = { ...req, schedule: mode, noise: 'off', noiseShift: -1, stopOnFirst: kind === req.resolved.scenario.forbidden };
  const { summary, traced, schedule } = await runStress(search);
  const reproduced = { schedule: describeMode(mode), trials: summary.trials, elapsedMs: summary.elapsedMs, file: null };
  // the traced report is the one a schedule is kept for: the forbidden one, or under a preset
  // expected 'never' the first of any kind
  if (traced?.kind !== kind || !schedule) return reproduced;
  writeScheduleFile(out, scheduleFileFor(search, ranWith(summary), schedule, traced));
  return { ...reproduced, file: out };
}

export interface ReplayResult {
  summary: StressSummary;
  traced: FirstViolation | null;
  file: ScheduleFile;
  /** the recorded violation came again, or the recorded clean run is clean again */
  status: 'reproduced' | 'clean';
  /** the emulator's sources differ from those the file was saved with (the run was still the same) */
  codeChanged: boolean;
}

/**
 * Runs a schedule file's trial again, following its choices strictly. Rejects with a UsageError
 * (exit 2) when the file, the scenario or the kernel no longer match, or the run diverges.
 */
export async function replaySchedule(path: string, opts: { progress?: Progress; signal?: AbortSignal; arch?: Arch } = {}): Promise<ReplayResult> {
  const p = await prepare(path);
  // the recorded architecture is the run's: --arch may only say it again
  if (opts.arch !== undefined && archName(opts.arch) !== p.file.arch) throw new UsageError(`${path}: recorded on ${p.file.arch}; replay runs it there, not on ${archName(opts.arch)} (leave out --arch)`);
  const req = stressRequestOf(p, { deviations: p.deviations, strict: true }, opts.progress, opts.signal);
  const { summary, traced, schedule } = await runStress(req);
  const result: ReplayResult = { summary, traced, file: p.file, status: p.file.verdict ? 'reproduced' : 'clean', codeChanged: p.codeChanged };
  if (summary.interrupted) return result;
  const diverged = divergence(p, schedule, traced);
  if (diverged) throw new UsageError(`${path}: ${diverged}`);
  return result;
}

export interface ShrinkResult {
  file: ScheduleFile;
  /** choices and preemptions, recorded and shrunk */
  before: { choices: number; preemptions: number };
  after: { choices: number; preemptions: number };
  candidates: number;
  /** the shrunk run's interleaving, as a table */
  table: string;
}

/**
 * Shrinks a schedule file's choices (ddmin) while its trial still reports the same kind on the
 * same CPU at the same address; at most `budgetMs` of candidate runs. The result replays strictly.
 */
export async function shrinkSchedule(path: string, opts: { budgetMs: number; progress?: Progress; signal?: AbortSignal }): Promise<ShrinkResult> {
  const p = await prepare(path);
  const f = p.file;
  const verdict = f.verdict;
  if (!verdict) throw new UsageError(`${path}: the recorded run is clean: there is no violation to keep while shrinking`);
  const machine = await bootUnlessAborted(f.cpus, opts.signal);
  if (!machine) throw new UsageError('interrupted before the machine booted');
  const arch = parseArch(f.arch);
  const config = runConfigFor(p.resolved.scenario, f.preset, f.set, arch);
  const options = withParams(p.resolved.scenario, p.resolved.scenario.trialOptions, f.params);
  let candidates = 0;
  const run = async (deviations: readonly Deviation[], strict: boolean) => {
    candidates++;
    const r = await runTrials(machine, {
      url: p.resolved.url, scenario: p.resolved.scenario, preset: f.preset, kernel: config.kernel, arch, hardware: f.hardware, set: f.set, seed: f.seed, trials: 1, options,
      schedule: p.mode, horizon: f.horizon, replay: { deviations, strict }, signal: opts.signal,
    });
    const traced = tracedReport(r, p.resolved.scenario.expected[f.preset] ?? null);
    return { traced, schedule: r.lastSchedule };
  };
  const same = (t: FirstViolation | null) => t !== null && t.kind === verdict.kind && t.cpu === verdict.cpu && hex(t.va) === verdict.address;
  try {
    const first = await run(p.deviations, true);
    const diverged = divergence(p, first.schedule, first.traced);
    if (diverged) throw new UsageError(`${path}: ${diverged}`);
    const deadline = performance.now() + opts.budgetMs;
    let best = { deviations: p.deviations, traced: first.traced!, schedule: first.schedule! };
    opts.progress?.run(`shrink ${f.scenario.name}`, { unit: 'candidates', durationMs: opts.budgetMs }, () => ({ done: candidates, counts: { choices: best.deviations.length } }));
    // ddmin: try dropping each of n chunks; on success keep the rest, else split finer
    let n = 2;
    while (best.deviations.length >= 1 && performance.now() < deadline && !opts.signal?.aborted) {
      const d = best.deviations;
      const size = Math.ceil(d.length / n);
      let reduced = false;
      for (let at = 0; at < d.length && performance.now() < deadline; at += size) {
        const rest = [...d.slice(0, at), ...d.slice(at + size)];
        const c = await run(rest, false);
        if (same(c.traced) && c.schedule) {
          best = { deviations: c.schedule.outcome.deviations, traced: c.traced!, schedule: c.schedule };
          n = Math.max(n - 1, 2);
          reduced = true;
          break;
        }
      }
      if (!reduced) {
        if (size <= 1) break;
        n = Math.min(d.length, n * 2);
      }
    }
    // what is written must replay strictly: run the shrunk log once more, as replay will
    const check = await run(best.deviations, true);
    if (!same(check.traced) || !check.schedule || check.schedule.outcome.diverged) throw new Error(`shrink: the shrunk schedule did not replay (${check.traced?.kind ?? 'clean'})`);
    const o = check.schedule.outcome;
    const file: ScheduleFile = {
      ...f,
      code: emulatorCodeHash(),
      steps: o.steps,
      hash: o.hash,
      preemptions: o.preemptions,
      choices: encodeChoices(o.deviations),
      verdict: { ...verdict, step: o.stepByKind[verdict.kind] ?? 0 },
    };
    return {
      file,
      before: { choices: p.deviations.length, preemptions: f.preemptions },
      after: { choices: o.deviations.length, preemptions: o.preemptions },
      candidates,
      table: toInterleavingTable(check.traced!.events, f.cpus, check.traced!.seq),
    };
  } finally {
    opts.progress?.end();
    await machine.close();
  }
}

