/*
 * `shootdown stress`: one scenario (from the catalog, or a user's file written against
 * scenario/scenario.ts) run trial after trial on one machine under one kernel preset, until the
 * budget is spent or, with --stop-on-first, its forbidden outcome is seen. The result carries the
 * seed, every report by kind with the first of each described field by field (check/describe.ts),
 * and a command that reruns the traced report (STYLE 11): the first forbidden one, or under a
 * preset expected 'never', where any report is a failure, the first of any kind. Its interleaving
 * can be written as a Chrome trace (Perfetto) and as ftrace text.
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { writeFileAtomic } from '../fs-atomic.ts';
import { fileURLToPath, pathToFileURL } from 'node:url';
import prettyMs from 'pretty-ms';
import { UsageError } from '../errors.ts';
import { defaultKernelConfig, type KernelConfig } from '../config/kernel-config.ts';
import type { Counters } from '../trace/counters.ts';
import { toChromeTrace, toFtrace, type TraceMetadata } from '../trace/export.ts';
import { MEASURE_DIR, catalogScenario, loadCatalog, scenarioFile } from '../scenario/catalog/index.ts';
import { checkScenarioArch, withParams, type Scenario } from '../scenario/scenario.ts';
import { Arch, archName, type ArchName, type Hardware } from '../arch/arch.ts';
import { formatHardware } from '../config/hardware.ts';
import { hostInfo, type HostInfo } from './host.ts';
import { typecheckScenario } from './typecheck.ts';
import { bootUnlessAborted, hardwareFor, noTrials, runConfigFor, runTrials, tracedReport, trialsFailed, type FirstReport, type FirstViolation, type TrialsResult } from './trials.ts';
import { describeViolation, hex } from '../check/describe.ts';
import { trialsRun, type Progress } from './progress.ts';
import { interruptedBy } from './interrupt.ts';
import { FREE, describeMode, type ScheduleMode } from '../schedule/control.ts';
import type { TrialSchedule, TrialsRequest } from './trials.ts';
import type { Shard } from './shard.ts';

/** A scenario ready to run: what the command line named, and the module the CPUs import. */
export interface ResolvedScenario {
  /** as the user wrote it: a catalog name or a path; used in the rerun command */
  arg: string;
  url: string;
  scenario: Scenario;
}

/** Whether a scenario argument is a path to a file (a .ts or .mts name, or one with a '/'), not a catalog name. */
export function isScenarioPath(arg: string): boolean {
  return /\.m?ts$/.test(arg) || arg.includes('/');
}

/**
 * A catalog name, or a path (relative to the working directory) to a .ts or .mts file that
 * default-exports a scenario; with `typecheck`, the file is type-checked first (a path before it
 * is imported, a catalog scenario once it is found).
 */
export async function resolveScenario(arg: string, opts: { typecheck?: boolean } = {}): Promise<ResolvedScenario> {
  if (isScenarioPath(arg)) {
    if (!existsSync(arg)) throw new UsageError(`no scenario file ${arg}`);
    if (opts.typecheck) await typecheckScenario(arg);
    const url = pathToFileURL(resolve(arg)).href;
    return { arg, url, scenario: await scenarioFile(url) };
  }
  const entry = (await catalogScenario(arg)) ?? (await catalogScenario(arg, MEASURE_DIR));
  if (!entry) {
    const names = [...(await loadCatalog()).entries, ...(await loadCatalog(MEASURE_DIR)).entries].map((e) => e.name);
    throw new UsageError(`unknown scenario '${arg}'; scenarios: ${names.join(', ') || '(the catalog is empty)'}, or a path to a .ts file`);
  }
  if (opts.typecheck) await typecheckScenario(fileURLToPath(entry.url));
  return { arg, url: entry.url, scenario: entry.scenario };
}

const DURATION = /^(\d+(?:\.\d+)?)(ms|s|m)$/;
const UNIT_MS = { ms: 1, s: 1000, m: 60_000 } as const;

