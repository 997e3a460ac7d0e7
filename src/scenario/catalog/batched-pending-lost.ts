/*
 * batched-pending-lost: can flush_tlb_batched_pending forget an unmap that reclaim batched while
 * it was flushing, so that a later mprotect returns with the page still cached?
 *
 * Seed 000 patch 20 ("mm/rmap: avoid potential races"): with mm->tlb_flush_batched a boolean,
 * flush_tlb_batched_pending does flush_tlb_mm and then clears the flag. A reclaimer that clears a
 * PTE in another page table of the mm and sets the flag between the two has its pending flush
 * forgotten: the next flush_tlb_batched_pending sees no flag, the PTE is already none, nothing is
 * flushed, and the system call returns while a CPU still reads the page through its TLB.
 *
 *   CPU 0 (mprotect of page 0)        CPU 1 (reader)            CPU 2 (kswapd)
 *                                                               clear PTE of page 0, flag = 1
 *   PTL of table 0, sees the flag
 *   flush_tlb_mm ------------------>  flushes, reloads page 1
 *                                                               clear PTE of page 1, flag = 1
 *   flag = 0
 *   mprotect(page 1, PROT_NONE): no flag, PTE none, no flush, returns
 *                                     reads page 1: stale
 *                                                               try_to_unmap_flush (too late)
 *
 * The programs: a read-only shared mapping of one file page in each of TABLES page tables (each
 * 2 MiB apart, so that reclaim and mprotect hold different PTLs), mapped by CPU 0.
 *   CPU 0 (a thread)           mprotect each page PROT_NONE and back to PROT_READ, reads them, again and again
 *   CPU 1, 3.. (threads)       read every page, again and again (faults while PROT_NONE are expected)
 *   CPU 2 (kswapd, init_mm)    reclaimPages over the file's pages, `rounds` times, then stop
 *
 * Forbidden outcome: access-after-return (a read through a translation that mprotect(PROT_NONE)
 * returned from removing: check/promises.ts).
 *   buggy   (batchedPending=flag)      sometimes
 *   fixed   (batchedPending=counters, mainline 5ee2fa2f0636)   never
 *   cpumask (batchedPending=cpumask, the scheme seed 000 patch 20 proposes)   never
 *
 * The windows are marked in kernel/tlb-batch.ts (flushed, flag not yet cleared) and
 * kernel/reclaim.ts (PTEs cleared, batched flush not yet done). The race needs both at once and
 * is rare on 2 cores; test/scenarios/batched-pending-lost.test.ts forces the interleaving with
 * handshakes, and the statistical run is for stress campaigns and bench/.
 *
 * It needs 3 CPUs, and prefers 5: each extra reader is one more TLB that may still hold the page
 * when mprotect returns. Measured with --noise high, 30 s per seed (seeds 7 and 8): 3 CPUs found
 * it about once in 10 s, 4 CPUs 4 and 4 times, 5 CPUs 6 and 10 times.
 *
 * x86 only, though the flag is generic mm/rmap.c: arm64's arch_tlbbatch_add_pending posts its
 * TLBIs as reclaim clears each PTE, so a forgotten pending flush leaves the entry cached only
 * until the TLBI reaches the reader, and free running does not find it (--arch arm64, 5 CPUs,
 * --noise high: none in 521 trials / 60 s). That in-flight window is arm64-batched-pending-dsb's
 * race.
 */
import { defineScenario, keepGoing } from '../scenario.ts';
import { CONTROL_CPU } from '../../machine/frames.ts';
import { PAGE_SIZE } from '../../machine/phys-layout.ts';
import { PMD_SIZE } from '../../machine/pagetable.ts';
import { switchMm } from '../../arch/mmu-context.ts';
import { smpBarrier, stopAll } from '../../cpu/smp.ts';
import { mmAlloc } from '../../kernel/mm.ts';
import { PROT_READ, sysMmap } from '../../kernel/mmap.ts';
import { sysMprotect } from '../../kernel/mprotect.ts';
import { createFile } from '../../kernel/filemap.ts';
import { reclaimPages, type ReclaimTarget } from '../../kernel/reclaim.ts';

export interface BatchedPendingLostOptions {
  /** page tables, one mapped file page in each */
  tables?: number;
  /** reclaim passes in one trial */
  rounds?: number;
}

interface Params {
  mm: number;
  file: number;
  tables: number;
  rounds: number;
}

export const BASE = 2 ** 37;
const PROT_NONE = 0;
const MPROTECT_CPU = 0;
const RECLAIM_CPU = 2;

/** Where file page k is mapped: the first page of the k-th PMD from BASE. */
export const pageAddress = (k: number): number => BASE + k * PMD_SIZE;

export default defineScenario<Params, BatchedPendingLostOptions>({
  name: 'batched-pending-lost',
  question: 'Can a batched unmap set during flush_tlb_batched_pending be forgotten, so that mprotect returns without flushing it?',
  source: 'seed 000 patch 20 "mm/rmap: avoid potential races"; mainline 5ee2fa2f0636 "mm/rmap: fix potential batched TLB flush race"',
  forbidden: 'access-after-return',
  cpus: 3,
  preferredCpus: 5,
  presets: { buggy: ['batchedPending=flag'], fixed: [], cpumask: ['batchedPending=cpumask'] },
  // the flag's window is a few instructions wide: the main job stretches it often
  noise: 'high',
  expected: { buggy: 'sometimes', fixed: 'never', cpumask: 'never' },
  trialOptions: {},

  setup(v, { tables = 2, rounds = 300 } = {}) {
    return { mm: mmAlloc(v, CONTROL_CPU), file: createFile(v, tables, (i, w) => (i << 16) | w), tables, rounds };
  },

  run(cpu, p) {
    if (cpu.id === MPROTECT_CPU) {
      for (let k = 0; k < p.tables; k++) sysMmap(cpu, p.mm, { addr: pageAddress(k), length: PAGE_SIZE, prot: PROT_READ, file: p.file, pgoff: k });
    }
    if (cpu.id !== RECLAIM_CPU) switchMm(cpu, p.mm);
    smpBarrier(cpu);
    if (cpu.id === RECLAIM_CPU) {
      const targets: ReclaimTarget[] = Array.from({ length: p.tables }, (_, index) => ({ file: p.file, index }));
      for (let round = 0; keepGoing(cpu, round, p.rounds); round++) reclaimPages(cpu, targets);
      stopAll(cpu.v);
    } else if (cpu.id === MPROTECT_CPU) {
      while (keepGoing(cpu, 0, 1)) {
        for (let k = 0; k < p.tables; k++) {
          sysMprotect(cpu, p.mm, pageAddress(k), PAGE_SIZE, PROT_NONE);
          sysMprotect(cpu, p.mm, pageAddress(k), PAGE_SIZE, PROT_READ);
        }
        // and uses the memory itself between toggles
        for (let k = 0; k < p.tables; k++) cpu.load(pageAddress(k));
      }
    } else {
      while (keepGoing(cpu, 0, 1)) for (let k = 0; k < p.tables; k++) cpu.load(pageAddress(k));
    }
    return null;
  },
});
