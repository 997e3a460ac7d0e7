/*
 * The hardware cost model: what a shootdown would cost on real x86 hardware, from the counts a run
 * makes (which do not depend on the host). Four constants, each with a default and its source;
 * `shootdown calibrate` fits them to this host's own kernel and stores them where compare finds
 * them.
 *
 * The model prices the work arch/x86/mm/tlb.c does for one flush_tlb_mm_range():
 *   - the initiator sends one flush IPI per remote CPU in mm_cpumask that is running the mm
 *     (flush_tlb_multi -> smp_call_function_many_cond): ipisSent x ipiSendNs;
 *   - each target takes the interrupt and runs flush_tlb_func, then acknowledges:
 *     targets x perTargetNs;
 *   - a range of at most tlb_single_page_flush_ceiling (33) pages is flushed one INVLPG per page:
 *     invlpg x invlpgNs;
 *   - a larger range, or a flush of the whole mm, reloads CR3 and pays later for refilling the
 *     entries it dropped: fullFlushes x fullFlushNs;
 *   - with broadcast invalidation (x86TlbFlush=invlpgb), the initiator issues INVLPGBs and waits
 *     in TLBSYNC, and no target is interrupted: invlpgb x invlpgbNs + tlbsync x tlbsyncNs.
 * The broadcast constants are estimates and are not calibrated (calibrate measures IPIs).
 * The sum is machine time, not latency: targets work in parallel, so the initiator's wait is
 * closer to one target's cost than to their sum.
 *
 * arm64 (arch/arm64/include/asm/tlbflush.h) interrupts no one: the initiator issues broadcast
 * TLBIs and waits in one DSB ISH for them to complete on every CPU; the other CPUs' TLBs are
 * invalidated by the interconnect, with no software on them. The model prices, all on the
 * initiator:
 *   - each TLBI VAE1IS / VALE1IS (one per page or stride) and each range op RVAE1IS / RVALE1IS
 *     (FEAT_TLBIRANGE, one per scale): (tlbiVa + tlbiRange) x tlbiNs;
 *   - each TLBI ASIDE1IS (flush_tlb_mm, a range above MAX_DVM_OPS / MAX_TLBI_RANGE_PAGES) and
 *     VMALLE1IS, with the refill of what it dropped, as x86's full flush: tlbiAsid x tlbiAsidNs;
 *   - each DSB ISH, whose wait grows with the CPUs the broadcast must reach:
 *     dsbIsh x dsbIshNs x (1 + cpus / 32) (dsbNs);
 *   - each local_flush_tlb_all (the switch after an ASID rollover), with its refill:
 *     localFlushAll x localFlushAllNs.
 * The arm64 constants are estimates, not calibrated (this host is x86, and no published per-op
 * figure for TLBI IS or DSB ISH was found): compare prints them as such (CostModel.arm64Source).
 *
 * API: modelledNs(counts, model); dsbNs(model, cpus); loadCostModel(path?) for the model in effect (the calibration
 * file if there is one, else DEFAULT_COST_MODEL); saveCostModel(model, raw, path) for calibrate.
 * The calibration file lives at calibrationPath(): $SHOOTDOWN_CALIBRATION, or
 * .shootdown/calibration.json under the working directory.
 */
import { readFileSync } from 'node:fs';
import { cpus, release } from 'node:os';
import { join, resolve } from 'node:path';
import { UsageError } from '../errors.ts';
import { writeFileAtomic } from '../fs-atomic.ts';
import { hostInfo, type HostInfo } from '../campaign/host.ts';