/** "500ms", "30s", "2m" -> milliseconds; `name` is the option, for the error. */
export function parseDuration(name: string, raw: string): number {
  const m = DURATION.exec(raw);
  const ms = m ? Number(m[1]) * UNIT_MS[m[2] as keyof typeof UNIT_MS] : NaN;
  if (!(ms > 0)) throw new UsageError(`${name} must be a positive time with a unit: 500ms, 30s or 2m; got ${JSON.stringify(raw)}`);
  return ms;
}

export interface StressRequest {
  resolved: ResolvedScenario;
  preset: string;
  set: string[];
  /** --param key=value: trial options on top of the scenario's trialOptions (withParams) */
  params?: string[];
  cpus: number;
  seed: number;
  /** the --noise level's name, and its shift (campaign/noise.ts) */
  noise: string;
  noiseShift: number;
  trials?: number;
  durationMs?: number;
  stopOnFirst: boolean;
  /** the progress line, or none (--quiet) */
  progress?: Progress;
  /** ends the run early, with the trials done as its result (interrupt.ts) */
  signal?: AbortSignal;
  /** free running (default) or a controlled strategy (schedule/control.ts) */
  schedule?: ScheduleMode;
  /** PCT's horizon (--horizon); measured from the trials when absent */
  horizon?: number;
  /** recorded choices to follow (replay, shrink: schedule/commands.ts) */
  replay?: TrialsRequest['replay'];
  /** the part of the campaign's trial indices to run (shard.ts); all of them when absent */
  shard?: Shard;
  /** the architecture (--arch; x86 when absent), one the scenario lists */
  arch?: Arch;
  /** CPU features on top of the scenario's (--hardware) */
  hardware?: Partial<Hardware>;
}

/** What a summary is made of besides the trials: a request, or a shard result's (merge.ts). */
export type SummaryRequest = Pick<StressRequest, 'preset' | 'set' | 'params' | 'cpus' | 'seed' | 'noise' | 'schedule' | 'signal' | 'arch' | 'hardware'> & {
  resolved: Pick<ResolvedScenario, 'arg'> & { scenario: Pick<Scenario, 'name' | 'question' | 'forbidden'> };
};

/** A first report as stress prints it: where, when, and every field named (check/describe.ts). */
export interface ReportSummary {
  kind: string;
  trial: number;
  seed: number;
  cpus: number[];
  address: string;
  elapsedMs: number;
  message: string;
  fields: Record<string, string | number>;
}

export interface StressSummary {
  scenario: string;
  question: string;
  forbidden: string;
  /** the preset's name; `set` holds the switches given on top of it */
  kernel: string;
  set: string[];
  expected: string | null;
  /** the whole kernel configuration the trials ran */
  switches: KernelConfig;
  /** the scenario's own switches the trials ran with (empty when it declares none) */
  scenarioSwitches: Readonly<Record<string, string>>;
  /** the --param assignments given */
  params: string[];
  /** the architecture the trials ran on, and its CPU features (the scenario's, --hardware's on top) */
  arch: ArchName;
  hardware: Readonly<Hardware>;
  cpus: number;
  seed: number;
  noise: string;
  /** free, random or pct:DEPTH, with --parallel K when K > 1 */
  schedule: string;
  trials: number;
  elapsedMs: number;
  /** trials in which the forbidden outcome was seen */
  violations: number;
  /** trials with a report of any kind */
  trialsWithReports: number;
  /** oracle reports of any kind */
  reports: number;
  /** every kind reported, with its count */
  reportsByKind: Record<string, number>;
  /** the first report of the forbidden kind */
  firstViolation: ReportSummary | null;
  /** the first report of each kind */
  firstReports: Record<string, ReportSummary>;
  /** the run failed its expectation: any report under 'never', the forbidden outcome otherwise */
  failed: boolean;
  /** the report the traces show and the rerun is for: under 'never' the first of any kind */
  traced: ReportSummary | null;
  /**
   * reruns the traced report's trial with its seed; a free run's seed fixes the noise, not the
   * interleaving, so the rerun may not show the report again (RERUN_NOTE); a controlled run with
   * --parallel 1 is the same run again (REPLAY_NOTE)
   */
  rerun: string | null;
  /** what the rerun line can promise: RERUN_NOTE, REPLAY_NOTE or PARALLEL_NOTE */
  rerunNote: string | null;
  counters: Counters;
  host: HostInfo;
  /** the signal that ended the run early (the summary is of the trials done), or null */
  interrupted: string | null;
}

