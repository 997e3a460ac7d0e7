/*
 * `shootdown merge DIR...`: the shards of one campaign (shard.ts), each a JSON result in a folder,
 * checked and added up into what one run of the campaign prints: stress's summary, run-all's
 * table, compare's rows, with the same exit codes. The checks come first, each bad input one line
 * naming its file: a file that is not a whole shard result, shards of different campaigns (the
 * first parameter that differs is named), a shard given twice, shards missing, a folder with none.
 *
 * What merges: every count is a sum; the first report of each kind, the first violation and the
 * traced report are the earliest by campaign trial index, so the merged table names the trial a
 * single run would have found first, and the traces, rerun and schedule files are those of the
 * shard that ran it; compare's wait medians and p99s are taken over every shard's samples together,
 * as one run takes them; a run's time is the longest shard's, the shards having run side by side.
 *
 * `merge --watch` polls the folders and prints, as results arrive, the shards done, the trials so
 * far and the violations, then the merged result once the last shard is in.
 */
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { UsageError } from '../errors.ts';
import { loadCatalog } from '../scenario/catalog/index.ts';
import { defaultCpus, runsOn } from '../scenario/scenario.ts';
import { Arch, archName, parseArch, type ArchName, type Hardware } from '../arch/arch.ts';
import { FREE, describeMode, type ScheduleMode } from '../schedule/control.ts';
import { compareRow, formatCompare, type CompareRequest } from './compare.ts';
import type { CompareReport, CompareRow } from './compare-report.ts';
import { formatRunAll, metExpectation, type RunAllReport, type RunAllRequest, type RunAllRow } from './main-job.ts';
import { formatStress, summarize, type StressRequest, type StressSummary } from './stress.ts';
import { tracedReport, type TrialsResult } from './trials.ts';
import { writeFileAtomic } from '../fs-atomic.ts';
import { SHARD_FORMAT, SHARD_VERSION, mergeTrials, shardFileName, shardResult, shardTrialsOf, type Shard, type ShardResult, type ShardTrials } from './shard.ts';
import type { HostInfo } from './host.ts';
import { checkOutputFile } from '../fs-atomic.ts';
import { writeCompareHtml } from '../report/html.ts';
import { parseDuration } from './stress.ts';

/** A shard result's file name in its folder. */
const SHARD_FILE = /^shard-\d+-of-\d+\.json$/;

/** What a stress shard's output holds besides its summary: what the rerun command is made of. */
interface StressOutput {
  summary: StressSummary;
  arg: string;
  mode: ScheduleMode;
}

interface Common {
  host: HostInfo;
  elapsedMs: number;
  interrupted: string | null;
}

/** Writes a shard's result into `dir` (shard-I-of-N.json). */
export function writeShardResult(dir: string, r: ShardResult): string {
  const file = join(dir, shardFileName(r.shard));
  writeFileAtomic(file, JSON.stringify(r) + '\n');
  return file;
}

export function stressShard(req: StressRequest, shard: Shard, result: TrialsResult, summary: StressSummary): ShardResult {
  const mode = req.schedule ?? FREE;
  const campaign = {
    scenario: req.resolved.arg, arch: archName(req.arch ?? Arch.X86), hardware: req.hardware ?? {}, preset: req.preset, set: req.set, params: req.params ?? [], cpus: req.cpus, seed: req.seed, noise: req.noise,
    schedule: describeMode(mode), horizon: req.horizon ?? null, trials: req.trials ?? null, durationMs: req.durationMs ?? null, stopOnFirst: req.stopOnFirst,
  };
  const output: StressOutput = { summary, arg: req.resolved.arg, mode };
  return shardResult('stress', shard, campaign, { ...common(summary, summary.elapsedMs), runs: [{ key: 'stress', trials: shardTrialsOf(result, false) }], output });
}

