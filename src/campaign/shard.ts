/*
 * Shards of a campaign: `stress`, `run-all` and `compare` spread over the hosts of a batch engine
 * (a Slurm job array, a Kubernetes Indexed Job), with no coordinator of ours. Shard I of N runs
 * the trial indices i (from 0; reports number trials from 1, trial i + 1) with i mod N = I, and
 * trial i runs with seed campaign seed + i whichever shard runs it (trials.ts): with a trial budget T the N shards together run exactly the T trials
 * of one whole run, seeds and, under a controlled schedule, schedules included; with a time budget
 * each shard runs for that time on its own indices. Strided rather than in blocks, so that a time
 * budget needs no bound on the indices and every shard starts at the campaign's first trials.
 *
 * Without --shard the index and count come from the engine's environment: Slurm's
 * SLURM_ARRAY_TASK_ID with SLURM_ARRAY_TASK_COUNT (or SLURM_ARRAY_TASK_MIN and MAX), Kubernetes'
 * JOB_COMPLETION_INDEX with the count from --shards N or SHOOTDOWN_SHARDS (the Job's completions).
 *
 * Each shard writes one JSON result (ShardResult) into a folder; `shootdown merge` (merge.ts)
 * checks that the results are one campaign's, adds them up and prints what one run would have. A
 * run's counts (TrialsResult) travel as ShardTrials: the sums, the first report of each kind with
 * its campaign trial index (the earliest index wins at the merge), the counters, and the wait
 * samples where the command prints percentiles of them (compare), so its medians and p99s merge
 * exactly.
 */
import { join } from 'node:path';
import { UsageError, integerOption } from '../errors.ts';
import { checkOutputFile } from '../fs-atomic.ts';
import { addCounters, zeroCounters } from '../trace/counters.ts';
import { addWaits, zeroWaits } from '../trace/waits.ts';
import type { FirstReport, TrialsResult } from './trials.ts';
import { DEFAULT_HARDWARE } from '../arch/arch.ts';
import type { HostInfo } from './host.ts';

export interface Shard {
  index: number;
  count: number;
}

/** The whole campaign: one shard. */
export const WHOLE: Shard = { index: 0, count: 1 };

/** The most shards a campaign is split into (a Slurm array's default MaxArraySize is 1001). */
export const MAX_SHARDS = 100_000;

/** "I/N" -> { index: I, count: N }, 0 <= I < N. */
export function parseShard(raw: string): Shard {
  const m = /^(\d+)\/(\d+)$/.exec(raw);
  if (!m) throw new UsageError(`--shard takes I/N (shard I of N, I from 0 to N - 1), got ${JSON.stringify(raw)}`);
  return checkedShard('--shard', Number(m[1]), Number(m[2]));
}

function checkedShard(what: string, index: number, count: number): Shard {
  if (!(count >= 1 && count <= MAX_SHARDS)) throw new UsageError(`${what}: the shard count must be from 1 to ${MAX_SHARDS}, got ${count}`);
  if (!(index >= 0 && index < count)) throw new UsageError(`${what}: the shard index must be from 0 to ${count - 1} (of ${count} shards), got ${index}`);
  return { index, count };
}

/** The env var that gives a Kubernetes Indexed Job's shard count (its completions), unless --shards does. */
export const SHARDS_ENV = 'SHOOTDOWN_SHARDS';

/**
 * The shard a command runs: --shard I/N, else the batch engine's environment, else null (the whole
 * campaign, no shard result written unless --results asks for one).
 */
