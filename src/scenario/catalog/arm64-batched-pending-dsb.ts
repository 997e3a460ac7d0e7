/*
 * arm64-batched-pending-dsb: can mprotect return while a TLBI that reclaim issued on another CPU
 * has not completed, so that a CPU still writes through the entry reclaim cleared?
 *
 * Mainline 4b634918384c ("arm64/mm: Close theoretical race where stale TLB entry remains valid",
 * Fixes 43b3dfdd0455 "arm64: support batched/deferred tlb shootdown during page
 * reclamation/migration"). arm64's reclaim batch issues its TLBIs when it clears each PTE
 * (arch_tlbbatch_add_pending: TLBI VALE1IS, no DSB) and completes them all with one DSB ISH at the
 * end (arch_tlbbatch_flush). A mprotect on another CPU that finds the batch pending must wait for
 * those TLBIs (flush_tlb_batched_pending, the race of 3ea277194daa). arm64 did that with a bare
 * DSB ISH, but a DSB completes only the TLBIs of the PE that executes it: the DSB on the mprotect
 * CPU waits for nothing reclaim posted. So mprotect finds the PTE already none, changes nothing,
 * flushes nothing and returns while a third CPU, which has not taken reclaim's TLBI yet, still
 * writes through its cached writable entry. The fix: flush_tlb_mm (TLBI ASIDE1IS, then DSB ISH on
 * the mprotect CPU, which does wait for its own TLBI to reach every CPU).
 *
 *   CPU 2 (kswapd)                CPU 0 (mprotect)                  CPU 1 (writer)
 *                                                                   store: writable, dirty entry
 *   under the PTL: clear PTE,
 *   TLBI VALE1IS (not yet on 1),
 *   pending count raised
 *                                 mprotect(PROT_READ), PTL:
 *                                 flush_tlb_batched_pending
 *                                   buggy: DSB ISH (waits for nothing)
 *                                 PTE none: no change, no flush
 *                                 returns
 *                                                                   store through the old entry
 *   try_to_unmap_flush_dirty: DSB ISH (waits for CPU 1)
 *
 * The window is CPU 1's: the TLBI takes effect there at its next interrupt point (every
 * INTERRUPT_INTERVAL accesses, or while it waits: machine/tlbi-broadcast.ts), so mprotect's whole
 * call must fit between reclaim's TLBI and that point, which on an oversubscribed host happens
 * when the host deschedules the writer between two of its interrupt points. And mprotect must
 * find no present PTE to demote: its own flush would wait for the writer, which then takes
 * reclaim's TLBI too; so it goes one page at a time. Noise stretches 'tlbbatch:before-tlbi'
 * (reclaim's PTE clear to its TLBI, under the PTL) and 'tlbi:issued-not-synced' (reclaim's TLBIs
 * to its DSB), which hands the host cores to the others. Measured, 3 CPUs on 2 cores, 100 trials
 * of seed 1: noise off 29, low 40, high 68 trials with the report; fixed: none in 300.
 *
 * The programs: a shared writable mapping of PAGES file pages, mapped by CPU 0.
 *   CPU 0 (a thread)          mprotect(PROT_READ) of each page and back to read-write, writes
 *                             the pages itself, again and again
 *   CPU 1, 3.. (threads)      write every page, again and again (a write while it is read-only
 *                             fails with SIGSEGV, which is expected)
 *   CPU 2 (kswapd, init_mm)   reclaimPages over the file's pages (they are dirty: each is written
 *                             out after try_to_unmap_flush_dirty), `rounds` times, then stop
 *
 * Forbidden outcome: access-after-return (a store through a translation that mprotect(PROT_READ)
 * returned from demoting: check/promises.ts).
 *   buggy (arm64BatchedPending=dsb, 43b3dfdd0455 to 4b634918384c)   sometimes
 *   fixed (mainline)                                                 never
 *
 * test/scenarios/arm64-batched-pending-dsb.test.ts forces the interleaving with handshakes
 * (test/fixtures/arm64-batched-workloads.ts) and runs this program under both presets.
 */
