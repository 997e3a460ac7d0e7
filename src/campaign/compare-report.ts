/*
 * What `shootdown compare` reports: one row per (architecture, kernel, variant, CPU count) of one scenario, all
 * run with the same seed. Counts do not depend on the host; times do, so the host goes with them.
 */
import type { KernelConfig } from '../config/kernel-config.ts';
import type { ArchName, Hardware } from '../arch/arch.ts';
import type { Counters } from '../trace/counters.ts';
import type { ReportSummary } from './stress.ts';
import type { CostModel } from '../cost/model.ts';
import type { HostInfo } from './host.ts';
import type { MeasurementColumn } from '../scenario/scenario.ts';

export interface CompareRow {
  /** the architecture the row ran on */
  arch: ArchName;
  /** the preset name, or the switch list as given (e.g. "mprotectFlush=always") */
  kernel: string;
  /** the scenario's workload variant ('' when it has none) */
  variant: string;
  cpus: number;
  switches: KernelConfig;
  trials: number;
  /** the workload's own operations (a flush, an mprotect call, a collapse...) */
  operations: number;
  /** IPIs sent, sync IPIs included (ipis_sent) */
  ipis: number;
  /** flush_tlb_mm_range / arch_tlbbatch_flush calls that IPIed (nr_tlb_remote_flush) */
  shootdowns: number;
  /** CPUs reached per shootdown: nr_tlb_remote_flush_received / nr_tlb_remote_flush */
  cpusPerShootdown: number;
  fullFlushes: number;
  rangedFlushes: number;
  invlpg: number;
  /** INVLPGBs issued and TLBSYNCs (x86TlbFlush=invlpgb), and global ASIDs handed out */
  invlpgb: number;
  tlbsync: number;
  globalAsids: number;
  /** CPUs a paravirt flush left to the host instead of an IPI (x86TlbFlush=kvm-pv) */
  pvDeferred: number;
  entriesInvalidated: number;
  /** page walks started on a TLB miss (page_walks), the refills a flush causes among them */
  refillWalks: number;
  /** walks that filled a TLB entry (tlb_fills) */
  tlbFills: number;
  /**
   * arm64 (0 on x86): TLBI VAE1IS and VALE1IS, one per page or stride (tlbi_va, tlbi_va_leaf);
   * range ops RVAE1IS / RVALE1IS and the pages they named (tlbi_range, tlbi_range_pages); TLBI
   * ASIDE1IS (tlbi_asid) and VMALLE1IS (tlbi_all); every TLBI issued (tlbis)
   */
  tlbiVa: number;
  tlbiVaLeaf: number;
  tlbiRange: number;
  tlbiRangePages: number;
  tlbiAsid: number;
  tlbiAll: number;
  tlbis: number;
  /** arm64: DSB ISH, and those that waited for another CPU to apply this CPU's TLBIs (dsb_ish, dsb_ish_waits) */
  dsbIsh: number;
  dsbIshWaits: number;
  /** arm64: local_flush_tlb_all after an ASID rollover (local_flush_all), and the rollovers (asid_rollovers) */
  localFlushAll: number;
  asidRollovers: number;
  syncIpis: number;
  /** deferred flushes whose generation a later completed flush already covered */
  redundantFlushes: number;
  /** the initiators' wait in smp_call_function_many (on arm64: sync IPIs only; a DSB's wait is not timed), microseconds */
  waitUs: { median: number; p99: number; samples: number };
  /** the initiators' total wait divided by the operations, microseconds */
  measuredUsPerOp: number;
  /** the cost model applied to every CPU's counts (machine time), per operation, microseconds */
  modelledUsPerOp: number;
  /** the cost model's time for the initiators' waits (cost/model.ts modelledWaitNs), per operation, microseconds */
  modelledWaitUsPerOp: number;
  violations: number;
  /** every kind reported, with its count */
  reportsByKind: Record<string, number>;
  /** the first report of these trials, described (check/describe.ts), or null */
  firstReport: ReportSummary | null;
  counters: Counters;
}

export interface CompareReport {
  scenario: string;
  /** what one operation of the workload is, for the column headers */
  operation: string;
  /** the measurement's own columns (scenario.ts MeasurementColumn), in place of the flush columns; none for most */
  columns?: readonly MeasurementColumn[];
  /** the architectures compared (--arch), each with a set of rows */
  arches: ArchName[];
  /** the CPU features given on top of the scenario's (--hardware) */
  hardware: Partial<Hardware>;
  kernels: string[];
  variants: string[];
  cpus: number[];
  seed: number;
  /** free, or the controlled strategy every trial ran under (schedule/control.ts) */
  schedule: string;
  host: HostInfo;
  /** e.g. CPUs outnumbering the host's cores */
  warnings: string[];
  costModel: CostModel;
  rows: CompareRow[];
  /** the signal that ended the comparison early (the rows are those done), or null */
  interrupted: string | null;
}