export function shardOf(values: { shard?: unknown; shards?: unknown }, env: NodeJS.ProcessEnv = process.env): Shard | null {
  if (values.shard !== undefined) {
    if (values.shards !== undefined) throw new UsageError('give --shard I/N or --shards N, not both');
    return parseShard(values.shard as string);
  }
  const int = (name: string) => integerOption(name, env[name], 0, 2 ** 31 - 1);
  if (env.SLURM_ARRAY_TASK_ID !== undefined) {
    const id = int('SLURM_ARRAY_TASK_ID');
    if (env.SLURM_ARRAY_TASK_MIN !== undefined && env.SLURM_ARRAY_TASK_MAX !== undefined) {
      const min = int('SLURM_ARRAY_TASK_MIN');
      return checkedShard('SLURM_ARRAY_TASK_ID', id - min, int('SLURM_ARRAY_TASK_MAX') - min + 1);
    }
    if (env.SLURM_ARRAY_TASK_COUNT !== undefined) return checkedShard('SLURM_ARRAY_TASK_ID', id, int('SLURM_ARRAY_TASK_COUNT'));
    throw new UsageError('SLURM_ARRAY_TASK_ID is set without SLURM_ARRAY_TASK_COUNT or SLURM_ARRAY_TASK_MIN and MAX: give --shard I/N');
  }
  if (env.JOB_COMPLETION_INDEX !== undefined) {
    const count = values.shards !== undefined ? integerOption('--shards', values.shards as string, 1, MAX_SHARDS) : env[SHARDS_ENV] !== undefined ? integerOption(SHARDS_ENV, env[SHARDS_ENV], 1, MAX_SHARDS) : null;
    if (count === null) throw new UsageError(`JOB_COMPLETION_INDEX is set: give the shard count as --shards N or ${SHARDS_ENV} (the Job's completions)`);
    return checkedShard('JOB_COMPLETION_INDEX', int('JOB_COMPLETION_INDEX'), count);
  }
  if (values.shards !== undefined) throw new UsageError('--shards N needs JOB_COMPLETION_INDEX (a Kubernetes Indexed Job) for the index; else give --shard I/N');
  return null;
}

/** How many of the campaign's `total` trials the shard runs. */
export function shardTrials(shard: Shard, total: number): number {
  return Math.max(0, Math.ceil((total - shard.index) / shard.count));
}

/** The campaign index of the shard's k-th trial. */
export function trialIndex(shard: Shard, k: number): number {
  return shard.index + k * shard.count;
}

/** A run's counts as a shard result keeps them: a TrialsResult without its machine, its events and (unless kept) its wait samples. */
export type ShardTrials = Omit<TrialsResult, 'lastRun' | 'lastSchedule' | 'firstViolation' | 'firstReport'> & {
  firstViolation: FirstReport | null;
  firstReport: FirstReport | null;
};

/** A report without the interleaving read with it (the shard writes that as its own trace files). */
function withoutEvents(f: FirstReport | null): FirstReport | null {
  if (!f) return null;
  const { events: _events, ...rest } = f as FirstReport & { events?: unknown };
  return rest;
}

/** What a shard result keeps of `r`; `samples`: the wait samples too (for percentiles). */
export function shardTrialsOf(r: TrialsResult, samples: boolean): ShardTrials {
  return {
    trials: r.trials,
    violations: r.violations,
    trialsWithReports: r.trialsWithReports,
    reports: r.reports,
    reportsByKind: r.reportsByKind,
    firstByKind: r.firstByKind,
    firstViolation: withoutEvents(r.firstViolation),
    firstReport: withoutEvents(r.firstReport),
    elapsedMs: r.elapsedMs,
    counters: r.counters,
    waits: { count: r.waits.count, totalUs: r.waits.totalUs, samplesUs: samples ? r.waits.samplesUs : [] },
    kernel: r.kernel,
    scenarioSwitches: r.scenarioSwitches,
    arch: r.arch,
    hardware: r.hardware,
  };
}

/** The earlier report by campaign trial index (within one trial, only one shard has reports). */
function earlier<F extends FirstReport>(a: F | null, b: F | null): F | null {
  return a === null ? b : b === null || a.trial <= b.trial ? a : b;
}

/**
 * The shards' runs of one (scenario, kernel, ...) added up as one run's result: counts summed, the
 * first report of each kind the one of the earliest trial, the time the longest shard's (the
 * shards ran side by side). No machine and no interleaving: the traces are the shards' files.
 */
