/*
 * The postcondition of a synced flush (flushTlbMmRange returned), checked from outside the CPUs:
 * when flush_tlb_mm_range returns, no CPU that can run the mm translates a page of the range
 * through an entry that disagrees with the page table (another frame, a page no longer present, a
 * writable entry for a page no longer writable). Only valid while the PTEs of the range are stable.
 *
 * Which CPUs may still hold such an entry without breaking it is the arch's to say (a CPU behind
 * on x86's tlb_gen flushes before it runs the mm again), so the check is the arch's:
 * ArchOps.flushPostcondition, x86's in arch/x86/flush-postcondition.ts.
 */
import type { MachineViews } from '../machine/memory.ts';
import { Arch } from '../arch/arch.ts';
import { archOpsFor } from '../arch/ops.ts';

export interface FlushViolation {
  cpu: number;
  va: number;
  what: string;
}

/**
 * The first CPU that still translates a page of [start, end) of `mm` through an entry the flush
 * of generation `flushGen` had to remove, by the rules of `arch` (the run's), or null.
 */
export function checkFlushPostcondition(v: MachineViews, mm: number, start: number, end: number, flushGen: number, arch: Arch = Arch.X86): FlushViolation | null {
  return archOpsFor(arch).flushPostcondition(v, mm, start, end, flushGen);
}
