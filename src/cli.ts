/*
 * The command line: `shootdown <command> [options]`. Every command takes --json and --help.
 * Exit codes: 0 done and clean, 1 a violation was found (or a run failed), 2 bad input.
 */
import { applySwitches, defaultKernelConfig } from './config/kernel-config.ts';
import { Arch, parseArch, type Hardware } from './arch/arch.ts';
import { HARDWARE_HELP, HARDWARE_KEYS, parseHardware } from './config/hardware.ts';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { availableParallelism } from 'node:os';
import { UsageError, integerOption } from './errors.ts';
import { MAX_CPUS } from './machine/memory.ts';
import { formatDemo, runDemo } from './campaign/demo.ts';
import { formatListing, formatScenariosListing, listing, scenariosListing } from './config/list.ts';
import { NOISE_LEVELS, noiseShift } from './campaign/noise.ts';
import { formatStress, parseDuration, resolveScenario, runStress, traceMetadata, writeTraces } from './campaign/stress.ts';
import { formatRunAll, runAll } from './campaign/main-job.ts';
import { formatCompare, parseList, runCompare, variantsOf } from './campaign/compare.ts';
import { checkScenarioArch, defaultCpus } from './scenario/scenario.ts';
import { randomSeed } from './campaign/trials.ts';
import { loadCostModel } from './cost/model.ts';
import { calibrateCommand } from './cost/calibrate.ts';
import { writeCompareHtml } from './report/html.ts';
import { checkOutputFile } from './fs-atomic.ts';
import { catchInterrupts } from './campaign/interrupt.ts';
import { DEFAULT_PROGRESS_INTERVAL_MS, Progress } from './campaign/progress.ts';
import { FIRST_HORIZON, parseScheduleMode, type ScheduleMode } from './schedule/control.ts';
import { ranWith, replaySchedule, reproduceUnderPct, scheduleFileFor, shrinkSchedule, unsavable, unsavableMode, type Reproduced } from './schedule/commands.ts';
import { writeScheduleFile } from './schedule/file.ts';
import prettyMs from 'pretty-ms';
import { join } from 'node:path';
import { shardCliOptions, shardFileName, shardRequest, shardUsage } from './campaign/shard.ts';
import type { CompareRow } from './campaign/compare-report.ts';
import type { TrialsResult } from './campaign/trials.ts';
import type { RunAllRow } from './campaign/main-job.ts';
import { compareShard, mergeCommand, runAllShard, stressShard, writeShardResult } from './campaign/merge.ts';

const DEFAULT_COMPARE_CPUS = [1, 2, 4, 8, 16];

/** --arch: one architecture, x86 when not given. */
function archOption(raw: unknown): Arch {
  return raw === undefined ? Arch.X86 : parseArch(raw as string);
}

/** --hardware key=value[,key=value], or undefined when not given. */
function hardwareOption(raw: unknown): Partial<Hardware> | undefined {
  return raw === undefined ? undefined : parseHardware(raw as string);
}

const ARCH_USAGE = `x86 (default) or arm64: the architecture the machine implements`;
/** The usage lines of --hardware, the text from column `col`. */
const hardwareUsage = (col: number): string => {
  const pad = '\n' + ' '.repeat(col);
  return `${'  --hardware K=V,...'.padEnd(col)}arm64 CPU features on top of the scenario's (x86 ignores them),${pad}e.g. asidBits=3,tlbRange=off:${HARDWARE_KEYS.map((k) => `${pad}  ${k.padEnd(9)} ${HARDWARE_HELP[k]}`).join('')}`;
};
const archCliOption = { arch: { type: 'string' } } as const;

/** --seed: 0 to 2^32 - 1, or undefined when not given. */
function seedOption(raw: unknown): number | undefined {
  return raw === undefined ? undefined : integerOption('--seed', raw as string, 0, 2 ** 32 - 1);
}

/** The progress line on stderr (campaign/progress.ts), or none under --quiet. */
function progressOf(values: Record<string, unknown>): Progress | undefined {
  if (values.quiet) return undefined;
  const every = process.env.SHOOTDOWN_PROGRESS_INTERVAL;
  const intervalMs = every ? parseDuration('SHOOTDOWN_PROGRESS_INTERVAL', every) : DEFAULT_PROGRESS_INTERVAL_MS;
  return new Progress({ json: values.json === true, intervalMs });
}

/**
 * Runs a long command with SIGINT and SIGTERM caught (campaign/interrupt.ts): an interrupt stops
 * the run, the command prints and writes what it found, and the exit code is the signal's.
 */
async function interruptible(body: (signal: AbortSignal) => Promise<number>): Promise<number> {
  const interrupt = catchInterrupts();
  try {
    const code = await body(interrupt.signal);
    const signalled = interrupt.exitCode();
    // the results are out (stdout and files are written synchronously); a machine that was still
    // booting when the signal came (trials.ts bootUnlessAborted) is not waited for
    if (signalled !== null) process.exit(signalled);
    return code;
  } finally {
    interrupt.dispose();
  }
}