export function compareShard(req: CompareRequest, shard: Shard, report: CompareReport, trials: Map<CompareRow, TrialsResult>): ShardResult {
  const campaign = {
    scenario: req.resolved.arg, arches: report.arches, hardware: req.hardware ?? {}, kernels: req.kernels, set: req.set, variants: req.variants, params: req.params ?? [], cpus: req.cpus, seed: req.seed,
    trials: req.trials, noiseShift: req.noiseShift, schedule: report.schedule,
  };
  const runs = report.rows.map((row) => ({ key: compareKey(row), trials: shardTrialsOf(trials.get(row)!, true) }));
  const elapsedMs = Math.max(0, ...[...trials.values()].map((r) => r.elapsedMs));
  return shardResult('compare', shard, campaign, { ...common(report, elapsedMs), runs, output: report });
}

export async function runAllShard(req: RunAllRequest, shard: Shard, report: RunAllReport, trials: Map<RunAllRow, TrialsResult | null>): Promise<ShardResult> {
  // the runs the job plans: the catalog's scenarios on their CPU counts (which depend on the host)
  const plan = (await loadCatalog()).entries.filter((e) => runsOn(e.scenario, req.arch ?? Arch.X86)).map((e) => `${e.name}:${defaultCpus(e.scenario)}`);
  const campaign = { arch: report.arch, budgetMs: req.trials === undefined ? req.budgetMs : null, trials: req.trials ?? null, seed: req.seed ?? null, schedule: report.schedule, runs: plan };
  const runs = report.rows.map((row) => {
    const r = trials.get(row);
    return { key: runAllKey(row), trials: r ? shardTrialsOf(r, false) : null };
  });
  return shardResult('run-all', shard, campaign, { ...common(report, report.elapsedMs), runs, output: report });
}

function common(o: { host: HostInfo; interrupted: string | null }, elapsedMs: number): Common {
  return { host: o.host, elapsedMs, interrupted: o.interrupted };
}

const compareKey = (row: CompareRow): string => JSON.stringify([row.arch ?? 'x86', row.kernel, row.variant, row.cpus]);
const runAllKey = (row: RunAllRow): string => JSON.stringify([row.scenario, row.preset]);

/** A shard result read from its file. */
export interface ShardFile {
  file: string;
  result: ShardResult;
}

/** The shard result files in each folder (UsageError: a folder that is not one, or none holding any). */
export function shardFiles(dirs: readonly string[]): string[] {
  const files: string[] = [];
  for (const dir of dirs) {
    let names: string[];
    try {
      if (!statSync(dir).isDirectory()) throw new UsageError(`merge: ${dir}: not a folder; give the folders the shards wrote their results to`);
      names = readdirSync(dir);
    } catch (err) {
      if (err instanceof UsageError) throw err;
      throw new UsageError(`merge: ${dir}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such folder' : (err as Error).message}`);
    }
    files.push(...names.filter((n) => SHARD_FILE.test(n)).sort(byShardIndex).map((n) => join(dir, n)));
  }
  return files;
}

function byShardIndex(a: string, b: string): number {
  const n = (s: string) => Number(/^shard-(\d+)/.exec(s)![1]);
  return n(a) - n(b);
}

/** Reads one shard result; a file that is not a whole one is UsageError naming it. */
export function readShardFile(file: string): ShardFile {
  let result: ShardResult;
  try {
    result = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new UsageError(`merge: ${file}: not a shard result: ${(err as Error).message}`);
  }
  const bad = (why: string) => new UsageError(`merge: ${file}: not a shard result: ${why}`);
  if (result === null || typeof result !== 'object' || result.format !== SHARD_FORMAT) throw bad(`no "format": "${SHARD_FORMAT}"`);
  if (result.version !== SHARD_VERSION) throw bad(`version ${JSON.stringify(result.version)}; this shootdown reads version ${SHARD_VERSION}`);
  if (!['stress', 'run-all', 'compare'].includes(result.command)) throw bad(`unknown command ${JSON.stringify(result.command)}`);
  const s = result.shard;
  if (!s || !Number.isInteger(s.index) || !Number.isInteger(s.count) || s.index < 0 || s.index >= s.count) throw bad(`shard ${JSON.stringify(s)} is not I of N`);
  if (!result.campaign || typeof result.campaign !== 'object' || !Array.isArray(result.runs) || result.output === null || typeof result.output !== 'object') throw bad('campaign, runs or output missing');
  // a shard written before runs had an architecture ran on x86 with the default hardware
  if (result.command === 'compare') result.campaign = { arches: ['x86'], hardware: {}, ...result.campaign };
  else result.campaign = { arch: 'x86', ...(result.command === 'stress' && { hardware: {} }), ...result.campaign };
  return { file, result };
}