/** Runs the trials on a machine of its own; the machine is closed when this settles. */
export async function runStress(req: StressRequest): Promise<{ summary: StressSummary; traced: FirstViolation | null; schedule: TrialSchedule | null; result: TrialsResult }> {
  const { scenario, url } = req.resolved;
  // bad architecture, preset, switch or option: before the machine boots
  const arch = req.arch ?? Arch.X86;
  checkScenarioArch(scenario, arch);
  const hardware = hardwareFor(scenario, req.hardware);
  const config = runConfigFor(scenario, req.preset, req.set, arch);
  const options = withParams(scenario, scenario.trialOptions, req.params ?? []);
  const expected = scenario.expected[req.preset] ?? null;
  const machine = await bootUnlessAborted(req.cpus, req.signal);
  // interrupted while the machine booted: no trial
  if (!machine) {
    const none = noTrials(config.kernel, config.own, arch, hardware);
    return { summary: summarize(req, none, expected), traced: null, schedule: null, result: none };
  }
  try {
    const onTrial = trialsRun(req.progress, `${scenario.name} [${req.preset}]`, { total: req.trials, durationMs: req.durationMs });
    let result: TrialsResult;
    try {
      result = await runTrials(machine, {
        url,
        scenario,
        preset: req.preset,
        set: req.set,
        arch,
        hardware: req.hardware,
        seed: req.seed,
        trials: req.trials,
        durationMs: req.durationMs,
        noiseShift: req.noiseShift,
        stopOnFirst: req.stopOnFirst,
        options,
        onTrial,
        signal: req.signal,
        schedule: req.schedule,
        horizon: req.horizon,
        replay: req.replay,
        shard: req.shard,
      });
    } finally {
      req.progress?.end();
    }
    const traced = tracedReport(result, expected);
    return { summary: summarize(req, result, expected), traced, schedule: traced ? (traced.schedule ?? null) : result.lastSchedule, result };
  } finally {
    await machine.close();
  }
}

/** A first report, described. */
export function reportSummary(f: FirstReport): ReportSummary {
  const { message, fields } = describeViolation(f);
  return { kind: f.kind, trial: f.trial, seed: f.seed, cpus: [f.cpu], address: hex(f.va), elapsedMs: f.elapsedMs, message, fields };
}

export function summarize(req: SummaryRequest, r: TrialsResult, expected: string | null): StressSummary {
  const s = req.resolved.scenario;
  const traced = tracedReport(r, expected);
  return {
    scenario: s.name,
    question: s.question,
    forbidden: s.forbidden,
    kernel: req.preset,
    set: req.set,
    expected,
    switches: r.kernel,
    scenarioSwitches: r.scenarioSwitches,
    params: req.params ?? [],
    arch: r.arch,
    hardware: r.hardware,
    cpus: req.cpus,
    seed: req.seed,
    noise: req.noise,
    schedule: describeMode(req.schedule ?? FREE),
    trials: r.trials,
    elapsedMs: r.elapsedMs,
    violations: r.violations,
    trialsWithReports: r.trialsWithReports,
    reports: r.reports,
    reportsByKind: r.reportsByKind,
    firstViolation: r.firstViolation && reportSummary(r.firstViolation),
    firstReports: Object.fromEntries(Object.entries(r.firstByKind).map(([kind, f]) => [kind, reportSummary(f)])),
    failed: trialsFailed(r, expected),
    traced: traced && reportSummary(traced),
    rerun: traced && rerunCommand(req, traced.seed, traced.schedule?.horizon),
    rerunNote: traced && rerunNote(req.schedule ?? FREE),
    counters: r.counters,
    host: hostInfo(),
    interrupted: interruptedBy(req.signal),
  };
}