/** The --quiet lines of a command's usage, their text from column `col`. */
function quietUsage(col: number): string {
  const pad = '\n' + ' '.repeat(col);
  return `${'  --quiet'.padEnd(col)}no progress on stderr: on a terminal a line redrawn as the run goes,${pad}else a line every 10 s (or every SHOOTDOWN_PROGRESS_INTERVAL, e.g. 500ms),${pad}a JSON object under --json`;
}

/** --schedule, --parallel and --horizon of a command that runs trials on `cpus` CPUs. */
function scheduleOptions(values: Record<string, unknown>, cpus: number): { mode: ScheduleMode; horizon: number | undefined } {
  const mode = parseScheduleMode(values.schedule as string | undefined, values.parallel as string | undefined, cpus);
  if (values.horizon !== undefined && mode.strategy !== 'pct') throw new UsageError("--horizon is PCT's: give it with --schedule pct");
  const horizon = values.horizon === undefined ? undefined : integerOption('--horizon', values.horizon as string, 1, 1_000_000_000);
  return { mode, horizon };
}

/** The usage lines of --schedule, --parallel and --horizon; `horizon` is --horizon's default. */
const scheduleUsage = (horizon: string): string => `  --schedule S        free (default): the CPUs run at once on their threads; random or
                      pct[:DEPTH] (default depth 3): a controlled run, every CPU still on its own
                      thread, at most K between scheduling points, the next chosen by the strategy
                      from the trial's seed and recorded
  --parallel K        CPUs running between scheduling points in a controlled run, 1 (default:
                      deterministic, replayable) to the run's CPUs
  --horizon N         PCT's k, the steps its change points are drawn from; default:
                      ${horizon}`;

const scheduleCliOptions = { schedule: { type: 'string' }, parallel: { type: 'string' }, horizon: { type: 'string' } } as const;

const INTERRUPT_USAGE = `Ctrl-C (SIGINT) or SIGTERM stops the run within a second: what was found so far is printed (or
written) as usual, marked interrupted, and the exit status is 130 or 143; a second signal exits at once.`;

interface Command {
  summary: string;
  usage: string;
  options: NonNullable<ParseArgsConfig['options']>;
  /** takes positional arguments (the command checks them) */
  positionals?: boolean;
  run(values: Record<string, string | boolean | string[] | undefined>, positionals: string[]): Promise<number>;
}

