/*
 * fork-vma-lock: can a page fault under the per-VMA lock, while fork copies the same VMA, lose a
 * store of the parent to the child?
 *
 * fb49c455323f ("fork: lock VMAs of the parent process when forking"): dup_mmap relied on the
 * mmap_lock to keep the parent's faults out while it write-protects and shares its pages, and
 * until its flush_tlb_mm(oldmm) has removed the writable entries other threads still hold. With
 * per-VMA locks a fault takes only the VMA's lock, and runs in the middle of fork:
 *
 *   CPU 0 (fork)                CPU 1 (thread, TLB miss on P)       CPU 2 (thread, writable entry for P)
 *   wrprotect P, share it
 *                               write fault under the VMA lock:
 *                               P is shared: wp_page_copy copies
 *                               P into its own new page N
 *                                                                   store x to P (through its
 *                                                                   entry: lands in the old page)
 *                               ptep_clear_flush, set N
 *   flush_tlb_mm, return
 *   the parent reads N: x is not there; the child's page has it
 *
 * Fixed: vma_start_write on every parent VMA as dup_mmap copies it; the fault falls back to the
 * mmap_lock fork holds and copies the page only after fork's flush.
 *
 * The programs: one process, an anonymous mapping of one PTE table (512 pages) of which the
 * programs use PAGES pages 64 pages apart. They share a TLB set (TLB_SETS 64, TLB_WAYS 4): each
 * CPU keeps some of them writable in its TLB and misses on the others, so that during a fork one
 * CPU writes through an old entry while another takes the write fault.
 *   CPU 0        forks, exits the child (which no CPU runs), again
 *   CPU 1, 2..   recorded store bursts over the pages, again and again
 *   at the end   CPU 0 reads every recorded word back
 *
 * Forbidden outcome: lost-data (check/data.ts: a store the parent made, never discarded, is not
 * in its memory). The window is the copy in wp_page_copy (point 'wp-page:copied'), before its
 * flush: narrow, stretched by noise.
 *   buggy  (forkVmaLock=off)   sometimes
 *   fixed  (mainline fb49c455323f)   never
 * Both need perVmaLock=on (the default): with the mmap_lock alone no fault runs under fork.
 */
import { defineScenario } from '../scenario.ts';
import { CONTROL_CPU } from '../../machine/frames.ts';
import { PAGE_SIZE, WORDS_PER_FRAME } from '../../machine/phys-layout.ts';
import { switchMm } from '../../arch/mmu-context.ts';
import { smpBarrier } from '../../cpu/smp.ts';
import { mmAlloc } from '../../kernel/mm.ts';
import { PROT_READ, PROT_WRITE, exitMmap, sysMmap } from '../../kernel/mmap.ts';
import { sysFork } from '../../kernel/fork.ts';
import { checkAnonData, dataShadow, dataStore, type DataShadow } from '../../check/data.ts';
import { SCENARIO_BASE, PMD_SPAN, driverGoesOn, followerGoesOn } from './lib.ts';

/** pages used, 64 apart: twice the ways of the TLB set they share */
export const PAGES = 8;
export const STRIDE = 64;
const STORES = 16;

export interface ForkVmaLockOptions {
  /** forks in one trial */
  rounds: number;
}

interface Params {
  mm: number;
  rounds: number;
  data: DataShadow;
}

/** The address of tracked word `slot` (page slot / WORDS_PER_FRAME of the PAGES pages). */
export const slotAddress = (slot: number): number => SCENARIO_BASE + Math.floor(slot / WORDS_PER_FRAME) * STRIDE * PAGE_SIZE + (slot % WORDS_PER_FRAME) * 4;

export default defineScenario<Params, ForkVmaLockOptions>({
  name: 'fork-vma-lock',
  question: 'Can a page fault under the per-VMA lock, while fork copies the same VMA, lose a store of the parent to the child?',
  source: 'mainline fb49c455323f "fork: lock VMAs of the parent process when forking" (Fixes: 0bff0aaea03e "x86/mm: try VMA lock-based page fault handling first"); seed 003 (per-VMA locks)',
  arches: ['x86', 'arm64'],
  forbidden: 'lost-data',
  cpus: 3,
  presets: { buggy: ['forkVmaLock=off'], fixed: [] },
  noise: 'high',
  expected: { buggy: 'sometimes', fixed: 'never' },
  trialOptions: { rounds: 40 },

  setup(v, o) {
    return { mm: mmAlloc(v, CONTROL_CPU), rounds: o.rounds, data: dataShadow(PAGES, v.nrCpus) };
  },

  run(cpu, p) {
    switchMm(cpu, p.mm);
    if (cpu.id === 0) sysMmap(cpu, p.mm, { addr: SCENARIO_BASE, length: PMD_SPAN, prot: PROT_READ | PROT_WRITE });
    smpBarrier(cpu);
    if (cpu.id === 0) {
      for (let round = 0; driverGoesOn(cpu, round, p.rounds); round++) {
        const child = sysFork(cpu, p.mm);
        // no CPU runs the child: it goes at once, and its slot with it
        exitMmap(cpu, child);
      }
    } else {
      const span = PAGES * WORDS_PER_FRAME;
      for (let round = 0; followerGoesOn(cpu); round++) {
        for (let i = 0; i < STORES; i++) {
          const slot = cpu.random() % span;
          dataStore(cpu, p.data, slot, slotAddress(slot), ((cpu.id + 1) << 24) | ((round & 0xffff) << 8) | i);
        }
      }
    }
    // every store has landed: read every recorded word back
    smpBarrier(cpu);
    if (cpu.id === 0) checkAnonData(cpu, p.data, SCENARIO_BASE, STRIDE);
  },
});
