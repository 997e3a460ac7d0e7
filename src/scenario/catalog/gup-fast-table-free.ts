/*
 * gup-fast-table-free: can khugepaged free the PTE table it collapsed while GUP-fast on another
 * CPU is still walking it? (seed 001, "[PATCH v2 0/3] skip redundant TLB sync IPIs"; mainline
 * "mm/khugepaged: fix GUP-fast interaction by sending IPI")
 *
 * GUP-fast walks with IRQs off and no lock (kernel/gup.ts); what keeps a table from being freed
 * under it is an IPI it cannot take before its walk is over. collapse_huge_page unhooks the old
 * table (pmdp_collapse_flush), flushes the range, and then tlb_remove_table_sync_one IPIs every
 * CPU before the table is freed (kernel/khugepaged.ts). The flush IPI alone reaches only the CPUs
 * in mm_cpumask: a walker on a CPU the flush does not interrupt (here a CPU not running the mm;
 * on real hardware any CPU when the flush is an INVLPGB or a paravirt flush) is protected by the
 * sync IPI alone. A walker on a CPU running the mm is covered by the flush IPI itself.
 *
 * The window: GUP-fast from its read of the PMD to the end of its walk (gup.ts, a
 * cpu.raceWindow() after entering each table); the oracle is GUP-fast's own check that no table
 * it walked changed generation before IRQs came back on (reported as 'freed-table-walk').
 *
 * Programs (2 CPUs or more), round after round:
 *   CPU 0     maps 2 MiB of anonymous memory, faults every page in, and collapses it
 *             (MADV_COLLAPSE: collapse_huge_page), then unmaps it
 *   CPU 1     pins 4 pages at a time with GUP-fast, and unpins them, during the collapse; it runs
 *             the mm on odd rounds only (on even rounds it is outside mm_cpumask)
 *   CPU 2..   idle, running the mm on odd rounds only: then the flush IPI reaches every other
 *             CPU, which is when seed 001 skips the sync IPI
 * Few CPUs on purpose: every CPU running the mm is one more flush IPI the collapse waits for
 * between unhooking the table and freeing it, which on a host with fewer cores than CPU threads
 * can outlast the walker's stretched window many times over.
 *
 * How it is tested: the buggy preset needs 1 to 26 trials here (4 CPUs, --noise high), too
 * variable for CI; test/scenarios/gup-fast-table-free.test.ts forces the mechanism instead (a CPU
 * outside mm_cpumask with IRQs off in the table) and checks fixed and skip-redundant-sync under
 * noise. The reproduction is a stress measurement:
 *   node bin/shootdown.mjs stress gup-fast-table-free --kernel buggy --cpus 4 --noise high --trials 300 --stop-on-first
 *
 * Forbidden: freed-table-walk.
 * Expected: buggy (syncIpi=never): sometimes; fixed (always): never; skip-redundant-sync
 * (skip-when-flushed-all, seed 001): never, with fewer IPIs than fixed (no sync IPI on the odd
 * rounds, whose flush IPI already reached every other CPU).
 */
import type { Cpu } from '../../cpu/cpu.ts';
import { PAGE_SIZE, PTRS_PER_TABLE } from '../../machine/phys-layout.ts';
import { PMD_SIZE } from '../../machine/pagetable.ts';
import { switchMm } from '../../arch/x86/flush.ts';
import { smpBarrier } from '../../cpu/smp.ts';
import { INIT_MM } from '../../kernel/mm-layout.ts';
import { sysMunmap } from '../../kernel/mmap.ts';
import { collapseHugePage } from '../../kernel/khugepaged.ts';
import { getUserPagesFast, unpinUserPages } from '../../kernel/gup.ts';
import { defineScenario, keepGoing } from '../scenario.ts';
import { bumpFlag, flagParams, mapAndTouch, roundStarted, setFlag, waitFor, type FlagParams, type RoundsOptions } from './lib.ts';

export type Options = RoundsOptions;

type Params = FlagParams;

/** 2 MiB aligned: the mapping is one collapsible PMD range */
const BASE = 2 ** 37;
const PAGES = PTRS_PER_TABLE;
const PIN = 4;
const WALKER = 1;

// flag words: the round mapped (r + 1), collapsed, CPUs ready, CPUs done with the round
const F_MAPPED = 0;
const F_COLLAPSED = 1;
const F_READY = 2;
const F_DONE = 3;

function collapser(cpu: Cpu, p: Params): void {
  for (let round = 0; keepGoing(cpu, round, p.rounds); round++) {
    mapAndTouch(cpu, p.mm, BASE, PMD_SIZE, PAGES);
    setFlag(cpu, p, F_MAPPED, round + 1);
    waitFor(cpu, () => Atomics.load(p.flags, F_READY) >= (cpu.v.nrCpus - 1) * (round + 1));
    collapseHugePage(cpu, p.mm, BASE);
    setFlag(cpu, p, F_COLLAPSED, round + 1);
    waitFor(cpu, () => Atomics.load(p.flags, F_DONE) >= (cpu.v.nrCpus - 1) * (round + 1));
    sysMunmap(cpu, p.mm, BASE, PMD_SIZE);
  }
  setFlag(cpu, p, F_MAPPED, p.rounds + 1);
}

function walkerOrIdle(cpu: Cpu, p: Params): void {
  for (let round = 0; keepGoing(cpu, round, p.rounds); round++) {
    if (!roundStarted(cpu, p, F_MAPPED, round)) return;
    // in mm_cpumask on odd rounds only
    switchMm(cpu, round % 2 === 1 ? p.mm : INIT_MM);
    bumpFlag(cpu, p, F_READY);
    while (cpu.id === WALKER && Atomics.load(p.flags, F_COLLAPSED) < round + 1 && !cpu.shouldStop()) {
      const first = cpu.random() % (PAGES - PIN + 1);
      const got = getUserPagesFast(cpu, p.mm, BASE + first * PAGE_SIZE, PIN, false);
      unpinUserPages(cpu, got.pfns);
      cpu.interruptPoint();
    }
    // the other CPUs only run the mm or not, as the walker does
    waitFor(cpu, () => Atomics.load(p.flags, F_COLLAPSED) >= round + 1);
    bumpFlag(cpu, p, F_DONE);
  }
  switchMm(cpu, INIT_MM);
}

export default defineScenario<Params, Options>({
  name: 'gup-fast-table-free',
  question: 'Can khugepaged free a collapsed PTE table while GUP-fast on a CPU the flush IPI did not reach is still walking it?',
  forbidden: 'freed-table-walk',
  cpus: 2,
  presets: {
    buggy: ['syncIpi=never'],
    fixed: [],
    'skip-redundant-sync': ['syncIpi=skip-when-flushed-all'],
  },
  expected: { buggy: 'sometimes', fixed: 'never', 'skip-redundant-sync': 'never' },
  trialOptions: { rounds: 6 },
  setup: flagParams,
  run(cpu: Cpu, p: Params): null {
    if (cpu.id === 0) switchMm(cpu, p.mm);
    smpBarrier(cpu);
    if (cpu.id === 0) collapser(cpu, p);
    else walkerOrIdle(cpu, p);
    return null;
  },
});
