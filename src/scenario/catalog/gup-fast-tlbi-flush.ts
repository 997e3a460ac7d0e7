/*
 * gup-fast-tlbi-flush: can khugepaged's old PTE table be freed while GUP-fast on a CPU running the
 * mm is still walking it, when the sync IPI is skipped after the collapse's flush on arm64, whose
 * TLBIs interrupt no one?
 *
 * Seed 001 ("[PATCH v2 0/3] skip redundant TLB sync IPIs", Lance Yang) skips
 * tlb_remove_table_sync_one after a flush that already IPIed every CPU that could be in GUP-fast
 * on the mm, and makes the skip conditional on tlb_table_flush_implies_ipi_broadcast(). The
 * generic default is false; only x86's native IPI flush says true. arm64 never sends a flush IPI:
 * pmdp_collapse_flush's flush_tlb_range is TLBI VAE1IS and DSB ISH (arch/arm64/include/asm/
 * tlbflush.h), and the TLBI completes on the walker's CPU whatever its IRQ state, so the DSB waits
 * for no walk. Skipping the sync IPI after any flush (syncIpi=skip-after-any-flush, the seed's
 * skip without its condition) leaves nothing that waits for the walker.
 *
 *   CPU 1 (GUP-fast, IRQs off)       CPU 0 (MADV_COLLAPSE, then munmap)
 *   reads the PMD: old table T
 *                                    pmdp_collapse_flush: PMD cleared, TLBI VAE1IS + DSB ISH
 *                                    (CPU 1 takes the TLBI with IRQs off and walks on)
 *                                    sync IPI skipped; isolate, copy, deposit T with the new table
 *                                    munmap: zap_deposited_table frees T at once
 *   still in T: reads a freed table
 *
 * The x86 form of the same race, with INVLPGB, is gup-fast-broadcast-flush; that one needs a
 * global ASID first, this one none: every arm64 flush is a broadcast.
 *
 * The oracle: GUP-fast's own check that no table it walked changed generation before its IRQs
 * came back on (kernel/gup.ts), reported as freed-table-walk. The window is GUP-fast from its
 * read of the PMD to the end of its walk (kernel point gup-fast:in-table), which the host's
 * preemption of an oversubscribed CPU thread, or noise, stretches.
 *
 * Programs (3 CPUs or more), round after round:
 *   CPU 0    maps 2 MiB of anonymous memory, faults every page in, collapses it
 *            (collapse_huge_page, as MADV_COLLAPSE runs it) and unmaps it
 *   others   pin one page at a time with GUP-fast during the collapse, and unpin it: one page,
 *            so that a pin seldom makes the collapse back off (SCAN_PAGE_COUNT)
 *
 * Forbidden: freed-table-walk.
 *   buggy   (syncIpi=skip-after-any-flush)   sometimes
 *   fixed   (syncIpi=skip-after-ipi-flush: seed 001 as posted, which never skips on arm64)   never
 *   mainline (syncIpi=always)   never
 */
import type { Cpu } from '../../cpu/cpu.ts';
import { switchMm } from '../../arch/mmu-context.ts';
import { smpBarrier } from '../../cpu/smp.ts';
import { defineScenario } from '../scenario.ts';
import { collapseRounds, flagParams, gupFastRounds, type FlagParams, type RoundsOptions } from './lib.ts';

/** 2 MiB aligned: the mapping is one collapsible PMD range */
const BASE = 2 ** 37;
/** every other CPU walks, one page at a time: a pin seldom makes the collapse back off */
const WALKERS = 4;
const PIN = 1;

export default defineScenario<FlagParams, RoundsOptions>({
  name: 'gup-fast-tlbi-flush',
  question: 'Can khugepaged free a collapsed PTE table while GUP-fast is in it, when the sync IPI is skipped after a TLBI flush that interrupted no one?',
  source: 'seed 001 "[PATCH v2 0/3] skip redundant TLB sync IPIs" (tlb_table_flush_implies_ipi_broadcast, false but for x86\'s native IPI flush) and its review; mainline 2ba99c5e0881 "mm/khugepaged: fix GUP-fast interaction by sending IPI"',
  forbidden: 'freed-table-walk',
  arches: ['arm64'],
  cpus: 3,
  preferredCpus: 4,
  presets: {
    buggy: ['syncIpi=skip-after-any-flush'],
    fixed: ['syncIpi=skip-after-ipi-flush'],
    mainline: [],
  },
  expected: { buggy: 'sometimes', fixed: 'never', mainline: 'never' },
  trialOptions: { rounds: 8 },
  // the walker must stall inside GUP-fast through the collapse and the munmap: free running on 4
  // CPUs (2 loaded cores) found it after 30, 1 and 26 trials (0.8 to 10.5 s, seeds 11-13), on 3
  // CPUs none in 20 trials for one seed; PCT on 3 CPUs in the first trial
  rare: 'pct',
  setup: flagParams,
  run(cpu: Cpu, p: FlagParams): null {
    switchMm(cpu, p.mm);
    smpBarrier(cpu);
    if (cpu.id === 0) collapseRounds(cpu, p, BASE);
    else gupFastRounds(cpu, p, BASE, WALKERS, PIN);
    return null;
  },
});