export interface CostModel {
  /** sending one IPI (the initiator's ICR write and its share of the CSD bookkeeping), ns */
  ipiSendNs: number;
  /** one target taking a flush IPI: interrupt entry and exit, flush_tlb_func, the ack, ns */
  perTargetNs: number;
  /** one INVLPG, ns */
  invlpgNs: number;
  /** one full flush: the CR3 write and refilling the TLB entries it dropped, ns */
  fullFlushNs: number;
  /** issuing one INVLPGB, ns */
  invlpgbNs: number;
  /** one TLBSYNC: waiting until this CPU's INVLPGBs completed on every CPU, ns */
  tlbsyncNs: number;
  /** arm64: issuing one TLBI VAE1IS / VALE1IS, or one range op RVAE1IS / RVALE1IS, ns (estimate) */
  tlbiNs: number;
  /** arm64: one TLBI ASIDE1IS or VMALLE1IS, with the refill of the entries it dropped, ns (estimate) */
  tlbiAsidNs: number;
  /** arm64: one DSB ISH waiting for this CPU's TLBIs to complete, at few CPUs, ns (estimate; dsbNs scales it) */
  dsbIshNs: number;
  /** arm64: one local_flush_tlb_all (TLBI VMALLE1, DSB NSH) with the refill it causes, ns (estimate) */
  localFlushAllNs: number;
  /** 'default' or 'calibrated': the x86 IPI constants (calibrate fits those only) */
  source: 'default' | 'calibrated';
  /** the arm64 constants' source, whatever the x86 ones' is: none is measured or published */
  arm64Source: 'estimate';
}

/** The counts the model prices. */
export interface ModelCounts {
  ipisSent: number;
  /** flush IPIs taken by targets (nr_tlb_remote_flush_received) */
  targets: number;
  invlpg: number;
  fullFlushes: number;
  invlpgb: number;
  tlbsync: number;
  /** arm64: TLBI VAE1IS and VALE1IS, one per page or stride (tlbi_va + tlbi_va_leaf) */
  tlbiVa: number;
  /** arm64: range ops RVAE1IS / RVALE1IS (tlbi_range) */
  tlbiRange: number;
  /** arm64: TLBI ASIDE1IS and VMALLE1IS (tlbi_asid + tlbi_all) */
  tlbiAsid: number;
  /** arm64: DSB ISH (dsb_ish) */
  dsbIsh: number;
  /** arm64: local_flush_tlb_all (local_flush_all) */
  localFlushAll: number;
  /** the CPUs of the run: what a DSB ISH waits for grows with them */
  cpus: number;
}

/*
 * Defaults for a modern x86 server running Linux on bare metal. Only invlpgNs comes straight from
 * a published figure; the others are derived from it or estimated, as each comment says.
 */
export const DEFAULT_COST_MODEL: CostModel = Object.freeze({
  // Estimate. Nadav Amit's shootdown papers (USENIX ATC 2017, "Optimizing the TLB Shootdown
  // Algorithm with Page Access Tracking"; EuroSys 2020 with Tai and Wei, "Don't shoot down TLB
  // shootdowns!") put a whole shootdown in the microseconds and break it into initiator and
  // responder work, but give no per-IPI figure we could cite. The send side is the x2APIC ICR
  // write (a serializing MSR write) plus queueing the call-function data: a few hundred ns.
  ipiSendNs: 500,
  // Estimate, same sources: interrupt entry and exit, flush_tlb_func with its INVLPG, and the
  // acknowledgement cache line travelling back. With ipiSendNs this makes a one-target
  // shootdown about 3 µs, inside the "microseconds" those papers measure on servers.
  perTargetNs: 2500,
  // Published: the comment over tlb_single_page_flush_ceiling in arch/x86/mm/tlb.c (Dave
  // Hansen's 2015 change "x86/mm: Set TLB flush tunable to sane value (33)") takes one
  // single-page flush as about 100 ns, so the 33-page ceiling bounds a ranged flush near 3 µs.
  invlpgNs: 100,
  // Derived. Documentation/arch/x86/tlb.rst frames the ceiling as a trade between the cycles
  // spent on INVLPGs now and the cycles spent refilling the TLB after a full flush; the kernel
  // switches to a full flush above 33 pages, so it treats a full flush plus its refill as costing
  // about what 33 INVLPGs do: 33 x 100 ns, rounded to 3 µs.
  fullFlushNs: 3000,
  // Estimate. No per-instruction figure is published; the INVLPGB series' cover letter (Rik van
  // Riel, v7, 2025-01: will-it-scale tlb_flush2_threads on a 36-core Milan) reports the CPU time
  // in TLB invalidation falling from about 40% to about 4% when INVLPGB replaced the IPIs. The
  // issue is posted to the fabric and does not wait: about two INVLPGs.
  invlpgbNs: 200,
  // Estimate: the round trip to every core's TLB over the coherent fabric, of the order of a
  // cross-socket cache-line transfer repeated, and well below one IPI shootdown (3 µs above).
  tlbsyncNs: 1000,
  // arm64. No per-instruction figure for TLBI ... IS or DSB ISH was found published (Arm's
  // optimization guides give none; the kernel's comments and the mailing-list threads give
  // none). Every arm64 constant is therefore an estimate. For context only: the cover letter of
  // 43b3dfdd0455 ("arm64: support batched/deferred tlb shootdown during page
  // reclamation/migration", Barry Song) measures ptep_clear_flush at 5.36% of the CPU time of
  // paging out single-mapped pages on an 8-core Snapdragon 888 and 16.99% on a ~100-core Kunpeng
  // 920, "hardware broadcasting is not free... bad scalability": the TLBI+DSB pair costs more as
  // CPUs grow, which dsbNs models.
  // Estimate: a TLBI is posted to the interconnect and does not wait, like INVLPGB's issue, but
  // it is one ordinary system instruction: half of invlpgbNs.
  tlbiNs: 50,
  // Estimate: the issue of one TLBI plus refilling what it dropped, taken as x86's fullFlushNs
  // (the same trade: drop everything of the mm, walk it back in).
  tlbiAsidNs: 3000,
  // Estimate: the round trip to every CPU's TLB over the interconnect at a few CPUs, as tlbsyncNs.
  // dsbNs grows it by 1/32 per CPU, so that it roughly triples from 8 to ~100 CPUs, the ratio
  // of the cover letter's 5.36% and 16.99%.
  dsbIshNs: 1000,
  // Estimate: a local VMALLE1 and the refill of the whole TLB, as fullFlushNs.
  localFlushAllNs: 3000,
  source: 'default',
  arm64Source: 'estimate',
});

