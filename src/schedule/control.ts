/*
 * The control plane's side of a controlled run (schedule/baton.ts): what a run's schedule is
 * (ScheduleSpec), setting the scheduler's words up before the CPUs start, and reading back what
 * it did afterwards (ScheduleOutcome). A free run sets H_STRATEGY to 0 and nothing else.
 *
 * PCT's set-up (Burckhardt et al., ASPLOS 2010) is made here, from the schedule's own seed: the
 * CPUs' distinct priorities d .. d + n - 1 in a random order, and d - 1 change points drawn
 * uniformly from [1, k], k being the horizon (the steps a run of the scenario takes, measured by a
 * first trial under random: campaign/trials.ts pctHorizon).
 */
import type { MachineViews } from '../machine/memory.ts';
import {
  C_LATE_IRQ, C_PRIORITY, CHANGE_BASE, CPU_WORDS, CPU_BASE, DEV_WORDS, H_CHANGE_LEN, H_DIVERGED, H_DIVERGED_CPU, H_HASH, H_HORIZON, H_LOG_LEN,
  H_LOG_OVERFLOW, H_PARALLEL, H_PREEMPTIONS, H_REPLAY_LEN, H_RNG, H_STEP, H_STRATEGY, HEADER_WORDS, KIND_STEP_BASE,
  LOG_BASE, LOG_CAP, MAX_CHANGE_POINTS, REPLAY_BASE, Strategy, cpuWord, H_SWITCHES, H_WARMERS,
} from './layout.ts';
import { availableParallelism } from 'node:os';
import { UsageError } from '../errors.ts';
import { xorshift32 } from '../cpu/xorshift.ts';
import { VIOLATION_KIND_NAMES } from '../check/oracle.ts';

export type StrategyName = 'random' | 'pct';

/** How a trial is scheduled: free running, or a controlled strategy. */
export interface ScheduleMode {
  strategy: 'free' | StrategyName;
  /** PCT's d: d - 1 change points */
  depth: number;
  /** K: CPUs that may run between scheduling points */
  parallel: number;
}

export const FREE: ScheduleMode = { strategy: 'free', depth: 0, parallel: 0 };
export const DEFAULT_PCT_DEPTH = 3;
/** PCT's horizon when none could be measured (a measuring trial that was interrupted). */
export const FIRST_HORIZON = 20_000;

/** One recorded choice: at `step` the scheduler ran `cpu`, the rolling hash being `hash` before. */
export interface Deviation {
  step: number;
  cpu: number;
  hash: number;
}

/** One controlled run's schedule, as the control plane sets it up. */
export interface ScheduleSpec {
  strategy: Strategy;
  parallel: number;
  /** the strategy's own stream */
  seed: number;
  depth?: number;
  horizon?: number;
  /** the deviations a replay follows */
  replay?: readonly Deviation[];
}

/** What the scheduler did in a controlled run. */
export interface ScheduleOutcome {
  steps: number;
  hash: number;
  preemptions: number;
  /** slots handed from one CPU to another: each a thread woken or spun for */
  switches: number;
  deviations: Deviation[];
  /** the log ran out of room: the run cannot be saved */
  overflow: boolean;
  /** where a strict replay found a different run */
  diverged: { step: number; cpu: number } | null;
  /** the step of the first report of each kind */
  stepByKind: Record<string, number>;
}

/**
 * Parses --schedule: free, random, pct or pct:DEPTH; and --parallel K (1 by default in a
 * controlled mode, at most `cpus`).
 */
export function parseScheduleMode(schedule: string | undefined, parallel: string | undefined, cpus: number): ScheduleMode {
  const text = schedule ?? 'free';
  const m = /^(free|random|pct)(?::(.*))?$/.exec(text);
  if (!m || (m[2] !== undefined && m[1] !== 'pct')) throw new UsageError(`unknown --schedule '${text}'; schedules: free, random, pct, pct:DEPTH`);
  let depth = 0;
  if (m[1] === 'pct') {
    depth = m[2] === undefined ? DEFAULT_PCT_DEPTH : Number(m[2]);
    if (!Number.isInteger(depth) || depth < 1 || depth > MAX_CHANGE_POINTS) throw new UsageError(`--schedule pct:DEPTH needs a depth from 1 to ${MAX_CHANGE_POINTS}, got '${m[2]}'`);
  }
  if (m[1] === 'free') {
    if (parallel !== undefined) throw new UsageError('--parallel needs a controlled --schedule (random or pct)');
    return FREE;
  }
  const k = parallel === undefined ? 1 : Number(parallel);
  if (!Number.isInteger(k) || k < 1 || k > cpus) throw new UsageError(`--parallel must be an integer from 1 to the run's ${cpus} CPUs, got '${parallel}'`);
  return { strategy: m[1] as StrategyName, depth, parallel: k };
}

