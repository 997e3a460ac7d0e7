/*
 * `shootdown compare`: one workload under several kernels, side by side, at several CPU counts.
 * Every (kernel, variant, CPU count) runs the same trials with the same seeds, so what differs
 * between two rows is the kernel. A row gives the counts, which do not depend on the host (IPIs,
 * CPUs reached per shootdown, full and ranged flushes, INVLPGs, entries invalidated, refill walks,
 * sync IPIs, deferred flushes already covered), the initiators' measured wait, which does, and
 * the hardware cost model (cost/model.ts) applied to the counts: the initiators' modelled wait,
 * beside the measured one, and the machine time every CPU spends.
 *
 * With --arch x86,arm64 each architecture has its rows and its columns: x86's as above; arm64's
 * say what its flushes do instead of IPIs: TLBIs by kind (VAE1IS, VALE1IS, range ops and the
 * pages they named, ASIDE1IS, VMALLE1IS), DSB ISHs and those that waited, local_flush_tlb_all,
 * the IPIs left (tlb_remove_table_sync_one), entries invalidated, refill walks and fills, and the
 * model, whose arm64 constants are printed as the estimates they are. A last table puts the two
 * side by side per operation. x86 alone prints what it always did.
 *
 * Any oracle report, of any kind, makes the run fail (exit 1): a row counts them (`violations`, and
 * `reportsByKind`) and shows its first report, described; the counts of such a row describe a
 * broken kernel.
 *
 * A kernel is a preset of the scenario, or switch assignments joined by '+'
 * (mprotectFlush=always+syncIpi=never) on top of mainline; --set applies to all of them.
 */
import { UsageError } from '../errors.ts';
import { applySwitches, defaultKernelConfig, type KernelConfig } from '../config/kernel-config.ts';
import { checkScenarioArch, presetRunsOn, variantOptions, withParams, type MeasurementColumn } from '../scenario/scenario.ts';
import { Arch, archName, type Hardware } from '../arch/arch.ts';
import { formatHardware } from '../config/hardware.ts';
import { DEFAULT_COST_MODEL, modelledNs, modelledWaitNs, type CostModel } from '../cost/model.ts';
import { formatNs, summarize } from '../trace/stats.ts';
import { hostInfo } from './host.ts';
import { bootUnlessAborted, hardwareFor, kernelFor, runTrials, type TrialsResult } from './trials.ts';
import { formatKindCounts, reportSummary, type ResolvedScenario } from './stress.ts';
import type { CompareReport, CompareRow } from './compare-report.ts';
import { formatTable } from './table.ts';
import { trialsRun, type Progress } from './progress.ts';
import { interruptedBy } from './interrupt.ts';
import { FREE, describeMode, type ScheduleMode } from '../schedule/control.ts';
import { WHOLE, shardTrials, type Shard } from './shard.ts';

export interface CompareRequest {
  resolved: ResolvedScenario;
  kernels: string[];
  set: string[];
  /** the scenario's variants to run; [''] when it has none */
  variants: string[];
  /** --param key=value: trial options on top of each variant's (scenario.ts withParams) */
  params?: string[];
  cpus: number[];
  seed: number;
  trials: number;
  noiseShift: number;
  costModel: CostModel;
  /** the progress line, or none (--quiet) */
  progress?: Progress;
  /** ends the comparison early, with the rows done as its result (interrupt.ts) */
  signal?: AbortSignal;
  /** free running (default) or a controlled strategy (schedule/control.ts) */
  schedule?: ScheduleMode;
  /** the part of every row's trial indices to run (shard.ts); all of them when absent */
  shard?: Shard;
  /** the architectures to run on (--arch x86,arm64), each one the scenario lists; x86 when absent */
  arches?: Arch[];
  /** CPU features on top of the scenario's (--hardware), for every arm64 row */
  hardware?: Partial<Hardware>;
  /** called with each row and the trials it was made from */
  onRow?: (row: CompareRow, r: TrialsResult) => void;
}

/**
 * The kernel a compare item names on `arch`: a preset of the scenario, or 'switch=value+...' on
 * mainline; a switch of another architecture is a UsageError.
 */
export function kernelOf(req: Pick<CompareRequest, 'resolved' | 'set'>, item: string, arch: Arch = Arch.X86): KernelConfig {
  const { scenario } = req.resolved;
  if (Object.hasOwn(scenario.presets, item)) return kernelFor(scenario, item, req.set, arch);
  if (!item.includes('=')) {
    throw new UsageError(`scenario ${scenario.name} has no preset '${item}'; presets: ${Object.keys(scenario.presets).join(', ')}, or switch=value[+switch=value...]`);
  }
  return applySwitches(defaultKernelConfig(), [...item.split('+'), ...req.set], arch);
}

