/*
 * Progress of a long command on stderr, for a campaign of one or more runs (stress: one; compare:
 * one per kernel, variant and CPU count; run-all: one per scenario and preset). On a terminal one
 * line, redrawn four times a second: the current run (what it has done, its rate, its time left)
 * and, when there are several, the whole campaign (run k of N, its time left). Off a terminal (CI,
 * a pipe, tee) the same as one line every intervalMs (10 s; SHOOTDOWN_PROGRESS_INTERVAL, read by
 * the CLI), as a JSON object under --json. --quiet makes none (the CLI passes no Progress).
 *
 * A run's state is read when a line is drawn (its `read` callback), never pushed: a trial or a
 * workload that takes long still gets its line, and the CPUs pay nothing (demo's CPUs bump a
 * shared counter, G_PROGRESS, that its read callback loads).
 *
 * Time left: a run's from its time budget, or from its rate and its count budget; the campaign's
 * from its time budget (run-all), else from the share of its runs done.
 */
import prettyMs from 'pretty-ms';
import type { MachineViews } from '../machine/memory.ts';
import { G_PROGRESS } from '../machine/globals-layout.ts';
import type { TrialsResult } from './trials.ts';

export const DEFAULT_PROGRESS_INTERVAL_MS = 10_000;
const TTY_REDRAW_MS = 250;

export interface ProgressOptions {
  /** off a terminal: JSON objects instead of text lines */
  json: boolean;
  /** off a terminal: the time between two lines */
  intervalMs: number;
  stream?: NodeJS.WritableStream & { isTTY?: boolean };
}

/** What a run has done: `done` of its unit, and counts shown beside it (violations, reports). */
export interface RunState {
  done: number;
  counts?: Record<string, number>;
}

interface RunBudget {
  /** what `done` counts: trials, flushes */
  unit: string;
  total?: number;
  durationMs?: number;
}

export class Progress {
  private readonly stream: NodeJS.WritableStream & { isTTY?: boolean };
  private readonly tty: boolean;
  private timer: ReturnType<typeof setInterval> | undefined;
  private campaign = { label: '', runs: 1, budgetMs: undefined as number | undefined, t0: 0, run: 0 };
  private current: { label: string; budget: RunBudget; read: () => RunState; t0: number } | null = null;

  constructor(private readonly opts: ProgressOptions) {
    this.stream = opts.stream ?? process.stderr;
    this.tty = this.stream.isTTY === true;
  }

  /** A campaign of `runs` runs, in `budgetMs` if it has a time budget. */
  begin(label: string, runs: number, budgetMs?: number): void {
    this.campaign = { label, runs, budgetMs, t0: performance.now(), run: 0 };
    this.timer ??= setInterval(() => this.draw(), this.tty ? TTY_REDRAW_MS : this.opts.intervalMs);
    this.timer.unref();
  }

  /** The campaign's next run starts; `read` tells what it has done. */
  run(label: string, budget: RunBudget, read: () => RunState): void {
    if (!this.timer) this.begin(label, 1, budget.durationMs);
    this.campaign.run++;
    this.current = { label, budget, read, t0: performance.now() };
  }

  /** The campaign is over (or interrupted): no more lines, the terminal's line cleared. */
  end(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    this.current = null;
    if (this.tty) this.stream.write('\r\x1b[K');
  }

  private draw(): void {
    const run = this.current;
    if (!run) return;
    const now = performance.now();
    const state = run.read();
    const { budget } = run;
    const elapsedMs = now - run.t0;
    const runShare = budget.durationMs !== undefined ? elapsedMs / budget.durationMs : budget.total ? state.done / budget.total : 0;
    const leftMs = runShare > 0 ? Math.max(0, elapsedMs / Math.min(1, runShare) - elapsedMs) : NaN;
    const c = this.campaign;
    const campaignElapsedMs = now - c.t0;
    const campaignShare = (c.run - 1 + Math.min(1, runShare)) / c.runs;
    const campaignLeftMs =
      c.budgetMs !== undefined ? Math.max(0, c.budgetMs - campaignElapsedMs) : campaignShare > 0 ? campaignElapsedMs / campaignShare - campaignElapsedMs : NaN;
    if (!this.tty && this.opts.json) {
      const line = { progress: { campaign: c.label, run: c.run, runs: c.runs, label: run.label, [budget.unit]: state.done, ...state.counts, elapsedMs: Math.round(elapsedMs), leftMs: round(leftMs), campaignElapsedMs: Math.round(campaignElapsedMs), campaignLeftMs: round(campaignLeftMs) } };
      this.stream.write(JSON.stringify(line) + '\n');
      return;
    }
    const counts = Object.entries(state.counts ?? {}).map(([name, n]) => `, ${n} ${name}`).join('');
    const rate = elapsedMs > 0 ? `, ${((state.done / elapsedMs) * 1000).toFixed(1)}/s` : '';
    const of = budget.total !== undefined ? `/${budget.total}` : '';
    const text =
      `${run.label}: ${state.done}${of} ${budget.unit}${counts}${rate}, ${short(elapsedMs)} elapsed, ${short(leftMs)} left` +
      (c.runs > 1 ? `; ${c.label} run ${c.run} of ${c.runs}, ${short(campaignElapsedMs)} elapsed, ${short(campaignLeftMs)} left` : '');
    this.stream.write(this.tty ? `\r${text}\x1b[K` : `${text}\n`);
  }
}

const round = (ms: number): number | null => (Number.isFinite(ms) ? Math.round(ms) : null);
const short = (ms: number): string => (Number.isFinite(ms) ? prettyMs(Math.max(0, ms), { compact: true }) : '?');

/** Called on a CPU: one more unit of work done (demo's flushes). */
export function progressTick(v: MachineViews): void {
  Atomics.add(v.globals, G_PROGRESS, 1);
}

/** The read callback of a run whose CPUs count their work with progressTick. */
export function tickedWork(v: MachineViews): () => RunState {
  return () => ({ done: Atomics.load(v.globals, G_PROGRESS) });
}

/** A run of trials (trials.ts) on the line: its onTrial callback keeps the trials, violations and reports. */
export function trialsRun(progress: Progress | undefined, label: string, budget: { total?: number; durationMs?: number }): ((r: TrialsResult) => void) | undefined {
  if (!progress) return undefined;
  let last: RunState = { done: 0, counts: { violations: 0, reports: 0 } };
  progress.run(label, { unit: 'trials', ...budget }, () => last);
  return (r) => {
    last = { done: r.trials, counts: { violations: r.violations, reports: r.reports } };
  };
}
