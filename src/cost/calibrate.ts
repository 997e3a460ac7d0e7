/*
 * `shootdown calibrate`: fit the hardware cost model to this host's own kernel.
 *
 * The native probe (bench/calibrate/shootdown.c) makes the host kernel run flush_tlb_mm_range()
 * through mprotect(RW -> RO) on present pages and prints the medians. It is compiled with the
 * machine's C compiler into a temp directory (never into the repository), run once, and its
 * figures are fitted to the four constants of src/cost/model.ts, then saved with saveCostModel.
 * If the compiler is missing or the probe fails, the result says why, the constants shown are
 * the defaults, and no file is written: the cost model in effect stays what it was.
 *
 * The fit (fitCostModel), from the probe's medians:
 *   - one-target shootdown = mprotect of one page with a busy thread of the mm on another CPU,
 *     minus the same with no other thread: the flush IPI, the target's interrupt and
 *     flush_tlb_func, and waiting for its ack. With one target, ipiSendNs + perTargetNs is that
 *     whole difference, and one target cannot tell the send from the receive: it is split in the
 *     ratio of the defaults, and the warning says so. With one usable CPU there is no remote
 *     figure and both keep their defaults.
 *   - invlpgNs: mprotect of k <= 33 pages costs a + k x (PTE update + INVLPG); of k > 33 pages,
 *     a' + k x (PTE update) plus one full flush. The difference of the two least-squares slopes
 *     is the INVLPG alone. If noise makes it non-positive, the ranged slope is used (an upper
 *     bound, as it includes the PTE update).
 *   - fullFlushNs: the CR3 reload is the difference of the two intercepts (a' - a); the refill is
 *     how much longer a dependent walk over a 64-page working set takes after a full flush than
 *     after a ranged flush of other pages. fullFlushNs = reload + refill.
 * Any constant the fit cannot make positive keeps its default, with a warning.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { formatNs } from '../trace/stats.ts';
import {
  COST_CONSTANTS,
  DEFAULT_COST_MODEL,
  calibrationHost,
  calibrationPath,
  saveCostModel,
  type CalibrationHost,
  type CostConstant,
  type CostModel,
} from './model.ts';

const execFileAsync = promisify(execFile);

const PROBE_SOURCE = fileURLToPath(new URL('../../bench/calibrate/shootdown.c', import.meta.url));
const DEFAULT_ITERATIONS = 2000;
const COMPILE_TIMEOUT_MS = 60_000;
const PROBE_TIMEOUT_MS = 300_000;
/** below this, a flush with a remote target is not measurably slower: no IPI went out */
const MIN_SHOOTDOWN_NS = 50;


interface PagesNs {
  pages: number;
  ns: number;
}

/** The probe's output, as printed (medians in ns; null where it could not measure). */
export interface ProbeRaw {
  probe: 'shootdown';
  version: 1;
  iterations: number;
  online_cpus: number;
  initiator_cpu: number;
  initiator_pinned: boolean;
  remote_cpu: number | null;
  remote_pinned: boolean | null;
  /** mprotect(RW -> RO) of one page, no other thread of the mm running */
  local_write_protect_ns: number;
  /** the same with a thread of the mm loading from the page on remote_cpu */
  remote_write_protect_ns: number | null;
  /** fraction of those flushes made after seeing the remote thread run (it may be starved) */
  remote_confirmed: number | null;
  /** flush IPIs remote_cpu took per flush (its TLB line of /proc/interrupts); null if unreadable */
  remote_ipis_per_flush: number | null;
  /** mprotect(RW -> RO) of k <= 33 pages: per-page INVLPG */
  ranged: PagesNs[];
  /** mprotect(RW -> RO) of k > 33 pages: one full flush */
  full: PagesNs[];
  working_set_pages: number;
  refill_after_ranged_ns: number;
  refill_after_full_ns: number;
}

export interface Fit {
  model: CostModel;
  /** how each constant was obtained, one line each */
  how: Record<CostConstant, string>;
  warnings: string[];
}

export interface CalibrateOptions {
  /** the C compiler to run (default: $SHOOTDOWN_CC, else `cc`) */
  cc?: string;
  /** iterations per measurement, at least 5 (default 2000) */
  iterations?: number;
  /** where to save (default: calibrationPath()) */
  path?: string;
}

export interface CalibrationResult {
  /** the probe compiled and ran, and its fit was saved */
  ok: boolean;
  /** the fitted constants, or the defaults when the probe could not run */
  constants: CostModel;
  raw: ProbeRaw | null;
  how: Record<CostConstant, string> | null;
  savedTo: string | null;
  host: CalibrationHost;
  warnings: string[];
  /** why the probe could not run; null when it did */
  error: string | null;
}