/**
 * Each architecture's kernels, in row order: every item on every architecture, but a preset that
 * runs on some architectures only (ScenarioSpec.presetArches) on those; a preset that runs on none
 * of them, or a switch of another architecture, is a UsageError.
 */
export function compareKernels(req: Pick<CompareRequest, 'resolved' | 'set' | 'kernels'>, arches: readonly Arch[]): { arch: Arch; item: string; config: KernelConfig }[] {
  const { scenario } = req.resolved;
  for (const item of req.kernels) {
    if (Object.hasOwn(scenario.presets, item) && !arches.some((arch) => presetRunsOn(scenario, item, arch))) kernelOf(req, item, arches[0]);
  }
  return arches.flatMap((arch) =>
    req.kernels.filter((item) => !Object.hasOwn(scenario.presets, item) || presetRunsOn(scenario, item, arch)).map((item) => ({ arch, item, config: kernelOf(req, item, arch) })),
  );
}

/** The rows' variants: the ones asked for, or every variant the scenario has, or none. */
export function variantsOf(req: Pick<CompareRequest, 'resolved' | 'params'>, asked: string[] | undefined): string[] {
  const all = Object.keys(req.resolved.scenario.variants ?? {});
  const variants = asked ?? (all.length > 0 ? all : ['']);
  // a bad variant or --param: before any machine boots
  for (const variant of variants) trialOptionsOf(req, variant);
  return variants;
}

/** What one row's trials get: the variant's options, with the --param values on top. */
function trialOptionsOf(req: Pick<CompareRequest, 'resolved' | 'params'>, variant: string): unknown {
  const { scenario } = req.resolved;
  return withParams(scenario, variantOptions(scenario, variant), req.params ?? []);
}

export async function runCompare(req: CompareRequest): Promise<CompareReport> {
  const { scenario, url } = req.resolved;
  const arches = req.arches ?? [Arch.X86];
  // bad architectures and names fail before any CPU boots
  for (const arch of arches) checkScenarioArch(scenario, arch);
  hardwareFor(scenario, req.hardware);
  const kernels = compareKernels(req, arches);
  const host = hostInfo();
  const report: CompareReport = {
    scenario: scenario.name,
    operation: scenario.operation ?? 'trial',
    columns: scenario.columns ?? [],
    arches: arches.map(archName),
    hardware: req.hardware ?? {},
    kernels: req.kernels,
    variants: req.variants,
    cpus: req.cpus,
    seed: req.seed,
    schedule: describeMode(req.schedule ?? FREE),
    host,
    warnings: req.cpus.filter((n) => n > host.cores).map((n) => `${n} CPUs on ${host.cores} host cores: CPU threads share cores, so the measured waits include the host's scheduling; the counts do not depend on it`),
    costModel: req.costModel,
    rows: [],
    interrupted: null,
  };
  // every architecture's kernels
  const runs = req.cpus.length * kernels.length * req.variants.length;
  req.progress?.begin(`compare ${scenario.name}`, runs);
  try {
    for (const cpus of req.cpus) {
      const machine = await bootUnlessAborted(cpus, req.signal);
      if (!machine) break;
      try {
        for (const { arch, item, config } of kernels) {
          for (const variant of req.variants) {
            if (req.signal?.aborted) break;
            const result = await runTrials(machine, {
              url,
              scenario,
              preset: item,
              kernel: config,
              arch,
              hardware: req.hardware,
              set: req.set, // the scenario's own switches among them (the kernel's are in config)
              seed: req.seed,
              trials: req.trials,
              shard: req.shard,
              noiseShift: req.noiseShift,
              options: trialOptionsOf(req, variant),
              onTrial: trialsRun(req.progress, `${arches.length > 1 ? `${archName(arch)} ` : ''}${item}${variant ? ` ${variant}` : ''} on ${cpus} CPUs`, { total: shardTrials(req.shard ?? WHOLE, req.trials) }),
              signal: req.signal,
              schedule: req.schedule,
            });
            // an interrupted run's trials so far make its row; one with none has no row
            if (result.trials > 0) {
              const row = compareRow(item, variant, cpus, result, req.costModel);
              report.rows.push(row);
              req.onRow?.(row, result);
            }
          }
        }
      } finally {
        await machine.close();
      }
    }
  } finally {
    req.progress?.end();
  }
  report.interrupted = interruptedBy(req.signal);
  if (report.interrupted) report.warnings.push(`interrupted by ${report.interrupted}: ${report.rows.length} of ${runs} runs have rows, the last of them with the trials it had done`);
  return report;
}