/** Keys sorted, so that two campaigns compare by their JSON. */
function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (v !== null && typeof v === 'object') return `{${Object.keys(v).sort().map((k) => `${JSON.stringify(k)}:${canonical((v as Record<string, unknown>)[k])}`).join(',')}}`;
  return JSON.stringify(v);
}

/** The shards present, checked to be one campaign's with no shard twice; `missing` lists the indices not yet there. */
export function checkShards(shards: readonly ShardFile[], dirs: readonly string[]): { count: number; missing: number[] } {
  if (shards.length === 0) throw new UsageError(`merge: ${dirs.join(', ')}: no shard result (shard-I-of-N.json) in ${dirs.length > 1 ? 'these folders' : 'this folder'}`);
  const [first] = shards;
  const campaign = first.result.campaign;
  const seen = new Map<number, string>();
  for (const s of shards) {
    const other = s.result.campaign;
    if (canonical(other) !== canonical(campaign)) {
      const keys = [...new Set([...Object.keys(campaign), ...Object.keys(other)])];
      const key = keys.find((k) => canonical(campaign[k]) !== canonical(other[k]))!;
      throw new UsageError(`merge: ${s.file} is of another campaign than ${first.file}: ${key} ${JSON.stringify(other[key]) ?? 'absent'} there, ${JSON.stringify(campaign[key]) ?? 'absent'} here`);
    }
    const twice = seen.get(s.result.shard.index);
    if (twice !== undefined) throw new UsageError(`merge: shard ${s.result.shard.index} of ${s.result.shard.count} twice: ${twice} and ${s.file}`);
    seen.set(s.result.shard.index, s.file);
  }
  const count = first.result.shard.count;
  const missing = Array.from({ length: count }, (_, i) => i).filter((i) => !seen.has(i));
  return { count, missing };
}

/** A one-line account of missing shards, naming the files (in the first folder) that are not there. */
function missingLine(dirs: readonly string[], count: number, missing: number[]): string {
  const files = missing.slice(0, 3).map((index) => join(dirs[0], shardFileName({ index, count })));
  return `${missing.length === 1 ? `shard ${missing[0]}` : `${missing.length} shards`} of ${count} missing: no ${files.join(', ')}${missing.length > 3 ? ', ...' : ''}`;
}

/** The shards of `dirs`, whole and of one campaign (UsageError otherwise, one line naming the file). */
export function readShards(dirs: readonly string[]): ShardFile[] {
  const shards = shardFiles(dirs).map(readShardFile);
  const { count, missing } = checkShards(shards, dirs);
  if (missing.length > 0) throw new UsageError(`merge: ${missingLine(dirs, count, missing)}`);
  return shards;
}

export interface Merged {
  command: ShardResult['command'];
  shards: number;
  /** what one run of the campaign prints under --json */
  report: StressSummary | RunAllReport | CompareReport;
  /** and without */
  text: string;
  /** its exit status */
  code: number;
}

/** The runs of every shard by key, in the order the shards list them. */
function runsByKey(shards: readonly ShardFile[]): Map<string, { shard: ShardFile; at: number; trials: ShardTrials | null }[]> {
  const byKey = new Map<string, { shard: ShardFile; at: number; trials: ShardTrials | null }[]>();
  for (const shard of shards) {
    shard.result.runs.forEach((run, at) => {
      const list = byKey.get(run.key) ?? [];
      list.push({ shard, at, trials: run.trials });
      byKey.set(run.key, list);
    });
  }
  return byKey;
}

const interruptedOf = (shards: readonly ShardFile[]): string | null => shards.find((s) => s.result.interrupted)?.result.interrupted ?? null;
const longest = (shards: readonly ShardFile[]): number => Math.max(...shards.map((s) => s.result.elapsedMs));