/** One DSB ISH on a machine of `cpus` CPUs, ns: dsbIshNs x (1 + cpus / 32) (an estimate, see DEFAULT_COST_MODEL). */
export function dsbNs(m: CostModel, cpus: number): number {
  return m.dsbIshNs * (1 + cpus / 32);
}

/** The arm64 work of the counts, ns: all of it on the CPUs that issue the TLBIs. */
function arm64Ns(c: Pick<ModelCounts, 'tlbiVa' | 'tlbiRange' | 'tlbiAsid' | 'dsbIsh' | 'cpus'>, m: CostModel): number {
  return (c.tlbiVa + c.tlbiRange) * m.tlbiNs + c.tlbiAsid * m.tlbiAsidNs + c.dsbIsh * dsbNs(m, c.cpus);
}

/** The modelled time of the counted work, in nanoseconds. */
export function modelledNs(c: ModelCounts, m: CostModel): number {
  return (
    c.ipisSent * m.ipiSendNs + c.targets * m.perTargetNs + c.invlpg * m.invlpgNs + c.fullFlushes * m.fullFlushNs + c.invlpgb * m.invlpgbNs + c.tlbsync * m.tlbsyncNs +
    arm64Ns(c, m) + c.localFlushAll * m.localFlushAllNs
  );
}

/** What the initiators did: the counts their waits are modelled from. */
export interface InitiatorCounts {
  ipisSent: number;
  /** calls that IPIed some CPU and waited for it (smp_call_function_many with targets) */
  waits: number;
  /** the initiators' own INVLPGs and full flushes (nr_tlb_local_flush_one, nr_tlb_local_flush_all) */
  localInvlpg: number;
  localFullFlushes: number;
  /** the initiators' INVLPGBs and TLBSYNCs: every one is the initiator's own */
  invlpgb: number;
  tlbsync: number;
  /** arm64: every TLBI and DSB ISH is the initiator's own (ModelCounts' fields of the same names) */
  tlbiVa: number;
  tlbiRange: number;
  tlbiAsid: number;
  dsbIsh: number;
  cpus: number;
}

