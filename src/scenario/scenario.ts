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
 * Beyond the kernel's oracles, a scenario can check what its own programs expect and switch its
 * own code paths:
 *   forbidden: 'assertion'            the outcome is a failed cpu.expect(condition, message)
 *   switches: { name: { values: { a: '...', b: '...' }, default: 'a', from?: '...' } }
 *                                     switches of its own, as the kernel's (config/kernel-config.ts):
 *                                     presets, --set and `list <scenario>` take them; its programs
 *                                     read them with cpu.scenarioSwitch(name)
 *   arches: ['x86', 'arm64']          the architectures it runs on (default x86 only): every preset
 *                                     must be valid on each, and stress, compare or replay with
 *                                     another --arch is an input error
 *   hardware: { asidBits: 3 }         the CPU features it runs with (arch/arch.ts Hardware; --hardware
 *                                     goes on top): a race that needs a small ASID space asks for it
 *   trialOptions: { pages: 8, ... }   the options setup gets, which also declares them: `--param
 *                                     key=value` sets one, of the type of its default (an integer
 *                                     default takes integers); another key or type is an input error
 *
 * Who runs the program: every CPU of the run (--cpus N: all N), each with its cpu.id; a program
 * that has nothing for a CPU returns at once, and smpBarrier (cpu/smp.ts) then waits no more for
 * that CPU. A run that makes no progress, or outlives its deadline, ends with a report of the stuck
 * CPUs (machine/machine.ts, the run watchdog).
 *
 * One trial is one run of the workload on a machine whose CPU threads are reused from trial to
 * trial; a stress campaign (campaign/stress.ts) runs trials until its budget is spent or, with
 * --stop-on-first, the forbidden outcome is seen.
 *
 * A measurement (defineMeasurement, scenario/measure/) is written the same way but asks what a
 * flush scheme costs rather than whether a race happens: its presets are the kernels to compare,
 * its variants the workload's settings (targets busy or idle), every oracle stays on and any report
 * is a failure, and its programs count their operations (Counter.WorkloadOps) so that compare
 * (campaign/compare.ts) can give costs per operation.
 */
import type { Cpu } from '../cpu/cpu.ts';
import { VIOLATION_KIND_NAMES, violationCount, violationCountOf } from '../check/oracle.ts';
import { G_STOP_ON_KIND } from '../machine/globals-layout.ts';
import { ARCH_NAMES, Arch, archName, parseArch, type ArchName, type Hardware } from '../arch/arch.ts';
import { checkHardware } from '../config/hardware.ts';
import { applySwitches, checkSwitchValue, defaultKernelConfig, isSwitchName, splitAssignment, SWITCH_NAMES, type KernelConfig, type SwitchSpec } from '../config/kernel-config.ts';
import type { Workload } from './workload.ts';
import type { CounterName } from '../trace/counters.ts';
import type { NoiseLevel } from '../campaign/noise.ts';
import { UsageError } from '../errors.ts';
import { availableParallelism } from 'node:os';
import { MAX_CPUS } from '../machine/memory.ts';

export type Expected = 'sometimes' | 'never';
export type ScenarioKind = 'race' | 'measurement';

/** The `forbidden` of a measurement: a report of any oracle. */
export const ANY_VIOLATION = 'any';

export interface ScenarioSpec<P, O> extends Workload<P, unknown, O> {
  name: string;
  question: string;
  /** where the race comes from: the thread, patch, commit or review that confirms it */
  source?: string;
  /** the oracle kind that reports the forbidden outcome (check/oracle.ts VIOLATION_KIND_NAMES) */
  forbidden: string;
  /** the architectures it runs on; x86 alone when absent */
  arches?: readonly ArchName[];
  /** the CPU features its runs get, over DEFAULT_HARDWARE (--hardware goes on top) */
  hardware?: Partial<Hardware>;
  /**
   * presets that run on some of `arches` only (a measurement's kernel that sets a switch of one
   * architecture): preset -> its architectures; every other preset runs on all. A race's buggy
   * and fixed presets run on all: a race that needs other switches on another architecture is a
   * scenario of its own.
   */
  presetArches?: Record<string, readonly ArchName[]>;
  /** CPUs the programs need at least */
  cpus: number;
  /** CPUs to run on when the user does not say, if more than the host's cores (see defaultCpus) */
  preferredCpus?: number;
  /** preset name -> switch assignments; at least `buggy` and `fixed` */
  presets: Record<string, string[]>;
  expected: Record<string, Expected>;
  /** what one trial's setup receives as options, unless the caller gives its own */
  trialOptions?: O;
  /** the noise the main job, and stress without --noise, run this scenario under, when the default is too little */
  noise?: NoiseLevel;
  /**
   * how the main job (run-all) gives this race's buggy preset the time it needs, when an equal
   * share of the budget is too little: 'last', it runs after the others, with the scenarios that
   * ask for more noise, and gets what the quick ones left; 'pct', free running seldom opens its
   * window, and a free main job also runs it under PCT, on the fewest CPUs the scenario needs
   */
  rare?: 'last' | 'pct';
  /** 'race' unless defineMeasurement made it */
  kind?: ScenarioKind;
  /** what one operation of the workload is, as compare's columns name it */
  operation?: string;
  /** the workload's variants: name -> what they change in trialOptions */
  variants?: Record<string, Partial<O>>;
  /** switches of the scenario's own, which its presets and --set may flip and its programs read */
  switches?: Record<string, ScenarioSwitchSpec>;
  /**
   * a measurement's own columns in compare, in place of the flush columns when what it measures
   * is not a flush (compare.ts columnValue)
   */
  columns?: readonly MeasurementColumn[];
}

