/*
 * The main job (`npm start`, `shootdown run-all`): every catalog scenario under its `buggy` and
 * its `fixed` kernel, within one time budget, each on as many CPUs as the host has cores (more
 * where the scenario needs them). The buggy runs go first and share BUGGY_SHARE of the budget;
 * each stops at its first violation, and whatever time a run leaves goes to the runs after it, so
 * the scenarios that ask for more noise or say they are rare (the rarest races) run last and get
 * most of what the quick ones left. A free job runs the buggy preset of a scenario that is rare
 * under 'pct' under PCT, on the fewest CPUs it needs: its window seldom opens free-running
 * (scenario.ts `rare`). The fixed runs share the rest. The result is a table, reports/run-all.json,
 * and the traced report's interleaving of each run that has one (reports/<scenario>-<preset>.json,
 * .ftrace.txt). They are written into a new folder beside reports/, renamed over it at the end
 * (fs-atomic.ts stageDirectory): reports/ holds one whole job's files, never new traces beside an
 * old run-all.json. An interrupted job (interrupt.ts) ends its run under way, keeps it if it had
 * a trial done, runs no other, and is written the same way: the partial job, complete in itself.
 *
 * Every buggy run's first violation is kept as a schedule file too (reports/<scenario>-buggy.
 * schedule.json), which `shootdown replay` runs again exactly: the violating trial's own schedule
 * in a controlled job (--schedule random or pct), or, in a free job, the first trial that shows the
 * same kind when the scenario is searched again under pct with what is left of the run's time.
 *
 * With a trial budget (--trials N) instead of a time budget, every run runs its N trials, the buggy
 * ones too (no stop at the first violation), from the campaign's seed (--seed), so that the shards
 * of a job (shard.ts: each runs its part of every run's trial indices) add up to the one job: under
 * a controlled schedule with --parallel 1, to the same violations, trial for trial. A shard with
 * a time budget runs every run for its share of the budget on its own trial indices.
 *
 * A preset meets its expectation when it reproduced if the scenario says `sometimes`, and when no
 * oracle reported anything, of any kind, if it says `never`; the job passes when every run met its
 * expectation. Reports of kinds other than the forbidden one are shown beside it in every row, and
 * a failing `never` run's trace is its first report's, whatever its kind.
 */
import { defaultCpus, runsOn } from '../scenario/scenario.ts';
import { Arch, archName, type ArchName } from '../arch/arch.ts';
import { join } from 'node:path';
import prettyMs from 'pretty-ms';
import type { Machine } from '../machine/machine.ts';
import { loadCatalog, type CatalogEntry } from '../scenario/catalog/index.ts';
import { hostInfo, type HostInfo } from './host.ts';
import { NOISE_LEVELS, type NoiseLevel } from './noise.ts';
import { bootUnlessAborted, randomSeed, runTrials, tracedReport, type FirstViolation, type TrialsResult } from './trials.ts';
import { RERUN_NOTE, formatKindCounts, rerunCommand, reportSummary, writeTraces, type ReportSummary } from './stress.ts';
import { stageDirectory, writeFileAtomic } from '../fs-atomic.ts';
import { trialsRun, type Progress } from './progress.ts';
import { interruptedBy } from './interrupt.ts';
import { formatTable } from './table.ts';
import { FREE, describeMode, parseScheduleMode, type ScheduleMode } from '../schedule/control.ts';
import { scheduleFileFor, unsavable } from '../schedule/commands.ts';
import { writeScheduleFile } from '../schedule/file.ts';
import type { TrialSchedule } from './trials.ts';
import { WHOLE, shardTrials, type Shard } from './shard.ts';

export const PRESETS = ['buggy', 'fixed'] as const;
/** The noise both presets run under: the race windows are stretched now and then. */
const NOISE: NoiseLevel = 'low';
/** The part of the budget the buggy runs share; the fixed runs have the rest. */
const BUGGY_SHARE = 0.6;

interface PlannedRun {
  entry: CatalogEntry;
  preset: (typeof PRESETS)[number];
}

/** Each run's time: an equal share of what is left to its group's deadline. */
async function runGroup(runs: PlannedRun[], deadline: number, machines: Map<number, Machine>, req: RunAllRequest, outDir: string): Promise<RunAllRow[]> {
  const rows: RunAllRow[] = [];
  for (const [i, { entry, preset }] of runs.entries()) {
    if (req.signal?.aborted) break;
    const durationMs = Math.max(1, (deadline - performance.now()) / (runs.length - i));
    const row = await runOne(machines, entry, preset, durationMs, req, outDir);
    // interrupted before its first trial ended: nothing to show
    if (req.signal?.aborted && row.trials === 0 && !row.error) break;
    rows.push(row);
  }
  return rows;
}

