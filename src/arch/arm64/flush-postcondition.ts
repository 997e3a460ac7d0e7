/*
 * arm64's flush postcondition, for checkers (ArchOps.flushPostcondition): after a flush of
 * [start, end) of `mm` returned (its DSB ISH waited for its TLBIs everywhere), no CPU holds an
 * entry tagged with the mm's ASID for a page of the range that disagrees with the page table.
 *
 * A TLBI is by ASID, not by CPU: it reaches every CPU, whichever mm it runs, so there is no
 * generation to be behind with and no lazy CPU to leave out. The one CPU allowed such an entry is
 * one that a rollover marked in tlb_flush_pending and that still runs an mm of the old generation
 * with the same ASID number (it filled the entry after the TLBI, from that mm's tables): it
 * flushes its whole TLB before it runs anything else.
 */
import type { MachineViews } from '../../machine/memory.ts';
import { staleTlbEntry, type FlushViolation } from '../../check/flush-postcondition.ts';
import { CpuMask } from '../../cpu/cpumask.ts';
import { asidOfMm, cpuContextId, mmContextId } from './context.ts';
import { CTX_TLB_FLUSH_PENDING } from './context-layout.ts';

export function arm64FlushPostcondition(v: MachineViews, mm: number, start: number, end: number): FlushViolation | null {
  const asid = asidOfMm(v, mm);
  const pending = CpuMask.load(v.asids, CTX_TLB_FLUSH_PENDING);
  for (let cpu = 0; cpu < v.nrCpus; cpu++) {
    if (pending.test(cpu) && cpuContextId(v, cpu) !== mmContextId(v, mm)) continue;
    const stale = staleTlbEntry(v, mm, cpu, asid, start, end);
    if (stale) return { cpu, va: stale.va, what: `${stale.what}, under the mm's ASID ${asid} after the DSB` };
  }
  return null;
}