/**
 * The modelled time the initiators wait, in nanoseconds: each sends its IPIs one after another,
 * flushes its own TLB, and waits for the slowest target, whose work overlaps the others'. A flush
 * that found every other CPU lazy IPIs nobody and waits for nobody. On arm64 the initiator
 * issues its TLBIs and waits in its DSB ISH; local_flush_tlb_all is no initiator's (it runs at a
 * context switch). This is what the emulator's measured wait is compared with.
 */
export function modelledWaitNs(c: InitiatorCounts, m: CostModel): number {
  return (
    c.ipisSent * m.ipiSendNs + c.waits * m.perTargetNs + c.localInvlpg * m.invlpgNs + c.localFullFlushes * m.fullFlushNs + c.invlpgb * m.invlpgbNs + c.tlbsync * m.tlbsyncNs +
    arm64Ns(c, m)
  );
}

/** The host a calibration was measured on. */
export interface CalibrationHost extends HostInfo {
  /** `uname -r` */
  kernel: string;
  /** the first "model name" of /proc/cpuinfo */
  cpuModel: string;
  /** the CPU reports a hypervisor: IPIs and CR3 writes may be virtualized */
  hypervisor: boolean;
}

/** What the calibration file holds. */
export interface CalibrationFile {
  constants: Pick<CostModel, CostConstant>;
  host: CalibrationHost;
  /** ISO 8601 */
  date: string;
  /** the probe's figures, as it printed them */
  raw: unknown;
}

/** The model's calibrated constants, by name, in the order they are shown. */
export const COST_CONSTANTS = ['ipiSendNs', 'perTargetNs', 'invlpgNs', 'fullFlushNs'] as const;
export type CostConstant = (typeof COST_CONSTANTS)[number];

export function calibrationPath(): string {
  return resolve(process.env.SHOOTDOWN_CALIBRATION || join(process.cwd(), '.shootdown', 'calibration.json'));
}

export function calibrationHost(): CalibrationHost {
  const cpuinfo = readCpuinfo();
  const modelName = /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1]?.trim();
  return {
    ...hostInfo(),
    kernel: release(),
    cpuModel: modelName ?? cpus()[0]?.model ?? 'unknown',
    hypervisor: /^flags\s*:.*\bhypervisor\b/m.test(cpuinfo),
  };
}

function readCpuinfo(): string {
  try {
    return readFileSync('/proc/cpuinfo', 'utf8');
  } catch {
    return '';
  }
}

/** The cost model in effect: the calibration at `path`, or the defaults when there is none. */
export function loadCostModel(path = calibrationPath()): CostModel {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return DEFAULT_COST_MODEL;
    throw err;
  }
  // the broadcast constants are not calibrated: their defaults stay
  return { ...DEFAULT_COST_MODEL, ...parseConstants(text, path), source: 'calibrated' };
}

function parseConstants(text: string, path: string): Pick<CostModel, CostConstant> {
  const bad = (why: string) =>
    new UsageError(`${path} is not a shootdown calibration file (${why}); run \`shootdown calibrate\` again or delete it`);
  let file: Partial<CalibrationFile>;
  try {
    file = JSON.parse(text);
  } catch (err) {
    throw bad(`not JSON: ${(err as Error).message}`);
  }
  const c = (file?.constants ?? {}) as Record<string, unknown>;
  for (const name of COST_CONSTANTS) {
    const v = c[name];
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw bad(`constants.${name} must be a number >= 0, got ${JSON.stringify(v)}`);
  }
  return { ipiSendNs: c.ipiSendNs, perTargetNs: c.perTargetNs, invlpgNs: c.invlpgNs, fullFlushNs: c.fullFlushNs } as Pick<CostModel, CostConstant>;
}

/**
 * Writes the calibration atomically: a reader sees the old file or the new one, never a torn
 * one (write a temp file in the same directory, then rename over the target).
 */
export function saveCostModel(model: CostModel, raw: unknown, path = calibrationPath()): CalibrationFile {
  const file: CalibrationFile = {
    constants: { ipiSendNs: model.ipiSendNs, perTargetNs: model.perTargetNs, invlpgNs: model.invlpgNs, fullFlushNs: model.fullFlushNs },
    host: calibrationHost(),
    date: new Date().toISOString(),
    raw,
  };
  writeFileAtomic(path, JSON.stringify(file, null, 2) + '\n');
  return file;
}