/** One row: the trials' counts under the names compare-report.ts gives them. */
export function compareRow(kernel: string, variant: string, cpus: number, r: TrialsResult, costModel: CostModel): CompareRow {
  const c = r.counters;
  // a report written before the model had arm64 constants (merge of old shards) gets their defaults
  const model = { ...DEFAULT_COST_MODEL, ...costModel };
  const operations = c.workload_ops > 0 ? c.workload_ops : r.trials;
  const perOp = (x: number) => (operations > 0 ? x / operations : 0);
  const wait = summarize(r.waits.samplesUs);
  // arm64's counts are 0 on x86, and x86's flush counts 0 on arm64: one model prices both
  const arm64 = { tlbiVa: c.tlbi_va + c.tlbi_va_leaf, tlbiRange: c.tlbi_range, tlbiAsid: c.tlbi_asid + c.tlbi_all, dsbIsh: c.dsb_ish, cpus };
  const modelled = modelledNs({ ipisSent: c.ipis_sent, targets: c.nr_tlb_remote_flush_received, invlpg: c.invlpg, fullFlushes: c.tlb_flushes_full, invlpgb: c.invlpgb, tlbsync: c.tlbsync, ...arm64, localFlushAll: c.local_flush_all }, model);
  const modelledWait = modelledWaitNs({ ipisSent: c.ipis_sent, waits: r.waits.count, localInvlpg: c.nr_tlb_local_flush_one, localFullFlushes: c.nr_tlb_local_flush_all, invlpgb: c.invlpgb, tlbsync: c.tlbsync, ...arm64 }, model);
  return {
    arch: r.arch,
    kernel,
    variant,
    cpus,
    switches: r.kernel,
    trials: r.trials,
    operations,
    ipis: c.ipis_sent,
    shootdowns: c.nr_tlb_remote_flush,
    cpusPerShootdown: c.nr_tlb_remote_flush > 0 ? c.nr_tlb_remote_flush_received / c.nr_tlb_remote_flush : 0,
    fullFlushes: c.tlb_flushes_full,
    rangedFlushes: c.tlb_flushes_ranged,
    invlpg: c.invlpg,
    invlpgb: c.invlpgb,
    tlbsync: c.tlbsync,
    globalAsids: c.global_asids_assigned,
    pvDeferred: c.pv_tlb_flushes_deferred,
    entriesInvalidated: c.tlb_entries_invalidated,
    refillWalks: c.page_walks,
    tlbFills: c.tlb_fills,
    tlbiVa: c.tlbi_va,
    tlbiVaLeaf: c.tlbi_va_leaf,
    tlbiRange: c.tlbi_range,
    tlbiRangePages: c.tlbi_range_pages,
    tlbiAsid: c.tlbi_asid,
    tlbiAll: c.tlbi_all,
    tlbis: c.tlbi_va + c.tlbi_va_leaf + c.tlbi_range + c.tlbi_asid + c.tlbi_all,
    dsbIsh: c.dsb_ish,
    dsbIshWaits: c.dsb_ish_waits,
    localFlushAll: c.local_flush_all,
    asidRollovers: c.asid_rollovers,
    syncIpis: c.tlb_remove_table_sync_one,
    redundantFlushes: c.deferred_flushes_redundant,
    waitUs: { median: r.waits.count > 0 ? wait.median : 0, p99: r.waits.count > 0 ? wait.p99 : 0, samples: r.waits.count },
    measuredUsPerOp: perOp(r.waits.totalUs),
    modelledUsPerOp: perOp(modelled / 1000),
    modelledWaitUsPerOp: perOp(modelledWait / 1000),
    violations: r.reports,
    reportsByKind: r.reportsByKind,
    firstReport: r.firstReport && reportSummary(r.firstReport),
    counters: c,
  };
}

const us = (x: number): string => formatNs(x * 1000);
const num = (x: number): string => (Number.isInteger(x) ? String(x) : x.toFixed(2));

/** A measurement's own column for one row (scenario.ts MeasurementColumn); 0 when what it divides by is 0. */
export function columnValue(col: MeasurementColumn, row: CompareRow): number {
  const c = row.counters;
  let per = 1;
  if (col.per === 'op') per = row.operations;
  else if (col.per === 'second') per = c.workload_ms / row.cpus / 1000;
  else if (col.per !== undefined) per = c[col.per];
  return per > 0 ? (c[col.counter] / per) * (col.scale ?? 1) : 0;
}

