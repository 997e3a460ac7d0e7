/*
 * `shootdown stress`: one scenario (from the catalog, or a user's file written against
 * scenario/scenario.ts) run trial after trial on one machine under one kernel preset, until the
 * budget is spent or, with --stop-on-first, its forbidden outcome is seen. The result carries the
 * seed and a command that replays the first violation (STYLE 11); its interleaving can be written
 * as a Chrome trace (Perfetto) and as ftrace text.
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { writeFileAtomic } from '../fs-atomic.ts';
import { pathToFileURL } from 'node:url';
import prettyMs from 'pretty-ms';
import { Machine } from '../machine/machine.ts';
import { UsageError } from '../errors.ts';
import { defaultKernelConfig, type KernelConfig } from '../config/kernel-config.ts';
import type { Counters } from '../trace/counters.ts';
import { toChromeTrace, toFtrace, type TraceMetadata } from '../trace/export.ts';
import { MEASURE_DIR, catalogScenario, importScenario, loadCatalog } from '../scenario/catalog/index.ts';
import type { Scenario } from '../scenario/scenario.ts';
import { hostInfo, type HostInfo } from './host.ts';
import { kernelFor, runTrials, type FirstViolation, type TrialsResult } from './trials.ts';

/** A scenario ready to run: what the command line named, and the module the CPUs import. */
export interface ResolvedScenario {
  /** as the user wrote it: a catalog name or a path; used in the replay command */
  arg: string;
  url: string;
  scenario: Scenario;
}

/** A catalog name, or a path (relative to the working directory) to a .ts file that default-exports a scenario. */
export async function resolveScenario(arg: string): Promise<ResolvedScenario> {
  if (arg.endsWith('.ts') || arg.includes('/')) {
    if (!existsSync(arg)) throw new UsageError(`no scenario file ${arg}`);
    const url = pathToFileURL(resolve(arg)).href;
    const scenario = await importScenario(url);
    if (!scenario) throw new UsageError(`${arg} does not default-export a scenario made by defineScenario (src/scenario/scenario.ts)`);
    return { arg, url, scenario };
  }
  const entry = (await catalogScenario(arg)) ?? (await catalogScenario(arg, MEASURE_DIR));
  if (!entry) {
    const names = [...(await loadCatalog()).entries, ...(await loadCatalog(MEASURE_DIR)).entries].map((e) => e.name);
    throw new UsageError(`unknown scenario '${arg}'; scenarios: ${names.join(', ') || '(the catalog is empty)'}, or a path to a .ts file`);
  }
  return { arg, url: entry.url, scenario: entry.scenario };
}

const DURATION = /^(\d+(?:\.\d+)?)(ms|s|m)$/;
const UNIT_MS = { ms: 1, s: 1000, m: 60_000 } as const;

/** "500ms", "30s", "2m" -> milliseconds; `name` is the option, for the error. */
export function parseDuration(name: string, raw: string): number {
  const m = DURATION.exec(raw);
  const ms = m ? Number(m[1]) * UNIT_MS[m[2] as keyof typeof UNIT_MS] : NaN;
  if (!(ms > 0)) throw new UsageError(`${name} must be a positive time with a unit: 500ms, 30s or 2m; got ${JSON.stringify(raw)}`);
  return ms;
}

export interface StressRequest {
  resolved: ResolvedScenario;
  preset: string;
  set: string[];
  cpus: number;
  seed: number;
  /** the --noise level's name, and its shift (campaign/noise.ts) */
  noise: string;
  noiseShift: number;
  trials?: number;
  durationMs?: number;
  stopOnFirst: boolean;
  /** a progress line on stderr, if it is a terminal */
  progress: boolean;
}

export interface StressSummary {
  scenario: string;
  question: string;
  forbidden: string;
  /** the preset's name; `set` holds the switches given on top of it */
  kernel: string;
  set: string[];
  expected: string | null;
  /** the whole kernel configuration the trials ran */
  switches: KernelConfig;
  cpus: number;
  seed: number;
  noise: string;
  trials: number;
  elapsedMs: number;
  /** trials in which the forbidden outcome was seen */
  violations: number;
  /** oracle reports of any kind */
  reports: number;
  firstViolation: { kind: string; trial: number; cpus: number[]; address: string; elapsedMs: number; seed: number; message: string } | null;
  /** replays the first violation's trial */
  replay: string | null;
  counters: Counters;
  host: HostInfo;
}

/** Runs the trials on a machine of its own; the machine is closed when this settles. */
export async function runStress(req: StressRequest): Promise<{ summary: StressSummary; first: FirstViolation | null }> {
  const { scenario, url } = req.resolved;
  kernelFor(scenario, req.preset, req.set); // bad preset or switch: before the machine boots
  const machine = await Machine.boot({ cpus: req.cpus });
  try {
    const line = req.progress ? progressLine(`${scenario.name} [${req.preset}]`, req.trials, req.durationMs) : undefined;
    let result: TrialsResult;
    try {
      result = await runTrials(machine, {
        url,
        scenario,
        preset: req.preset,
        set: req.set,
        seed: req.seed,
        trials: req.trials,
        durationMs: req.durationMs,
        noiseShift: req.noiseShift,
        stopOnFirst: req.stopOnFirst,
        onTrial: line?.update,
      });
    } finally {
      line?.stop();
    }
    return { summary: summarize(req, result), first: result.firstViolation };
  } finally {
    await machine.close();
  }
}

