/*
 * madvise-batched-pending: can MADV_DONTNEED return while reclaim's batched flush of the same
 * PTEs is still pending?
 *
 * Mainline 383c4613c67c ("mm: close theoretical race where stale TLB entries could linger"):
 * reclaim's try_to_unmap_one clears a PTE and defers the flush to try_to_unmap_flush at the end of
 * shrink_folio_list. A MADV_DONTNEED of the same range meanwhile finds pte_none, gathers nothing,
 * flushes nothing and returns; a CPU that cached the page still reads it through its TLB after the
 * caller was told the range is gone. The fix: madvise calls flush_tlb_batched_pending under the PTL.
 *
 * The programs (a read-only shared file mapping of PAGES pages, mapped by CPU 0):
 *   CPU 0 (a thread of the process)   madvise(MADV_DONTNEED) over the whole mapping, again and again
 *   CPU 1, 3.. (threads)              read every page, again and again (refaulting what went)
 *   CPU 2 (kswapd, on init_mm)        reclaimPages over the file's pages, `rounds` times, then stop
 *
 * Forbidden outcome: access-after-return (a read through a translation MADV_DONTNEED returned from
 * removing: check/promises.ts).
 *   buggy (madviseBatchedPending=off)   sometimes
 *   fixed (mainline)                    never
 *
 * The window is reclaim's, between its last PTE clear and try_to_unmap_flush (the raceWindow in
 * kernel/reclaim.ts); the madvise must find every PTE already clear, since a flush of any present
 * one would be a full flush (reclaim's batch took a new tlb_gen) and would take the stale entries
 * along. test/scenarios/madvise-batched-pending.test.ts forces the interleaving with handshakes
 * and also runs this program under both presets.
 *
 * x86 only, though the bug is in generic code: arm64's arch_tlbbatch_add_pending posts its TLBIs
 * as reclaim clears each PTE, so the entry lingers only until the TLBI reaches the reader, not
 * until try_to_unmap_flush, and free running does not find it (--arch arm64 --noise high: none in
 * 742 trials / 20 s, nor 296 / 30 s). That in-flight window is arm64-batched-pending-dsb's race.
 */
import { defineScenario, keepGoing } from '../scenario.ts';
import { followerGoesOn } from './lib.ts';
import { CONTROL_CPU } from '../../machine/frames.ts';
import { PAGE_SIZE } from '../../machine/phys-layout.ts';
import { switchMm } from '../../arch/mmu-context.ts';
import { smpBarrier, stopAll } from '../../cpu/smp.ts';
import { mmAlloc } from '../../kernel/mm.ts';
import { PROT_READ, sysMmap } from '../../kernel/mmap.ts';
import { MADV_DONTNEED, sysMadvise } from '../../kernel/madvise.ts';
import { createFile } from '../../kernel/filemap.ts';
import { reclaimPages, type ReclaimTarget } from '../../kernel/reclaim.ts';

export interface MadviseBatchedPendingOptions {
  /** pages of the file and of the mapping */
  pages?: number;
  /** reclaim passes in one trial */
  rounds?: number;
}

interface Params {
  mm: number;
  file: number;
  pages: number;
  rounds: number;
}

export const BASE = 2 ** 37;
const MADVISE_CPU = 0;
const RECLAIM_CPU = 2;


export default defineScenario<Params, MadviseBatchedPendingOptions>({
  name: 'madvise-batched-pending',
  question: 'Can MADV_DONTNEED return while reclaim has cleared the PTEs and not yet flushed them?',
  source: 'mainline 383c4613c67c "mm: close theoretical race where stale TLB entries could linger"',
  forbidden: 'access-after-return',
  cpus: 3,
  presets: { buggy: ['madviseBatchedPending=off'], fixed: [] },
  expected: { buggy: 'sometimes', fixed: 'never' },
  trialOptions: {},

  setup(v, { pages = 8, rounds = 200 } = {}) {
    return { mm: mmAlloc(v, CONTROL_CPU), file: createFile(v, pages, (i, w) => (i << 16) | w), pages, rounds };
  },

  run(cpu, p) {
    if (cpu.id === MADVISE_CPU) sysMmap(cpu, p.mm, { addr: BASE, length: p.pages * PAGE_SIZE, prot: PROT_READ, file: p.file });
    // kswapd stays on init_mm: the process's threads are the ones in mm_cpumask
    if (cpu.id !== RECLAIM_CPU) switchMm(cpu, p.mm);
    smpBarrier(cpu);
    if (cpu.id === RECLAIM_CPU) {
      const targets: ReclaimTarget[] = Array.from({ length: p.pages }, (_, index) => ({ file: p.file, index }));
      for (let round = 0; keepGoing(cpu, round, p.rounds); round++) reclaimPages(cpu, targets);
      stopAll(cpu.v);
    } else if (cpu.id === MADVISE_CPU) {
      // the return to user mode takes pending IPIs: a loop of system calls alone would hold up
      // every flush sent to this CPU (kswapd's, which waits with the pages it keeps locked, and
      // a reader faulting on one of them waits for it)
      while (followerGoesOn(cpu)) {
        sysMadvise(cpu, p.mm, BASE, p.pages * PAGE_SIZE, MADV_DONTNEED);
        cpu.interruptPoint();
      }
    } else {
      while (followerGoesOn(cpu)) for (let i = 0; i < p.pages; i++) cpu.load(BASE + i * PAGE_SIZE);
    }
    return null;
  },
});