/**
 * One column of compare computed from a row's counters, summed over its trials: `counter`, divided
 * by `per` (the row's operations; a second of the workload's own time, Counter.WorkloadMs over its
 * CPUs; or another counter), times `scale`. Plain data, so that a report read back (merge) has it.
 */
export interface MeasurementColumn {
  readonly header: string;
  /** what the column means, in a line */
  readonly help: string;
  readonly counter: CounterName;
  readonly per?: 'op' | 'second' | CounterName;
  readonly scale?: number;
}

/** A scenario's own switch: as a kernel switch, its source optional. */
export type ScenarioSwitchSpec = Omit<SwitchSpec, 'from'> & { readonly from?: string };

/** What a run executes: the kernel, and the values of the scenario's own switches. */
export interface RunConfig {
  kernel: KernelConfig;
  /** switch -> value, for every switch the scenario declares */
  own: Readonly<Record<string, string>>;
}

/** What a measurement gives: no forbidden outcome, no expectations, an operation to count. */
export type MeasurementSpec<P, O> = Omit<ScenarioSpec<P, O>, 'forbidden' | 'expected' | 'kind' | 'noise' | 'operation'> & {
  operation: string;
  trialOptions: O;
};

export type Scenario<P = unknown, O = unknown> = Readonly<ScenarioSpec<P, O>>;

/**
 * Checks what a scenario names before any machine boots: its forbidden outcome is an oracle kind
 * ('any' for a measurement), each preset's switches and values exist. A UsageError names the
 * scenario, the preset and the valid names; the loader (catalog/index.ts) adds the file.
 */
export function defineScenario<P, O>(spec: ScenarioSpec<P, O>): Scenario<P, O> {
  for (const required of spec.kind === 'measurement' ? [] : ['buggy', 'fixed']) {
    if (!spec.presets[required]) throw new UsageError(`scenario ${spec.name} has no '${required}' preset; presets: ${Object.keys(spec.presets).join(', ') || '(none)'}`);
  }
  if (Object.keys(spec.presets).length === 0) throw new UsageError(`scenario ${spec.name} has no preset`);
  const kinds = Object.values(VIOLATION_KIND_NAMES);
  if (spec.kind === 'measurement' ? spec.forbidden !== ANY_VIOLATION : !kinds.includes(spec.forbidden)) {
    throw new UsageError(`scenario ${spec.name}: forbidden '${spec.forbidden}' is not an oracle kind; kinds: ${kinds.join(', ')}`);
  }
  for (const [name, sw] of Object.entries(spec.switches ?? {})) {
    if (isSwitchName(name)) throw new UsageError(`scenario ${spec.name}: its switch '${name}' has the name of a kernel switch`);
    if (Object.keys(sw.values ?? {}).length === 0) throw new UsageError(`scenario ${spec.name}: its switch '${name}' has no values`);
    try {
      checkSwitchValue(name, sw, sw.default);
    } catch (err) {
      throw new UsageError(`scenario ${spec.name}, default of its switch: ${(err as Error).message}`);
    }
  }
  const arches = spec.arches ?? DEFAULT_ARCHES;
  if (arches.length === 0) throw new UsageError(`scenario ${spec.name}: arches is empty; give one or more of ${ARCH_NAMES.join(', ')}`);
  for (const a of arches) {
    if (!(ARCH_NAMES as readonly string[]).includes(a)) throw new UsageError(`scenario ${spec.name}: unknown architecture '${a}' in arches; architectures: ${ARCH_NAMES.join(', ')}`);
  }
  if (spec.hardware) checkHardware(spec.hardware, `scenario ${spec.name}`);
  for (const [preset, only] of Object.entries(spec.presetArches ?? {})) {
    if (!Object.hasOwn(spec.presets, preset)) throw new UsageError(`scenario ${spec.name}: presetArches names '${preset}', which is not a preset; presets: ${Object.keys(spec.presets).join(', ')}`);
    if (spec.kind !== 'measurement' && (preset === 'buggy' || preset === 'fixed')) throw new UsageError(`scenario ${spec.name}: its ${preset} preset runs on every architecture it lists; a race with other switches on another architecture is a scenario of its own`);
    const stray = only.find((a) => !arches.includes(a));
    if (only.length === 0 || stray !== undefined) throw new UsageError(`scenario ${spec.name}: presetArches of '${preset}' must be some of its arches (${arches.join(', ')}), got ${only.join(', ') || 'none'}`);
  }
  for (const [preset, switches] of Object.entries(spec.presets)) {
    for (const a of spec.presetArches?.[preset] ?? arches) {
      try {
        configFor(spec, switches, defaultKernelConfig(), parseArch(a));
      } catch (err) {
        throw new UsageError(`scenario ${spec.name}, preset '${preset}'${arches.length > 1 ? ` on ${a}` : ''}: ${(err as Error).message}`);
      }
    }
  }
  return Object.freeze({ ...spec });
}