export interface RunAllRow {
  scenario: string;
  preset: string;
  expected: string;
  /** the oracle kind of the forbidden outcome */
  forbidden: string;
  cpus: number;
  seed: number;
  trials: number;
  /** trials in which the forbidden outcome was seen */
  violations: number;
  /** oracle reports of any kind, and every kind reported with its count */
  reports: number;
  reportsByKind: Record<string, number>;
  /** time to the first violation, or null */
  firstViolationMs: number | null;
  /** the report the traces show: the first forbidden one, or under 'never' the first of any kind */
  traced: ReportSummary | null;
  /** reruns the traced report's trial (stress.ts RERUN_NOTE: not a replay) */
  rerun: string | null;
  /** the trace files of the traced report */
  traces: string[];
  /** a buggy run's first violation as a schedule file that replay runs again, or null */
  schedule: string | null;
  /** why a buggy run's violation has no schedule file (a pct search that found nothing) */
  noSchedule?: string;
  /** the run met its expectation */
  ok: boolean;
  /** the run failed (a CPU's program threw): no result */
  error?: string;
}

export interface RunAllReport {
  /** the architecture of every run: the job ran the scenarios that list it */
  arch: ArchName;
  budgetMs: number;
  /** every run's trials, when a trial budget replaced the time budget */
  trials?: number;
  elapsedMs: number;
  noise: NoiseLevel;
  /** free, random or pct:DEPTH */
  schedule: string;
  reportsDir: string;
  host: HostInfo;
  rows: RunAllRow[];
  /** catalog files that did not load */
  broken: { name: string; error: string }[];
  ok: boolean;
  /** the signal that ended the job early (the rows are the runs done, the last one cut short), or null */
  interrupted: string | null;
}

export interface RunAllRequest {
  budgetMs: number;
  /**
   * where run-all.json and the traces go: written into a new folder beside it, renamed into place
   * at the end (fs-atomic.ts stageDirectory), so that it is always one whole job's output
   */
  reportsDir: string;
  /** the progress line, or none (--quiet) */
  progress?: Progress;
  /** ends the job early (interrupt.ts): its runs so far are its result, written whole */
  signal?: AbortSignal;
  /** free running (default) or a controlled strategy for every run */
  schedule?: ScheduleMode;
  /** every run's trials instead of a share of the budget: all of them, buggy runs too */
  trials?: number;
  /** every run's seed (trial i: seed + i); a random one per run when absent */
  seed?: number;
  /** the part of every run's trial indices to run (shard.ts) */
  shard?: Shard;
  /** the architecture every run is on (x86 when absent): the catalog's scenarios that list it */
  arch?: Arch;
  /** called with each row and the trials it was made from (null: the run failed) */
  onRow?: (row: RunAllRow, r: TrialsResult | null) => void;
}

/** Checks that the reports directory can be written (UsageError if not) and runs the job into it. */
export async function runAll(req: RunAllRequest): Promise<RunAllReport> {
  const staged = stageDirectory('reports directory', req.reportsDir);
  try {
    const report = await runAllInto(req, staged.dir);
    staged.commit();
    return report;
  } catch (err) {
    staged.discard();
    throw err;
  }
}

async function runAllInto(req: RunAllRequest, outDir: string): Promise<RunAllReport> {
  const arch = req.arch ?? Arch.X86;
  const catalog = await loadCatalog();
  const { broken } = catalog;
  const entries = catalog.entries.filter((e) => runsOn(e.scenario, arch));
  const t0 = performance.now();
  const deadline = t0 + req.budgetMs;
  const machines = new Map<number, Machine>();
  const rows: RunAllRow[] = [];
  const rarest = (e: CatalogEntry) => (e.scenario.noise === 'high' || e.scenario.rare !== undefined ? 1 : 0);
  const buggy = [...entries].sort((a, b) => rarest(a) - rarest(b)).map((entry): PlannedRun => ({ entry, preset: 'buggy' }));
  const fixed = entries.map((entry): PlannedRun => ({ entry, preset: 'fixed' }));
  req.progress?.begin('run-all', buggy.length + fixed.length, req.budgetMs);
  try {
    rows.push(...(await runGroup(buggy, t0 + req.budgetMs * BUGGY_SHARE, machines, req, outDir)));
    rows.push(...(await runGroup(fixed, deadline, machines, req, outDir)));
  } finally {
    req.progress?.end();
    await Promise.all([...machines.values()].map((m) => m.close()));
  }
  // the table by scenario, buggy then fixed
  rows.sort((a, b) => a.scenario.localeCompare(b.scenario) || PRESETS.indexOf(a.preset as PlannedRun['preset']) - PRESETS.indexOf(b.preset as PlannedRun['preset']));
  const report: RunAllReport = {
    arch: archName(arch),
    budgetMs: req.budgetMs,
    ...(req.trials !== undefined && { trials: req.trials }),
    elapsedMs: performance.now() - t0,
    noise: NOISE,
    schedule: describeMode(req.schedule ?? FREE),
    reportsDir: req.reportsDir,
    host: hostInfo(),
    rows,
    broken,
    ok: broken.length === 0 && rows.every((r) => r.ok),
    interrupted: interruptedBy(req.signal),
  };
  writeFileAtomic(join(outDir, 'run-all.json'), JSON.stringify(report, null, 2) + '\n');
  return report;
}