export async function calibrate(opts: CalibrateOptions = {}): Promise<CalibrationResult> {
  const host = calibrationHost();
  const cc = opts.cc ?? (process.env.SHOOTDOWN_CC || 'cc');
  const probe = await runProbe(cc, Math.max(5, Math.floor(opts.iterations ?? DEFAULT_ITERATIONS)));
  if ('error' in probe) {
    return { ok: false, constants: DEFAULT_COST_MODEL, raw: null, how: null, savedTo: null, host, warnings: [], error: probe.error };
  }
  const fit = fitCostModel(probe.raw);
  const savedTo = opts.path ?? calibrationPath();
  saveCostModel(fit.model, probe.raw, savedTo);
  const warnings = [...hostWarnings(host), ...fit.warnings];
  return { ok: true, constants: fit.model, raw: probe.raw, how: fit.how, savedTo, host, warnings, error: null };
}

async function runProbe(cc: string, iterations: number): Promise<{ raw: ProbeRaw } | { error: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'shootdown-calibrate-'));
  try {
    const bin = join(dir, 'shootdown');
    const compileError = await compileProbe(cc, bin);
    return compileError ? { error: compileError } : await execProbe(bin, iterations);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Compiles the probe to `bin`; returns why it could not, or null. */
async function compileProbe(cc: string, bin: string): Promise<string | null> {
  try {
    await execFileAsync(cc, ['-O2', '-pthread', '-std=c11', '-o', bin, PROBE_SOURCE], { timeout: COMPILE_TIMEOUT_MS });
    return null;
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: string };
    if (e.code === 'ENOENT') return `could not compile the probe: no C compiler "${cc}" (install one, or name it in SHOOTDOWN_CC)`;
    return `could not compile the probe with "${cc}": ${firstLines(e.stderr) || e.message}`;
  }
}

async function execProbe(bin: string, iterations: number): Promise<{ raw: ProbeRaw } | { error: string }> {
  let stdout: string;
  try {
    ({ stdout } = await execFileAsync(bin, [String(iterations)], { timeout: PROBE_TIMEOUT_MS }));
  } catch (err) {
    const e = err as Error & { stderr?: string };
    return { error: `the probe failed: ${firstLines(e.stderr) || e.message}` };
  }
  try {
    return { raw: checkRaw(JSON.parse(stdout)) };
  } catch (err) {
    return { error: `the probe printed something other than its JSON figures (${(err as Error).message}): ${firstLines(stdout)}` };
  }
}

function firstLines(text: string | undefined): string {
  return (text ?? '').trim().split('\n').slice(0, 5).join('\n');
}

function checkRaw(raw: ProbeRaw): ProbeRaw {
  const finite = (v: unknown) => typeof v === 'number' && Number.isFinite(v);
  const series = (s: unknown) => Array.isArray(s) && s.length >= 2 && s.every((p) => finite(p?.pages) && finite(p?.ns));
  if (raw?.probe !== 'shootdown' || raw.version !== 1) throw new Error('not a version 1 shootdown probe report');
  if (![raw.local_write_protect_ns, raw.refill_after_ranged_ns, raw.refill_after_full_ns].every(finite)) throw new Error('missing local figures');
  if (!series(raw.ranged) || !series(raw.full)) throw new Error('missing ranged or full series');
  return raw;
}

/** The four constants from the probe's medians; see the top of this file for the reasoning. */
export function fitCostModel(raw: ProbeRaw): Fit {
  const warnings: string[] = [];
  const ipi = fitIpi(raw, warnings);
  const invlpg = fitInvlpg(raw, warnings);
  const fullFlush = fitFullFlush(raw, warnings);
  return {
    // the broadcast constants are not measured here: their defaults stay
    model: { ...DEFAULT_COST_MODEL, ipiSendNs: ipi.send, perTargetNs: ipi.target, invlpgNs: invlpg.ns, fullFlushNs: fullFlush.ns, source: 'calibrated' },
    how: { ipiSendNs: ipi.howSend, perTargetNs: ipi.howTarget, invlpgNs: invlpg.how, fullFlushNs: fullFlush.how },
    warnings,
  };
}

