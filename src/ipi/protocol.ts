/*
 * The wire format of the IPI fabric: what a sender posts on its port to a target. One
 * discriminated union of numeric tuples, the function id first (it also goes in status words and
 * trace records).
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

/** The functions an IPI can carry; the first element of every message. */
export const enum IpiFn {
  FlushTlbFunc = 1,
  DoFlushTlbAll = 2,
  TlbRemoveTableSmpSync = 3,
  Nop = 4,
}

export const IPI_FN_NAMES = ['none', 'flush_tlb_func', 'do_flush_tlb_all', 'tlb_remove_table_smp_sync', 'nop'];

/**
 * A message is a tuple of numbers, the function first: structured clone copies a short array of
 * numbers in well under half the time of an object with named fields (0.4 against 1.1 us to post
 * on this host, and the same again to receive), and every IPI pays it twice.
 * flush_tlb_func's tuple: [fn, mm, start, end, strideShift, freedTables (0/1), newTlbGen, initiatingCpu].
 */
export type IpiMessage =
  | readonly [IpiFn.FlushTlbFunc, number, number, number, number, number, number, number]
  | readonly [IpiFn.DoFlushTlbAll]
  | readonly [IpiFn.TlbRemoveTableSmpSync]
  | readonly [IpiFn.Nop];

export function flushTlbFuncMessage(f: FlushTlbInfo): IpiMessage {
  return [IpiFn.FlushTlbFunc, f.mm, f.start, f.end, f.strideShift, f.freedTables ? 1 : 0, f.newTlbGen, f.initiatingCpu];
}

export function flushTlbInfoOf(m: readonly [IpiFn.FlushTlbFunc, number, number, number, number, number, number, number]): FlushTlbInfo {
  return { mm: m[1], start: m[2], end: m[3], strideShift: m[4], freedTables: m[5] !== 0, newTlbGen: m[6], initiatingCpu: m[7] };
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
