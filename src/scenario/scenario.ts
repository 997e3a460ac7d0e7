/*
 * The scenario API: a race written like a litmus test (STYLE 10). A scenario file names the race,
 * asks its question in one line, gives the per-CPU programs (a workload), the forbidden outcome
 * (the oracle that must catch it) and, for each kernel preset, the expected result.
 *
 *   export default defineScenario({
 *     name: 'dontneed-nested-flush',
 *     question: 'Can MADV_DONTNEED return while another zapper still has the range cached?',
 *     forbidden: 'access-after-return',
 *     cpus: 3,
 *     presets: { buggy: ['nestedForceFlush=off'], fixed: [] },
 *     expected: { buggy: 'sometimes', fixed: 'never' },
 *     setup(v, options) { ... },        // control plane: mms, files; returns the CPUs' params
 *     run(cpu, params) { ... },         // every CPU; loop while keepGoing(cpu, round, params)
 *   });
 *
 * One trial is one run of the workload on a machine whose CPU threads are reused from trial to
 * trial; a stress campaign (campaign/stress.ts) runs trials until its budget is spent or, with
 * --stop-on-first, the forbidden outcome is seen.
 */
import type { Cpu } from '../cpu/cpu.ts';
import { violationCount } from '../check/oracle.ts';
import type { Workload } from './workload.ts';
import type { NoiseLevel } from '../campaign/noise.ts';

export type Expected = 'sometimes' | 'never';

export interface ScenarioSpec<P, O> extends Workload<P, unknown, O> {
  name: string;
  question: string;
  /** the oracle kind that reports the forbidden outcome (check/oracle.ts VIOLATION_KIND_NAMES) */
  forbidden: string;
  /** CPUs the programs need at least */
  cpus: number;
  /** preset name -> switch assignments; at least `buggy` and `fixed` */
  presets: Record<string, string[]>;
  expected: Record<string, Expected>;
  /** what one trial's setup receives as options, unless the caller gives its own */
  trialOptions?: O;
  /** the noise the main job runs this scenario under, when the default is too little */
  noise?: NoiseLevel;
}

export type Scenario<P = unknown, O = unknown> = Readonly<ScenarioSpec<P, O>>;

export function defineScenario<P, O>(spec: ScenarioSpec<P, O>): Scenario<P, O> {
  for (const required of ['buggy', 'fixed']) {
    if (!spec.presets[required]) throw new Error(`scenario ${spec.name} has no '${required}' preset`);
  }
  return Object.freeze({ ...spec });
}

/** Whether a trial's program should go on: rounds left, no stop asked, no violation seen yet. */
export function keepGoing(cpu: Cpu, round: number, rounds: number): boolean {
  return round < rounds && !cpu.shouldStop() && violationCount(cpu.v) === 0;
}

/** Type guard for modules loaded by path: a default export made by defineScenario. */
export function isScenario(x: unknown): x is Scenario {
  const s = x as Scenario | undefined;
  return !!s && typeof s.name === 'string' && typeof s.run === 'function' && typeof s.setup === 'function' && typeof s.presets === 'object';
}