function fitIpi(raw: ProbeRaw, warnings: string[]) {
  const d = DEFAULT_COST_MODEL;
  const keep = (why: string) => {
    warnings.push(`${why}: ipiSendNs and perTargetNs keep their defaults`);
    const how = 'default (not measured)';
    return { send: d.ipiSendNs, target: d.perTargetNs, howSend: how, howTarget: how };
  };
  if (raw.remote_write_protect_ns === null) return keep('only one CPU is available to this process, so no remote shootdown was measured');
  const local = formatNs(raw.local_write_protect_ns);
  const remote = formatNs(raw.remote_write_protect_ns);
  const shootdown = Math.round(raw.remote_write_protect_ns - raw.local_write_protect_ns);
  if (shootdown < MIN_SHOOTDOWN_NS) return keep(`the remote flush (${remote}) was not measurably slower than the local one (${local})`);
  warnings.push(...remoteWarnings(raw));
  const share = d.ipiSendNs / (d.ipiSendNs + d.perTargetNs);
  const [sendPct, targetPct] = [Math.round(share * 100), Math.round((1 - share) * 100)];
  warnings.push(
    `with one target CPU the send and per-target costs cannot be separated: ` +
      `the ${formatNs(shootdown)} shootdown is split ${sendPct}/${targetPct} as the defaults are`,
  );
  const send = Math.round(shootdown * share);
  return {
    send,
    target: shootdown - send,
    howSend: `${sendPct}% of the one-target shootdown ${remote} - local ${local} = ${formatNs(shootdown)}`,
    howTarget: `the other ${targetPct}% of it`,
  };
}

/** Signs that the remote figure does not measure one flush IPI per flush. */
function remoteWarnings(raw: ProbeRaw): string[] {
  const warnings: string[] = [];
  if (raw.remote_confirmed !== null && raw.remote_confirmed < 0.9) {
    warnings.push(`the remote thread was seen running before only ${raw.remote_confirmed} of the flushes (a loaded host?)`);
  }
  if (raw.remote_ipis_per_flush !== null && raw.remote_ipis_per_flush < 0.5) {
    warnings.push(
      `CPU ${raw.remote_cpu} took only ${raw.remote_ipis_per_flush} flush IPIs per flush: ` +
        'it was often not running the mm (a loaded host?), so the shootdown figure is low',
    );
  }
  if (!raw.remote_pinned || !raw.initiator_pinned) warnings.push('the probe could not pin its threads to CPUs; the remote figure may mix in migrations');
  return warnings;
}

function fitInvlpg(raw: ProbeRaw, warnings: string[]) {
  const ranged = leastSquares(raw.ranged);
  const full = leastSquares(raw.full);
  const ns = round1(ranged.slope - full.slope);
  const how =
    `slope over ${span(raw.ranged)} pages (PTE update + INVLPG) ${formatNs(ranged.slope)}/page - ` +
    `slope over ${span(raw.full)} pages (PTE update) ${formatNs(full.slope)}/page`;
  if (ns > 0) return { ns, how };
  if (round1(ranged.slope) > 0) {
    warnings.push(
      'invlpgNs: the PTE update could not be separated from the INVLPG (noisy slopes); using the whole ranged slope, an upper bound',
    );
    return { ns: round1(ranged.slope), how: `slope over ${span(raw.ranged)} pages (PTE update + INVLPG)` };
  }
  warnings.push('invlpgNs: the ranged flush did not grow with its page count (noise?); keeping the default');
  return { ns: DEFAULT_COST_MODEL.invlpgNs, how: 'default (fit failed)' };
}

function fitFullFlush(raw: ProbeRaw, warnings: string[]) {
  const reload = leastSquares(raw.full).intercept - leastSquares(raw.ranged).intercept;
  const refill = raw.refill_after_full_ns - raw.refill_after_ranged_ns;
  if (reload < 0) warnings.push(`fullFlushNs: the CR3 reload came out negative (${formatNs(reload)}, noise?); counted as 0`);
  if (refill < 0) warnings.push(`fullFlushNs: the refill came out negative (${formatNs(refill)}, noise?); counted as 0`);
  const ns = Math.round(Math.max(0, reload) + Math.max(0, refill));
  if (!(ns > 0)) {
    warnings.push('fullFlushNs: neither the reload nor the refill could be measured; keeping the default');
    return { ns: DEFAULT_COST_MODEL.fullFlushNs, how: 'default (fit failed)' };
  }
  const parts = `CR3 reload ${formatNs(Math.max(0, reload))} (intercept difference)`;
  return { ns, how: `${parts} + refill of ${raw.working_set_pages} entries ${formatNs(Math.max(0, refill))}` };
}