export function mergeTrials(parts: readonly ShardTrials[]): TrialsResult {
  const out: TrialsResult = {
    trials: 0, violations: 0, trialsWithReports: 0, reports: 0, reportsByKind: {}, firstByKind: {}, firstViolation: null, firstReport: null,
    elapsedMs: 0, counters: zeroCounters(), waits: zeroWaits(), kernel: parts[0].kernel, scenarioSwitches: parts[0].scenarioSwitches,
    // a shard file written before runs had an architecture ran on x86
    arch: parts[0].arch ?? 'x86', hardware: parts[0].hardware ?? DEFAULT_HARDWARE, lastRun: null, lastSchedule: null,
  };
  for (const p of parts) {
    out.trials += p.trials;
    out.violations += p.violations;
    out.trialsWithReports += p.trialsWithReports;
    out.reports += p.reports;
    for (const [kind, n] of Object.entries(p.reportsByKind)) out.reportsByKind[kind] = (out.reportsByKind[kind] ?? 0) + n;
    for (const [kind, f] of Object.entries(p.firstByKind)) out.firstByKind[kind] = earlier(out.firstByKind[kind] ?? null, f)!;
    out.firstViolation = earlier(out.firstViolation, p.firstViolation && { ...p.firstViolation, events: [] });
    out.firstReport = earlier(out.firstReport, p.firstReport && { ...p.firstReport, events: [] });
    out.elapsedMs = Math.max(out.elapsedMs, p.elapsedMs);
    addCounters(out.counters, p.counters);
    addWaits(out.waits, p.waits);
  }
  return out;
}

export type ShardedCommand = 'stress' | 'run-all' | 'compare';

/** One shard's result file: `shootdown merge` reads these. */
export interface ShardResult {
  format: 'shootdown-shard';
  version: 1;
  command: ShardedCommand;
  shard: Shard;
  /** the campaign's parameters, its seed and shard count among them: equal in every shard of it */
  campaign: Record<string, unknown>;
  host: HostInfo;
  elapsedMs: number;
  interrupted: string | null;
  /** each run of the campaign (a scenario under a preset, a compare row) by a key, with its counts */
  runs: { key: string; trials: ShardTrials | null }[];
  /** what the command reported for this shard (its --json output): the merge's template */
  output: unknown;
}

export const SHARD_FORMAT = 'shootdown-shard';
export const SHARD_VERSION = 1;

/** The shard's file in a results folder. */
export function shardFileName(shard: Shard): string {
  return `shard-${shard.index}-of-${shard.count}.json`;
}

/** A shard's result, ready to write. */
export function shardResult(command: ShardedCommand, shard: Shard, campaign: Record<string, unknown>, fields: Pick<ShardResult, 'host' | 'elapsedMs' | 'interrupted' | 'runs' | 'output'>): ShardResult {
  return { format: SHARD_FORMAT, version: SHARD_VERSION, command, shard, campaign: { command, shards: shard.count, ...campaign }, ...fields };
}

/** --shard, --shards and --results of a command that runs a campaign. */
export const shardCliOptions = { shard: { type: 'string' }, shards: { type: 'string' }, results: { type: 'string' } } as const;

/** Their usage lines, the text from column `col`. */
export function shardUsage(col: number): string {
  const lines: [string, string[]][] = [
    ['--shard I/N', ['run shard I of N of the campaign: trial indices i with i mod N = I, each with', 'the seed it has in the whole campaign (S + i); needs --seed. Without it,', 'SLURM_ARRAY_TASK_ID with SLURM_ARRAY_TASK_COUNT (or _MIN and _MAX), or', `JOB_COMPLETION_INDEX with --shards N or ${SHARDS_ENV}, give I and N`]],
    ['--shards N', ["a Kubernetes Indexed Job's shard count (its completions)"]],
    ['--results DIR', ["write the shard's result to DIR/shard-I-of-N.json for 'shootdown merge'", '(default with a shard: results; DIR must exist)']],
  ];
  // an option too wide for the column gets a line of its own
  return lines.map(([opt, text]) => (`  ${opt}`.length < col ? text : ['', ...text]).map((t, i) => (i === 0 ? `  ${opt}`.padEnd(col) : ' '.repeat(col)) + t).join('\n')).join('\n');
}

/**
 * The shard a command runs and the folder its result goes to, or null (a whole run writing no
 * result). A shard of several needs the campaign's seed given: the shards must agree on it. The
 * result file is checked before the run.
 */
export function shardRequest(values: { shard?: unknown; shards?: unknown; results?: unknown; seed?: unknown }): { shard: Shard; results: string } | null {
  const found = shardOf(values);
  if (found === null && values.results === undefined) return null;
  const shard = found ?? WHOLE;
  if (shard.count > 1 && values.seed === undefined) throw new UsageError(`shard ${shard.index}/${shard.count}: give the campaign's --seed S, the same in every shard`);
  const results = (values.results as string | undefined) ?? 'results';
  checkOutputFile('--results', join(results, shardFileName(shard)));
  return { shard, results };
}
