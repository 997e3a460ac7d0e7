/*
 * One harness per catalog race, run under two kernels: the scenario's fixed preset, where it must
 * come out clean, and the fixed preset with the buggy preset's switches set on top, where it must
 * show the forbidden outcome. Nothing else differs between the two runs: the same seeds, trials,
 * noise, CPUs, fixture and options. The second run is what gives the first its worth: a clean
 * verdict from a harness that could not see the race under the bug proves nothing.
 *
 * Kernels come only from the scenario's presets (kernelFor); neither this file nor a fixture reads
 * the configuration, so what differs between the runs is what the kernel code does with the
 * switches. The buggy preset's switches on top of fixed are the buggy kernel wherever fixed is
 * mainline; the test names them, so that a reader sees which switch the harness depends on.
 *
 * Two kinds of harness:
 *   freeRunning  the scenario's own programs, trial after trial from one seed (runTrials), stopping
 *                at the first forbidden report: clean is every trial run and no report of any kind
 *   forced       a fixture that forces the race's interleaving with handshakes, one run: clean is
 *                no report of any kind
 * Each takes the race's own checks on top: what the clean run must have exercised (flushes sent,
 * tables freed) and what the forbidden report must look like (its CPU, its address).
 */
import { expect, it } from 'vitest';
import type { Machine, RunResult } from '../../src/machine/machine.ts';
import type { Violation } from '../../src/check/oracle.ts';
import type { WorkloadRef } from '../../src/scenario/workload.ts';
import type { Scenario } from '../../src/scenario/scenario.ts';
import { hardwareFor, kernelFor, runTrials, type TrialsResult } from '../../src/campaign/trials.ts';
import { describeMode, type ScheduleMode } from '../../src/schedule/control.ts';
import { scenarioArches } from '../../src/scenario/scenario.ts';
import { parseArch, type Arch } from '../../src/arch/arch.ts';

export interface Harness<R> {
  /** what the harness runs, for the tests' names */
  what: string;
  /** one run of the harness under `preset` with the switches `set` on top */
  run(preset: string, set?: string[]): Promise<R>;
  /** no report of any kind, and the race's path was exercised */
  expectClean(r: R): void;
  /** the scenario's forbidden outcome was reported */
  expectForbidden(r: R): void;
}

/** The race's own checks on top of the harness's. */
export interface RaceChecks<R> {
  /** what a clean run must have done for its verdict to mean something */
  exercised?: (r: R) => void;
  /** what the first forbidden report must look like */
  report?: (v: Violation, r: R) => void;
}

/**
 * The architecture a harness runs on: the first the scenario lists (x86 for most), so that an
 * arm64 race's presets are checked and run as arm64's.
 */
const archOf = (scenario: Scenario): Arch => parseArch(scenarioArches(scenario)[0]);

/** The URL of a catalog scenario's module, which its trials load on every CPU. */
const catalogUrl = (scenario: Scenario) => new URL(`../../src/scenario/catalog/${scenario.name}.ts`, import.meta.url).href;

export interface FreeRunningOptions {
  /** the module the scenario is the default export of, when it is not in the catalog */
  url?: string;
  seed: number;
  trials: number;
  noiseShift: number;
  /** a controlled schedule (deterministic with --parallel 1); free running when absent */
  schedule?: ScheduleMode;
  /** the architecture (the first the scenario lists when absent) */
  arch?: Arch;
}

/** The scenario's programs for `trials` trials from `seed`, stopping at the first forbidden report. */
export function freeRunning(machine: () => Machine, scenario: Scenario, o: FreeRunningOptions, checks: RaceChecks<TrialsResult> = {}): Harness<TrialsResult> {
  const url = o.url ?? catalogUrl(scenario);
  return {
    what: `${o.trials} ${o.schedule ? `trials under ${describeMode(o.schedule)}` : 'free-running trials'} from seed ${o.seed}`,
    run: (preset, set = []) => runTrials(machine(), { url, scenario, preset, set, seed: o.seed, trials: o.trials, noiseShift: o.noiseShift, stopOnFirst: true, schedule: o.schedule, arch: o.arch ?? archOf(scenario) }),
    expectClean(r) {
      expect(r.trials).toBe(o.trials);
      expect(r.reports).toBe(0);
      checks.exercised?.(r);
    },
    expectForbidden(r) {
      expect(r.violations).toBe(1);
      expect(r.firstViolation?.kind).toBe(scenario.forbidden);
      if (r.firstViolation) checks.report?.(r.firstViolation, r);
    },
  };
}

export interface ForcedOptions {
  seed: number;
  /** what the fixture's setup receives */
  options?: object;
  /** the architecture (the first the scenario lists when absent) */
  arch?: Arch;
}

/** One run of a fixture that forces the race's interleaving, noise off, on the scenario's architecture and hardware. */
export function forced<R>(machine: () => Machine, scenario: Scenario, fixture: WorkloadRef, o: ForcedOptions, checks: RaceChecks<RunResult<R>> = {}): Harness<RunResult<R>> {
  return {
    what: `the interleaving forced (${fixture.exportName}, seed ${o.seed})`,
    run: (preset, set = []) => {
      const arch = o.arch ?? archOf(scenario);
      return machine().run<unknown, R, object>(fixture, o.options ?? {}, { seed: o.seed, speculationShift: -1, kernel: kernelFor(scenario, preset, set, arch), arch, hardware: hardwareFor(scenario) });
    },
    expectClean(r) {
      expect(r.violations).toEqual([]);
      expect(r.violationCount).toBe(0);
      checks.exercised?.(r);
    },
    expectForbidden(r) {
      const hit = r.violations.find((v) => v.kind === scenario.forbidden);
      expect(hit).toBeDefined();
      if (hit) checks.report?.(hit, r);
    },
  };
}

/**
 * The two tests every catalog race has: the harness clean under the fixed preset, and the same
 * harness with the buggy preset's switches flipped on top of fixed showing the forbidden outcome.
 */
export function fixedAndMutation<R>(scenario: Scenario, h: Harness<R>): void {
  const bug = scenario.presets.buggy;
  it(`fixed: ${h.what}, no report`, async () => {
    h.expectClean(await h.run('fixed'));
  });
  it(`fixed + ${bug.join(' ')} (the buggy preset's switches): ${h.what}, ${scenario.forbidden}`, async () => {
    h.expectForbidden(await h.run('fixed', bug));
  });
}