/** The shards added up into one run's report (they are checked: readShards). */
export function mergeShards(shards: readonly ShardFile[]): Merged {
  const command = shards[0].result.command;
  const n = shards.length;
  if (command === 'stress') {
    const o = shards[0].result.output as StressOutput;
    const s = o.summary;
    const merged = mergeTrials(shards.map((f) => f.result.runs[0].trials!));
    const campaign = shards[0].result.campaign as { arch: ArchName; hardware: Partial<Hardware> };
    const req = { resolved: { arg: o.arg, scenario: { name: s.scenario, question: s.question, forbidden: s.forbidden } }, preset: s.kernel, set: s.set, params: s.params, cpus: s.cpus, seed: s.seed, noise: s.noise, schedule: o.mode, arch: parseArch(campaign.arch), hardware: campaign.hardware };
    const report: StressSummary = { ...summarize(req, merged, s.expected), host: s.host, interrupted: interruptedOf(shards) };
    return { command, shards: n, report, text: formatStress(report, []), code: report.failed ? 1 : 0 };
  }
  const byKey = runsByKey(shards);
  if (command === 'compare') {
    const first = shards[0].result.output as CompareReport;
    const rows = [...byKey.values()].map((parts) => {
      const row = (parts[0].shard.result.output as CompareReport).rows[parts[0].at];
      return compareRow(row.kernel, row.variant, row.cpus, mergeTrials(parts.map((p) => p.trials!)), first.costModel);
    });
    const report: CompareReport = { ...first, arches: first.arches ?? ['x86'], hardware: first.hardware ?? {}, rows, interrupted: interruptedOf(shards) };
    return { command, shards: n, report, text: formatCompare(report), code: rows.some((r) => r.violations > 0) ? 1 : 0 };
  }
  const first = shards[0].result.output as RunAllReport;
  const rows = [...byKey.values()].map((parts) => {
    const shardRows = parts.map((p) => ({ row: (p.shard.result.output as RunAllReport).rows[p.at], trials: p.trials }));
    return mergeRunAllRow(shardRows);
  });
  const report: RunAllReport = {
    ...first, rows, elapsedMs: longest(shards), reportsDir: [...new Set(rows.flatMap((r) => r.traces.map((t) => dirname(t))))].join(', ') || first.reportsDir,
    ok: first.broken.length === 0 && rows.every((r) => r.ok), interrupted: interruptedOf(shards),
  };
  return { command, shards: n, report, text: formatRunAll(report), code: report.ok ? 0 : 1 };
}

/**
 * One run-all row from its shards' rows: the counts summed, the traced report the earliest by
 * trial index, with the traces, rerun and schedule file of the shard that found it. A shard whose
 * run failed makes the row failed.
 */
function mergeRunAllRow(parts: { row: RunAllRow; trials: ShardTrials | null }[]): RunAllRow {
  const failed = parts.find((p) => p.row.error !== undefined || p.trials === null);
  if (failed) return { ...failed.row, ok: false };
  const r = mergeTrials(parts.map((p) => p.trials!));
  const expected = parts[0].row.expected;
  const traced = tracedReport(r, expected);
  // the shard that ran the traced trial wrote its traces and schedule file
  const source = traced && parts.find((p) => p.row.traced?.trial === traced.trial)!.row;
  return {
    ...parts[0].row,
    trials: r.trials, violations: r.violations, reports: r.reports, reportsByKind: r.reportsByKind, firstViolationMs: r.firstViolation?.elapsedMs ?? null,
    traced: source?.traced ?? null, rerun: source?.rerun ?? null, traces: source?.traces ?? [], schedule: source?.schedule ?? null, noSchedule: source?.noSchedule,
    ok: metExpectation(r, expected),
  };
}

/** The header line of a merge. */
export function mergeHeader(m: Merged, dirs: readonly string[]): string {
  return `merge: ${m.shards} shards of one ${m.command} campaign from ${dirs.join(', ')}`;
}

/** Where a watched campaign stands: shards done, trials so far, violations (of the forbidden kinds). */
export interface WatchState {
  done: number;
  shards: number | null;
  trials: number;
  violations: number;
  missing: number[];
}

