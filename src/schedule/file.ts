/*
 * Schedule files: one controlled trial, kept so that `replay` runs it again and `shrink` makes it
 * smaller. A file holds what decides the run (format version, the scenario with a hash of its
 * file, the kernel preset with the switches set on top and the whole configuration they made, the
 * architecture and its CPU features, the trial options, CPUs, K, the strategy, the trial's seed, PCT's horizon, the recorded choices) and
 * what came of it (steps, the scheduler's rolling hash, the verdict: kind, CPU, address, step).
 *
 * The choices are the deviations from the default (schedule/baton.ts), flattened to numbers:
 * [step - previous step, CPU, hash, ...]. With K = 1 a run is the same run again only on the same
 * code: the file keeps a hash of the emulator's sources, and replay names a change of it when the
 * run diverges. A file written before runs had an architecture reads as x86 with DEFAULT_HARDWARE.
 */
import { createHash } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { UsageError } from '../errors.ts';
import { writeFileAtomic } from '../fs-atomic.ts';
import type { KernelConfig } from '../config/kernel-config.ts';
import { ARCH_NAMES, DEFAULT_HARDWARE, type ArchName, type Hardware } from '../arch/arch.ts';
import { fullHardware } from '../config/hardware.ts';
import type { Deviation } from './control.ts';

export const SCHEDULE_FORMAT = 'shootdown-schedule';
export const SCHEDULE_VERSION = 1;

/** What a schedule file says the run ended with: the traced report, or null for a clean run. */
export interface ScheduleVerdict {
  kind: string;
  cpu: number;
  address: string;
  /** the scheduler's step at the report */
  step: number;
}

export interface ScheduleFile {
  format: typeof SCHEDULE_FORMAT;
  version: number;
  scenario: {
    name: string;
    /** as `stress` was given it: a catalog name or a path */
    arg: string;
    /** the file's path when it was saved */
    file: string;
    sha256: string;
  };
  preset: string;
  set: string[];
  params: string[];
  kernel: KernelConfig;
  scenarioSwitches: Record<string, string>;
  /** the architecture the trial ran on, and every CPU feature it had */
  arch: ArchName;
  hardware: Hardware;
  cpus: number;
  parallel: number;
  /** random, or pct:DEPTH */
  strategy: string;
  seed: number;
  horizon: number;
  /** sha256 of the emulator's sources (src/, workers/) */
  code: string;
  steps: number;
  hash: number;
  preemptions: number;
  /** [step delta, CPU, hash] per recorded choice */
  choices: number[];
  verdict: ScheduleVerdict | null;
  reportsByKind: Record<string, number>;
}

export function fileSha256(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}

let codeHash: string | null = null;