/** What the output says beside a free run's rerun command: why it is not called a replay. */
export const RERUN_NOTE = 'free run: interleaving not recorded; the seed fixes the noise, not the interleaving, so the rerun may not show it again';
/** Beside a controlled run's with K = 1: it is one. */
export const REPLAY_NOTE = 'controlled run, one CPU at a time: the same seed, schedule and horizon give the same run, a replay';
/** Beside a controlled run's with K > 1. */
export const PARALLEL_NOTE = 'controlled run with --parallel above 1: the choices are the same, the interleaving between scheduling points is not; the rerun may not show it again';

function rerunNote(mode: ScheduleMode): string {
  return mode.strategy === 'free' ? RERUN_NOTE : mode.parallel > 1 ? PARALLEL_NOTE : REPLAY_NOTE;
}

export function rerunCommand(req: Pick<SummaryRequest, 'resolved' | 'preset' | 'set' | 'params' | 'cpus' | 'noise' | 'schedule' | 'arch' | 'hardware'>, seed: number, horizon?: number): string {
  const hardware = formatHardware(req.hardware ?? {});
  const arch = `${(req.arch ?? Arch.X86) !== Arch.X86 ? ` --arch ${archName(req.arch!)}` : ''}${hardware ? ` --hardware ${hardware}` : ''}`;
  const set = [...req.set.map((a) => ` --set ${a}`), ...(req.params ?? []).map((a) => ` --param ${a}`)].join('');
  const mode = req.schedule ?? FREE;
  const schedule = mode.strategy === 'free' ? '' : ` --schedule ${describeMode(mode)}${mode.strategy === 'pct' && horizon !== undefined ? ` --horizon ${horizon}` : ''}`;
  return `npx shootdown stress ${req.resolved.arg}${arch} --kernel ${req.preset}${set} --cpus ${req.cpus} --noise ${req.noise}${schedule} --seed ${seed} --trials 1`;
}

/** A run's CPU features in a line: ASID bits, range TLBIs, HAFDBS. */
export function formatHardwareLine(hw: Readonly<Hardware>): string {
  return `${hw.asidBits}-bit ASIDs, range TLBIs ${hw.tlbRange ? 'on' : 'off'}, HAFDBS ${hw.hafdbs ? 'on' : 'off'}`;
}

/** What an exported trace says about itself, so that the file alone tells how to rerun it. */
export function traceMetadata(s: StressSummary): TraceMetadata {
  return { scenario: s.scenario, kernel: s.kernel, set: s.set.join(' '), cpus: s.cpus, seed: s.traced?.seed ?? s.seed, trial: s.traced?.trial ?? 0, rerun: s.rerun ?? '' };
}

/** Writes a first report's interleaving as Chrome trace JSON and/or ftrace text. */
export function writeTraces(first: FirstViolation, meta: TraceMetadata, files: { chrome?: string; ftrace?: string }): void {
  const { detail, fields } = describeViolation(first);
  const opts = { violation: { seq: first.seq, cpu: first.cpu, kind: first.kind, message: detail, fields }, metadata: meta };
  if (files.chrome) writeFileAtomic(files.chrome, JSON.stringify(toChromeTrace(first.events, opts)) + '\n');
  if (files.ftrace) writeFileAtomic(files.ftrace, toFtrace(first.events, opts));
}

