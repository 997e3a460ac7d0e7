/*
 * The wire format of the IPI fabric: what a sender posts on its port to a target is the function
 * id alone, a number (it also goes in status words and trace records). A call's argument, the
 * flush_tlb_info, waits in the sender's call_single_data slot (csd-layout.ts), as the kernel's
 * CSDs point into the sender's per-CPU flush_tlb_info: structured clone of a number costs a
 * fraction of a tuple's, and every IPI pays it twice, to post and to receive.
 * Errors cross threads as plain {name, message, stack} records.
 */
import type { MachineViews } from '../machine/memory.ts';
import { CSD_END, CSD_FREED_TABLES, CSD_INITIATING_CPU, CSD_MM, CSD_NEW_TLB_GEN, CSD_START, CSD_STRIDE_SHIFT, CSD_WORDS } from './csd-layout.ts';

/** struct flush_tlb_info (arch/x86/include/asm/tlbflush.h). */
export interface FlushTlbInfo {
  /** the mm to flush, or -1 for a flush of whatever is loaded (arch_tlbbatch_flush) */
  mm: number;
  start: number;
  /** TLB_FLUSH_ALL for a full flush */
  end: number;
  strideShift: number;
  freedTables: boolean;
  /** the mm's tlb_gen this flush brings a CPU up to; TLB_GENERATION_INVALID for none */
  newTlbGen: number;
  initiatingCpu: number;
}

/** The functions an IPI can carry; the first element of every message. */
export const enum IpiFn {
  FlushTlbFunc = 1,
  DoFlushTlbAll = 2,
  TlbRemoveTableSmpSync = 3,
  Nop = 4,
}

export const IPI_FN_NAMES = ['none', 'flush_tlb_func', 'do_flush_tlb_all', 'tlb_remove_table_smp_sync', 'nop'];

/** A message: the function to run. */
export type IpiMessage = IpiFn;

/** The sender's part before it posts flush_tlb_func: its flush_tlb_info, where targets read it. */
export function setCsdFlushInfo(v: MachineViews, cpu: number, f: FlushTlbInfo): void {
  const b = cpu * CSD_WORDS;
  v.csd[b + CSD_MM] = f.mm;
  v.csd[b + CSD_START] = f.start;
  v.csd[b + CSD_END] = f.end;
  v.csd[b + CSD_STRIDE_SHIFT] = f.strideShift;
  v.csd[b + CSD_FREED_TABLES] = f.freedTables ? 1 : 0;
  v.csd[b + CSD_NEW_TLB_GEN] = f.newTlbGen;
  v.csd[b + CSD_INITIATING_CPU] = f.initiatingCpu;
}

/** A target's read of the flush_tlb_info that CPU `sender` is flushing with. */
export function csdFlushInfo(v: MachineViews, sender: number): FlushTlbInfo {
  const b = sender * CSD_WORDS;
  return {
    mm: v.csd[b + CSD_MM],
    start: v.csd[b + CSD_START],
    end: v.csd[b + CSD_END],
    strideShift: v.csd[b + CSD_STRIDE_SHIFT],
    freedTables: v.csd[b + CSD_FREED_TABLES] !== 0,
    newTlbGen: v.csd[b + CSD_NEW_TLB_GEN],
    initiatingCpu: v.csd[b + CSD_INITIATING_CPU],
  };
}

export interface SerializedError {
  name: string;
  message: string;
  stack?: string;
  /** a report the error carries, e.g. the CSD-lock watchdog's state of both CPUs */
  report?: unknown;
}

export function serializeError(err: unknown): SerializedError {
  if (err instanceof Error) {
    const out: SerializedError = { name: err.name, message: err.message, stack: err.stack };
    const report = (err as { report?: unknown }).report;
    if (report !== undefined) out.report = report;
    return out;
  }
  return { name: 'Error', message: String(err) };
}