export function defineMeasurement<P, O>(spec: MeasurementSpec<P, O>): Scenario<P, O> {
  const expected = Object.fromEntries(Object.keys(spec.presets).map((name) => [name, 'never' as const]));
  return defineScenario({ ...spec, kind: 'measurement', forbidden: ANY_VIOLATION, expected });
}

/** What a scenario runs on when it does not say. */
export const DEFAULT_ARCHES: readonly ArchName[] = ['x86'];

/** The architectures a scenario runs on. */
export function scenarioArches(scenario: Pick<ScenarioSpec<unknown, unknown>, 'arches'>): readonly ArchName[] {
  return scenario.arches ?? DEFAULT_ARCHES;
}

/** Whether a scenario runs on `arch`. */
export function runsOn(scenario: Pick<ScenarioSpec<unknown, unknown>, 'arches'>, arch: Arch): boolean {
  return scenarioArches(scenario).includes(archName(arch));
}

/** Whether a scenario's preset runs on `arch` (ScenarioSpec.presetArches; the scenario's arches otherwise). */
export function presetRunsOn(scenario: Pick<ScenarioSpec<unknown, unknown>, 'arches' | 'presetArches'>, preset: string, arch: Arch): boolean {
  return (scenario.presetArches?.[preset] ?? scenarioArches(scenario)).includes(archName(arch));
}

/** A UsageError unless the scenario runs on `arch`; it names the scenario's architectures. */
export function checkScenarioArch(scenario: Pick<ScenarioSpec<unknown, unknown>, 'name' | 'arches'>, arch: Arch): void {
  if (!runsOn(scenario, arch)) throw new UsageError(`scenario ${scenario.name} does not run on ${archName(arch)}; its architectures: ${scenarioArches(scenario).join(', ')} (--arch ${scenarioArches(scenario)[0]})`);
}

/**
 * The kernel and the scenario's own switches for `assignments` ('switch=value', in order, later
 * ones winning) on top of `base` (mainline by default) and the scenario's defaults. A name that is
 * neither the scenario's nor the kernel's is a UsageError listing both; a kernel switch (or value)
 * of another architecture than `arch` is a UsageError naming it.
 */
