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
import { PAGE_SIZE } from '../machine/phys-layout.ts';
import { pteAtNoSideEffects } from '../machine/pagetable.ts';
import { formatPte, ptePfn, ptePresent, pteWrite } from '../machine/pte.ts';
import { tlbEntriesForVpn } from '../machine/tlb.ts';
import { mmPgd } from '../kernel/mm.ts';
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

/** The first entry of `cpu` tagged `tag` (PCID or ASID) for a page of [start, end) of `mm` that disagrees with the page table. */
export function staleTlbEntry(v: MachineViews, mm: number, cpu: number, tag: number, start: number, end: number): { va: number; what: string } | null {
  const pgd = mmPgd(v, mm);
  for (let va = start; va < end; va += PAGE_SIZE) {
    const pte = pteAtNoSideEffects(v, pgd, va);
    for (const e of tlbEntriesForVpn(v.tlb, cpu, (va / PAGE_SIZE) | 0)) {
      if (e.pcid !== tag) continue;
      if (!ptePresent(pte) || ptePfn(pte) !== e.pfn || (e.write && !pteWrite(pte))) {
        return { va, what: `TLB entry pfn=0x${e.pfn.toString(16)}${e.write ? ' writable' : ''}, but the PTE is ${formatPte(pte)}` };
      }
    }
  }
  return null;
}