import { defineScenario, keepGoing } from '../scenario.ts';
import { followerGoesOn } from './lib.ts';
import type { Cpu } from '../../cpu/cpu.ts';
import { CONTROL_CPU } from '../../machine/frames.ts';
import { PAGE_SIZE } from '../../machine/phys-layout.ts';
import { switchMm } from '../../arch/mmu-context.ts';
import { smpBarrier, stopAll } from '../../cpu/smp.ts';
import { mmAlloc } from '../../kernel/mm.ts';
import { PROT_READ, PROT_WRITE, sysMmap } from '../../kernel/mmap.ts';
import { sysMprotect } from '../../kernel/mprotect.ts';
import { createFile } from '../../kernel/filemap.ts';
import { reclaimPages, type ReclaimTarget } from '../../kernel/reclaim.ts';

export interface Arm64BatchedPendingDsbOptions {
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
const MPROTECT_CPU = 0;
const RECLAIM_CPU = 2;


/** One store to each page (the word of this CPU, so that writers do not overwrite each other). */
function writeAll(cpu: Cpu, p: Params, round: number): void {
  for (let i = 0; i < p.pages; i++) cpu.store(BASE + i * PAGE_SIZE + 4 * cpu.id, round);
}

export default defineScenario<Params, Arm64BatchedPendingDsbOptions>({
  name: 'arm64-batched-pending-dsb',
  question: 'Can mprotect return while a TLBI that reclaim issued on another CPU is not complete, because flush_tlb_batched_pending only executed a DSB on the mprotect CPU?',
  source: 'mainline 4b634918384c "arm64/mm: Close theoretical race where stale TLB entry remains valid" (Fixes 43b3dfdd0455 "arm64: support batched/deferred tlb shootdown during page reclamation/migration"); the race of 3ea277194daa "mm, mprotect: flush TLB if potentially racing with a parallel reclaim leaving stale TLB entries"',
  forbidden: 'access-after-return',
  arches: ['arm64'],
  cpus: 3,
  preferredCpus: 4,
  presets: { buggy: ['arm64BatchedPending=dsb'], fixed: [] },
  expected: { buggy: 'sometimes', fixed: 'never' },
  trialOptions: {},

  setup(v, { pages = 4, rounds = 200 } = {}) {
    return { mm: mmAlloc(v, CONTROL_CPU), file: createFile(v, pages, (i, w) => (i << 16) | w), pages, rounds };
  },

  run(cpu, p) {
    if (cpu.id === MPROTECT_CPU) sysMmap(cpu, p.mm, { addr: BASE, length: p.pages * PAGE_SIZE, prot: PROT_READ | PROT_WRITE, file: p.file });
    // kswapd stays on init_mm
    if (cpu.id !== RECLAIM_CPU) switchMm(cpu, p.mm);
    smpBarrier(cpu);
    if (cpu.id === RECLAIM_CPU) {
      const targets: ReclaimTarget[] = Array.from({ length: p.pages }, (_, index) => ({ file: p.file, index }));
      for (let round = 0; keepGoing(cpu, round, p.rounds); round++) reclaimPages(cpu, targets);
      stopAll(cpu.v);
    } else if (cpu.id === MPROTECT_CPU) {
      // one page at a time: a call that found a present PTE to demote would flush, and its DSB
      // would wait for every CPU to take the flush, reclaim's TLBI with it
      for (let round = 1; followerGoesOn(cpu); round++) {
        for (let i = 0; i < p.pages; i++) {
          sysMprotect(cpu, p.mm, BASE + i * PAGE_SIZE, PAGE_SIZE, PROT_READ);
          sysMprotect(cpu, p.mm, BASE + i * PAGE_SIZE, PAGE_SIZE, PROT_READ | PROT_WRITE);
        }
        writeAll(cpu, p, round);
      }
    } else {
      for (let round = 1; followerGoesOn(cpu); round++) writeAll(cpu, p, round);
    }
    return null;
  },
});