export function configFor(scenario: Pick<ScenarioSpec<unknown, unknown>, 'name' | 'switches'>, assignments: readonly string[], base: KernelConfig = defaultKernelConfig(), arch: Arch = Arch.X86): RunConfig {
  const declared = scenario.switches ?? {};
  const own: Record<string, string> = Object.fromEntries(Object.entries(declared).map(([name, sw]) => [name, sw.default]));
  const kernel: string[] = [];
  for (const assignment of assignments) {
    const { name, value } = splitAssignment(assignment);
    if (Object.hasOwn(declared, name)) {
      checkSwitchValue(name, declared[name], value);
      own[name] = value;
    } else if (isSwitchName(name)) {
      kernel.push(assignment);
    } else {
      const mine = Object.keys(declared);
      throw new UsageError(`unknown switch '${name}'; ${mine.length > 0 ? `scenario ${scenario.name}'s switches: ${mine.join(', ')}; kernel ` : ''}switches: ${SWITCH_NAMES.join(', ')}`);
    }
  }
  return { kernel: applySwitches(base, kernel, arch), own: Object.freeze(own) };
}

/**
 * The options one trial's setup gets with `--param key=value` assignments on top of `base` (the
 * scenario's trialOptions, or a variant's). trialOptions declares the options: a key it does not
 * have, or a value not of its default's type (number, integer when the default is one, boolean
 * true/false, string), is a UsageError naming the scenario's options.
 */
export function withParams<O>(scenario: Scenario<unknown, O>, base: O, assignments: readonly string[]): O {
  if (assignments.length === 0) return base;
  const declared = (scenario.trialOptions ?? {}) as Record<string, unknown>;
  const names = Object.keys(declared).filter((k) => ['number', 'boolean', 'string'].includes(typeof declared[k]));
  const out: Record<string, unknown> = { ...(base as object) };
  for (const assignment of assignments) {
    const eq = assignment.indexOf('=');
    if (eq <= 0) throw new UsageError(`malformed --param ${JSON.stringify(assignment)}; expected --param key=value`);
    const key = assignment.slice(0, eq);
    const raw = assignment.slice(eq + 1);
    if (!names.includes(key)) throw new UsageError(`unknown --param '${key}' for scenario ${scenario.name}; options: ${names.map((n) => `${n} (default ${JSON.stringify(declared[n])})`).join(', ') || '(none)'}`);
    out[key] = paramValue(key, declared[key], raw);
  }
  return out as O;
}

function paramValue(key: string, def: unknown, raw: string): unknown {
  if (typeof def === 'boolean') {
    if (raw !== 'true' && raw !== 'false') throw new UsageError(`--param ${key} must be true or false, got ${JSON.stringify(raw)}`);
    return raw === 'true';
  }
  if (typeof def === 'number') {
    const n = raw.trim() === '' ? NaN : Number(raw);
    const integer = Number.isInteger(def);
    if (!Number.isFinite(n) || (integer && !Number.isInteger(n))) throw new UsageError(`--param ${key} must be ${integer ? 'an integer' : 'a number'}, got ${JSON.stringify(raw)}`);
    return n;
  }
  return raw;
}

/**
 * The CPUs a run gets when the user does not say: the host's cores, or more where the scenario
 * needs or prefers them (more CPU threads than cores is where preemption widens race windows).
 */
export function defaultCpus(scenario: Scenario): number {
  return Math.min(MAX_CPUS, Math.max(availableParallelism(), scenario.cpus, scenario.preferredCpus ?? 0));
}

/** Whether a report of oracle kind `kind` is the scenario's forbidden outcome. */
export function isForbidden(scenario: Scenario, kind: string): boolean {
  return scenario.forbidden === ANY_VIOLATION || scenario.forbidden === kind;
}

/** The options one trial's setup gets: the scenario's, with a variant's changes on top. */
export function variantOptions<O>(scenario: Scenario<unknown, O>, variant: string): O {
  if (variant === '') return scenario.trialOptions as O;
  const change = scenario.variants?.[variant];
  if (!change) throw new UsageError(`scenario ${scenario.name} has no variant '${variant}'; variants: ${Object.keys(scenario.variants ?? {}).join(', ') || '(none)'}`);
  return { ...(scenario.trialOptions as O), ...change };
}

/**
 * The oracle kind number of a scenario's forbidden outcome, as RunOptions.stopOnKind takes it: 0
 * for a measurement's 'any'. defineScenario made sure the name is a kind.
 */
export function forbiddenKind(scenario: Scenario): number {
  const entry = Object.entries(VIOLATION_KIND_NAMES).find(([, name]) => name === scenario.forbidden);
  return entry ? Number(entry[0]) : 0;
}

/**
 * Whether the run's stop kind was reported (any report when it is 0): what ends a trial by
 * default. The control plane sets the kind per run (RunOptions.stopOnKind; campaign/trials.ts
 * passes the scenario's forbidden kind), so that a report of another kind does not end the trial
 * before the forbidden one can be seen.
 */
export function forbiddenReported(cpu: Cpu): boolean {
  const kind = Atomics.load(cpu.v.globals, G_STOP_ON_KIND);
  return kind === 0 ? violationCount(cpu.v) > 0 : violationCountOf(cpu.v, kind) > 0;
}

/**
 * Whether a trial's program should go on: rounds left, no stop asked, and `reported` (by default
 * forbiddenReported) not seen yet. A scenario whose race needs its own test passes it.
 */
export function keepGoing(cpu: Cpu, round: number, rounds: number, reported = forbiddenReported): boolean {
  return round < rounds && !cpu.shouldStop() && !reported(cpu);
}

/** Type guard for modules loaded by path: a default export made by defineScenario. */
export function isScenario(x: unknown): x is Scenario {
  const s = x as Scenario | undefined;
  return !!s && typeof s.name === 'string' && typeof s.run === 'function' && typeof s.setup === 'function' && typeof s.presets === 'object';
}