function summarize(req: StressRequest, r: TrialsResult): StressSummary {
  const s = req.resolved.scenario;
  const fv = r.firstViolation;
  return {
    scenario: s.name,
    question: s.question,
    forbidden: s.forbidden,
    kernel: req.preset,
    set: req.set,
    expected: s.expected[req.preset] ?? null,
    switches: r.kernel,
    cpus: req.cpus,
    seed: req.seed,
    noise: req.noise,
    trials: r.trials,
    elapsedMs: r.elapsedMs,
    violations: r.violations,
    reports: r.reports,
    firstViolation: fv && { kind: fv.kind, trial: fv.trial, cpus: [fv.cpu], address: hex(fv.va), elapsedMs: fv.elapsedMs, seed: fv.seed, message: violationMessage(fv) },
    replay: fv && replayCommand(req, fv.seed),
    counters: r.counters,
    host: hostInfo(),
  };
}

const hex = (n: number): string => `0x${n.toString(16)}`;

/** What the trace mark says after the kind and the CPU. */
function violationDetails(v: FirstViolation): string {
  return `access at ${hex(v.va)} (oracle details ${v.details.map(hex).join(' ')})`;
}

function violationMessage(v: FirstViolation): string {
  return `${v.kind} on CPU ${v.cpu}, ${violationDetails(v)}`;
}

export function replayCommand(req: Pick<StressRequest, 'resolved' | 'preset' | 'set' | 'cpus' | 'noise'>, seed: number): string {
  const set = req.set.map((a) => ` --set ${a}`).join('');
  return `npx shootdown stress ${req.resolved.arg} --kernel ${req.preset}${set} --cpus ${req.cpus} --noise ${req.noise} --seed ${seed} --trials 1`;
}

/** What an exported trace says about itself, so that the file alone tells how to replay it. */
export function traceMetadata(s: StressSummary): TraceMetadata {
  return { scenario: s.scenario, kernel: s.kernel, set: s.set.join(' '), cpus: s.cpus, seed: s.firstViolation?.seed ?? s.seed, trial: s.firstViolation?.trial ?? 0, replay: s.replay ?? '' };
}

/** Writes the first violation's interleaving as Chrome trace JSON and/or ftrace text. */
export function writeTraces(first: FirstViolation, meta: TraceMetadata, files: { chrome?: string; ftrace?: string }): void {
  const opts = { violation: { seq: first.seq, cpu: first.cpu, kind: first.kind, message: violationDetails(first) }, metadata: meta };
  if (files.chrome) writeFileAtomic(files.chrome, JSON.stringify(toChromeTrace(first.events, opts)) + '\n');
  if (files.ftrace) writeFileAtomic(files.ftrace, toFtrace(first.events, opts));
}

/** Writes a temporary file beside `path`, then renames it: `path` is whole or absent. */
/**
 * A progress line on stderr, on a terminal only, redrawn at most four times a second: trials,
 * violations, the rate, elapsed and remaining time (by the duration, or by the rate for --trials).
 */
export function progressLine(label: string, trials: number | undefined, durationMs: number | undefined, stream: NodeJS.WriteStream = process.stderr) {
  if (!stream.isTTY) return undefined;
  const t0 = performance.now();
  let drawn = 0;
  const short = (ms: number) => prettyMs(Math.max(0, ms), { compact: true });
  return {
    update(r: TrialsResult): void {
      const now = performance.now();
      if (now - drawn < 250) return;
      drawn = now;
      const elapsed = now - t0;
      const left = durationMs !== undefined ? durationMs - elapsed : trials !== undefined ? (elapsed / r.trials) * (trials - r.trials) : NaN;
      const rate = (r.trials / elapsed) * 1000;
      stream.write(`\r${label}: ${r.trials} trials, ${r.violations} violations, ${rate.toFixed(1)}/s, ${short(elapsed)} elapsed, ${short(left)} left\x1b[K`);
    },
    stop(): void {
      stream.write('\r\x1b[K');
    },
  };
}

export function formatStress(s: StressSummary, traces: string[]): string {
  const fv = s.firstViolation;
  const rate = s.elapsedMs > 0 ? `, ${((s.trials / s.elapsedMs) * 1000).toFixed(1)}/s` : '';
  const mainline = defaultKernelConfig();
  const changed = Object.entries(s.switches).filter(([k, v]) => mainline[k as keyof KernelConfig] !== v);
  const kernel = `${s.kernel}${s.set.length > 0 ? ` + ${s.set.join(' ')}` : ''}: ${changed.map(([k, v]) => `${k}=${v}`).join(' ') || 'mainline'}${changed.length > 0 ? ', mainline otherwise' : ''}`;
  return [
    `stress ${s.scenario}: ${s.question}`,
    `  kernel        ${kernel}`,
    `  expected      ${s.expected ?? '(the scenario says nothing for this preset)'}; forbidden: ${s.forbidden}`,
    `  cpus          ${s.cpus} on ${s.host.cores} host cores (Node ${s.host.node})`,
    `  seed          ${s.seed}, noise ${s.noise}`,
    `  trials        ${s.trials} in ${prettyMs(s.elapsedMs)}${rate}`,
    `  violations    ${s.violations}${s.reports > s.violations ? ` (${s.reports} oracle reports of any kind)` : ''}`,
    ...(fv
      ? [
          `  first         after ${prettyMs(fv.elapsedMs)}, trial ${fv.trial} (seed ${fv.seed}): ${fv.message}`,
          `  replay        ${s.replay}`,
        ]
      : []),
    ...traces.map((t) => `  trace         ${t}`),
  ].join('\n');
}