const common = {
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

const quiet = { quiet: { type: 'boolean', short: 'q' } } as const;

const commands: Record<string, Command> = {
  demo: {
    summary: 'flush PTEs on CPU 0 while the other CPUs load and store; check every flush',
    usage: `shootdown demo [--cpus N] [--flushes F] [--seed S] [--set switch=value ...] [--schedule S] [--parallel K] [--horizon N] [--json] [--quiet]
              [--arch A] [--hardware K=V,...]

CPUs 1..N-1 keep loading and storing to pages of one mm; CPU 0 write-protects, clears or remaps
PTEs and calls flush_tlb_mm_range, F times. After every flush returns, every CPU's TLB is checked
against the page tables (the postcondition of a synced flush).

  --arch A      ${ARCH_USAGE}
${hardwareUsage(22)}
  --cpus N      simulated CPUs, 1 to ${MAX_CPUS} (default: the host's core count)
  --flushes F   flushes on CPU 0, 1 to 10000000 (default 1000)
  --seed S      the random seed, 0 to 4294967295 (default: random, printed)
  --set switch=value   a kernel switch on top of mainline (see 'shootdown list'), e.g.
                x86TlbFlush=invlpgb; repeatable; a switch of another architecture is an error
  --json        one JSON object on stdout, its "arch" among the fields
${quietUsage(16)}
${scheduleUsage(String(FIRST_HORIZON))}

Exit status: 0 no violation, 1 a postcondition failed, 2 bad input.`,
    options: { ...archCliOption, hardware: { type: 'string' }, cpus: { type: 'string' }, flushes: { type: 'string' }, seed: { type: 'string' }, set: { type: 'string', multiple: true }, ...scheduleCliOptions, ...quiet },
    async run(values) {
      const arch = archOption(values.arch);
      const hardware = hardwareOption(values.hardware);
      const cpus = values.cpus === undefined ? Math.min(MAX_CPUS, availableParallelism()) : integerOption('--cpus', values.cpus as string, 1, MAX_CPUS);
      const flushes = values.flushes === undefined ? 1000 : integerOption('--flushes', values.flushes as string, 1, 10_000_000);
      const seed = seedOption(values.seed);
      const { mode, horizon } = scheduleOptions(values, cpus);
      const set = (values.set as string[] | undefined) ?? [];
      const kernel = applySwitches(defaultKernelConfig(), set, arch);
      const summary = await runDemo({ cpus, flushes, seed, set, kernel, arch, hardware, progress: progressOf(values), schedule: mode, horizon });
      process.stdout.write((values.json ? JSON.stringify(summary) : formatDemo(summary)) + '\n');
      return summary.violations > 0 ? 1 : 0;
    },
  },
  list: {
    summary: 'list the kernel switches (and a scenario\'s own), or with --scenarios the catalog and the measurements',
    usage: `shootdown list [scenario|path/to/file.ts] [--scenarios] [--json] [--arch A]

Every kernel switch (a patch, fix or bug from the reference threads or mainline): its values with
what each does in the kernel, the default (today's mainline behaviour, marked *), and the seed
thread or mainline commit it comes from. With a scenario, also the switches it declares of its own,
which its presets and --set take beside the kernel's. A switch that models one architecture's code
says so ("arch: x86 only"); the others are generic mm code.

  --arch A     x86 or arm64: only the switches that apply to it (a value of another architecture
               left out), or with --scenarios only the scenarios that run on it (default: all)
  --scenarios  the race scenarios (src/scenario/catalog) and the measurements (src/scenario/measure)
               instead: each one's question, forbidden outcome, CPUs, presets with their switches
               and expected results, trial options, variants and architectures
  --json       one JSON object on stdout: {"arch", "switches": [{"name", "values", "default",
               "description" (value -> text), "from", "arch", "valueArch"}], "scenario": {"name",
               "switches": [...]}}; with --scenarios {"arch", "scenarios", "measurements": [{"name",
               "kind", "question", "source", "forbidden", "arches", "presetArches", "cpus",
               "preferredCpus", "presets": [{"name", "switches", "expected"}], "noise", "rare",
               "trialOptions", "variants", "operation"}], "broken": [{"name", "error"}]}

Exit status: 0, 2 bad input, or with --scenarios 1 when a file of the catalog does not load.`,
    options: { scenarios: { type: 'boolean' }, ...archCliOption },
    positionals: true,
    async run(values, positionals) {
      if (positionals.length > (values.scenarios ? 0 : 1)) throw new UsageError(`list takes at most one scenario${values.scenarios ? ', and none with --scenarios' : ''}, got ${positionals.join(' ')}`);
      const arch = values.arch === undefined ? undefined : parseArch(values.arch as string);
      if (values.scenarios) {
        const scenarios = await scenariosListing(arch);
        process.stdout.write((values.json ? JSON.stringify(scenarios) : formatScenariosListing(scenarios)) + '\n');
        return scenarios.broken.length > 0 ? 1 : 0;
      }
      const scenario = positionals.length === 1 ? (await resolveScenario(positionals[0])).scenario : undefined;
      const list = listing(scenario, arch);
      process.stdout.write((values.json ? JSON.stringify(list) : formatListing(list)) + '\n');
      return 0;
    },
  },
  stress: {
    summary: 'run one race scenario trial after trial under a kernel preset; report the first violation',
    usage: `shootdown stress <scenario|path/to/file.ts> [--kernel PRESET] [--set switch=value ...] [--cpus N]
                 [--arch A] [--hardware K=V,...] [--duration 10s | --trials N] [--seed S]
                 [--noise off|low|high] [--stop-on-first]
                 [--schedule free|random|pct[:D]] [--parallel K] [--horizon N]
                 [--save-schedule FILE] [--reproduce] [--shard I/N] [--shards N] [--results DIR]
                 [--json] [--quiet] [--trace FILE] [--ftrace FILE] [--typecheck] [--debug]

Runs a scenario of the catalog (src/scenario/catalog), or a .ts or .mts file of your own, in any
folder, whose default export is made by defineScenario (import { defineScenario, ... } from
'shootdown': README, "Writing your own scenario"), again and again on one machine, and checks
every access with the oracles. Trial i runs with seed S + i.

  --arch A            x86 (default) or arm64: the architecture the machine implements; one the
                      scenario runs on ('shootdown list --scenarios' shows each one's)
${hardwareUsage(22)}
  --kernel PRESET     the scenario's kernel preset: buggy (default), fixed, or another it defines
                      (a measurement of src/scenario/measure: its first preset by default)
  --set switch=value  a kernel switch, or one of the scenario's own, on top of the preset (see
                      'shootdown list <scenario>'); repeatable; a switch of another architecture
                      than --arch's is an error
  --param key=value   a trial option, one the scenario's trialOptions declare, of its type;
                      repeatable
  --cpus N            simulated CPUs, at least what the scenario needs, at most ${MAX_CPUS}
                      (default: the host's core count, or what the scenario needs or prefers if more)
  --duration T        the time budget: 500ms, 30s, 2m (default 10s)
  --trials N          a trial budget instead of a time budget, 1 to 1000000000
  --seed S            the first trial's seed, 0 to 4294967295 (default: random, printed)
  --noise LEVEL       how often marked race windows are stretched: ${Object.keys(NOISE_LEVELS).join(', ')} (default low, or the level the scenario asks for)
  --stop-on-first     stop at the first trial that shows the forbidden outcome
${scheduleUsage('the steps of a first trial under random, run to measure it, its reports not counted')}
  --save-schedule F   write the traced report's trial (or, with none, the last trial) as a schedule
                      file that 'shootdown replay F' runs again exactly; needs a controlled
                      --schedule with --parallel 1, or --reproduce
  --reproduce         after a free run's violation, search the same scenario, preset, CPUs, seed
                      and budget under pct until the same kind is reported, and save that trial's
                      schedule (to --save-schedule's file, or <scenario>-<preset>.schedule.json)
${shardUsage(22)}
  --trace FILE        write the traced report's interleaving as Chrome trace JSON (Perfetto): the
                      first forbidden one, or under a preset expected 'never' the first of any kind
  --ftrace FILE       write it as ftrace text (tlb:tlb_flush format)
  --typecheck         type-check the scenario file against the package's types before the run;
                      type errors are exit 2, one line each (file:line:col)
  --debug             a file that does not load: the error's stack too, not only its line
  --json              one JSON object on stdout: ... arch, hardware, reportsByKind, firstViolation,
                      firstReports (by kind), traced, failed, interrupted; each report with its
                      message and named fields
${quietUsage(22)}

A trial's programs stop at the forbidden outcome only; reports of every kind are counted and shown.
The trace files' directory must exist; they are checked before the run.
${INTERRUPT_USAGE}

Exit status: 0 the run met its expectation, 1 the forbidden outcome was seen, or under a preset
expected 'never' any oracle report (or a run failed), 2 bad input (a scenario file that does not
load: a syntax error, a throw at import, no scenario as its default export, a forbidden that is
not an oracle kind, a preset naming an unknown switch; one line naming the file; or a trace file
that cannot be written, included), 130 or 143 interrupted.`,
    positionals: true,
    options: {
      kernel: { type: 'string' },
      set: { type: 'string', multiple: true },
      param: { type: 'string', multiple: true },
      cpus: { type: 'string' },
      duration: { type: 'string' },
      trials: { type: 'string' },
      seed: { type: 'string' },
      noise: { type: 'string' },
      'stop-on-first': { type: 'boolean' },
      trace: { type: 'string' },
      ftrace: { type: 'string' },
      debug: { type: 'boolean' },
      typecheck: { type: 'boolean' },
      ...archCliOption,
      hardware: { type: 'string' },
      ...scheduleCliOptions,
      'save-schedule': { type: 'string' },
      reproduce: { type: 'boolean' },
      ...shardCliOptions,
      ...quiet,
    },
    async run(values, positionals) {
      if (positionals.length !== 1) throw new UsageError(`stress takes one scenario (a catalog name or a path to a .ts file), got ${positionals.length === 0 ? 'none' : positionals.join(' ')}`);
      if (values.duration !== undefined && values.trials !== undefined) throw new UsageError('give --duration or --trials, not both');
      const arch = archOption(values.arch);
      const hardware = hardwareOption(values.hardware);
      const resolved = await resolveScenario(positionals[0], { typecheck: values.typecheck === true });
      checkScenarioArch(resolved.scenario, arch);
      const need = resolved.scenario.cpus;
      const cpus = values.cpus === undefined ? defaultCpus(resolved.scenario) : integerOption('--cpus', values.cpus as string, 1, MAX_CPUS);
      if (cpus < need) throw new UsageError(`--cpus must be at least ${need}: scenario ${resolved.scenario.name} needs ${need} CPUs, got ${cpus}`);
      const trials = values.trials === undefined ? undefined : integerOption('--trials', values.trials as string, 1, 1_000_000_000);
      const durationMs = values.duration !== undefined ? parseDuration('--duration', values.duration as string) : trials === undefined ? 10_000 : undefined;
      const seed = seedOption(values.seed) ?? randomSeed();
      // a scenario that asks for more noise than the default gets it (the level run-all uses)
      const noise = (values.noise as string | undefined) ?? resolved.scenario.noise ?? 'low';
      const files = { chrome: values.trace as string | undefined, ftrace: values.ftrace as string | undefined };
      if (files.chrome !== undefined) checkOutputFile('--trace', files.chrome);
      if (files.ftrace !== undefined) checkOutputFile('--ftrace', files.ftrace);
      const { mode, horizon } = scheduleOptions(values, cpus);
      const reproduce = values.reproduce === true;
      if (reproduce && mode.strategy !== 'free') throw new UsageError('--reproduce searches under pct after a free run: give it without --schedule');
      const saveTo = values['save-schedule'] as string | undefined;
      if (saveTo !== undefined && !reproduce) {
        const why = unsavableMode(mode);
        if (why !== null) throw new UsageError(`--save-schedule: ${why}`);
      }
      if (saveTo !== undefined) checkOutputFile('--save-schedule', saveTo);
      const sharded = shardRequest(values);
      return interruptible(async (signal) => {
        const request = {
          resolved,
          preset: (values.kernel as string | undefined) ?? ('buggy' in resolved.scenario.presets ? 'buggy' : Object.keys(resolved.scenario.presets)[0]),
          set: (values.set as string[] | undefined) ?? [],
          arch,
          hardware,
          params: (values.param as string[] | undefined) ?? [],
          cpus,
          seed,
          noise,
          noiseShift: noiseShift(noise),
          trials,
          durationMs,
          stopOnFirst: values['stop-on-first'] === true,
          progress: progressOf(values),
          signal,
          schedule: mode,
          horizon,
          shard: sharded?.shard,
        };
        const { summary, traced, schedule, result } = await runStress(request);
        const wanted = [files.chrome, files.ftrace].filter((f) => f !== undefined);
        if (traced) writeTraces(traced, traceMetadata(summary), files);
        const traces = wanted.map((f) => (traced ? `${f} written` : `${f} not written: no violation`));
        let scheduleFile: string | null = null;
        const notes: string[] = [];
        if (saveTo !== undefined && !reproduce) {
          const why = unsavable(mode, schedule);
          if (why === null) {
            writeScheduleFile(saveTo, scheduleFileFor(request, ranWith(summary), schedule!, traced));
            scheduleFile = saveTo;
            notes.push(`  schedule      ${saveTo} written (${traced ? `trial ${traced.trial}, ${traced.kind}` : 'the last trial, clean'}): npx shootdown replay ${saveTo}`);
          } else notes.push(`  schedule      not written: ${why}`);
        }
        const shardFile = sharded && writeShardResult(sharded.results, stressShard(request, sharded.shard, result, summary));
        if (shardFile) notes.push(`  shard         ${shardFile} written: npx shootdown merge ${sharded!.results}`);
        let reproduced: Reproduced | null = null;
        if (reproduce && traced && !signal.aborted) {
          const out = saveTo ?? `${resolved.scenario.name}-${request.preset}.schedule.json`;
          reproduced = await reproduceUnderPct({ ...request, progress: progressOf(values) }, traced.kind, out);
          scheduleFile = reproduced.file;
          notes.push(
            reproduced.file
              ? `  reproduce     ${traced.kind} under ${reproduced.schedule} in ${reproduced.trials} trials (${prettyMs(reproduced.elapsedMs)}): ${out} written: npx shootdown replay ${out}`
              : `  reproduce     no ${traced.kind} under ${reproduced.schedule} in ${reproduced.trials} trials (${prettyMs(reproduced.elapsedMs)}): no schedule written`,
          );
        }
        process.stdout.write((values.json ? JSON.stringify({ ...summary, traces: traced ? wanted : [], scheduleFile, reproduce: reproduced, shardFile }) : [formatStress(summary, traces), ...notes].join('\n')) + '\n');
        return summary.failed ? 1 : 0;
      });
    },
  },
  compare: {
    summary: 'one workload under several kernels and CPU counts: IPIs, flushes, waits, modelled cost',
    usage: `shootdown compare <scenario|path/to/file.ts> [--arch x86,arm64] [--hardware K=V,...]
                  [--kernel A,B,...] [--set switch=value ...]
                  [--variant V,...] [--param key=value ...] [--cpus 1,2,4,8,16] [--trials N]
                  [--seed S] [--noise LEVEL] [--schedule S] [--parallel K]
                  [--shard I/N] [--shards N] [--results DIR]
                  [--json] [--quiet] [--html FILE] [--debug]

Runs the same workload, with the same seeds, under each kernel at each CPU count, and prints them
side by side: IPIs sent, CPUs reached per shootdown, full and ranged flushes, INVLPGs, entries
invalidated, refill walks, sync IPIs, redundant deferred flushes, the initiators' measured wait
(median and p99) and the hardware cost model's time per operation; a measurement that is not
about flushes shows columns of its own instead (fault-scaling: faults, faults a second, faults
under the VMA lock, mmap_lock waits). The measurements are in src/scenario/measure (fanout-sweep,
reclaim-storm, mprotect-toggle, khugepaged-collapse, numa-scan, fault-scaling); race scenarios
work too. arm64 rows count, instead of flush IPIs, the TLBIs by kind (va, vale, range ops and
their pages, asid, all), DSB ISHs and local_flush_tlb_all; with --arch x86,arm64 a last table
sets the two side by side per operation. The arm64 cost constants are estimates.

  --arch A,...        the architectures, x86 (default) and/or arm64, each one the scenario runs on:
                      a set of rows per architecture, the same kernels, variants and CPU counts
${hardwareUsage(22)}
  --kernel A,B        presets of the scenario, or switch=value[+switch=value...] on mainline
                      (default: every preset of the scenario); a switch of another architecture
                      than a row's is an error
  --set switch=value  a kernel switch on top of every kernel (see 'shootdown list'); repeatable
  --variant V,...     the scenario's workload variants, e.g. busy,idle (default: all it has)
  --param key=value   a trial option on top of every variant's, one the scenario's trialOptions
                      declare, of its type; repeatable
  --cpus LIST         CPU counts, each 1 to ${MAX_CPUS} and at least what the scenario needs
                      (default: 1,2,4,8,16, leaving out those below the scenario's need)
  --trials N          trials per kernel, variant and CPU count, 1 to 10000 (default 1)
  --seed S            the first trial's seed, 0 to 4294967295 (default: random, printed)
  --noise LEVEL       race-window noise: ${Object.keys(NOISE_LEVELS).join(', ')} (default off)
  --html FILE         also write a self-contained page with charts (its directory must exist;
                      checked before the run)
  --schedule S        free (default), random or pct[:DEPTH]: how each trial is scheduled (see
                      stress --help); the waits of a controlled run include the baton's hand-overs
  --parallel K        CPUs running between scheduling points in a controlled run (default 1; at
                      most the smallest of --cpus)
${shardUsage(22)}
  --debug             a file that does not load: the error's stack too, not only its line
  --json              one JSON object on stdout: {scenario, operation, arches, hardware, kernels,
                      variants, cpus, seed, host, warnings, costModel, interrupted, rows: [{arch,
                      kernel, variant, cpus,
                      ...counts, waitUs: {median, p99, samples}, measuredUsPerOp, modelledUsPerOp,
                      violations, reportsByKind, firstReport, counters}]}
${quietUsage(22)}

The cost model's constants come from 'shootdown calibrate' when it has been run here
(.shootdown/calibration.json, or the file SHOOTDOWN_CALIBRATION names), else from the defaults.
${INTERRUPT_USAGE} The rows are those done, the last with the trials it had done.

Exit status: 0 done with no oracle report, 1 an oracle reported (or a run failed), 2 bad input,
130 or 143 interrupted.`,
    positionals: true,
    options: {
      kernel: { type: 'string' },
      set: { type: 'string', multiple: true },
      variant: { type: 'string' },
      param: { type: 'string', multiple: true },
      cpus: { type: 'string' },
      trials: { type: 'string' },
      seed: { type: 'string' },
      noise: { type: 'string' },
      html: { type: 'string' },
      debug: { type: 'boolean' },
      schedule: { type: 'string' },
      parallel: { type: 'string' },
      ...archCliOption,
      hardware: { type: 'string' },
      ...shardCliOptions,
      ...quiet,
    },
    async run(values, positionals) {
      if (positionals.length !== 1) throw new UsageError(`compare takes one scenario (a name or a path to a .ts file), got ${positionals.length === 0 ? 'none' : positionals.join(' ')}`);
      const arches = values.arch === undefined ? [Arch.X86] : [...new Set(parseList('--arch', values.arch as string).map((a) => parseArch(a)))];
      const hardware = hardwareOption(values.hardware);
      const resolved = await resolveScenario(positionals[0]);
      for (const arch of arches) checkScenarioArch(resolved.scenario, arch);
      const need = resolved.scenario.cpus;
      const cpus =
        values.cpus === undefined
          ? DEFAULT_COMPARE_CPUS.filter((n) => n >= need)
          : parseList('--cpus', values.cpus as string).map((raw) => integerOption('--cpus', raw, 1, MAX_CPUS));
      const low = cpus.find((n) => n < need);
      if (low !== undefined) throw new UsageError(`--cpus: scenario ${resolved.scenario.name} needs at least ${need} CPUs, got ${low}`);
      const set = (values.set as string[] | undefined) ?? [];
      const kernels = values.kernel === undefined ? Object.keys(resolved.scenario.presets) : parseList('--kernel', values.kernel as string);
      const params = (values.param as string[] | undefined) ?? [];
      const variants = variantsOf({ resolved, params }, values.variant === undefined ? undefined : parseList('--variant', values.variant as string));
      const trials = values.trials === undefined ? 1 : integerOption('--trials', values.trials as string, 1, 10_000);
      const seed = seedOption(values.seed) ?? randomSeed();
      const schedule = parseScheduleMode(values.schedule as string | undefined, values.parallel as string | undefined, Math.min(...cpus));
      const costModel = loadCostModel();
      const html = values.html as string | undefined;
      if (html !== undefined) checkOutputFile('--html', html);
      const sharded = shardRequest(values);
      return interruptible(async (signal) => {
        const rowTrials = new Map<CompareRow, TrialsResult>();
        const request = { resolved, arches, hardware, kernels, set, variants, params, cpus: [...new Set(cpus)], seed, trials, noiseShift: noiseShift((values.noise as string | undefined) ?? 'off'), costModel, progress: progressOf(values), signal, schedule, shard: sharded?.shard, onRow: (row: CompareRow, r: TrialsResult) => rowTrials.set(row, r) };
        const report = await runCompare(request);
        if (sharded) writeShardResult(sharded.results, compareShard(request, sharded.shard, report, rowTrials));
        if (html !== undefined) writeCompareHtml(report, html);
        process.stdout.write((values.json ? JSON.stringify(report) : formatCompare(report) + (html !== undefined ? `\n${html} written` : '')) + '\n');
        return report.rows.some((row) => row.violations > 0) ? 1 : 0;
      });
    },
  },
  replay: {
    summary: 'run a schedule file\'s trial again, exactly, and print its report as stress does',
    usage: `shootdown replay FILE [--arch A] [--json] [--quiet]

Runs the one trial a schedule file holds (stress --save-schedule, --reproduce, run-all's
reports/<scenario>-buggy.schedule.json, or shrink's output) with every recorded choice made at its
recorded step, one CPU at a time, and prints the report as stress prints it. The scenario's file
must hash as it did when the schedule was saved, and its preset must make the recorded kernel.
The trial runs on the architecture and CPU features the file records (x86 for a file that records
none).

  --arch A     x86 or arm64: must be the file's architecture (else exit 2); the file decides
  --json       one JSON object on stdout: what stress --json prints, with "replay": {file, status,
               codeChanged}
${quietUsage(15)}

Exit status: 1 the recorded violation came again (the same kind, CPU and address), 0 the recorded
run was clean and still is, 2 bad input: a file that is not a schedule, of a newer format, whose
scenario or kernel preset changed, or whose run diverged ("schedule diverged at step N", one line).`,
    options: { ...archCliOption, ...quiet },
    positionals: true,
    async run(values, positionals) {
      if (positionals.length !== 1) throw new UsageError(`replay takes one schedule file, got ${positionals.length === 0 ? 'none' : positionals.join(' ')}`);
      const arch = values.arch === undefined ? undefined : parseArch(values.arch as string);
      return interruptible(async (signal) => {
        const r = await replaySchedule(positionals[0], { progress: progressOf(values), signal, arch });
        const line = r.status === 'reproduced' ? `reproduced: ${r.file.verdict!.kind} on CPU ${r.file.verdict!.cpu} at ${r.file.verdict!.address}, step ${r.file.verdict!.step} of ${r.file.steps}` : `clean, as recorded (${r.file.steps} steps)`;
        const code = r.codeChanged ? "\n                (the emulator's code changed since the file was saved; the run was the same, step for step)" : '';
        process.stdout.write((values.json ? JSON.stringify({ ...r.summary, replay: { file: positionals[0], status: r.status, codeChanged: r.codeChanged } }) : `${formatStress(r.summary, [])}\n  replay        ${line}${code}`) + '\n');
        return r.status === 'reproduced' ? 1 : 0;
      });
    },
  },
  shrink: {
    summary: 'make a schedule file\'s violation need fewer preemptions; print the interleaving as a table',
    usage: `shootdown shrink FILE [-o OUT] [--budget 60s] [--json] [--quiet]

Removes recorded choices from a schedule file (delta debugging) while its trial still reports the
same kind on the same CPU at the same address: every choice removed becomes the default, the CPU
at the point going on, so fewer preemptions are left. Writes the smallest schedule found, which
'shootdown replay' runs again exactly, and prints its interleaving as a table: a column per CPU,
a row per kernel step (system call entry and return, PTE change, flush, tlb_gen bump, IPI sent or
taken, page fault, frame freed, the violation).

  -o, --out OUT  the shrunk file (default: FILE with .shrunk before .json); its directory must exist
  --budget T     the time for candidate runs: 500ms, 30s, 2m (default 60s)
  --json         one JSON object on stdout: {file, before, after, candidates, verdict, table}
${quietUsage(17)}

Exit status: 0 written, 1 a run failed, 2 bad input (as replay's, and a file whose run is clean).`,
    options: { out: { type: 'string', short: 'o' }, budget: { type: 'string' }, ...quiet },
    positionals: true,
    async run(values, positionals) {
      if (positionals.length !== 1) throw new UsageError(`shrink takes one schedule file, got ${positionals.length === 0 ? 'none' : positionals.join(' ')}`);
      const path = positionals[0];
      const out = (values.out as string | undefined) ?? (path.endsWith('.json') ? `${path.slice(0, -5)}.shrunk.json` : `${path}.shrunk.json`);
      checkOutputFile('--out', out);
      const budgetMs = values.budget === undefined ? 60_000 : parseDuration('--budget', values.budget as string);
      return interruptible(async (signal) => {
        const r = await shrinkSchedule(path, { budgetMs, progress: progressOf(values), signal });
        writeScheduleFile(out, r.file);
        const v = r.file.verdict!;
        const text = [
          `shrink ${r.file.scenario.name} [${r.file.preset}]: ${v.kind} on CPU ${v.cpu} at ${v.address}`,
          `  choices       ${r.before.choices} recorded (${r.before.preemptions} preemptions) -> ${r.after.choices} (${r.after.preemptions} preemptions), ${r.candidates} candidate runs`,
          `  written       ${out}: npx shootdown replay ${out}`,
          '',
          r.table,
        ].join('\n');
        process.stdout.write((values.json ? JSON.stringify({ file: out, before: r.before, after: r.after, candidates: r.candidates, verdict: v, table: r.table }) : text) + '\n');
        return 0;
      });
    },
  },
  calibrate: calibrateCommand,
  merge: mergeCommand,
  'run-all': {
    summary: 'the main job: every catalog scenario under buggy and fixed, in one time budget',
    usage: `shootdown run-all [--budget 2m] [--schedule free|random|pct[:D]] [--parallel K] [--json] [--quiet] [--debug]
                         [--arch A] [--trials N] [--seed S] [--shard I/N] [--shards N] [--results DIR]

Runs every scenario of the catalog (src/scenario/catalog) under its buggy kernel (until the first
violation) and its fixed kernel, with noise low (or the scenario's own), on as many CPUs as the
host has cores (more where a scenario needs them). The buggy runs go first and share 60% of the
budget, the rarest races (those that ask for noise high) last, so they get the time the quick
ones leave; the fixed runs share the rest. Prints a table: scenario, preset,
trials, violations, time to the first violation, reports of other kinds, seed. Writes the same as
JSON to reports/run-all.json (with reportsByKind per row), and the trace of each first violation,
or of a fixed run's first report of any kind, to reports/<scenario>-<preset>.json (Chrome trace,
Perfetto) and reports/<scenario>-<preset>.ftrace.txt, and each buggy run's first violation as a
schedule file, reports/<scenario>-buggy.schedule.json, that 'shootdown replay' runs again exactly:
in a free job (the default) the scenario is searched again under pct, with the run's time left,
until the same kind is reported; in a controlled job it is the violating trial's own schedule.
The job writes into a new folder beside reports/ and renames it into place at the end: reports/
holds one whole job's files, never a mix.

  --arch A     ${ARCH_USAGE}: the job runs the scenarios that run on it
               ('shootdown list --scenarios --arch A'), and says so when there are none
  --budget T   the time for all runs together: 500ms, 30s, 2m (default 2m)
  --trials N   instead of a budget, N trials for every run, buggy runs too (no stop at the first
               violation): a fixed campaign that shards add up to exactly
  --seed S     every run's first seed (default: a random one per run, in the table)
${shardUsage(15)}
               (a shard's reports/ is DIR/shard-I-of-N.reports/)
  --schedule S free (default), random or pct[:DEPTH]: how every run is scheduled (see stress --help)
  --parallel K CPUs running between scheduling points in a controlled job (default 1)
  --debug      an error's stack too, not only its line
  --json       the report as one JSON object on stdout, its "arch" among the fields
${quietUsage(15)}

${INTERRUPT_USAGE} The partial job, complete in itself (its table, run-all.json marked interrupted
and its traces), replaces reports/.

Exit status: 0 every buggy preset that expects 'sometimes' reproduced and every fixed preset had
no oracle report of any kind (or the catalog is empty), 1 otherwise (a catalog file that does not
load included), 2 bad input (a reports/ that cannot be written included), 130 or 143 interrupted.`,
    options: { ...archCliOption, budget: { type: 'string' }, trials: { type: 'string' }, seed: { type: 'string' }, debug: { type: 'boolean' }, schedule: { type: 'string' }, parallel: { type: 'string' }, ...shardCliOptions, ...quiet },
    async run(values) {
      const arch = archOption(values.arch);
      if (values.budget !== undefined && values.trials !== undefined) throw new UsageError('give --budget or --trials, not both');
      const budgetMs = values.budget === undefined ? 120_000 : parseDuration('--budget', values.budget as string);
      const trials = values.trials === undefined ? undefined : integerOption('--trials', values.trials as string, 1, 1_000_000_000);
      const sharded = shardRequest(values);
      // K is checked against the smallest machine a scenario runs on: 2 CPUs
      const schedule = parseScheduleMode(values.schedule as string | undefined, values.parallel as string | undefined, Math.min(MAX_CPUS, availableParallelism()));
      return interruptible(async (signal) => {
        const rowTrials = new Map<RunAllRow, TrialsResult | null>();
        const reportsDir = sharded ? join(sharded.results, shardFileName(sharded.shard).replace(/\.json$/, '.reports')) : 'reports';
        const request = { arch, budgetMs, trials, seed: seedOption(values.seed), shard: sharded?.shard, reportsDir, progress: progressOf(values), signal, schedule, onRow: (row: RunAllRow, r: TrialsResult | null) => rowTrials.set(row, r) };
        const report = await runAll(request);
        if (sharded) writeShardResult(sharded.results, await runAllShard(request, sharded.shard, report, rowTrials));
        process.stdout.write((values.json ? JSON.stringify(report) : formatRunAll(report)) + '\n');
        return report.ok ? 0 : 1;
      });
    },
  },
};

function topUsage(): string {
  const width = Math.max(...Object.keys(commands).map((n) => n.length));
  return [
    'usage: shootdown <command> [options]',
    '',
    'commands:',
    ...Object.entries(commands).map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`),
    '',
    "'shootdown <command> --help' for a command's options. Every command takes --json.",
  ].join('\n');
}

/** --debug: an error's stack, and its cause's (what a loading error wraps: catalog/index.ts loadError). */
function stackOf(err: unknown): string {
  const e = err as Error;
  return [e.stack ?? e.message ?? String(err), ...(e.cause === undefined ? [] : [`caused by: ${stackOf(e.cause)}`])].join('\n');
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === 'help' || name === '--help' || name === '-h') {
    process.stdout.write(topUsage() + '\n');
    return name === undefined ? 2 : 0;
  }
  const json = rest.includes('--json');
  const debug = rest.includes('--debug');
  try {
    const command = commands[name];
    if (!command) throw new UsageError(`unknown command '${name}'; commands: ${Object.keys(commands).join(', ')}`);
    let values: Record<string, string | boolean | string[] | undefined>;
    let positionals: string[];
    try {
      ({ values, positionals } = parseArgs({ args: rest, options: { ...common, ...command.options }, strict: true, allowPositionals: command.positionals ?? false }));
    } catch (err) {
      throw new UsageError(`${name}: ${(err as Error).message}`);
    }
    if (values.help) {
      process.stdout.write(command.usage + '\n');
      return 0;
    }
    return await command.run(values, positionals);
  } catch (err) {
    const usage = err instanceof UsageError;
    const message = (err as Error).message ?? String(err);
    if (json) process.stdout.write(JSON.stringify({ error: { kind: usage ? 'usage' : (err as Error).name, message } }) + '\n');
    else process.stderr.write(`shootdown: ${usage && !debug ? message : stackOf(err)}\n`);
    return usage ? 2 : 1;
  }
}