/** Reads what has arrived in `dirs` (each file checked as merge checks it). */
export function watchState(dirs: readonly string[]): { state: WatchState; shards: ShardFile[] } {
  const shards = shardFiles(dirs).map(readShardFile);
  if (shards.length === 0) return { state: { done: 0, shards: null, trials: 0, violations: 0, missing: [] }, shards };
  const { count, missing } = checkShards(shards, dirs);
  const runs = shards.flatMap((s) => s.result.runs.map((r) => r.trials).filter((t) => t !== null));
  return {
    state: { done: shards.length, shards: count, trials: runs.reduce((a, t) => a + t.trials, 0), violations: runs.reduce((a, t) => a + t.violations, 0), missing },
    shards,
  };
}

export function formatWatch(w: WatchState): string {
  return w.shards === null ? 'merge --watch: no shard result yet' : `merge --watch: ${w.done} of ${w.shards} shards done, ${w.trials} trials, ${w.violations} violations${w.missing.length > 0 ? `; waiting for ${w.missing.length > 5 ? `${w.missing.length} shards` : `shard ${w.missing.join(', ')}`}` : ''}`;
}

/**
 * Waits for every shard of the campaign in `dirs`, printing a line (WatchState) each time a
 * result arrives, every `intervalMs` at most; returns the shards once all are in.
 */
export async function watchShards(dirs: readonly string[], print: (state: WatchState) => void, intervalMs: number): Promise<ShardFile[]> {
  let last = '';
  for (;;) {
    const { state, shards } = watchState(dirs);
    const line = JSON.stringify(state);
    if (line !== last) print(state);
    last = line;
    if (state.shards !== null && state.missing.length === 0) return shards;
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/** `shootdown merge` (cli.ts lists it with the other commands). */
export const mergeCommand = {
  summary: "add up the shards of one campaign (stress, run-all or compare --shard I/N) into one run's report",
  usage: `shootdown merge DIR... [--watch] [--json] [--html FILE]

Reads the shard results (shard-I-of-N.json) that 'stress', 'run-all' or 'compare' with --shard I/N
(or under a Slurm job array or a Kubernetes Indexed Job) wrote into DIR, checks that they are the
shards of one campaign (the same command, parameters and seed; no shard missing or twice), and
prints what one run of the whole campaign prints: stress's summary, run-all's table, compare's rows,
with the same exit status. Counts are summed; the first violation is the earliest by trial index,
with the traces, rerun command and schedule file of the shard that ran that trial; compare's
medians and p99s are over every shard's wait samples together; times are the longest shard's.

  --watch      wait for the shards: a line on stderr each time a result arrives (shards done,
               trials, violations; a JSON object under --json), the merged report once all are in
  --html FILE  compare's page for the merged rows (a compare campaign only)
  --json       the merged report as the command's --json prints it, with "merged": {shards, dirs}

Exit status: as the campaign's command (0 as expected, 1 a violation or an unexpected report), 2 bad
input, one line naming the file: a folder with no shard result, a file that is not a whole shard
result (truncated, another format), shards of different campaigns, a shard twice, shards missing.`,
  options: { watch: { type: 'boolean' }, html: { type: 'string' } } as const,
  positionals: true,
  async run(values: Record<string, unknown>, dirs: string[]): Promise<number> {
    if (dirs.length === 0) throw new UsageError('merge takes the folders the shards wrote their results to, got none');
    const html = values.html as string | undefined;
    if (html !== undefined) checkOutputFile('--html', html);
    const every = process.env.SHOOTDOWN_PROGRESS_INTERVAL;
    const shards = values.watch
      ? await watchShards(dirs, (w) => process.stderr.write((values.json ? JSON.stringify(w) : formatWatch(w)) + '\n'), every ? parseDuration('SHOOTDOWN_PROGRESS_INTERVAL', every) : 1000)
      : readShards(dirs);
    const m = mergeShards(shards);
    if (html !== undefined) {
      if (m.command !== 'compare') throw new UsageError(`merge --html: the shards in ${dirs.join(', ')} are of a ${m.command} campaign; --html is compare's`);
      writeCompareHtml(m.report as CompareReport, html);
    }
    process.stdout.write((values.json ? JSON.stringify({ ...m.report, merged: { shards: m.shards, dirs } }) : `${mergeHeader(m, dirs)}\n\n${m.text}${html !== undefined ? `\n${html} written` : ''}`) + '\n');
    return m.code;
  },
};
