/*
 * cow-stale-writable: can a thread of the parent still write, after fork returned, through a TLB
 * entry that fork write-protected, into the page the child now shares?
 *
 * dup_mmap write-protects every writable PTE of the parent's private mappings (copy_present_pte)
 * and, before it releases the parent's mmap_lock, flushes the parent (flush_tlb_mm(oldmm)). That
 * flush is what lets wp_page_copy copy a read-only page before it clears and flushes the PTE: no
 * CPU can write the old page any more. Without it, another thread of the parent keeps its
 * writable entry after fork returned:
 *
 *   CPU 0 (fork)                          CPU 1 (a thread of the parent)
 *                                         store to P: fills a writable entry
 *   fork: wrprotect P, share it, no flush
 *   return
 *                                         store to P through the cached entry: lands in the page
 *                                         the child shares (the child reads it); a write fault of
 *                                         CPU 0 copies P for the parent without the stores after
 *
 * The programs: one process with an anonymous range of PAGES pages, on every CPU.
 *   CPU 0        stores a burst into the range, forks, exits the child (which no CPU runs), again
 *   CPU 1, 2..   store bursts into the range, again and again (their entries stay writable and hot)
 *   at the end   CPU 0 reads every recorded word back (the data check)
 *
 * Forbidden outcome: access-after-return (a store through a translation filled before fork
 * returned, completing after, while the PTE is read-only or maps the parent's copy: fork's
 * write-protect promise, check/promises.ts).
 *   buggy  (forkFlush=none)   sometimes (in practice almost every trial)
 *   fixed  (mainline: flush_tlb_mm(oldmm) in dup_mmap)   never
 *
 * Under the buggy kernel the lost-data check may also report the stores that landed in the
 * child's page after the parent's copy; the promise catches the first such store as it is made.
 *
 * Where it comes from: dup_mmap's flush, and the window before it that mainline 77fff4ae2b7b
 * describes (a thread of the parent writing COW pages between the write-protect and the flush;
 * its fix is for caches that alias). forkFlush=none is not a kernel that shipped: it removes the
 * flush to show what the flush is for. The other half of the question, a wp_page_copy that sets
 * the new PTE before flushing the old one (the order before ptep_clear_flush), is not a preset:
 * its window closes before the fault returns and before the PTL is dropped, and no oracle here
 * sees a CPU read the old page meanwhile (that needs a check of the order of loads and stores
 * across CPUs, which none makes).
 */
import { defineScenario } from '../scenario.ts';
import { CONTROL_CPU } from '../../machine/frames.ts';
import { PAGE_SIZE } from '../../machine/phys-layout.ts';
import { switchMm } from '../../arch/mmu-context.ts';
import { smpBarrier } from '../../cpu/smp.ts';
import { mmAlloc } from '../../kernel/mm.ts';
import { PROT_READ, PROT_WRITE, exitMmap, sysMmap } from '../../kernel/mmap.ts';
import { sysFork } from '../../kernel/fork.ts';
import { checkAnonData, dataShadow, dataStoreBurst, type DataShadow } from '../../check/data.ts';
import { SCENARIO_BASE, driverGoesOn, followerGoesOn } from './lib.ts';

const PAGES = 8;
const STORES = 16;

export interface CowStaleWritableOptions {
  /** forks in one trial */
  rounds: number;
}

interface Params {
  mm: number;
  rounds: number;
  data: DataShadow;
}

export default defineScenario<Params, CowStaleWritableOptions>({
  name: 'cow-stale-writable',
  question: "Can a thread of the parent write, after fork returned, through a writable TLB entry into the page the child now shares?",
  source: 'mainline kernel/fork.c:dup_mmap, flush_tlb_mm(oldmm) before mmap_write_unlock(oldmm); mainline 77fff4ae2b7b (the window between the write-protect and that flush, where another thread still writes COW pages); the buggy preset is no mainline or posted version',
  arches: ['x86', 'arm64'],
  forbidden: 'access-after-return',
  cpus: 2,
  preferredCpus: 3,
  presets: { buggy: ['forkFlush=none'], fixed: [] },
  expected: { buggy: 'sometimes', fixed: 'never' },
  trialOptions: { rounds: 40 },

  setup(v, o) {
    return { mm: mmAlloc(v, CONTROL_CPU), rounds: o.rounds, data: dataShadow(PAGES, v.nrCpus) };
  },

  run(cpu, p) {
    switchMm(cpu, p.mm);
    if (cpu.id === 0) sysMmap(cpu, p.mm, { addr: SCENARIO_BASE, length: PAGES * PAGE_SIZE, prot: PROT_READ | PROT_WRITE });
    smpBarrier(cpu);
    if (cpu.id === 0) {
      for (let round = 0; driverGoesOn(cpu, round, p.rounds); round++) {
        dataStoreBurst(cpu, p.data, SCENARIO_BASE, STORES, round);
        const child = sysFork(cpu, p.mm);
        dataStoreBurst(cpu, p.data, SCENARIO_BASE, STORES, round);
        // no CPU runs the child: it goes at once, and its slot with it
        exitMmap(cpu, child);
      }
    } else {
      for (let round = 0; followerGoesOn(cpu); round++) dataStoreBurst(cpu, p.data, SCENARIO_BASE, STORES, round);
    }
    // every store has landed: read every recorded word back
    smpBarrier(cpu);
    if (cpu.id === 0) checkAnonData(cpu, p.data, SCENARIO_BASE);
  },
});
