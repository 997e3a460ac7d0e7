/*
 * khugepaged-collapse: how many IPIs does collapsing a PMD range cost, and how many does skipping
 * the redundant sync IPI save? (seed 001 "[PATCH v2 0/3] skip redundant TLB sync IPIs")
 *
 * Once per operation CPU 0 maps 2 MiB of anonymous memory, faults every page in, collapses it
 * (collapse_huge_page: the PTE table is unhooked, the range flushed, then
 * tlb_remove_table_sync_one IPIs every CPU before the pages are checked and copied; the table is
 * deposited) and unmaps it (munmap: one flush with freed tables, the table freed after an RCU
 * grace period, no sync IPI).
 *
 *   on-mm    the other CPUs run the mm, reading a page of their own: every flush IPIs all of
 *            them, so the sync IPI after it interrupts nobody who was not just interrupted
 *   off-mm   the other CPUs sleep outside the mm: the flushes IPI nobody, and only the sync IPI
 *            wakes them, though no GUP-fast on the mm can run there
 *
 *   fixed                  syncIpi=always (mainline)
 *   skip-redundant-sync    syncIpi=skip-after-ipi-flush: no sync IPI after a native IPI flush
 *                          (seed 001), in both variants
 */
import type { Cpu } from '../../cpu/cpu.ts';
import { CONTROL_CPU } from '../../machine/frames.ts';
import { PMD_SIZE } from '../../machine/pagetable.ts';
import { PAGE_SIZE, PTRS_PER_TABLE } from '../../machine/phys-layout.ts';
import { switchMm } from '../../arch/mmu-context.ts';
import { smpBarrier, stopAll } from '../../cpu/smp.ts';
import { mmAlloc } from '../../kernel/mm.ts';
import { INIT_MM } from '../../kernel/mm-layout.ts';
import { sysMunmap } from '../../kernel/mmap.ts';
import { collapseHugePage } from '../../kernel/khugepaged.ts';
import { Counter } from '../../trace/counters.ts';
import { defineMeasurement } from '../scenario.ts';
import { followerGoesOn, loadBurst, mapAndTouch, waitFor, SCENARIO_BASE } from '../catalog/lib.ts';

export interface Options {
  collapses: number;
  /** the other CPUs run the mm (and so take every flush IPI) */
  othersOnMm: boolean;
}

interface Params extends Options {
  mm: number;
}

/** Each CPU's own page, in another PMD range, never collapsed. */
const readerPage = (cpu: Cpu): number => SCENARIO_BASE + 2 * PMD_SIZE + cpu.id * PAGE_SIZE;
const BURST = 64;

function collapser(cpu: Cpu, p: Params): void {
  for (let i = 0; i < p.collapses && !cpu.shouldStop(); i++) {
    mapAndTouch(cpu, p.mm, SCENARIO_BASE, PMD_SIZE, PTRS_PER_TABLE);
    const result = collapseHugePage(cpu, p.mm, SCENARIO_BASE);
    if (result !== 'SCAN_SUCCEED') throw new Error(`collapse ${i} failed: ${result}`);
    sysMunmap(cpu, p.mm, SCENARIO_BASE, PMD_SIZE);
    cpu.count(Counter.WorkloadOps);
  }
  stopAll(cpu.v);
}

export default defineMeasurement<Params, Options>({
  name: 'khugepaged-collapse',
  question: 'How many IPIs does a collapse cost, and how many does skipping the redundant sync IPI save?',
  operation: 'map, fault in, collapse and unmap 2 MiB',
  cpus: 1,
  arches: ['x86', 'arm64'],
  presets: { fixed: [], 'skip-redundant-sync': ['syncIpi=skip-after-ipi-flush'] },
  variants: { 'on-mm': { othersOnMm: true }, 'off-mm': { othersOnMm: false } },
  trialOptions: { collapses: 4, othersOnMm: true },
  setup(v, o) {
    return { ...o, mm: mmAlloc(v, CONTROL_CPU) };
  },
  run(cpu, p) {
    if (cpu.id === 0 || p.othersOnMm) {
      switchMm(cpu, p.mm);
      mapAndTouch(cpu, p.mm, readerPage(cpu), PAGE_SIZE, 1);
    }
    smpBarrier(cpu);
    if (cpu.id === 0) collapser(cpu, p);
    else if (p.othersOnMm) while (followerGoesOn(cpu)) loadBurst(cpu, readerPage(cpu), 1, BURST);
    else waitFor(cpu, () => false);
    switchMm(cpu, INIT_MM);
    return null;
  },
});