/** One scenario under one preset, on the machine of its CPU count (booted on first use). */
async function runOne(machines: Map<number, Machine>, entry: CatalogEntry, preset: string, durationMs: number, req: RunAllRequest, outDir: string): Promise<RunAllRow> {
  const { scenario, url, name } = entry;
  // A rare race's window seldom opens free-running: a free job with a time budget searches its
  // buggy preset under PCT instead, on the fewest CPUs it needs (PCT's odds fall with each CPU).
  const rareUnderPct = preset === 'buggy' && scenario.rare === 'pct' && (req.schedule ?? FREE).strategy === 'free' && req.trials === undefined;
  const cpus = rareUnderPct ? scenario.cpus : defaultCpus(scenario);
  const seed = req.seed ?? randomSeed();
  const expected = scenario.expected[preset] ?? (preset === 'fixed' ? 'never' : 'sometimes');
  const row: RunAllRow = { scenario: name, preset, expected, forbidden: scenario.forbidden, cpus, seed, trials: 0, violations: 0, reports: 0, reportsByKind: {}, firstViolationMs: null, traced: null, rerun: null, traces: [], schedule: null, ok: false };
  const mode = rareUnderPct ? parseScheduleMode('pct', undefined, cpus) : (req.schedule ?? FREE);
  const t0 = performance.now();
  // a trial budget, or the run's share of the time
  const budget = req.trials !== undefined ? { trials: req.trials, shard: req.shard } : { durationMs, shard: req.shard };
  const onTrial = trialsRun(req.progress, `${name} [${preset}]`, req.trials !== undefined ? { total: shardTrials(req.shard ?? WHOLE, req.trials) } : { durationMs });
  let r: TrialsResult | null = null;
  try {
    const machine = machines.get(cpus) ?? (await bootUnlessAborted(cpus, req.signal));
    // interrupted while it booted: no trial, no row
    if (!machine) return row;
    machines.set(cpus, machine);
    const noise = scenario.noise ?? NOISE;
    r = await runTrials(machine, { url, scenario, preset, arch: req.arch, seed, ...budget, noiseShift: NOISE_LEVELS[noise], stopOnFirst: preset === 'buggy' && req.trials === undefined, onTrial, signal: req.signal, schedule: mode });
    Object.assign(row, { trials: r.trials, violations: r.violations, reports: r.reports, reportsByKind: r.reportsByKind, ok: metExpectation(r, expected) });
    row.firstViolationMs = r.firstViolation?.elapsedMs ?? null;
    const traced = tracedReport(r, expected);
    if (traced) {
      // the rows name the files where they will be once the folder is in place
      const base = `${name}-${preset}`;
      row.traced = reportSummary(traced);
      row.rerun = rerunCommand({ resolved: { arg: name, scenario }, preset, set: [], cpus, noise, schedule: mode, arch: req.arch }, traced.seed, traced.schedule?.horizon);
      row.traces = [`${base}.json`, `${base}.ftrace.txt`].map((f) => join(req.reportsDir, f));
      writeTraces(traced, { scenario: name, kernel: preset, cpus, seed: traced.seed, trial: traced.trial, rerun: row.rerun }, { chrome: join(outDir, `${base}.json`), ftrace: join(outDir, `${base}.ftrace.txt`) });
      if (preset === 'buggy') {
        const source = { resolved: { arg: name, url, scenario }, preset, set: [], params: [], cpus };
        // the trials' result says what they ran with (scheduleFileFor's RanWith)
        let kept: { schedule: TrialSchedule; traced: FirstViolation; ran: TrialsResult } | null = traced.schedule && !unsavable(mode, traced.schedule) ? { schedule: traced.schedule, traced, ran: r } : null;
        if (mode.strategy === 'free' && !req.signal?.aborted) {
          // the free trial's interleaving is not recorded: search it again under pct with the time left
          const search = await runTrials(machine, {
            url, scenario, preset, arch: req.arch, seed, ...(req.trials !== undefined ? budget : { durationMs: Math.max(1, durationMs - (performance.now() - t0)), shard: req.shard }), stopOnFirst: true, signal: req.signal,
            schedule: parseScheduleMode('pct', undefined, cpus),
          });
          const again = tracedReport(search, expected);
          if (again?.kind === traced.kind && again.schedule) kept = { schedule: again.schedule, traced: again, ran: search };
          else row.noSchedule = `pct found no ${traced.kind} in ${search.trials} trials (${prettyMs(search.elapsedMs)})`;
        }
        if (kept) {
          writeScheduleFile(join(outDir, `${base}.schedule.json`), scheduleFileFor(source, kept.ran, kept.schedule, kept.traced));
          row.schedule = join(req.reportsDir, `${base}.schedule.json`);
        }
      }
    }
  } catch (err) {
    row.error = (err as Error).message ?? String(err);
    // a machine that lost a CPU worker cannot run again: the next scenario boots a new one
    await machines.get(cpus)?.close();
    machines.delete(cpus);
    r = null;
  }
  req.onRow?.(row, r);
  return row;
}