/** The rows of a measurement with columns of its own: kernel, CPUs, operations, its columns, violations. */
function ownColumns(r: CompareReport, rows: readonly CompareRow[]): string[][] {
  // rounded from 100 up, else as every other figure of the table (num)
  const cell = (x: number): string => num(Math.abs(x) >= 100 ? Math.round(x) : x);
  return [
    ['kernel', 'cpus', 'ops', ...(r.columns ?? []).map((col) => col.header), 'violations'],
    ...rows.map((row) => [row.kernel, String(row.cpus), String(row.operations), ...(r.columns ?? []).map((col) => cell(columnValue(col, row))), String(row.violations)]),
  ];
}

/** The x86 rows' table: IPIs, the flushes they carry, INVLPG(B)s, waits and the model. */
function x86Table(rows: readonly CompareRow[]): string[][] {
  return [
    ['kernel', 'cpus', 'ops', 'IPIs', 'IPIs/op', 'CPUs/shootdown', 'full', 'ranged', 'INVLPG', 'INVLPGB', 'TLBSYNC', 'PV deferred', 'invalidated', 'walks', 'sync IPIs', 'redundant', 'wait p50', 'wait p99', 'wait/op', 'modelled wait/op', 'modelled CPU time/op', 'violations'],
    ...rows.map((row) => [
      row.kernel,
      String(row.cpus),
      String(row.operations),
      String(row.ipis),
      num(row.ipis / row.operations),
      num(row.cpusPerShootdown),
      String(row.fullFlushes),
      String(row.rangedFlushes),
      String(row.invlpg),
      String(row.invlpgb),
      String(row.tlbsync),
      String(row.pvDeferred),
      String(row.entriesInvalidated),
      String(row.refillWalks),
      String(row.syncIpis),
      String(row.redundantFlushes),
      row.waitUs.samples > 0 ? us(row.waitUs.median) : '-',
      row.waitUs.samples > 0 ? us(row.waitUs.p99) : '-',
      us(row.measuredUsPerOp),
      us(row.modelledWaitUsPerOp),
      us(row.modelledUsPerOp),
      String(row.violations),
    ]),
  ];
}

/**
 * The arm64 rows' table: no flush IPI; the TLBIs by kind (VAE1IS, VALE1IS, range ops and the
 * pages they named, ASIDE1IS, VMALLE1IS), the DSB ISHs and those that waited, local_flush_tlb_all,
 * the IPIs left (tlb_remove_table_sync_one's), entries invalidated, refill walks and fills, and
 * the model. The measured wait times IPIs only, so it is left out: a DSB's wait is not timed.
 */
function arm64Table(rows: readonly CompareRow[]): string[][] {
  return [
    ['kernel', 'cpus', 'ops', 'TLBI va', 'TLBI vale', 'range ops', 'range pages', 'TLBI asid', 'TLBI all', 'TLBIs/op', 'DSB ISH', 'DSB waits', 'local flush all', 'IPIs', 'invalidated', 'walks', 'fills', 'modelled wait/op', 'modelled CPU time/op', 'violations'],
    ...rows.map((row) => [
      row.kernel,
      String(row.cpus),
      String(row.operations),
      String(row.tlbiVa),
      String(row.tlbiVaLeaf),
      String(row.tlbiRange),
      String(row.tlbiRangePages),
      String(row.tlbiAsid),
      String(row.tlbiAll),
      num(row.tlbis / row.operations),
      String(row.dsbIsh),
      String(row.dsbIshWaits),
      String(row.localFlushAll),
      String(row.ipis),
      String(row.entriesInvalidated),
      String(row.refillWalks),
      String(row.tlbFills),
      us(row.modelledWaitUsPerOp),
      us(row.modelledUsPerOp),
      String(row.violations),
    ]),
  ];
}

/**
 * x86 against arm64, per operation, for every (kernel, variant, CPU count) both ran: what each
 * sends (IPIs; TLBIs and DSBs), what that invalidates, the walks that refill it, and the model.
 */