/** A hash of the emulator's sources: every .ts and .mjs under src/ and workers/, by path. */
export function emulatorCodeHash(): string {
  if (codeHash !== null) return codeHash;
  const root = fileURLToPath(new URL('../../', import.meta.url));
  const h = createHash('sha256');
  const walk = (dir: string): void => {
    for (const e of readdirSync(join(root, dir), { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const rel = join(dir, e.name);
      if (e.isDirectory()) walk(rel);
      else if (/\.(ts|mts|mjs)$/.test(e.name)) h.update(rel).update('\0').update(readFileSync(join(root, rel))).update('\0');
    }
  };
  walk('src');
  walk('workers');
  codeHash = h.digest('hex');
  return codeHash;
}

export function encodeChoices(deviations: readonly Deviation[]): number[] {
  const out: number[] = [];
  let prev = 0;
  for (const d of deviations) {
    out.push(d.step - prev, d.cpu, d.hash);
    prev = d.step;
  }
  return out;
}

export function decodeChoices(choices: readonly number[]): Deviation[] {
  const out: Deviation[] = [];
  let step = 0;
  for (let i = 0; i + 2 < choices.length; i += 3) {
    step += choices[i];
    out.push({ step, cpu: choices[i + 1], hash: choices[i + 2] });
  }
  return out;
}

export function writeScheduleFile(path: string, f: ScheduleFile): void {
  writeFileAtomic(path, JSON.stringify(f) + '\n');
}

/**
 * Reads and checks a schedule file: a file that is not JSON, is not a schedule, comes from a
 * newer format, or lacks a field is a UsageError of one line naming the file.
 */
export function readScheduleFile(path: string): ScheduleFile {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new UsageError(`cannot read schedule file ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  let f: Partial<ScheduleFile>;
  try {
    f = JSON.parse(text) as Partial<ScheduleFile>;
  } catch (err) {
    throw new UsageError(`${path} is not a schedule file: not JSON (${(err as Error).message})`);
  }
  if (typeof f !== 'object' || f === null || f.format !== SCHEDULE_FORMAT) throw new UsageError(`${path} is not a schedule file: no "format": "${SCHEDULE_FORMAT}"`);
  if (typeof f.version !== 'number' || !Number.isInteger(f.version) || f.version < 1) throw new UsageError(`${path}: malformed schedule file: "version" must be a positive integer`);
  if (f.version > SCHEDULE_VERSION) throw new UsageError(`${path} is a schedule file of format version ${f.version}; this shootdown reads version ${SCHEDULE_VERSION}: update shootdown`);
  const want: [keyof ScheduleFile, string][] = [
    ['preset', 'string'], ['cpus', 'number'], ['parallel', 'number'], ['strategy', 'string'], ['seed', 'number'], ['horizon', 'number'],
    ['code', 'string'], ['steps', 'number'], ['hash', 'number'], ['preemptions', 'number'], ['kernel', 'object'], ['scenarioSwitches', 'object'],
    ['scenario', 'object'], ['reportsByKind', 'object'],
  ];
  for (const [key, type] of want) {
    if (typeof f[key] !== type || f[key] === null) throw new UsageError(`${path}: malformed schedule file: "${key}" must be a${type === 'object' ? 'n' : ''} ${type}`);
  }
  const sc = f.scenario!;
  if (typeof sc.name !== 'string' || typeof sc.arg !== 'string' || typeof sc.file !== 'string' || typeof sc.sha256 !== 'string') {
    throw new UsageError(`${path}: malformed schedule file: "scenario" needs name, arg, file and sha256`);
  }
  for (const key of ['set', 'params'] as const) {
    if (!Array.isArray(f[key]) || !f[key]!.every((x) => typeof x === 'string')) throw new UsageError(`${path}: malformed schedule file: "${key}" must be a list of strings`);
  }
  if (!Array.isArray(f.choices) || f.choices.length % 3 !== 0 || !f.choices.every((x) => Number.isInteger(x))) {
    throw new UsageError(`${path}: malformed schedule file: "choices" must be a list of integers, three per recorded choice`);
  }
  if (f.verdict !== null && (typeof f.verdict !== 'object' || typeof f.verdict.kind !== 'string' || typeof f.verdict.cpu !== 'number' || typeof f.verdict.address !== 'string')) {
    throw new UsageError(`${path}: malformed schedule file: "verdict" must be null or {kind, cpu, address, step}`);
  }
  if (!Number.isInteger(f.cpus) || f.cpus! < 1 || !Number.isInteger(f.parallel) || f.parallel! < 1 || f.parallel! > f.cpus!) {
    throw new UsageError(`${path}: malformed schedule file: "parallel" must be from 1 to "cpus"`);
  }
  if (f.parallel !== 1) throw new UsageError(`${path}: a schedule of --parallel ${f.parallel} cannot be replayed: only a run with one CPU between scheduling points is recorded whole`);
  // a file written before runs had an architecture ran on x86
  f.arch ??= 'x86';
  if (!(ARCH_NAMES as readonly string[]).includes(f.arch)) throw new UsageError(`${path}: malformed schedule file: "arch" must be one of ${ARCH_NAMES.join(', ')}`);
  if (f.hardware !== undefined && (typeof f.hardware !== 'object' || f.hardware === null)) throw new UsageError(`${path}: malformed schedule file: "hardware" must be an object`);
  f.hardware = { ...fullHardware(f.hardware ?? DEFAULT_HARDWARE, `${path}: malformed schedule file`) };
  return f as ScheduleFile;
}