export function describeMode(mode: ScheduleMode): string {
  if (mode.strategy === 'free') return 'free';
  return `${mode.strategy === 'pct' ? `pct:${mode.depth}` : mode.strategy}${mode.parallel > 1 ? ` --parallel ${mode.parallel}` : ''}`;
}

/** Warmer threads a controlled run of K CPUs at a time keeps spinning: the host's other cores. */
export function warmersFor(parallel: number): number {
  return Math.max(0, availableParallelism() - parallel);
}

/** An xorshift32 stream from a seed, its state never 0. */
function stream(seed: number): () => number {
  let x = Math.imul(seed ^ 0x5bd1e995, 0x9e3779b1) | 1;
  return () => (x = xorshift32(x)) >>> 0;
}

/** Sets the scheduler's words for the next run: `spec`, or free running when null. */
export function prepareSchedule(v: MachineViews, spec: ScheduleSpec | null): void {
  const s = v.sched;
  if (spec === null) {
    Atomics.store(s, H_STRATEGY, 0);
    return;
  }
  s.fill(0, 0, HEADER_WORDS);
  s.fill(0, CPU_BASE, CPU_BASE + v.nrCpus * CPU_WORDS);
  const next = stream(spec.seed);
  s[H_PARALLEL] = spec.parallel;
  s[H_WARMERS] = warmersFor(spec.parallel);
  s[H_RNG] = next() | 1;
  s[H_HASH] = 0x811c9dc5 | 0;
  if (spec.strategy === Strategy.Pct) {
    const d = spec.depth ?? DEFAULT_PCT_DEPTH;
    const k = Math.max(1, spec.horizon ?? FIRST_HORIZON);
    // distinct priorities d .. d + n - 1, shuffled (Fisher-Yates)
    const prio = Array.from({ length: v.nrCpus }, (_, i) => d + i);
    for (let i = prio.length - 1; i > 0; i--) {
      const j = next() % (i + 1);
      [prio[i], prio[j]] = [prio[j], prio[i]];
    }
    prio.forEach((p, c) => (s[cpuWord(c, C_PRIORITY)] = p));
    // which CPUs take a pending IPI one or two interrupt points late
    for (let c = 0; c < v.nrCpus; c++) s[cpuWord(c, C_LATE_IRQ)] = next() & 1;
    const change = Array.from({ length: d - 1 }, () => 1 + (next() % k)).sort((a, b) => a - b);
    change.forEach((step, i) => (s[CHANGE_BASE + i] = step));
    s[H_CHANGE_LEN] = change.length;
    s[H_HORIZON] = k;
  }
  const replay = spec.replay ?? [];
  if (replay.length > LOG_CAP) throw new UsageError(`a schedule of ${replay.length} recorded choices is more than the ${LOG_CAP} a run can follow`);
  replay.forEach((d, i) => {
    const at = REPLAY_BASE + i * DEV_WORDS;
    s[at] = d.step;
    s[at + 1] = d.cpu;
    s[at + 2] = d.hash;
  });
  s[H_REPLAY_LEN] = replay.length;
  // last: a CPU that sees the strategy sees everything above (the pool's task handoff orders it too)
  Atomics.store(s, H_STRATEGY, spec.strategy);
}

/** What the scheduler did in the run that just ended (prepareSchedule's, not free). */
export function readSchedule(v: MachineViews): ScheduleOutcome {
  const s = v.sched;
  const n = Math.min(s[H_LOG_LEN], LOG_CAP);
  const deviations: Deviation[] = new Array(n);
  for (let i = 0; i < n; i++) {
    const at = LOG_BASE + i * DEV_WORDS;
    deviations[i] = { step: s[at], cpu: s[at + 1], hash: s[at + 2] };
  }
  const stepByKind: Record<string, number> = {};
  for (const [kind, name] of Object.entries(VIOLATION_KIND_NAMES)) {
    const step = s[KIND_STEP_BASE + Number(kind)];
    if (step !== 0) stepByKind[name] = step;
  }
  return {
    steps: s[H_STEP],
    hash: s[H_HASH] >>> 0,
    preemptions: s[H_PREEMPTIONS],
    switches: s[H_SWITCHES],
    deviations,
    overflow: s[H_LOG_OVERFLOW] !== 0,
    diverged: s[H_DIVERGED] === 0 ? null : { step: s[H_DIVERGED] - 1, cpu: s[H_DIVERGED_CPU] },
    stepByKind,
  };
}
