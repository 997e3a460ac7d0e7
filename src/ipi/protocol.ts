/*
 * The wire format of the IPI fabric: what a sender posts on its port to a target. One
 * discriminated union, one numeric id per function (for status words and trace records).
 * Errors cross threads as plain {name, message, stack} records.
 */

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

export type IpiMessage =
  | { fn: 'flushTlbFunc'; info: FlushTlbInfo }
  | { fn: 'doFlushTlbAll' }
  | { fn: 'tlbRemoveTableSmpSync' }
  | { fn: 'nop' };

export type IpiFn = IpiMessage['fn'];

export const IPI_FN_IDS: Record<IpiFn, number> = { flushTlbFunc: 1, doFlushTlbAll: 2, tlbRemoveTableSmpSync: 3, nop: 4 };
export const IPI_FN_NAMES = ['none', 'flush_tlb_func', 'do_flush_tlb_all', 'tlb_remove_table_smp_sync', 'nop'];

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