/** Whether a run met its expectation: the forbidden outcome seen if 'sometimes', no report of any kind if 'never'. */
export function metExpectation(r: TrialsResult, expected: string): boolean {
  return expected === 'sometimes' ? r.violations > 0 : r.trialsWithReports === 0;
}

/** A row's reports of kinds other than its scenario's forbidden one. */
function otherKinds(row: RunAllRow): Record<string, number> {
  return Object.fromEntries(Object.entries(row.reportsByKind).filter(([kind]) => kind !== row.forbidden));
}

export function formatRunAll(r: RunAllReport): string {
  if (r.rows.length === 0 && r.broken.length === 0) {
    return (r.arch ?? 'x86') === 'x86' ? 'run-all: the scenario catalog (src/scenario/catalog) is empty; nothing to run' : `run-all: no scenario of the catalog (src/scenario/catalog) runs on ${r.arch}; nothing to run`;
  }
  const table = [
    ['scenario', 'preset', 'trials', 'violations', 'first after', 'other reports', 'seed', 'result'],
    ...r.rows.map((row) => [
      row.scenario,
      row.preset,
      String(row.trials),
      String(row.violations),
      row.firstViolationMs === null ? '-' : prettyMs(row.firstViolationMs),
      formatKindCounts(otherKinds(row)) || '-',
      String(row.seed),
      row.error ? 'FAILED: the run failed' : row.ok ? 'ok' : `FAILED: expected ${row.expected}`,
    ]),
  ];
  const failed = r.rows.filter((row) => !row.ok);
  return [
    `run-all${(r.arch ?? 'x86') !== 'x86' ? ` --arch ${r.arch}` : ''}: ${r.rows.length} runs in ${prettyMs(r.elapsedMs)} (${r.trials !== undefined ? `${r.trials} trials a run` : `budget ${prettyMs(r.budgetMs)}`}), ${r.schedule === 'free' ? `noise ${r.noise}` : `schedule ${r.schedule}`}, on ${r.host.cores} host cores (Node ${r.host.node})`,
    '',
    ...formatTable(table),
    '',
    ...failed.map((row) =>
      row.error
        ? `failed: ${row.scenario} [${row.preset}]: ${row.error}`
        : row.expected === 'never'
          ? `failed: ${row.scenario} [${row.preset}] expected never, found ${row.reports} oracle reports (${formatKindCounts(row.reportsByKind)}) in ${row.trials} trials (seed ${row.seed}); first: ${row.traced?.message}`
          : `failed: ${row.scenario} [${row.preset}] expected ${row.expected}, found ${row.violations} violations in ${row.trials} trials (seed ${row.seed})`,
    ),
    ...r.broken.map((b) => `failed: catalog file ${b.name}.ts did not load: ${b.error}`),
    ...r.rows.filter((row) => row.rerun).map((row) => `rerun ${row.scenario} [${row.preset}]: ${row.rerun}`),
    ...(r.rows.some((row) => row.rerun) && r.schedule === 'free' ? [`(${RERUN_NOTE})`] : []),
    ...r.rows.filter((row) => row.schedule).map((row) => `replay ${row.scenario} [${row.preset}]: npx shootdown replay ${row.schedule}`),
    ...r.rows.filter((row) => row.noSchedule).map((row) => `no schedule for ${row.scenario} [${row.preset}]: ${row.noSchedule}`),
    ...(r.interrupted ? [`interrupted by ${r.interrupted}: the table holds the runs done, the last one cut short; ${r.reportsDir}/ holds this partial job, whole`] : []),
    `run-all.json and the traces are under ${r.reportsDir}/; ${r.ok ? 'every run as expected' : `${failed.length + r.broken.length} failed`}`,
  ].join('\n');
}