function archTable(r: CompareReport, variant: string): string[][] {
  const key = (row: CompareRow) => `${row.kernel}\0${row.cpus}`;
  const arm = new Map(r.rows.filter((row) => row.variant === variant && row.arch === 'arm64').map((row) => [key(row), row]));
  const pairs = r.rows.filter((row) => row.variant === variant && (row.arch ?? 'x86') === 'x86' && arm.has(key(row))).map((x) => [x, arm.get(key(x))!] as const);
  const per = (x: number, row: CompareRow) => num(row.operations > 0 ? x / row.operations : 0);
  return [
    ['kernel', 'cpus', 'x86 IPIs/op', 'arm64 TLBIs/op', 'arm64 DSBs/op', 'arm64 IPIs/op', 'invalidated/op x86', 'arm64', 'walks/op x86', 'arm64', 'modelled CPU time/op x86', 'arm64'],
    ...pairs.map(([x, a]) => [
      x.kernel,
      String(x.cpus),
      per(x.ipis, x),
      per(a.tlbis, a),
      per(a.dsbIsh, a),
      per(a.ipis, a),
      per(x.entriesInvalidated, x),
      per(a.entriesInvalidated, a),
      per(x.refillWalks, x),
      per(a.refillWalks, a),
      us(x.modelledUsPerOp),
      us(a.modelledUsPerOp),
    ]),
  ];
}

/** The arm64 constants, marked as the estimates they are (cost/model.ts). */
function formatArm64Model(m: CostModel): string {
  const c = { ...DEFAULT_COST_MODEL, ...m };
  return `  arm64 cost model (${c.arm64Source}: no published per-op figure for TLBI IS or DSB ISH): TLBI va or range op ${c.tlbiNs} ns, TLBI asid or all with refill ${c.tlbiAsidNs} ns, DSB ISH ${c.dsbIshNs} ns x (1 + CPUs/32), local_flush_tlb_all with refill ${c.localFlushAllNs} ns`;
}

export function formatCompare(r: CompareReport): string {
  const hardware = formatHardware(r.hardware ?? {});
  // older reports (merge of shards written before runs had an architecture) ran on x86
  const arches = r.arches ?? ['x86'];
  const named = arches.length > 1 || arches[0] !== 'x86';
  const out = [
    `compare ${r.scenario}: ${arches.join(', ') === 'x86' ? '' : `${arches.join(', ')}${hardware ? ` (${hardware})` : ''}, `}seed ${r.seed}${r.schedule === 'free' ? '' : `, schedule ${r.schedule}`}, one operation = ${r.operation}; ${r.host.cores} host cores, Node ${r.host.node}`,
    `  cost model (${r.costModel.source}): IPI send ${r.costModel.ipiSendNs} ns, per target ${r.costModel.perTargetNs} ns, INVLPG ${r.costModel.invlpgNs} ns, full flush ${r.costModel.fullFlushNs} ns, INVLPGB ${r.costModel.invlpgbNs} ns, TLBSYNC ${r.costModel.tlbsyncNs} ns`,
    ...(arches.includes('arm64') && !r.columns?.length ? [formatArm64Model(r.costModel)] : []),
    ...r.warnings.map((w) => `  warning: ${w}`),
  ];
  for (const arch of arches) for (const variant of r.variants) {
    const section = variant ? `variant ${variant}` : 'results';
    out.push('', named ? `${arch}, ${section}:` : `${section}:`);
    const rows = r.rows.filter((row) => row.variant === variant && (row.arch ?? 'x86') === arch);
    const table = r.columns?.length ? ownColumns(r, rows) : arch === 'arm64' ? arm64Table(rows) : x86Table(rows);
    out.push(...formatTable(table).map((line) => `  ${line}`));
  }
  if (arches.includes('x86') && arches.includes('arm64') && !r.columns?.length) {
    for (const variant of r.variants) {
      const table = archTable(r, variant);
      if (table.length > 1) out.push('', `x86 against arm64${variant ? `, variant ${variant}` : ''}, per operation:`, ...formatTable(table).map((line) => `  ${line}`));
    }
  }
  const bad = r.rows.filter((row) => row.violations > 0);
  if (bad.length > 0) {
    out.push('', `oracle reports in ${bad.length} runs: the counts of those runs describe a broken kernel`);
    for (const row of bad) {
      const first = row.firstReport;
      out.push(`  ${named ? `${row.arch} ` : ''}${row.kernel}${row.variant ? ` ${row.variant}` : ''} on ${row.cpus} CPUs: ${formatKindCounts(row.reportsByKind)}${first ? `; first, trial ${first.trial} (seed ${first.seed}): ${first.message}` : ''}`);
    }
  }
  return out.join('\n');
}

/** "1,2,4" -> [1, 2, 4]; `name` is the option, for the error. */
export function parseList(name: string, raw: string): string[] {
  const items = raw.split(',').map((s) => s.trim());
  if (items.some((s) => s === '')) throw new UsageError(`${name} takes a comma-separated list with no empty item, got ${JSON.stringify(raw)}`);
  return items;
}
