/*
 * nested-reset-range (DESIGN 4, seed 002; mainline 7a30df49f63a)
 *
 * Question: can a lazy CPU walk through a page table that munmap freed, when munmap's gather was
 * nested with a MADV_DONTNEED and its forced flush reset the gathered range?
 *
 *   CPU 0 (mapper)             CPU 1 (user)                CPU 2 (kernel thread on a borrowed mm)
 *   loop:                      loop:                       loop:
 *     mmap region A (its own     fill buffer B               switch to the mm, load region A
 *       2 MiB: its own tables)   madvise(B, MADV_DONTNEED)   enter lazy TLB mode
 *     store to region A                                      kernel work: interrupt points and
 *     munmap region A                                          speculative walks of region A
 *
 * The race, as it happens: CPU 0's munmap frees region A's PTE table; CPU 1's madvise runs on the
 * same mm at the same time (both hold the mmap_lock for reading after munmap's downgrade), so
 * munmap's tlb_finish_mmu sees a nested gather. The 2019 code (buggy) reset the range before the
 * forced flush, dropping freed_tables: the flush skips lazy CPU 2, whose paging-structure cache
 * still points at the freed table, and its next speculative walk starts there.
 *
 * On arm64 there is no lazy CPU to skip: every TLBI reaches every CPU. What the reset range drops
 * is the walk cache: tlb_flush (arch/arm64/include/asm/tlb.h) with freed_tables clear flushes
 * last-level only (TLBI VALE1IS), so CPU 2's walk cache, like every CPU's, keeps its pointer to
 * the freed table; mainline's forced flush has freed_tables set and uses TLBI VAE1IS.
 *
 * Forbidden: freed-table-walk (machine/walker.ts: a walk from a cached pointer to a freed table).
 *
 * Presets and expected results:
 *   buggy  nestedRange=reset-range   sometimes
 *   fixed  (mainline)                never: the forced flush covers everything with freed_tables
 *                                    set, which reaches lazy CPUs too
 *
 * Race windows stretched by noise: after each PTE clear (zap.ts) and before the gather's flush
 * (mmu-gather.ts tlbFlushMmuTlbonly).
 *
 * Measured (3 CPUs on 2 cores, noise high, 50 rounds a trial): buggy, the first trial for 17 of
 * 18 seeds, the third for one; fixed, no freed-table walk in 800 trials (400 of 50 rounds, 400 of
 * 200), and one access-after-return report among them, not yet explained.
 */
import type { Cpu } from '../../cpu/cpu.ts';
import type { MachineViews } from '../../machine/memory.ts';
import { CONTROL_CPU } from '../../machine/frames.ts';
import { PAGE_SIZE } from '../../machine/phys-layout.ts';
import { enterLazyTlb, switchMm } from '../../arch/mmu-context.ts';
import { smpBarrier } from '../../cpu/smp.ts';
import { mmAlloc } from '../../kernel/mm.ts';
import { PROT_READ, PROT_WRITE, sysMmap, sysMunmap } from '../../kernel/mmap.ts';
import { MADV_DONTNEED, sysMadvise } from '../../kernel/madvise.ts';
import { defineScenario } from '../scenario.ts';
import { PMD_SPAN, SCENARIO_BASE, driverGoesOn, followerGoesOn, loadBurst, storeBurst, type RoundsOptions } from './lib.ts';

const PAGES = 2;
const BURST = 32;
/** region A, mapped and unmapped again and again, alone in its 2 MiB */
const REGION_A = SCENARIO_BASE;
/** buffer B, in the next 2 MiB: it keeps the PMD table, not A's PTE table */
const BUFFER_B = SCENARIO_BASE + PMD_SPAN;
/** kernel work between two visits of the mm: interrupt points, each with a speculative walk */
const KERNEL_WORK = 64;

interface Params {
  mm: number;
  rounds: number;
}

export default defineScenario<Params, RoundsOptions>({
  name: 'nested-reset-range',
  question: 'Can a lazy CPU walk a freed page table when munmap flushes a nested gather after resetting its range?',
  source: 'seed 002; mainline 7a30df49f63a "mm: mmu_gather: remove __tlb_reset_range() for force flush"',
  arches: ['x86', 'arm64'],
  forbidden: 'freed-table-walk',
  cpus: 3,
  presets: { buggy: ['nestedRange=reset-range'], fixed: [] },
  expected: { buggy: 'sometimes', fixed: 'never' },
  trialOptions: { rounds: 50 },

  setup(v: MachineViews, { rounds }: RoundsOptions): Params {
    return { mm: mmAlloc(v, CONTROL_CPU), rounds };
  },

  run(cpu: Cpu, p: Params): void {
    switchMm(cpu, p.mm);
    if (cpu.id === 0) sysMmap(cpu, p.mm, { addr: BUFFER_B, length: PAGES * PAGE_SIZE, prot: PROT_READ | PROT_WRITE });
    smpBarrier(cpu);
    if (cpu.id === 0) {
      for (let round = 0; driverGoesOn(cpu, round, p.rounds); round++) {
        sysMmap(cpu, p.mm, { addr: REGION_A, length: PAGES * PAGE_SIZE, prot: PROT_READ | PROT_WRITE });
        storeBurst(cpu, REGION_A, PAGES, BURST, round + 1);
        sysMunmap(cpu, p.mm, REGION_A, PAGES * PAGE_SIZE);
      }
    } else if (cpu.id === 1) {
      for (let round = 0; followerGoesOn(cpu); round++) {
        storeBurst(cpu, BUFFER_B, PAGES, BURST, round + 1);
        sysMadvise(cpu, p.mm, BUFFER_B, PAGES * PAGE_SIZE, MADV_DONTNEED);
      }
    } else {
      for (let round = 0; followerGoesOn(cpu); round++) {
        // back from kernel work: the user task runs again and touches region A, mapped or not
        switchMm(cpu, p.mm);
        loadBurst(cpu, REGION_A, PAGES, BURST);
        // a kernel thread borrows the mm: the CPU stays on its page tables, lazily
        enterLazyTlb(cpu);
        for (let i = 0; i < KERNEL_WORK && followerGoesOn(cpu); i++) {
          cpu.speculateAt(REGION_A + (i % PAGES) * PAGE_SIZE);
          cpu.interruptPoint();
        }
      }
    }
  },
});