/** `kind n, kind m`, the counts of every kind reported. */
export function formatKindCounts(byKind: Record<string, number>): string {
  return Object.entries(byKind).map(([kind, n]) => `${kind} ${n}`).join(', ');
}

/** A report's lines: the message, then each field named. */
function reportLines(label: string, r: ReportSummary): string[] {
  const width = Math.max(...Object.keys(r.fields).map((k) => k.length));
  return [
    `  ${label.padEnd(14)}after ${prettyMs(r.elapsedMs)}, trial ${r.trial} (seed ${r.seed}): ${r.message}`,
    ...Object.entries(r.fields).map(([k, v]) => `                  ${k.padEnd(width)}  ${v}`),
  ];
}

export function formatStress(s: StressSummary, traces: string[]): string {
  const rate = s.elapsedMs > 0 ? `, ${((s.trials / s.elapsedMs) * 1000).toFixed(1)}/s` : '';
  const mainline = defaultKernelConfig();
  const changed = Object.entries(s.switches).filter(([k, v]) => mainline[k as keyof KernelConfig] !== v);
  const kernel = `${s.kernel}${s.set.length > 0 ? ` + ${s.set.join(' ')}` : ''}: ${changed.map(([k, v]) => `${k}=${v}`).join(' ') || 'mainline'}${changed.length > 0 ? ', mainline otherwise' : ''}`;
  const own = Object.entries(s.scenarioSwitches).map(([k, v]) => `${k}=${v}`).join(' ');
  // the traced report first, then the first of each other kind
  const others = Object.values(s.firstReports).filter((r) => r.kind !== s.traced?.kind);
  const verdict = !s.failed
    ? s.interrupted
      ? `interrupted by ${s.interrupted}: ${s.reports === 0 ? 'no report' : `no ${s.forbidden}`} in the ${s.trials} trials done`
      : s.reports === 0
        ? 'clean: no report'
        : `no ${s.forbidden}; the reports of other kinds are above`
    : s.expected === 'never'
      ? `FAILED: expected never, found ${s.reports} oracle reports in ${s.trialsWithReports} trials`
      : `the forbidden outcome (${s.forbidden}) was seen in ${s.violations} trials`;
  return [
    `stress ${s.scenario}: ${s.question}`,
    `  kernel        ${kernel}`,
    ...(own ? [`  switches      ${own} (the scenario's own)`] : []),
    ...(s.params.length > 0 ? [`  params        ${s.params.join(' ')}`] : []),
    ...(s.arch !== 'x86' ? [`  arch          ${s.arch}, ${formatHardwareLine(s.hardware)}`] : []),
    `  expected      ${s.expected ?? '(the scenario says nothing for this preset)'}; forbidden: ${s.forbidden}`,
    `  cpus          ${s.cpus} on ${s.host.cores} host cores (Node ${s.host.node})`,
    `  seed          ${s.seed}, ${s.schedule === 'free' ? `noise ${s.noise}` : `schedule ${s.schedule} (noise off: the scheduler decides who runs in a race window)`}`,
    `  trials        ${s.trials} in ${prettyMs(s.elapsedMs)}${rate}${s.interrupted ? `, interrupted by ${s.interrupted}: the summary is of these trials` : ''}`,
    `  violations    ${s.violations} trials with ${s.forbidden}`,
    `  reports       ${s.reports > 0 ? `${s.reports} in ${s.trialsWithReports} trials: ${formatKindCounts(s.reportsByKind)}` : 'none'}`,
    ...(s.traced ? reportLines(s.traced.kind === s.forbidden ? 'first' : 'first report', s.traced) : []),
    ...others.flatMap((r) => reportLines('also', r)),
    `  verdict       ${verdict}`,
    ...(s.rerun ? [`  rerun         ${s.rerun}`, `                (${s.rerunNote})`] : []),
    ...traces.map((t) => `  trace         ${t}`),
  ].join('\n');
}
