/*
 * Trials of a scenario on one machine: the same workload run again and again with seeds
 * seed, seed + 1, ..., on CPU threads that stay up, until the budget (trials or time) is spent or,
 * with stopOnFirst, the scenario's forbidden outcome is seen.
 */
import { Machine, type RunResult } from '../machine/machine.ts';
import { applySwitches, defaultKernelConfig, type KernelConfig } from '../config/kernel-config.ts';
import { UsageError } from '../errors.ts';
import { addCounters, zeroCounters, type Counters } from '../trace/counters.ts';
import type { Violation } from '../check/oracle.ts';
import { addWaits, zeroWaits, type Waits } from '../trace/waits.ts';
import { isForbidden, type Scenario } from '../scenario/scenario.ts';
import { readEvents, type TraceRecord } from '../trace/events.ts';

/** Events of the interleaving kept with the first violation. */
const EVENTS_KEPT = 256;

export interface TrialsRequest {
  /** the module URL the scenario is the default export of */
  url: string;
  scenario: Scenario;
  preset: string;
  /** the kernel to run, when it is not the preset's (compare's switch lists) */
  kernel?: KernelConfig;
  /** switches set on top of the preset's */
  set?: string[];
  seed: number;
  trials?: number;
  durationMs?: number;
  noiseShift?: number;
  stopOnFirst?: boolean;
  /** what setup receives, instead of the scenario's trialOptions (a variant's) */
  options?: unknown;
  /** called after every trial, e.g. for a progress line */
  onTrial?: (done: TrialsResult) => void;
}

export interface FirstViolation extends Violation {
  trial: number;
  seed: number;
  elapsedMs: number;
  /** the merged interleaving of every CPU's last events, read right after the trial */
  events: TraceRecord[];
}

export interface TrialsResult {
  trials: number;
  /** trials in which the forbidden outcome was seen */
  violations: number;
  /** all oracle reports, of any kind */
  reports: number;
  firstViolation: FirstViolation | null;
  elapsedMs: number;
  counters: Counters;
  /** the initiators' IPI waits over every trial */
  waits: Waits;
  kernel: KernelConfig;
  lastRun: RunResult<unknown> | null;
}

/** A seed for a run the user gave none for (printed with its result, so it can be replayed). */
export function randomSeed(): number {
  return (Math.random() * 2 ** 32) >>> 0;
}

/** The kernel a preset (plus extra switches) stands for; unknown presets name the valid ones. */
export function kernelFor(scenario: Scenario, preset: string, set: string[] = []): KernelConfig {
  const switches = scenario.presets[preset];
  if (!switches) throw new UsageError(`scenario ${scenario.name} has no preset '${preset}'; presets: ${Object.keys(scenario.presets).join(', ')}`);
  return applySwitches(defaultKernelConfig(), [...switches, ...set]);
}

export async function runTrials(machine: Machine, req: TrialsRequest): Promise<TrialsResult> {
  const kernel = req.kernel ?? kernelFor(req.scenario, req.preset, req.set);
  const maxTrials = req.trials ?? Infinity;
  const deadline = req.durationMs === undefined ? Infinity : performance.now() + req.durationMs;
  const t0 = performance.now();
  const out: TrialsResult = { trials: 0, violations: 0, reports: 0, firstViolation: null, elapsedMs: 0, counters: zeroCounters(), waits: zeroWaits(), kernel, lastRun: null };
  while (out.trials < maxTrials && performance.now() < deadline) {
    const seed = (req.seed + out.trials) >>> 0;
    const run = await machine.run(
      { url: req.url },
      req.options ?? req.scenario.trialOptions,
      { seed, kernel, noiseShift: req.noiseShift ?? -1 },
    );
    out.trials++;
    out.lastRun = run;
    out.reports += run.violationCount;
    addCounters(out.counters, run.counters);
    addWaits(out.waits, run.waits);
    const hit = run.violations.find((v) => isForbidden(req.scenario, v.kind));
    if (hit) {
      out.violations++;
      if (!out.firstViolation) {
        const cpus = Array.from({ length: machine.nrCpus }, (_, c) => c);
        out.firstViolation = { ...hit, trial: out.trials, seed, elapsedMs: performance.now() - t0, events: readEvents(machine.v, cpus, EVENTS_KEPT) };
      }
    }
    out.elapsedMs = performance.now() - t0;
    req.onTrial?.(out);
    if (hit && req.stopOnFirst) break;
  }
  out.elapsedMs = performance.now() - t0;
  return out;
}