function leastSquares(points: PagesNs[]): { slope: number; intercept: number } {
  const n = points.length;
  const mx = points.reduce((s, p) => s + p.pages, 0) / n;
  const my = points.reduce((s, p) => s + p.ns, 0) / n;
  const sxy = points.reduce((s, p) => s + (p.pages - mx) * (p.ns - my), 0);
  const sxx = points.reduce((s, p) => s + (p.pages - mx) ** 2, 0);
  const slope = sxy / sxx;
  return { slope, intercept: my - slope * mx };
}

function span(points: PagesNs[]): string {
  return `${points[0]!.pages}..${points[points.length - 1]!.pages}`;
}

function round1(n: number): number {
  return Math.round(n * 10) / 10;
}

function hostWarnings(host: CalibrationHost): string[] {
  if (!host.hypervisor) return [];
  return [
    'this host runs under a hypervisor: sending an IPI and delivering it to a busy vCPU usually costs VM exits, ' +
      'so the remote figures are typically several times what bare metal measures',
  ];
}

export function formatCalibration(r: CalibrationResult): string {
  const lines = r.ok
    ? ['shootdown calibrate: the hardware cost model, fitted to this host\'s kernel', ...formatConstants(r), ...formatRaw(r.raw!)]
    : [
        `shootdown calibrate: ${r.error}`,
        'nothing was written; the cost model in effect is unchanged (the defaults, unless an earlier calibration exists):',
        ...formatConstants(r),
      ];
  lines.push(formatHost(r.host));
  if (r.savedTo) lines.push(`saved to ${r.savedTo}`);
  for (const w of r.warnings) lines.push(`warning: ${w}`);
  return lines.join('\n');
}

function formatConstants(r: CalibrationResult): string[] {
  return COST_CONSTANTS.map(
    (name) => `  ${name.padEnd(12)} ${formatNs(r.constants[name]).padStart(9)}   ${r.how?.[name] ?? 'default'}`,
  );
}

function formatRaw(raw: ProbeRaw): string[] {
  const series = (s: PagesNs[]) => s.map((p) => `${p.pages}: ${formatNs(p.ns)}`).join(', ');
  const remote =
    raw.remote_write_protect_ns === null
      ? 'not measured (one CPU)'
      : `${formatNs(raw.remote_write_protect_ns)} (CPU ${raw.remote_cpu} running the mm` +
        (raw.remote_ipis_per_flush === null ? ')' : `, ${raw.remote_ipis_per_flush.toFixed(2)} flush IPIs taken per flush)`);
  return [
    `probe (medians of ${raw.iterations}, mprotect RW -> RO from CPU ${raw.initiator_cpu}):`,
    `  1 page, local only       ${formatNs(raw.local_write_protect_ns)}`,
    `  1 page, one remote CPU   ${remote}`,
    `  ranged (INVLPG each)     ${series(raw.ranged)}`,
    `  full flush               ${series(raw.full)}`,
    `  walk of ${raw.working_set_pages} pages     after a ranged flush ${formatNs(raw.refill_after_ranged_ns)}, after a full flush ${formatNs(raw.refill_after_full_ns)}`,
  ];
}

function formatHost(h: CalibrationHost): string {
  return `host: ${h.cpuModel}, ${h.cores} core${h.cores === 1 ? '' : 's'}, Linux ${h.kernel}, Node ${h.node}${h.hypervisor ? ', under a hypervisor' : ''}`;
}

export const calibrateCommand = {
  summary: "measure this host kernel's TLB shootdown with a native probe and fit the hardware cost model",
  usage: `shootdown calibrate [--json]

Compiles bench/calibrate/shootdown.c with the machine's C compiler (into a temp directory), runs
it, and fits the cost model's four constants (ipiSendNs, perTargetNs, invlpgNs, fullFlushNs) to
what this host's kernel does: mprotect on one page with and without a busy thread of the same mm
on another CPU (the flush IPI), and on 1..64 pages (per-page INVLPG up to 33 pages, a full flush
and its refill beyond). The constants are saved where compare finds them.

  --json   one JSON object: {constants, raw, savedTo, host, warnings, error}

Environment:
  SHOOTDOWN_CC            the C compiler (default: cc)
  SHOOTDOWN_CALIBRATION   where to save (default: .shootdown/calibration.json)

Exit status: 0 calibrated and saved; 1 the probe could not be compiled or run (nothing is
written and the cost model in effect is unchanged).`,
  options: {},
  async run(values: Record<string, unknown>): Promise<number> {
    const r = await calibrate();
    const { constants, raw, savedTo, host, warnings, error } = r;
    process.stdout.write((values.json ? JSON.stringify({ constants, raw, savedTo, host, warnings, error }) : formatCalibration(r)) + '\n');
    return r.ok ? 0 : 1;
  },
};
