/*
 * gup-fast-broadcast-flush: can khugepaged's old PTE table be freed while GUP-fast on a CPU
 * running the mm is still walking it, when the collapse's flush is an INVLPGB and the sync IPI is
 * skipped as if the flush had interrupted everyone?
 *
 * Seed 001 ("[PATCH v2 0/3] skip redundant TLB sync IPIs", Lance Yang) skips
 * tlb_remove_table_sync_one after a flush that already IPIed every CPU that could be in GUP-fast
 * on the mm: such a CPU runs the mm, has IRQs off while it walks, and so holds the flush IPI off
 * until its walk is over. The patch makes the skip conditional (tlb_table_flush_implies_ipi_broadcast:
 * native flush_tlb_multi, and !X86_FEATURE_INVLPGB), because an INVLPGB interrupts no one: it
 * completes on the walker's CPU whatever its IRQ state (David Hildenbrand in the thread: "this
 * way we can only optimize on systems that actually send IPIs during TLB flushes"). Without the
 * condition (syncIpi=skip-after-any-flush), nothing waits for the walker.
 *
 *   CPU 1 (GUP-fast, IRQs off)       CPU 0 (MADV_COLLAPSE, then munmap)
 *   reads the PMD: old table T
 *                                    pmdp_collapse_flush: PMD cleared, INVLPGB + TLBSYNC (CPU 1 not waited for)
 *                                    sync IPI skipped; isolate, copy, deposit T with the new table
 *                                    munmap: zap_deposited_table frees T at once
 *   still in T: reads a freed table
 *
 * The oracle: GUP-fast's own check that no table it walked changed generation before its IRQs
 * came back on (kernel/gup.ts), reported as freed-table-walk. The window is GUP-fast from its
 * read of the PMD to the end of its walk (kernel point gup-fast:in-table), which the host's
 * preemption of an oversubscribed CPU thread, or noise, stretches.
 *
 * The mm must have a global ASID for its flushes to be INVLPGBs: CPU 0 first toggles a page
 * between read-write and read-only 64 times (lib.ts toggleForGlobalAsid), and each of those
 * flushes IPIs the other CPUs, after which consider_global_asid looks (one time in 32) whether
 * four CPUs run the mm. All of them do, so it gets one; under x86TlbFlush=ipi the flushes stay
 * IPIs.
 *
 * Programs (4 CPUs or more: four must run the mm for a global ASID), round after round:
 *   CPU 0    maps 2 MiB of anonymous memory, faults every page in, collapses it
 *            (collapse_huge_page, as MADV_COLLAPSE runs it) and unmaps it
 *   others   pin one page at a time with GUP-fast during the collapse, and unpin it: one page,
 *            so that a pin seldom makes the collapse back off (SCAN_PAGE_COUNT)
 *
 * Forbidden: freed-table-walk.
 *   buggy   (x86TlbFlush=invlpgb, syncIpi=skip-after-any-flush)   sometimes
 *   fixed   (x86TlbFlush=invlpgb, syncIpi=skip-after-ipi-flush: seed 001 as posted)   never
 *   ipi-flush (x86TlbFlush=ipi, syncIpi=skip-after-any-flush): the flush IPI itself waits for the
 *            walkers, so skipping the sync is safe there, as the seed argues   never
 *
 * arm64, where every flush is a TLBI, has the same race as gup-fast-tlbi-flush.
 */
import type { Cpu } from '../../cpu/cpu.ts';
import { PMD_SIZE } from '../../machine/pagetable.ts';
import { switchMm } from '../../arch/mmu-context.ts';
import { smpBarrier } from '../../cpu/smp.ts';
import { defineScenario } from '../scenario.ts';
import { collapseRounds, flagParams, gupFastRounds, toggleForGlobalAsid, type FlagParams, type RoundsOptions } from './lib.ts';

/** 2 MiB aligned: the mapping is one collapsible PMD range */
const BASE = 2 ** 37;
/** the page CPU 0 toggles to get the mm its global ASID, in another PMD range */
const TOGGLE = BASE + 4 * PMD_SIZE;
/** every other CPU walks, one page at a time: a pin seldom makes the collapse back off */
const WALKERS = 4;
const PIN = 1;

function collapser(cpu: Cpu, p: FlagParams): void {
  toggleForGlobalAsid(cpu, p.mm, TOGGLE);
  collapseRounds(cpu, p, BASE);
}

export default defineScenario<FlagParams, RoundsOptions>({
  name: 'gup-fast-broadcast-flush',
  question: 'Can khugepaged free a collapsed PTE table while GUP-fast is in it, when its flush was an INVLPGB and the sync IPI was skipped?',
  source: 'seed 001 "[PATCH v2 0/3] skip redundant TLB sync IPIs" (tlb_table_flush_implies_ipi_broadcast: native IPI flushes only, not with INVLPGB) and its review; INVLPGB as merged for v6.15 (4afeb0ed1753)',
  forbidden: 'freed-table-walk',
  cpus: 4,
  preferredCpus: 5,
  presets: {
    buggy: ['x86TlbFlush=invlpgb', 'syncIpi=skip-after-any-flush'],
    fixed: ['x86TlbFlush=invlpgb', 'syncIpi=skip-after-ipi-flush'],
    'ipi-flush': ['x86TlbFlush=ipi', 'syncIpi=skip-after-any-flush'],
  },
  expected: { buggy: 'sometimes', fixed: 'never', 'ipi-flush': 'never' },
  trialOptions: { rounds: 8 },
  // the walker must stall inside GUP-fast through the collapse and the munmap: free running on 2
  // cores shows it in most 20 s runs at 5 CPUs, but not within the main job's share; PCT on 4
  // CPUs shows it within 5 trials
  rare: 'pct',
  setup: flagParams,
  run(cpu: Cpu, p: FlagParams): null {
    switchMm(cpu, p.mm);
    smpBarrier(cpu);
    if (cpu.id === 0) collapser(cpu, p);
    // CPU 1 walks with GUP-fast; the others only run the mm (a global ASID needs four CPUs on it)
    else gupFastRounds(cpu, p, BASE, WALKERS, PIN);
    return null;
  },
});
